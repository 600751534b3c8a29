//! The crate's error type. No variant ever holds or prints the API token.

/// Why [`init`](crate::init) (or reading the configuration) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `log` logger is already installed in this process (by logiscout or another backend).
    #[error(
        "a logger is already installed in this process; call logiscout_core::init once, before any other log backend"
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
        /// Where the directives came from: `RUST_LOG` or `Config::filter`.
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
    /// The shipping worker could not start.
    #[error("could not start the logiscout worker thread: {0}")]
    Worker(#[source] std::io::Error),
}
