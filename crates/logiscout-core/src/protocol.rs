//! The wire protocol the shipping worker speaks: the LogiScout format (the default) or OTLP/HTTP.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Which wire protocol batches are shipped in; see [`Config::protocol`](crate::Config::protocol).
///
/// `Otlp` and `OtlpJson` need the `otlp` cargo feature (without it, [`init`](crate::init) refuses them
/// with an error naming the feature).
///
/// ```
/// use logiscout_core::Protocol;
///
/// assert_eq!("otlp-json".parse::<Protocol>()?, Protocol::OtlpJson);
/// assert_eq!(Protocol::default(), Protocol::LogiScout);
/// # Ok::<(), logiscout_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// The LogiScout ingest format (JSON payloads per correlation ID, `X-LogiScout-Batch-Id`).
    #[default]
    LogiScout,
    /// OTLP/HTTP with protobuf bodies (`application/x-protobuf`), as an OpenTelemetry Collector's
    /// `otlphttp` receiver takes at `http://host:4318/v1/logs`.
    Otlp,
    /// OTLP/HTTP with JSON bodies (`application/json`, the OTLP JSON encoding).
    OtlpJson,
}

impl Protocol {
    /// `logiscout`, `otlp` or `otlp-json` (as `LOGISCOUT_PROTOCOL` spells them).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::LogiScout => "logiscout",
            Protocol::Otlp => "otlp",
            Protocol::OtlpJson => "otlp-json",
        }
    }

    /// OTLP, in either encoding.
    pub fn is_otlp(self) -> bool {
        matches!(self, Protocol::Otlp | Protocol::OtlpJson)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "logiscout" => Ok(Protocol::LogiScout),
            "otlp" | "otlp-proto" | "otlp-protobuf" => Ok(Protocol::Otlp),
            "otlp-json" => Ok(Protocol::OtlpJson),
            _ => Err(crate::config::invalid(
                "protocol",
                format!(
                    "{:?} is not a protocol: expected \"logiscout\", \"otlp\" or \"otlp-json\"",
                    s.trim()
                ),
            )),
        }
    }
}

/// Extra request headers (`Config::header`): names shown in `Debug`, values never.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Headers(pub(crate) Vec<(String, String)>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, "[redacted]")))
            .finish()
    }
}

/// Header names `Config::header` may not set: the transport sets them itself. (`authorization` is
/// refused by `Config::validate` only when an API token is set: without one, an OTLP endpoint's own
/// scheme, such as `Basic`, is sent through this header.)
const RESERVED: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
];

impl Headers {
    /// Checks every header and converts it for reqwest (values marked sensitive, so they are never
    /// printed). The error names the header, never its value.
    pub(crate) fn to_reqwest(
        &self,
    ) -> Result<Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>, Error> {
        self.0
            .iter()
            .map(|(name, value)| {
                let header = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
                    .map_err(|_| {
                        crate::config::invalid(
                            "header",
                            format!("{name:?} is not a valid HTTP header name"),
                        )
                    })?;
                if RESERVED.contains(&header.as_str()) {
                    return Err(crate::config::invalid(
                        "header",
                        format!("{header} is set by logiscout itself and cannot be overridden"),
                    ));
                }
                let mut value =
                    reqwest::header::HeaderValue::from_str(value.trim()).map_err(|_| {
                        crate::config::invalid(
                            "header",
                            format!(
                                "the value of {header} contains characters not allowed in a header"
                            ),
                        )
                    })?;
                value.set_sensitive(true);
                Ok((header, value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_from_their_names() {
        for p in [Protocol::LogiScout, Protocol::Otlp, Protocol::OtlpJson] {
            assert_eq!(p.as_str().parse::<Protocol>().unwrap(), p);
        }
        assert_eq!(" OTLP ".parse::<Protocol>().unwrap(), Protocol::Otlp);
        let err = "grpc".parse::<Protocol>().unwrap_err().to_string();
        assert!(
            err.contains("protocol") && err.contains("otlp-json"),
            "{err}"
        );
    }

    /// No other test of this crate reads `LOGISCOUT_PROTOCOL`.
    #[test]
    fn logiscout_protocol_is_read_from_the_environment() {
        std::env::set_var("LOGISCOUT_PROTOCOL", "otlp-json");
        let config = crate::Config::from_env();
        std::env::set_var("LOGISCOUT_PROTOCOL", "carrier-pigeon");
        let refused = crate::Config::from_env();
        std::env::remove_var("LOGISCOUT_PROTOCOL");
        assert_eq!(config.unwrap().protocol, Protocol::OtlpJson);
        let err = refused.unwrap_err().to_string();
        assert!(
            err.contains("carrier-pigeon") && err.contains("otlp"),
            "{err}"
        );
        assert_eq!(
            crate::Config::from_env().unwrap().protocol,
            Protocol::LogiScout
        );
    }

    #[test]
    fn otlp_needs_no_token_and_the_feature_is_named_when_missing() {
        use crate::{Config, Env};
        let otlp = |p| {
            Config::new("s")
                .env(Env::Prod)
                .endpoint("http://127.0.0.1:4318/v1/logs")
                .protocol(p)
        };
        for p in [Protocol::Otlp, Protocol::OtlpJson] {
            let checked = otlp(p).validate();
            if cfg!(feature = "otlp") {
                assert!(checked.unwrap().is_some(), "{p}: no token needed");
                let empty = otlp(p).api_token(" ").validate().unwrap_err().to_string();
                assert!(empty.contains("api_token"), "{empty}");
            } else {
                let err = checked.unwrap_err().to_string();
                assert!(err.contains("`otlp` cargo feature"), "{err}");
            }
        }
        // The LogiScout format still needs its token.
        assert!(matches!(
            otlp(Protocol::LogiScout).validate(),
            Err(Error::MissingApiToken)
        ));
        // A bad header is refused by validation, its value unseen.
        let err = Config::new("s")
            .header("x-key", "a\nb-s3cret")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("x-key") && !err.contains("s3cret"), "{err}");
        let shown = format!("{:?}", otlp(Protocol::Otlp).header("x-api-key", "s3cret"));
        assert!(shown.contains("Otlp") && shown.contains("x-api-key") && !shown.contains("s3cret"));
    }

    #[test]
    fn header_values_never_show_and_bad_headers_are_refused() {
        let headers = Headers(vec![("x-api-key".into(), "s3cret-value".into())]);
        let shown = format!("{headers:?}");
        assert!(
            shown.contains("x-api-key") && !shown.contains("s3cret"),
            "{shown}"
        );
        let converted = headers.to_reqwest().unwrap();
        assert!(converted[0].1.is_sensitive());
        assert!(!format!("{:?}", converted[0].1).contains("s3cret"));

        let bad = Headers(vec![("bad name".into(), "v".into())]).to_reqwest();
        assert!(bad.unwrap_err().to_string().contains("header name"));
        let reserved = Headers(vec![("Content-Type".into(), "text/plain".into())]).to_reqwest();
        assert!(reserved.unwrap_err().to_string().contains("content-type"));
        let value = Headers(vec![("x-k".into(), "line\nbreak-s3cret".into())]).to_reqwest();
        let err = value.unwrap_err().to_string();
        assert!(err.contains("x-k") && !err.contains("s3cret"), "{err}");
    }
}
