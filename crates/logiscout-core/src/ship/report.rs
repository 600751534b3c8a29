//! Diagnostics: the lines the pipeline writes to stderr (or `WorkerSettings::diagnostics`) about its own
//! trouble, never through `log`, each kind rate-limited. Above the counters, below everything else.

use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::stats::Counters;
use crate::config::SharedWriter;

/// Lines for stderr, written directly (never through `log`), each kind at most once per minute; a bad
/// token is reported once for the life of the process.
pub(super) struct Reporter {
    last: Mutex<Vec<(&'static str, Instant)>>,
    out: Option<SharedWriter>,
}

impl Reporter {
    /// A reporter writing to `out`, or to standard error.
    pub(super) fn new(out: Option<SharedWriter>) -> Self {
        Reporter {
            last: Mutex::default(),
            out,
        }
    }

    pub(super) fn line(&self, text: &str) {
        use std::io::Write;
        match &self.out {
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
            Some(out) => {
                if let Ok(mut out) = out.lock() {
                    let _ = writeln!(out, "{text}");
                }
            }
        }
    }

    /// Reports `text` unless `kind` was reported within the last minute.
    pub(super) fn limited(&self, kind: &'static str, text: &str) {
        self.report(kind, text, Some(Duration::from_secs(60)));
    }

    /// Reports `text` once per process for `kind`.
    pub(super) fn once(&self, kind: &'static str, text: &str) {
        self.report(kind, text, None);
    }

    fn report(&self, kind: &'static str, text: &str, every: Option<Duration>) {
        let now = Instant::now();
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        match last.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, at)) => match every {
                Some(every) if now.duration_since(*at) >= every => *at = now,
                _ => return,
            },
            None => last.push((kind, now)),
        }
        drop(last);
        self.line(text);
    }
}

/// Reports drops for a full buffer while they go on: the first at once, then at most once per period,
/// each line with the count since the one before (the shutdown summary has the total).
#[derive(Default)]
pub(super) struct DropReport {
    reported: u64,
    at: Option<Instant>,
}

impl DropReport {
    pub(super) fn report(
        &mut self,
        counters: &Counters,
        reporter: &Reporter,
        every: Duration,
        now: Instant,
    ) {
        let total = counters.full_drops.load(Ordering::Relaxed);
        if total == self.reported || self.at.is_some_and(|at| now.duration_since(at) < every) {
            return;
        }
        let new = total - self.reported;
        let text = match self.at {
            None => format!(
                "logiscout: the shipping buffer is full: {new} logs dropped so far (counted in stats() and in the next batch's dropped_logs; raise max_queue_logs or max_buffer_bytes, or check the endpoint)"
            ),
            Some(at) => format!(
                "logiscout: the shipping buffer is still full: {new} more logs dropped in the last {} s ({total} in all)",
                now.duration_since(at).as_secs()
            ),
        };
        reporter.line(&text);
        self.reported = total;
        self.at = Some(now);
    }
}
