//! Issue 12's drain case, measured in interleaved rounds: on this VM a criterion group measured minutes
//! after another moves by a third, so the ratio of two groups is only fair when their runs alternate.
//!
//! ```sh
//! cargo run --release -p logiscout-core --example drain_rounds -- 9     # rounds (default 9)
//! ```
//!
//! Each round logs, in a rotating order, the three backlogs of `benches/drain.rs` (120,000 logs in one
//! correlation group; in 40,000 correlation scopes of 3 logs; in 40,000 requests with their start, 3 logs
//! and end) at once into a queue big enough for all of them, then flushes into the testkit's discarding
//! server, and times first log to end of flush. It prints each round, the medians and the ratios to the
//! one-group rate (the target: ≥ 0.67), and fails if any record was dropped.

use std::time::{Duration, Instant};

use logiscout_core::correlation::CorrelationId;

#[path = "../benches/common/backlog.rs"]
mod backlog;

const LOGS: u64 = 120_000;
const GROUPS: u64 = 40_000;

/// Delivered logs per second of one backlog.
fn rate(work: &dyn Fn()) -> f64 {
    let start = Instant::now();
    work();
    let report = logiscout_core::flush(Duration::from_secs(120));
    assert!(report.complete, "{report:?}");
    LOGS as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(9);
    let server = logiscout_testkit::IngestServer::start_discarding();
    let guard = logiscout_core::init(backlog::config(&server.url())).expect("init");
    let ids: Vec<CorrelationId> = (0..GROUPS).map(|_| CorrelationId::generate()).collect();
    let cases: [(&str, &dyn Fn()); 3] = [
        ("one group", &|| backlog::one_group(LOGS)),
        ("40,000 scopes of 3 logs", &|| backlog::scopes(&ids)),
        ("40,000 requests", &|| backlog::requests(GROUPS)),
    ];
    // One untimed pass warms the allocator, the pools and the connection.
    for (_, work) in &cases {
        rate(*work);
    }
    let mut rates = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        let mut line = format!("round {}:", round + 1);
        for k in 0..cases.len() {
            let i = (round + k) % cases.len();
            let r = rate(cases[i].1);
            rates[i].push(r);
            line += &format!(" {} {:.0} k/s;", cases[i].0, r / 1e3);
        }
        println!("{line}");
    }
    let medians: Vec<f64> = rates.into_iter().map(median).collect();
    println!("\n| backlog (120,000 logs) | delivered logs/s, median of {rounds} | vs one group |");
    println!("|---|---|---|");
    for (i, (name, _)) in cases.iter().enumerate() {
        println!(
            "| {name} | {:.0} k/s | ×{:.2} |",
            medians[i] / 1e3,
            medians[i] / medians[0]
        );
    }
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(
        report.stats.logs_dropped, 0,
        "no figure may come from drops"
    );
}
