//! The crate's error type. No variant ever holds or prints the API token.

/// Why [`init`](crate::init) (or reading the configuration, or [`set_filter`](crate::set_filter)) failed.
///
/// `Debug` shows the same text as `Display`, the fix included, so `fn main() -> Result<(), Error>` prints
/// it too (Rust prints a `main` error with `Debug`):
///
/// ```
/// let err = logiscout_core::Error::MissingApiToken;
/// assert_eq!(format!("{err:?}"), format!("{err}"));
/// assert!(format!("{err:?}").contains("LOGISCOUT_API_TOKEN"));
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `log` logger is already installed in this process (by logiscout or another backend).
    #[error(
        "a logger is already installed in this process; call logiscout::init once, before any other log backend. In a tracing app, tracing-subscriber's `.init()` installs tracing_log::LogTracer in that slot (its `tracing-log` feature): call logiscout::init first and install the subscriber with `tracing::subscriber::set_global_default` (or `.try_init()`), so that `log` records keep their key-values"
    )]
    AlreadyInitialized,
    /// `Env::Prod` ships logs and so needs an API token.
    #[error("Env::Prod needs an API token: set Config::api_token or LOGISCOUT_API_TOKEN")]
    MissingApiToken,
    /// `Env::Prod` ships logs and so needs an endpoint.
    #[error("Env::Prod needs an ingest endpoint: set Config::endpoint or LOGISCOUT_ENDPOINT")]
    MissingEndpoint,
    /// The endpoint is not an `http(s)://` URL.
    #[error("invalid ingest endpoint: {reason}")]
    InvalidEndpoint {
        /// What is wrong with it.
        reason: String,
    },
    /// The endpoint URL carries credentials (`https://user:password@host/…`). Neither the error nor
    /// `Config`'s `Debug` ever shows them.
    #[error(
        "the ingest endpoint URL must not carry credentials (user:password@): remove them; logiscout authenticates with the API token (Config::api_token)"
    )]
    EndpointCredentials,
    /// The endpoint is plain `http://` to a host other than loopback: the token would travel in clear text.
    #[error(
        "refusing to send the API token over plain http to {host}; use https, or allow it with Config::allow_insecure_http(true)"
    )]
    InsecureEndpoint {
        /// The endpoint's host.
        host: String,
    },
    /// `LOGISCOUT_ENV` (or a parsed environment name) is neither `dev` nor `prod`.
    #[error("invalid environment {value:?}: expected \"dev\" or \"prod\"")]
    InvalidEnv {
        /// The value found.
        value: String,
    },
    /// `LOGISCOUT_CONSOLE` (or a parsed console name) is not `pretty`, `json` or `off`.
    #[error("invalid console format {value:?}: expected \"pretty\", \"json\" or \"off\"")]
    InvalidConsole {
        /// The value found.
        value: String,
    },
    /// The level filter directives do not parse.
    #[error("invalid log filter in {origin}: {reason}")]
    InvalidFilter {
        /// Where the directives came from: `RUST_LOG`, `Config::filter` or `logiscout::set_filter`.
        origin: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// A setting is out of its range.
    #[error("invalid setting {setting}: {reason}")]
    InvalidSetting {
        /// The builder method's name.
        setting: &'static str,
        /// What is allowed.
        reason: String,
    },
    /// The HTTP client for the endpoint could not be built (the token or the proxy is not usable).
    #[error("could not set up the connection to the ingest endpoint: {reason}")]
    Transport {
        /// Why (never the token itself).
        reason: String,
    },
    /// [`set_filter`](crate::set_filter) was called before [`init`](crate::init) installed logiscout.
    #[error(
        "logiscout is not initialized: call logiscout::init first (set_filter changes the filter of the logger init installs)"
    )]
    NotInitialized,
    /// The shipping worker could not start.
    #[error("could not start the logiscout worker thread: {0}")]
    Worker(#[source] std::io::Error),
}

/// The `Display` text: what went wrong and how to fix it. The variant's name alone (`MissingApiToken`)
/// would tell neither, and `Debug` is what `main` prints for an error it returns.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    fn every_variant() -> Vec<Error> {
        vec![
            Error::AlreadyInitialized,
            Error::MissingApiToken,
            Error::MissingEndpoint,
            Error::InvalidEndpoint {
                reason: "relative URL without a base".into(),
            },
            Error::EndpointCredentials,
            Error::InsecureEndpoint {
                host: "ingest.example.com".into(),
            },
            Error::InvalidEnv {
                value: "staging".into(),
            },
            Error::InvalidConsole {
                value: "loud".into(),
            },
            Error::InvalidFilter {
                origin: "Config::filter",
                reason: "\"verbose\" is not a level".into(),
            },
            Error::InvalidSetting {
                setting: "max_batch_logs",
                reason: "must be at least 1".into(),
            },
            Error::Transport {
                reason: "the API token is not a valid header value".into(),
            },
            Error::NotInitialized,
            Error::Worker(std::io::Error::other("no threads left")),
        ]
    }

    #[test]
    fn debug_shows_the_display_text_of_every_variant() {
        for err in every_variant() {
            let shown = err.to_string();
            assert_eq!(format!("{err:?}"), shown);
            // `fn main() -> Result<(), Error>` prints `Error: {err:?}`.
            assert_eq!(format!("{err:#?}"), shown);
        }
    }

    #[test]
    fn messages_name_the_root_package() {
        for err in every_variant() {
            let shown = err.to_string();
            assert!(!shown.contains("logiscout_core"), "{shown}");
        }
        assert!(Error::AlreadyInitialized
            .to_string()
            .contains("call logiscout::init once"));
    }
}
