//! The backlogs of issue 12's drain case, shared by `benches/drain.rs`, `examples/drain_rounds.rs` and
//! `examples/profile_worker.rs` (each includes this file with `#[path]`): the same record logged into one
//! correlation group, into correlation scopes of 3 logs, or into requests (start, 3 logs, end), and the
//! Prod configuration with a queue and buffer big enough to hold any of them at once.

#![allow(dead_code)] // each includer uses a part

use logiscout_core::correlation::{self, Context, CorrelationId, RequestInfo};

/// `logs` logs in one correlation group (one long job).
pub(crate) fn one_group(logs: u64) {
    correlation::sync_scope(CorrelationId::new("one-long-job"), || {
        for i in 0..logs {
            log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!");
        }
    });
}

/// `requests` requests of 3 logs each, with their request info and end (what the middleware hands over).
pub(crate) fn requests(requests: u64) {
    for r in 0..requests {
        let ctx = Context::new(CorrelationId::generate())
            .with_request(RequestInfo::new("GET", "/orders"));
        logiscout_core::middleware::request_started(&ctx);
        correlation::sync_scope(ctx.clone(), || {
            for step in 0..3u64 {
                log::info!(user_id = r, step = step, region = "eu-west-1"; "Order created okay!!");
            }
        });
        logiscout_core::middleware::request_finished(&ctx, Some(200));
    }
}

/// A correlation scope of 3 logs per ID, without request info (a job per ID, no middleware).
pub(crate) fn scopes(ids: &[CorrelationId]) {
    for (r, id) in ids.iter().enumerate() {
        correlation::sync_scope(id.clone(), || {
            for step in 0..3u64 {
                log::info!(user_id = r, step = step, region = "eu-west-1"; "Order created okay!!");
            }
        });
    }
}

/// Prod to `url`, console off, with room for a whole backlog (1 Mi logs, 1 GiB).
pub(crate) fn config(url: &str) -> logiscout_core::Config {
    logiscout_core::Config::new("bench")
        .env(logiscout_core::Env::Prod)
        .api_token("lgs_bench")
        .endpoint(url)
        .console(logiscout_core::Console::Off)
        .read_rust_log(false)
        .filter("info")
        .max_queue_logs(1 << 20)
        .max_buffer_bytes(1 << 30)
}
