//! What the pipeline takes from `Config` (`lib.rs`'s `worker_settings`). Imports nothing of `ship/`.

use std::time::Duration;

use crate::config::SharedWriter;
use crate::ship::transport::RetryPolicy;

/// Settings the worker needs, taken from `Config`.
#[derive(Clone)]
pub(crate) struct WorkerSettings {
    pub service_name: String,
    pub environment: &'static str,
    pub max_queue_logs: usize,
    pub max_buffer_bytes: usize,
    pub max_batch_logs: usize,
    pub max_batch_bytes: usize,
    pub max_batch_wait: Duration,
    pub max_in_flight: usize,
    pub retry: RetryPolicy,
    pub max_string_bytes: usize,
    pub max_record_bytes: usize,
    pub shutdown_timeout: Duration,
    /// Where diagnostic lines go (default: standard error).
    pub diagnostics: Option<SharedWriter>,
    /// How often drops for a full buffer are reported while they go on (default: once a minute).
    pub drop_report_every: Duration,
}
