//! What the `profile_*` examples share (logiscout-core's `profile_hot_path` and `profile_worker`,
//! logiscout-tracing's `profile_tracing`): fixed workloads for callgrind and quick A/B timings, with the
//! logger in `Env::Prod` shipping to [`IngestServer::start_discarding`](crate::IngestServer::start_discarding).

use std::fmt;
use std::time::Instant;

/// Calls per chunk of [`chunked`]: after each, the logger is flushed, so no call takes the drop path.
pub const CHUNK: u64 = 10_000;

/// The example's first argument, a count of `what` (calls, logs, events), or `default` without one.
///
/// # Panics
/// When the argument is not a number: an example's usage error.
pub fn count_arg(what: &str, default: u64) -> u64 {
    std::env::args().nth(1).map_or(default, |s| {
        s.parse()
            .unwrap_or_else(|_| panic!("the first argument is a number of {what}, not {s:?}"))
    })
}

/// Runs `call(i)` for `i` in `0..n`, in chunks of [`CHUNK`], calling `wait` (the logger's flush)
/// after each chunk; times the calls only, not the waits.
pub fn chunked(n: u64, mut call: impl FnMut(u64), mut wait: impl FnMut()) -> Timing {
    let mut per_call = Vec::new();
    let mut done = 0;
    while done < n {
        let chunk = (n - done).min(CHUNK);
        let start = Instant::now();
        for i in done..done + chunk {
            call(i);
        }
        per_call.push(start.elapsed().as_nanos() as f64 / chunk as f64);
        done += chunk;
        wait();
    }
    per_call.sort_by(f64::total_cmp);
    Timing { per_call }
}

/// The time per call of each chunk of a [`chunked`] run, sorted.
#[derive(Debug, Clone)]
pub struct Timing {
    per_call: Vec<f64>,
}

impl Timing {
    /// The median over the chunks, ns per call (0 for no chunk).
    pub fn median_ns(&self) -> f64 {
        self.per_call
            .get(self.per_call.len() / 2)
            .copied()
            .unwrap_or(0.0)
    }
}

/// `median 412 ns per call over 10 chunks`.
impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "median {:.0} ns per call over {} chunks",
            self.median_ns(),
            self.per_call.len()
        )
    }
}

/// The examples' `logiscout_core::Config` shipping to `$server` (an [`IngestServer`](crate::IngestServer)):
/// `Env::Prod` as service `profile`, console off, `RUST_LOG` ignored, filter `info`. A macro, since the
/// testkit does not depend on logiscout-core (the calling crate must).
#[macro_export]
macro_rules! profile_config {
    ($server:expr) => {
        logiscout_core::Config::new("profile")
            .env(logiscout_core::Env::Prod)
            .api_token("lgs_profile")
            .endpoint($server.url())
            .console(logiscout_core::Console::Off)
            .read_rust_log(false)
            .filter("info")
    };
}
