//! Configuration: [`Config`], its builder methods, the `LOGISCOUT_*` environment variables, and validation.

use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::encode::record::{DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_STRING_BYTES};
use crate::error::Error;

/// Room a batch keeps beside one record of `max_record_bytes`: the envelope (512 B), the log's timestamp
/// (48 B), its payload's correlation ID and request info (256 B and the ID, at most 128 B), the
/// `logiscout.truncated_keys` marker; the rest is for a long request path.
const RECORD_ROOM_BYTES: usize = 2048;

/// Where logs go: the console only, or the console and the LogiScout ingest endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Env {
    /// Console only: no network, no token needed. The default.
    #[default]
    Dev,
    /// Console plus batched shipping to the ingest endpoint.
    Prod,
}

impl Env {
    /// The name sent in `batch_metadata.environment`.
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Dev => "development",
            Env::Prod => "production",
        }
    }
}

impl std::str::FromStr for Env {
    type Err = Error;
    /// `dev`/`development` or `prod`/`production`, any case.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dev" | "development" => Ok(Env::Dev),
            "prod" | "production" => Ok(Env::Prod),
            _ => Err(Error::InvalidEnv {
                value: s.to_owned(),
            }),
        }
    }
}

/// How records are printed on the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Console {
    /// One readable line per record, coloured on a terminal (`NO_COLOR` turns colour off). The default.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors of containers.
    Json,
    /// Nothing on the console.
    Off,
}

impl std::str::FromStr for Console {
    type Err = Error;
    /// `pretty`, `json` or `off`, any case.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pretty" => Ok(Console::Pretty),
            "json" => Ok(Console::Json),
            "off" | "none" => Ok(Console::Off),
            _ => Err(Error::InvalidConsole {
                value: s.to_owned(),
            }),
        }
    }
}

/// The API token. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ApiToken(pub(crate) String);

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

/// A console destination shared with the logger.
pub(crate) type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

/// Everything [`init`](crate::init) needs. Build it with [`Config::new`] or [`Config::from_env`] and the
/// builder methods; `Debug` shows every setting except the token.
///
/// ```
/// use std::time::Duration;
/// use logiscout_core::{Config, Console, Env};
///
/// let config = Config::new("checkout")
///     .api_token("lgs_secret")
///     .env(Env::Prod)
///     .endpoint("https://ingest.example.com/ingest")
///     .console(Console::Json)
///     .filter("info,hyper=warn")
///     .max_batch_logs(500)
///     .max_batch_wait(Duration::from_secs(10));
/// let shown = format!("{config:?}");
/// assert!(shown.contains("checkout"));
/// assert!(!shown.contains("lgs_secret"));
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) service_name: String,
    pub(crate) api_token: Option<ApiToken>,
    pub(crate) env: Env,
    pub(crate) endpoint: Option<String>,
    pub(crate) console: Console,
    pub(crate) console_writer: Option<SharedWriter>,
    pub(crate) filter: Option<String>,
    pub(crate) read_rust_log: bool,
    pub(crate) allow_insecure_http: bool,
    pub(crate) max_string_bytes: usize,
    /// `None`: the default, 1 MiB or `max_batch_bytes` less the room, whichever is smaller.
    pub(crate) max_record_bytes: Option<usize>,
    pub(crate) max_batch_logs: usize,
    pub(crate) max_batch_wait: Duration,
    pub(crate) max_batch_bytes: usize,
    pub(crate) max_queue_logs: usize,
    pub(crate) max_buffer_bytes: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) retry_base: Duration,
    pub(crate) retry_max_delay: Duration,
    pub(crate) retry_give_up: Duration,
    pub(crate) max_retry_after: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) gzip: bool,
    /// `Config::proxy` (`Some(Some(url))`) or `Config::no_proxy` (`Some(None)`); `None`: the environment.
    pub(crate) proxy: Option<Option<String>>,
    /// The wire protocol (`Config::protocol`).
    pub(crate) protocol: crate::protocol::Protocol,
    /// Extra request headers (`Config::header`); their values are never shown.
    pub(crate) headers: crate::protocol::Headers,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// The endpoint as shown: any `user:password@` replaced (`init` refuses them; `Debug` may come
        /// first). A value that is not an http(s) URL and holds an `@` is hidden whole: where its
        /// credentials would end cannot be told.
        fn shown_endpoint(endpoint: &str) -> std::borrow::Cow<'_, str> {
            use url::Position;
            match url::Url::parse(endpoint.trim()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {
                    if url.username().is_empty() && url.password().is_none() {
                        endpoint.into()
                    } else {
                        format!(
                            "{}[redacted]@{}",
                            &url[..Position::BeforeUsername],
                            &url[Position::BeforeHost..]
                        )
                        .into()
                    }
                }
                _ if endpoint.contains('@') => {
                    "[redacted: not an http(s) URL and holds an '@']".into()
                }
                _ => endpoint.into(),
            }
        }
        f.debug_struct("Config")
            .field("service_name", &self.service_name)
            .field("api_token", &self.api_token)
            .field("env", &self.env)
            .field("endpoint", &self.endpoint.as_deref().map(shown_endpoint))
            .field("console", &self.console)
            .field(
                "console_writer",
                &self.console_writer.as_ref().map(|_| "<custom>"),
            )
            .field("filter", &self.filter)
            .field("read_rust_log", &self.read_rust_log)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("max_string_bytes", &self.max_string_bytes)
            .field("max_record_bytes", &self.record_cap())
            .field("max_batch_logs", &self.max_batch_logs)
            .field("max_batch_wait", &self.max_batch_wait)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("max_queue_logs", &self.max_queue_logs)
            .field("max_buffer_bytes", &self.max_buffer_bytes)
            .field("max_in_flight", &self.max_in_flight)
            .field("request_timeout", &self.request_timeout)
            .field("retry_base", &self.retry_base)
            .field("retry_max_delay", &self.retry_max_delay)
            .field("retry_give_up", &self.retry_give_up)
            .field("max_retry_after", &self.max_retry_after)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("gzip", &self.gzip)
            .field(
                "proxy",
                &self
                    .proxy
                    .as_ref()
                    .map(|p| p.as_deref().map(redact_userinfo)),
            )
            .field("protocol", &self.protocol)
            .field("headers", &self.headers)
            .finish()
    }
}

impl Default for Config {
    /// A console logger in `Env::Dev`, named after the executable. `init(Config::default())` is the plain
    /// console logger: no token, no network.
    fn default() -> Self {
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "rust-service".to_owned());
        Config::new(name)
    }
}

impl Config {
    /// A configuration for the service `service_name` (sent with every batch), in `Env::Dev`.
    pub fn new(service_name: impl Into<String>) -> Self {
        Config {
            service_name: service_name.into(),
            api_token: None,
            env: Env::Dev,
            endpoint: None,
            console: Console::Pretty,
            console_writer: None,
            filter: None,
            read_rust_log: true,
            allow_insecure_http: false,
            max_string_bytes: DEFAULT_MAX_STRING_BYTES,
            max_record_bytes: None,
            max_batch_logs: 200,
            max_batch_wait: Duration::from_secs(30),
            max_batch_bytes: 4 << 20,
            max_queue_logs: 20_000,
            max_buffer_bytes: 32 << 20,
            max_in_flight: 16,
            request_timeout: Duration::from_secs(10),
            retry_base: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(30),
            retry_give_up: Duration::from_secs(600),
            max_retry_after: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(5),
            gzip: false,
            proxy: None,
            protocol: crate::protocol::Protocol::LogiScout,
            headers: crate::protocol::Headers::default(),
        }
    }

    /// A configuration from the environment:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `LOGISCOUT_SERVICE_NAME` | service name (default: the executable's name) |
    /// | `LOGISCOUT_API_TOKEN` | API token |
    /// | `LOGISCOUT_ENV` | `dev` or `prod` |
    /// | `LOGISCOUT_ENDPOINT` | ingest URL |
    /// | `LOGISCOUT_CONSOLE` | `pretty`, `json` or `off` |
    /// | `LOGISCOUT_PROTOCOL` | `logiscout`, `otlp` or `otlp-json` (see [`Config::protocol`]) |
    ///
    /// Builder methods called afterwards override these. `RUST_LOG` is read by [`init`](crate::init).
    ///
    /// # Errors
    /// [`Error::InvalidEnv`], [`Error::InvalidConsole`] or [`Error::InvalidSetting`] (`protocol`) for
    /// values it does not know.
    pub fn from_env() -> Result<Self, Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut config = match var("LOGISCOUT_SERVICE_NAME") {
            Some(name) => Config::new(name),
            None => Config::default(),
        };
        if let Some(token) = var("LOGISCOUT_API_TOKEN") {
            config = config.api_token(token);
        }
        if let Some(env) = var("LOGISCOUT_ENV") {
            config = config.env(env.parse()?);
        }
        if let Some(endpoint) = var("LOGISCOUT_ENDPOINT") {
            config = config.endpoint(endpoint);
        }
        if let Some(console) = var("LOGISCOUT_CONSOLE") {
            config = config.console(console.parse()?);
        }
        if let Some(protocol) = var("LOGISCOUT_PROTOCOL") {
            config = config.protocol(protocol.parse()?);
        }
        Ok(config)
    }

    /// The wire protocol: [`Protocol::LogiScout`](crate::Protocol::LogiScout) (the default), or OTLP/HTTP
    /// to an OpenTelemetry Collector or vendor ([`Protocol::Otlp`](crate::Protocol::Otlp), protobuf;
    /// [`Protocol::OtlpJson`](crate::Protocol::OtlpJson), JSON), which needs the `otlp` cargo feature.
    ///
    /// With OTLP the endpoint is the full URL as given (a collector's is `http://host:4318/v1/logs`), the
    /// API token is optional (sent as `Authorization: Bearer` when set), and [`Config::header`] adds the
    /// headers a vendor wants. OTLP has no batch-ID header, so a batch retried after a lost response
    /// (the collector took it, the answer never arrived) may be stored twice.
    pub fn protocol(mut self, protocol: crate::protocol::Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Adds a header to every ingest request (e.g. `x-api-key` for a vendor's OTLP endpoint). Its value is
    /// never shown: `Debug` prints the name only. Names that logiscout sets itself (`content-type`,
    /// `content-encoding`, `user-agent`, …) are refused by [`init`](crate::init), and so is
    /// `authorization` when an API token is set (the token is sent as `Authorization: Bearer`; without
    /// one, with OTLP, this header is how another scheme such as `Basic` is sent).
    ///
    /// ```
    /// let config = logiscout_core::Config::new("s").header("x-api-key", "k_live_123");
    /// let shown = format!("{config:?}");
    /// assert!(shown.contains("x-api-key") && !shown.contains("k_live_123"));
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.0.push((name.into(), value.into()));
        self
    }

    /// Sets the service name.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// The API token for the ingest endpoint (platform tokens start with `lgs_`). Needed in `Env::Prod`.
    pub fn api_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = Some(ApiToken(token.into()));
        self
    }

    /// `Env::Dev` (console only, the default) or `Env::Prod` (console and shipping).
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// The ingest endpoint URL, e.g. `https://ingest.example.com/ingest`. Needed in `Env::Prod`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The console format (default [`Console::Pretty`]).
    pub fn console(mut self, console: Console) -> Self {
        self.console = console;
        self
    }

    /// Writes console output to `writer` instead of standard error (no colour). Each record is one
    /// `write_all` of one whole line.
    ///
    /// The writer may log (to report its own trouble, say) and may panic:
    /// - a record logged from inside its `write` or `flush` never waits for the writer's lock (which this
    ///   thread holds): its line is written right after the line being written (at most 16 such lines per
    ///   call), and is shipped as usual in `Env::Prod`. What the writer logs while writing those lines is
    ///   shipped but not printed, so a writer that logs on every write cannot loop;
    /// - a panic in it is caught (with the default `panic = "unwind"`): that line is lost, one line on
    ///   standard error says so (once per process), and the next records are written to it as usual.
    pub fn console_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.console_writer = Some(Arc::new(Mutex::new(Box::new(writer))));
        self
    }

    /// Level filter directives in `RUST_LOG` syntax, e.g. `"info,my_crate::db=debug,hyper=warn"`.
    /// Default `info`. `RUST_LOG`, when set, overrides them (see [`Config::read_rust_log`]).
    ///
    /// The levels are `off`, `error`, `warn`, `info`, `debug` and `trace`, in any case. A bare word that
    /// is not a level names a module, as in `env_logger`: `"my_crate"` means everything from `my_crate`
    /// and nothing else. So that a mistyped level never silently turns every log off, a bare word that
    /// reads like a level but is not one (`verbose`, `warning`, `fatal`, `critical`, `crit`, `err`,
    /// `errors`, `warnings`, `all`, `none`, `silent`, `quiet`, `notice`, `information`,
    /// `informational`, `dbg`, `max`, `loud`, in any case), or is a typo of a level (one edit from `off`,
    /// `info` or `warn`, two from `trace`, `debug`, `error`, `warning` or `critical`: `trce`, `debg`,
    /// `wrn`; words of letters only, so `my_app` and `my_crate::db` stay module names) is refused by
    /// [`init`](crate::init) with [`Error::InvalidFilter`], as is an unknown level after `=`
    /// (`"hyper=loud"`). A module of such a name is written with its level: `"warnx=trace"`.
    ///
    /// [`set_filter`](crate::set_filter) changes the filter while the program runs, with the same rules.
    pub fn filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = Some(directives.into());
        self
    }

    /// Whether `RUST_LOG` overrides [`Config::filter`] (default `true`).
    pub fn read_rust_log(mut self, read: bool) -> Self {
        self.read_rust_log = read;
        self
    }

    /// Allows `http://` endpoints on hosts other than loopback (default `false`: the token would travel in
    /// clear text).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The longest message or string value, in bytes, before it is cut with a `…[truncated N bytes]` marker
    /// (default 32 KiB; at least 64).
    pub fn max_string_bytes(mut self, bytes: usize) -> Self {
        self.max_string_bytes = bytes;
        self
    }

    /// The most one record may take, in bytes of its JSON up to the end of its key-values (default 1 MiB,
    /// or `max_batch_bytes` less 2 KiB when that is smaller; at least 1 KiB, and at most `max_batch_bytes`
    /// less 2 KiB so that a record always fits in a batch).
    ///
    /// Enforced while the record is copied on the calling thread, before the copy grows past it: the
    /// key-value that would take the record past the cap is left out, and so is every later one, and
    /// `"logiscout.truncated_keys": N` in `metadata` says how many were. The message and target count
    /// toward the cap but are never cut by it (only by [`max_string_bytes`](Config::max_string_bytes)): a
    /// record whose message alone passes the cap keeps its message and loses all its key-values. The
    /// traceback of an `:err` value (also cut at `max_string_bytes`, and kept even when its key-value is
    /// cut) and the marker come on top. Console lines (JSON and pretty) are cut by the same rule.
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = Some(bytes);
        self
    }

    /// The record cap in force: [`Config::max_record_bytes`], or its default.
    pub(crate) fn record_cap(&self) -> usize {
        self.max_record_bytes.unwrap_or_else(|| {
            DEFAULT_MAX_RECORD_BYTES.min(self.max_batch_bytes.saturating_sub(RECORD_ROOM_BYTES))
        })
    }

    /// A batch goes out when this many logs are waiting (default 200, at least 1).
    pub fn max_batch_logs(mut self, logs: usize) -> Self {
        self.max_batch_logs = logs;
        self
    }

    /// A batch goes out when its oldest log has waited this long (default 30 s, at least 1 ms).
    pub fn max_batch_wait(mut self, wait: Duration) -> Self {
        self.max_batch_wait = wait;
        self
    }

    /// The largest request body, in bytes (default 4 MiB, at least 4 KiB). Checked before sending: a
    /// batch is cut to fit, never sent too large.
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes;
        self
    }

    /// How many records the hand-off queue holds between the application and the worker (default 20,000).
    /// When full, new records are dropped and counted; the application never waits.
    pub fn max_queue_logs(mut self, logs: usize) -> Self {
        self.max_queue_logs = logs;
        self
    }

    /// The memory, in bytes of encoded records, that logs waiting to be delivered may hold in all (queue,
    /// batches being built, batches in flight or retrying; default 32 MiB). Past it, new records are dropped
    /// and counted.
    pub fn max_buffer_bytes(mut self, bytes: usize) -> Self {
        self.max_buffer_bytes = bytes;
        self
    }

    /// How many batches may be in flight (or waiting to retry) at once (default 16).
    pub fn max_in_flight(mut self, batches: usize) -> Self {
        self.max_in_flight = batches;
        self
    }

    /// The timeout of one POST, from connect to the response's end (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Retry backoff: the wait before retry *n* is random in `0..=min(max_delay, base * 2^n)` (full jitter;
    /// defaults 500 ms and 30 s). A batch is given up on (dropped and counted) when retrying it would take
    /// longer than `give_up` since its first attempt (default 10 min).
    pub fn retry(mut self, base: Duration, max_delay: Duration, give_up: Duration) -> Self {
        self.retry_base = base;
        self.retry_max_delay = max_delay;
        self.retry_give_up = give_up;
        self
    }

    /// The longest `Retry-After` honoured (default 60 s); longer requests are cut to this.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// How long dropping the [`Guard`](crate::Guard) waits for undelivered logs (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sends bodies gzip-compressed with `Content-Encoding: gzip` (default off: the platform must accept
    /// it).
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }

    /// Sends batches through this proxy (`http://host:port`, credentials as `http://user:pass@host:port`,
    /// never shown), whatever the environment says. A loopback endpoint is never proxied.
    ///
    /// Without it, an `https://` endpoint honours `HTTPS_PROXY`, then `ALL_PROXY` (or their lower-case
    /// forms), unless `NO_PROXY` names its host (`*`, a host, or a domain and its subdomains); a plain
    /// `http://` endpoint ignores the environment, since its token and logs would cross the proxy in
    /// clear text.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(Some(url.into()));
        self
    }

    /// Never uses a proxy, whatever the environment says.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = Some(None);
        self
    }

    /// The proxy setting, validated.
    pub(crate) fn proxy_setting(&self) -> Result<crate::ship::transport::ProxySetting, Error> {
        use crate::ship::transport::ProxySetting;
        match &self.proxy {
            None => Ok(ProxySetting::Environment),
            Some(None) => Ok(ProxySetting::Off),
            Some(Some(url)) => match url::Url::parse(url.trim()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                    Ok(ProxySetting::Explicit(u))
                }
                // The value may hold credentials: never repeated.
                _ => Err(invalid(
                    "proxy",
                    "must be an http:// or https:// URL with a host",
                )),
            },
        }
    }

    /// The level filter this configuration gives, with `RUST_LOG` applied when allowed.
    pub(crate) fn build_filter(&self) -> Result<env_filter::Filter, Error> {
        let from_env = if self.read_rust_log {
            std::env::var("RUST_LOG")
                .ok()
                .filter(|v| !v.trim().is_empty())
        } else {
            None
        };
        let (origin, directives) = match (&from_env, &self.filter) {
            (Some(env), _) => ("RUST_LOG", env.as_str()),
            (None, Some(own)) => ("Config::filter", own.as_str()),
            (None, None) => ("default", "info"),
        };
        Self::parse_filter(origin, directives)
    }

    /// Parses level filter directives (`RUST_LOG` syntax) coming from `origin`, refusing a bare word
    /// that reads like a level and is not one. `init` (through `build_filter`) and `set_filter` both use
    /// it, so they accept and refuse exactly the same directives.
    pub(crate) fn parse_filter(
        origin: &'static str,
        directives: &str,
    ) -> Result<env_filter::Filter, Error> {
        /// Words that read like a level and are not one, with the level meant. `env_filter` takes a bare
        /// word for a module name, so `RUST_LOG=verbose` would mean "only the module `verbose`": nothing.
        const NOT_LEVELS: &[(&str, &str)] = &[
            ("verbose", "debug or trace"),
            ("warning", "warn"),
            ("warnings", "warn"),
            ("fatal", "error"),
            ("critical", "error"),
            ("crit", "error"),
            ("err", "error"),
            ("errors", "error"),
            ("all", "trace"),
            ("none", "off"),
            ("silent", "off"),
            ("quiet", "off"),
            ("notice", "info"),
            ("information", "info"),
            ("informational", "info"),
            ("dbg", "debug"),
            ("max", "trace"),
            ("loud", "debug or trace"),
        ];
        /// Why `directives` holds a bare level-like word, if it does (module paths pass).
        fn level_like_word(directives: &str) -> Option<String> {
            let mods = directives.split('/').next().unwrap_or("");
            mods.split(',')
                .map(str::trim)
                .filter(|d| !d.contains('='))
                .find_map(|word| {
                    let lower = word.to_ascii_lowercase();
                    let meant = NOT_LEVELS
                        .iter()
                        .find(|(w, _)| *w == lower)
                        .map(|(_, meant)| *meant)
                        .or_else(|| typo_of_level(&lower))?;
                    Some(format!(
                        "{word:?} is not a level (a bare word names a module, so every other one would be \
                         off); the levels are off, error, warn, info, debug and trace: did you mean {meant}? \
                         (for a module of that name, write {word}=trace)"
                    ))
                })
        }
        let mut builder = env_filter::Builder::new();
        if let Some(reason) = level_like_word(directives) {
            return Err(Error::InvalidFilter { origin, reason });
        }
        builder
            .try_parse(directives)
            .map_err(|e| Error::InvalidFilter {
                origin,
                reason: e.to_string(),
            })?;
        Ok(builder.build())
    }

    /// Checks everything `init` needs; returns the parsed endpoint in `Env::Prod`.
    pub(crate) fn validate(&self) -> Result<Option<url::Url>, Error> {
        self.validate_limits()?;
        self.validate_protocol_and_headers()?;
        if self.env == Env::Dev {
            return Ok(None);
        }
        match &self.api_token {
            Some(t) if !t.0.trim().is_empty() => {}
            // OTLP collectors often take no token: it is sent only when set.
            None if self.protocol.is_otlp() => {}
            Some(_) if self.protocol.is_otlp() => {
                return Err(invalid(
                    "api_token",
                    "is empty: leave it unset for an OTLP endpoint that needs no token",
                ))
            }
            _ => return Err(Error::MissingApiToken),
        }
        let endpoint = self.endpoint.as_deref().ok_or(Error::MissingEndpoint)?;
        check_endpoint(endpoint, self.allow_insecure_http).map(Some)
    }

    /// The sizes, counts and durations: each within its documented range.
    fn validate_limits(&self) -> Result<(), Error> {
        if self.service_name.trim().is_empty() {
            return Err(invalid("service_name", "must not be empty"));
        }
        if self.max_string_bytes < 64 {
            return Err(invalid("max_string_bytes", "must be at least 64"));
        }
        if self.max_batch_logs == 0 {
            return Err(invalid("max_batch_logs", "must be at least 1"));
        }
        if self.max_batch_wait < Duration::from_millis(1) {
            return Err(invalid("max_batch_wait", "must be at least 1 ms"));
        }
        if self.max_batch_bytes < 4096 {
            return Err(invalid("max_batch_bytes", "must be at least 4096"));
        }
        if let Some(bytes) = self.max_record_bytes {
            if bytes < 1024 {
                return Err(invalid("max_record_bytes", "must be at least 1024"));
            }
            if bytes > self.max_batch_bytes - RECORD_ROOM_BYTES {
                return Err(invalid(
                    "max_record_bytes",
                    "must be at most max_batch_bytes minus 2 KiB, so that a record fits in a batch",
                ));
            }
        }
        if self.max_queue_logs < 2 {
            return Err(invalid("max_queue_logs", "must be at least 2"));
        }
        if self.max_buffer_bytes < self.max_batch_bytes.min(1 << 20) {
            return Err(invalid(
                "max_buffer_bytes",
                "must be at least max_batch_bytes or 1 MiB, whichever is smaller",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(invalid("max_in_flight", "must be at least 1"));
        }
        if self.request_timeout.is_zero() {
            return Err(invalid("request_timeout", "must be more than zero"));
        }
        if self.retry_base.is_zero() || self.retry_max_delay < self.retry_base {
            return Err(invalid(
                "retry",
                "base must be more than zero and max_delay at least base",
            ));
        }
        Ok(())
    }

    /// The protocol against the features compiled in, and the headers (one `Authorization` at most).
    fn validate_protocol_and_headers(&self) -> Result<(), Error> {
        #[cfg(not(feature = "otlp"))]
        if self.protocol.is_otlp() {
            return Err(invalid(
                "protocol",
                format!(
                    "Protocol::{:?} needs the `otlp` cargo feature: enable it (`logiscout = {{ features = [\"otlp\"] }}`) or use Protocol::LogiScout",
                    self.protocol
                ),
            ));
        }
        self.headers.to_reqwest()?;
        let authorization = self
            .headers
            .0
            .iter()
            .any(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"));
        if authorization && self.api_token.is_some() {
            // Two `Authorization` headers: which one the endpoint reads is anyone's guess.
            return Err(invalid(
                "header",
                "authorization is set by logiscout itself from the API token (`Authorization: Bearer …`): \
                 set the token with Config::api_token (or LOGISCOUT_API_TOKEN) instead; for an OTLP endpoint \
                 that wants another scheme (Basic, ApiKey), leave the API token unset and keep this header",
            ));
        }
        Ok(())
    }
}

/// The level a bare, lower-case word is a typo of (`trce`, `debg`, `wrn`, `eror`), if it is one: within
/// one edit (insertion, deletion, substitution or swap of neighbours) of `off`, `info` or `warn`, two of
/// `trace`, `debug`, `error`, `warning` or `critical`. Only words of letters are typos (`my_app`,
/// `app2` and paths with `::` are module names), and a few real crates that look like typos keep their
/// module meaning (`warp`, `arrow`, …). Short names allow one edit only: two would take `foo`, `io` or
/// `fs` for `off` and `info`.
fn typo_of_level(lower: &str) -> Option<&'static str> {
    /// Level names, and the level meant by a typo of each.
    const NAMES: &[(&str, &str)] = &[
        ("trace", "trace"),
        ("debug", "debug"),
        ("info", "info"),
        ("warn", "warn"),
        ("warning", "warn"),
        ("error", "error"),
        ("off", "off"),
        ("critical", "error"),
    ];
    /// Crates a bare `RUST_LOG` word may well name, each a typo away from a level name.
    const NEAR_LEVEL_CRATES: &[&str] = &["warp", "arrow", "errno", "dbus", "debugid", "tract"];
    let is_level = log::LevelFilter::iter().any(|l| l.as_str().eq_ignore_ascii_case(lower));
    if lower.is_empty()
        || is_level
        || !lower.bytes().all(|b| b.is_ascii_lowercase())
        || NEAR_LEVEL_CRATES.contains(&lower)
    {
        return None;
    }
    NAMES
        .iter()
        .map(|(name, meant)| (edit_distance(lower, name), name.len(), *meant))
        .filter(|&(d, len, _)| d <= if len <= 4 { 1 } else { 2 })
        .min_by_key(|&(d, _, _)| d)
        .map(|(_, _, meant)| meant)
}

/// Edit distance between two ASCII words, a swap of neighbours counting as one edit (optimal string
/// alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    // Three rows of the table: i - 2, i - 1 and i.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// `s` with any `user:password@` of a URL replaced, for `Debug`; a value with an `@` that is not such a
/// URL is hidden whole (it may be credentials without a scheme).
fn redact_userinfo(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(url) if !url.username().is_empty() || url.password().is_some() => {
            crate::ship::transport::redacted(&url)
        }
        _ if s.contains('@') => "[redacted]".to_owned(),
        _ => s.to_owned(),
    }
}

pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidSetting {
        setting,
        reason: reason.into(),
    }
}

/// Parses the endpoint and refuses plain http to anything but loopback unless allowed.
pub(crate) fn check_endpoint(endpoint: &str, allow_insecure_http: bool) -> Result<url::Url, Error> {
    let url = url::Url::parse(endpoint.trim()).map_err(|e| Error::InvalidEndpoint {
        reason: e.to_string(),
    })?;
    // They would be sent as a second `Authorization` header (Basic) and shown wherever the URL is.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::EndpointCredentials);
    }
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.to_owned(),
        _ => {
            return Err(Error::InvalidEndpoint {
                reason: "the URL has no host".into(),
            })
        }
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_insecure_http || is_loopback(&host) => Ok(url),
        "http" => Err(Error::InsecureEndpoint { host }),
        other => Err(Error::InvalidEndpoint {
            reason: format!("scheme {other:?} is not http or https"),
        }),
    }
}

pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prod() -> Config {
        Config::new("svc")
            .env(Env::Prod)
            .api_token("lgs_topsecret")
            .endpoint("https://ingest.example.com/ingest")
    }

    #[test]
    fn dev_needs_nothing() {
        assert!(Config::new("svc").validate().unwrap().is_none());
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn prod_needs_a_token_and_an_endpoint() {
        assert!(matches!(
            Config::new("s").env(Env::Prod).validate(),
            Err(Error::MissingApiToken)
        ));
        assert!(matches!(
            Config::new("s").env(Env::Prod).api_token("  ").validate(),
            Err(Error::MissingApiToken)
        ));
        assert!(matches!(
            Config::new("s").env(Env::Prod).api_token("t").validate(),
            Err(Error::MissingEndpoint)
        ));
        assert_eq!(
            prod().validate().unwrap().unwrap().as_str(),
            "https://ingest.example.com/ingest"
        );
    }

    #[test]
    fn plain_http_is_only_for_loopback_unless_allowed() {
        for ok in [
            "http://127.0.0.1:4318/ingest",
            "http://localhost/ingest",
            "http://[::1]:80/",
            "http://127.8.9.10/x",
        ] {
            assert!(prod().endpoint(ok).validate().is_ok(), "{ok}");
        }
        let err = prod()
            .endpoint("http://ingest.example.com/ingest")
            .validate()
            .unwrap_err();
        assert!(matches!(&err, Error::InsecureEndpoint { host } if host == "ingest.example.com"));
        assert!(err.to_string().contains("allow_insecure_http"));
        assert!(prod()
            .endpoint("http://10.0.0.1/ingest")
            .allow_insecure_http(true)
            .validate()
            .is_ok());
        assert!(matches!(
            prod().endpoint("ftp://x/ingest").validate(),
            Err(Error::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            prod().endpoint("not a url").validate(),
            Err(Error::InvalidEndpoint { .. })
        ));
    }

    #[test]
    fn settings_are_range_checked() {
        assert!(Config::new(" ").validate().is_err());
        assert!(Config::new("s").max_batch_logs(0).validate().is_err());
        assert!(Config::new("s")
            .max_batch_wait(Duration::ZERO)
            .validate()
            .is_err());
        assert!(Config::new("s").max_string_bytes(10).validate().is_err());
    }

    #[test]
    fn max_record_bytes_defaults_to_one_mebibyte_and_always_fits_a_batch() {
        assert_eq!(Config::new("s").record_cap(), 1 << 20);
        assert!(format!("{:?}", Config::new("s")).contains("max_record_bytes: 1048576"));
        // A smaller batch lowers the default with it, so setting only the batch stays valid.
        let small = Config::new("s").max_batch_bytes(64 << 10);
        assert_eq!(small.record_cap(), (64 << 10) - 2048);
        assert!(small.validate().is_ok());
        assert_eq!(Config::new("s").max_batch_bytes(4096).record_cap(), 2048);
        // Set explicitly: at least 1 KiB, at most the batch less its room.
        assert_eq!(Config::new("s").max_record_bytes(5000).record_cap(), 5000);
        assert!(Config::new("s").max_record_bytes(1024).validate().is_ok());
        assert!(Config::new("s").max_record_bytes(1023).validate().is_err());
        assert!(Config::new("s")
            .max_record_bytes((4 << 20) - 2048)
            .validate()
            .is_ok());
        let err = Config::new("s")
            .max_record_bytes((4 << 20) - 2047)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("max_record_bytes"), "{err}");
        assert!(small.max_record_bytes(1 << 20).validate().is_err());
    }

    #[test]
    fn debug_and_errors_never_show_the_token() {
        let config = prod().endpoint("http://evil.example.com/x");
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(shown.contains("[redacted]"));
        let err = config.validate().unwrap_err();
        assert!(!format!("{err} {err:?}").contains("topsecret"));
    }

    #[test]
    fn names_parse() {
        assert_eq!("PROD".parse::<Env>().unwrap(), Env::Prod);
        assert_eq!("development".parse::<Env>().unwrap(), Env::Dev);
        assert!(matches!(
            "staging".parse::<Env>(),
            Err(Error::InvalidEnv { .. })
        ));
        assert_eq!("json".parse::<Console>().unwrap(), Console::Json);
        assert!("fancy".parse::<Console>().is_err());
    }

    #[test]
    fn filters_parse_and_bad_ones_are_reported() {
        let f = Config::new("s")
            .read_rust_log(false)
            .filter("warn,my_crate=debug")
            .build_filter()
            .unwrap();
        assert_eq!(f.filter(), log::LevelFilter::Debug);
        let f = Config::new("s")
            .read_rust_log(false)
            .build_filter()
            .unwrap();
        assert_eq!(f.filter(), log::LevelFilter::Info);
        let err = Config::new("s")
            .read_rust_log(false)
            .filter("info,a=loud")
            .build_filter()
            .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidFilter {
                origin: "Config::filter",
                ..
            }
        ));
    }

    #[test]
    fn an_authorization_header_beside_the_api_token_is_refused() {
        let prod = || {
            Config::new("s")
                .env(Env::Prod)
                .endpoint("https://ingest.example.com/ingest")
        };
        for name in ["authorization", "Authorization", " AUTHORIZATION "] {
            for config in [
                prod().api_token("lgs_tok"),
                Config::new("s").api_token("lgs_tok"),
            ] {
                let err = config
                    .header(name, "Basic czNjcmV0LXZhbHVl")
                    .validate()
                    .unwrap_err();
                let shown = format!("{err} {err:?}");
                assert!(
                    matches!(
                        err,
                        Error::InvalidSetting {
                            setting: "header",
                            ..
                        }
                    ),
                    "{shown}"
                );
                assert!(shown.contains("Config::api_token"), "{shown}");
                assert!(!shown.contains("czNjcmV0"), "{shown}");
            }
        }
        // Without a token there is one Authorization header: the user's (an OTLP vendor's scheme).
        assert!(Config::new("s")
            .header("authorization", "Basic x")
            .validate()
            .is_ok());
        if cfg!(feature = "otlp") {
            assert!(prod()
                .protocol(crate::Protocol::Otlp)
                .header("authorization", "Basic x")
                .validate()
                .is_ok());
        }
        // Other headers beside the token are fine.
        assert!(prod()
            .api_token("lgs_tok")
            .header("x-api-key", "k")
            .validate()
            .is_ok());
    }

    #[test]
    fn bare_level_like_words_are_refused_and_module_paths_are_not() {
        let parse = |d: &str| {
            Config::new("s")
                .read_rust_log(false)
                .filter(d)
                .build_filter()
        };
        for bad in [
            "verbose",
            "WARNING",
            "info,Fatal",
            "critical",
            "crit",
            "err",
            "all",
            "none",
            "silent",
            "quiet",
            "notice",
            "information",
            "informational",
            "dbg",
            "errors",
            " warnings ,hyper=warn",
            "verbose/some regex",
            // Words that read like a level, and typos of one.
            "loud",
            "max",
            "trce",
            "TRCE",
            "debg",
            "dbeug",
            "inof",
            "inf",
            "wrn",
            "eror",
            "warnig",
            "critcal",
            "of",
            "info,hyper=warn,tarce",
        ] {
            let err = parse(bad).unwrap_err();
            let Error::InvalidFilter { origin, reason } = &err else {
                panic!("{bad}: {err:?}");
            };
            assert_eq!(*origin, "Config::filter");
            assert!(
                reason.contains("off, error, warn, info, debug and trace"),
                "{reason}"
            );
            assert!(reason.contains("did you mean"), "{reason}");
        }
        assert!(parse("warning")
            .unwrap_err()
            .to_string()
            .contains("did you mean warn?"));
        for (typo, meant) in [
            ("trce", "trace"),
            ("debg", "debug"),
            ("Infoo", "info"),
            ("wran", "warn"),
            ("errror", "error"),
            ("ofd", "off"),
        ] {
            let err = parse(typo).unwrap_err().to_string();
            assert!(err.contains(&format!("did you mean {meant}?")), "{err}");
            assert!(err.contains(&format!("write {typo}=trace")), "{err}");
            // Named as a module explicitly, the same word is accepted.
            assert!(parse(&format!("{typo}=trace")).is_ok(), "{typo}");
        }
        // Bare module paths keep env_logger's meaning: everything from that module.
        for good in [
            "my_crate",
            "my_crate::db",
            "info,verbose_mode",
            "WARN",
            "Trace",
            "off",
            "warning_center=debug",
            "info,all_things",
            // Real module names, a few a typo away from a level name.
            "hyper",
            "my_app",
            "my_app::info",
            "tracing",
            "tokio,axum",
            "warp",
            "arrow",
            "errno",
            "debugid",
            "app2",
            "info2",
            "foo",
            "io",
            "fs",
        ] {
            assert!(parse(good).is_ok(), "{good}");
        }
        assert_eq!(parse("my_crate").unwrap().filter(), log::LevelFilter::Trace);
    }

    #[test]
    fn endpoint_credentials_are_refused_and_never_shown() {
        for url in [
            "https://alice:hunter2pw@ingest.example.com/ingest",
            "https://hunter2pw@ingest.example.com/ingest",
            "https://:hunter2pw@ingest.example.com/ingest",
            "https:/alice:hunter2pw@ingest.example.com/ingest",
            "http://alice:hunter2pw@127.0.0.1:4318/ingest",
        ] {
            let config = prod().endpoint(url);
            let shown = format!("{config:?} {config:#?}");
            assert!(
                !shown.contains("hunter2pw") && !shown.contains("alice"),
                "{shown}"
            );
            assert!(shown.contains("[redacted]@"), "{shown}");
            let err = config.validate().unwrap_err();
            assert!(matches!(err, Error::EndpointCredentials), "{url}: {err:?}");
            let said = format!("{err} {err:?}");
            assert!(
                !said.contains("hunter2pw") && !said.contains("alice"),
                "{said}"
            );
            assert!(said.contains("Config::api_token"), "{said}");
        }
        // What the URL shows besides its credentials is kept; an endpoint without them is shown as given.
        let shown = format!(
            "{:?}",
            prod().endpoint("https://u:hunter2pw@h.example:8443/in?x=1")
        );
        assert!(
            shown.contains("\"https://[redacted]@h.example:8443/in?x=1\""),
            "{shown}"
        );
        assert!(format!("{:?}", prod()).contains("\"https://ingest.example.com/ingest\""));
        // A value that is not an http(s) URL (refused by init anyway) is hidden whole when it holds an '@'.
        for raw in [
            "user:hunter2pw@ingest.example.com",
            "https:// u:hunter2pw@bad host/",
        ] {
            let shown = format!("{:?}", prod().endpoint(raw));
            assert!(!shown.contains("hunter2pw"), "{shown}");
            assert!(prod().endpoint(raw).validate().is_err());
        }
    }
}
