//! A fixed-rate (open-loop) HTTP load generator for the soak test (`scripts/soak.sh`), since wrk sends
//! as fast as the server answers and cannot hold a rate.
//!
//! ```text
//! target/release/soak_load --url http://127.0.0.1:8080/ --rate 20000 --connections 32 --duration-s 60
//! ```
//!
//! Each connection is one keep-alive HTTP/1.1 connection (plain `GET PATH HTTP/1.1` with a `Host` header,
//! written by hand over a tokio `TcpStream`; the answer is read up to its `content-length`, so chunked
//! answers are not supported). Connection `i` sends at the fixed times `start + (i + k·connections) /
//! rate`, k = 0, 1, ...: a connection whose previous answer came late sends at once, back to back, but
//! never more than `--burst` requests (default 10) behind its schedule; the slots beyond that are skipped
//! and counted as `missed` (then the achieved rate falls short of `--rate`). A failed request (I/O error,
//! timeout after 10 s, non-2xx status) counts as an error; after an I/O error or timeout the connection is
//! reopened at the next slot.
//!
//! Latency is measured from the scheduled send time (`latency_us`, so a slow answer also counts against
//! the requests queued behind it: no coordinated omission), and from the actual send time (`service_us`).
//! tokio's timers have millisecond granularity, so a connection that was idle until its slot starts the
//! clock when its timer fires (up to ~1 ms after the slot: this tool's delay, not the server's); one that
//! was behind starts it at the slot.
//!
//! Runs on one thread (a tokio current-thread runtime). Every `--report-ms` (default 1000) it prints one
//! JSON line on standard error (`t_s`, cumulative `sent`, `completed`, `errors`, `missed`, and `rate`, the
//! completed requests per second over that period); at the end one JSON object on standard output.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const USAGE: &str = "\
usage: soak_load --url URL [options]
      --url URL            http://HOST:PORT/PATH (plain HTTP only)
      --rate N             requests per second over all connections (default 20000)
      --connections N      keep-alive connections (default 32)
      --duration-s N       seconds of load (default 60)
      --report-ms MS       progress line period on standard error (default 1000)
      --burst N            how many requests a connection may send back to back to catch up (default 10)
  -h, --help               this text";

/// How long one request may take before it counts as an error and its connection is reopened.
const TIMEOUT: Duration = Duration::from_secs(10);

struct Options {
    addr: SocketAddr,
    request: Vec<u8>,
    rate: u64,
    connections: u64,
    duration: Duration,
    report: Duration,
    burst: u64,
}

fn parse_url(url: &str) -> Result<(SocketAddr, Vec<u8>), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url: only http:// URLs, got {url:?}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| format!("--url: cannot resolve {authority:?} (HOST:PORT): {e}"))?
        .next()
        .ok_or_else(|| format!("--url: {authority:?} resolves to no address"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n").into_bytes();
    Ok((addr, request))
}

fn parse_options() -> Result<Options, String> {
    let mut url = None;
    let mut o = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        request: Vec::new(),
        rate: 20_000,
        connections: 32,
        duration: Duration::from_secs(60),
        report: Duration::from_secs(1),
        burst: 10,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag}: expected a positive integer, got {v:?}"))
        };
        match flag.as_str() {
            "--url" => url = Some(value),
            "--rate" => o.rate = number(&value)?,
            "--connections" => o.connections = number(&value)?,
            "--duration-s" => o.duration = Duration::from_secs(number(&value)?),
            "--report-ms" => o.report = Duration::from_millis(number(&value)?),
            "--burst" => o.burst = number(&value)?,
            _ => return Err(format!("unknown option {flag:?}\n{USAGE}")),
        }
    }
    let url = url.ok_or_else(|| format!("--url is required\n{USAGE}"))?;
    (o.addr, o.request) = parse_url(&url)?;
    Ok(o)
}

/// Microsecond latencies in log-linear buckets: exact below 128 µs, then 64 buckets per power of two
/// (at most 1.6 % too high, as each bucket reports its upper bound).
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; 59 * 64],
            total: 0,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < 128 {
            v as usize
        } else {
            let e = 63 - u64::from(v.leading_zeros()); // v in [2^e, 2^(e+1)), e >= 7
            ((e - 5) * 64 + ((v >> (e - 6)) & 63)) as usize
        }
    }

    /// The largest value that falls in bucket `i`.
    fn upper(i: usize) -> u64 {
        if i < 128 {
            i as u64
        } else {
            let (e, m) = ((i / 64 + 5) as u64, (i % 64) as u64);
            ((64 + m + 1) << (e - 6)) - 1
        }
    }

    fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        self.counts[Self::index(us)] += 1;
        self.total += 1;
        self.max = self.max.max(us);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    fn quantile(&self, q: f64) -> u64 {
        let rank = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(i).min(self.max);
            }
        }
        self.max
    }

    fn summary(&self) -> serde_json::Value {
        json!({
            "p50": self.quantile(0.50),
            "p90": self.quantile(0.90),
            "p99": self.quantile(0.99),
            "p999": self.quantile(0.999),
            "max": self.max,
        })
    }
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
    missed: AtomicU64,
}

fn find_header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// One request over `stream`: its status, and whether the server asked to close the connection.
async fn request_once(
    stream: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, bool)> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    stream.write_all(request).await?;
    buf.clear();
    let head_end = loop {
        if let Some(end) = find_header_end(buf) {
            break end;
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("non-UTF-8 header"))?;
    let status = head
        .get(9..12)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("no status line"))?;
    let (mut length, mut close) = (None, false);
    for line in head.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.trim().eq_ignore_ascii_case("close");
            }
        }
    }
    let length = length.ok_or_else(|| bad("no content-length"))?;
    while buf.len() < head_end + length {
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok((status, close))
}

/// Connection `id`'s schedule and requests; returns its (from-schedule, from-send) latency histograms.
async fn connection(
    id: u64,
    o: Arc<Options>,
    start: Instant,
    counters: Arc<Counters>,
) -> (Histogram, Histogram) {
    let (mut latency, mut service) = (Histogram::new(), Histogram::new());
    let end = start + o.duration;
    let slot_ns =
        |k: u64| (u128::from(id + k * o.connections) * 1_000_000_000) / u128::from(o.rate);
    let period_ns = (1_000_000_000 * u128::from(o.connections)) / u128::from(o.rate);
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(1024);
    let mut k = 0u64;
    loop {
        let slot = start + Duration::from_nanos(slot_ns(k) as u64);
        if slot >= end {
            break;
        }
        let now = Instant::now();
        // When the latency clock starts: the slot, unless this connection was idle until it; then the
        // moment the timer woke it (up to ~1 ms late), which is this tool's delay, not the server's.
        let mut due = slot;
        if now < slot {
            tokio::time::sleep_until(slot.into()).await;
            due = Instant::now();
        } else {
            let behind = ((now - slot).as_nanos() / period_ns.max(1)) as u64;
            if behind > o.burst {
                let skip = behind - o.burst;
                counters.missed.fetch_add(skip, Ordering::Relaxed);
                k += skip;
                due = start + Duration::from_nanos(slot_ns(k) as u64);
            }
        }
        k += 1;
        if stream.is_none() {
            match TcpStream::connect(o.addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    stream = Some(s);
                }
                Err(_) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
        }
        let Some(s) = stream.as_mut() else { continue };
        counters.sent.fetch_add(1, Ordering::Relaxed);
        let sent_at = Instant::now();
        match tokio::time::timeout(TIMEOUT, request_once(s, &o.request, &mut buf)).await {
            Ok(Ok((status, close))) => {
                let done = Instant::now();
                if (200..300).contains(&status) {
                    counters.completed.fetch_add(1, Ordering::Relaxed);
                    latency.record(done - due);
                    service.record(done - sent_at);
                } else {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                }
                if close {
                    stream = None;
                }
            }
            Ok(Err(_)) | Err(_) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                stream = None;
            }
        }
    }
    (latency, service)
}

async fn run(o: Options) -> serde_json::Value {
    let o = Arc::new(o);
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let tasks: Vec<_> = (0..o.connections)
        .map(|id| tokio::spawn(connection(id, o.clone(), start, counters.clone())))
        .collect();

    let progress = {
        let (counters, period) = (counters.clone(), o.report);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at((start + period).into(), period);
            let mut last = (start, 0u64);
            loop {
                ticks.tick().await;
                let now = Instant::now();
                let completed = counters.completed.load(Ordering::Relaxed);
                let rate = (completed - last.1) as f64 / (now - last.0).as_secs_f64();
                last = (now, completed);
                eprintln!(
                    "{}",
                    json!({
                        "t_s": ((now - start).as_secs_f64() * 1000.0).round() / 1000.0,
                        "sent": counters.sent.load(Ordering::Relaxed),
                        "completed": completed,
                        "errors": counters.errors.load(Ordering::Relaxed),
                        "missed": counters.missed.load(Ordering::Relaxed),
                        "rate": rate.round(),
                    })
                );
            }
        })
    };

    let (mut latency, mut service) = (Histogram::new(), Histogram::new());
    for task in tasks {
        if let Ok((l, s)) = task.await {
            latency.merge(&l);
            service.merge(&s);
        }
    }
    progress.abort();
    let completed = counters.completed.load(Ordering::Relaxed);
    json!({
        "url_addr": o.addr.to_string(),
        "target_rate": o.rate,
        "connections": o.connections,
        "duration_s": o.duration.as_secs(),
        "elapsed_s": (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        "sent": counters.sent.load(Ordering::Relaxed),
        "completed": completed,
        "errors": counters.errors.load(Ordering::Relaxed),
        "missed": counters.missed.load(Ordering::Relaxed),
        "achieved_rate": (completed as f64 / o.duration.as_secs_f64()).round(),
        "latency_us": latency.summary(),
        "service_us": service.summary(),
    })
}

fn main() -> ExitCode {
    let o = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("soak_load: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("soak_load: cannot build the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(run(o));
    println!("{report}");
    ExitCode::SUCCESS
}
