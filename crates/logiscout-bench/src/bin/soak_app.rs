//! The service of the soak test (`scripts/soak.sh`): a hello-world web service (`GET /` answers `hello`)
//! whose handler makes three `log::info!` calls with a few key-values, inside logiscout's correlation
//! middleware, so every request is its own correlation group of three logs.
//!
//! ```text
//! cargo build --release -p logiscout-bench --bins -p logiscout-sink
//! target/release/logiscout-sink --listen 127.0.0.1:4318 --quiet &
//! target/release/soak_app --listen 127.0.0.1:8080 --endpoint http://127.0.0.1:4318/ingest \
//!     --sample-ms 1000 --samples samples.jsonl --duration-s 60
//! ```
//!
//! logiscout: `Env::Prod`, `Console::Off`, filter `info` (`RUST_LOG` ignored), every other setting
//! `Config`'s default. `--no-logiscout` is the baseline: no `init`, no middleware (the three `log::info!`
//! calls still run, into `log`'s no-op logger).
//!
//! Runtime: a tokio multi-thread runtime with its default worker count (one per CPU the process may run
//! on: `taskset -c 0` makes it one). axum serves on it; actix-web runs its own system on a thread of its
//! own, with its default worker count (the same rule); the sampler and the signal handling stay on tokio.
//!
//! Prints `listening on ADDR` once the socket is bound. Every `--sample-ms` it appends one JSON line to
//! `--samples` (standard output without it): `{"t_s", "rss_kib", "rss_anon_kib", "rss_file_kib",
//! "logs_enqueued", "logs_sent", "logs_dropped", "logs_pending", "batches_sent", "batches_retried",
//! "batches_failed", "requests"}`, `t_s` in seconds since the process started, RSS (and its anonymous and
//! file-backed parts) from `/proc/self/status`. On SIGTERM, SIGINT or after
//! `--duration-s` it stops serving, calls `guard.shutdown(10 s)`, and prints one final JSON line (`"final":
//! true`) with the same fields after shutdown, plus `complete`, `shutdown_s` and `max_rss_kib` (`VmHWM`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const USAGE: &str = "\
usage: soak_app [options]
      --framework axum|actix   the web framework (default axum)
      --listen ADDR            address to serve on (default 127.0.0.1:8080; port 0 picks one)
      --endpoint URL           the ingest URL logiscout ships to (required unless --no-logiscout)
      --token T                the API token (default lgs_soak)
      --no-logiscout           no logiscout::init and no middleware: the baseline
      --sample-ms MS           sample period (default 10000)
      --samples FILE           append the samples to FILE (default: standard output)
      --duration-s N           stop after N seconds (default: run until SIGTERM or SIGINT)
  -h, --help                   this text";

/// Requests answered (counted by the handler); also the `user_id` the handler logs.
static REQUESTS: AtomicU64 = AtomicU64::new(0);

struct Options {
    actix: bool,
    listen: SocketAddr,
    endpoint: Option<String>,
    token: String,
    logiscout: bool,
    sample: Duration,
    samples: Option<PathBuf>,
    duration: Option<Duration>,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        actix: false,
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        endpoint: None,
        token: "lgs_soak".to_owned(),
        logiscout: true,
        sample: Duration::from_secs(10),
        samples: None,
        duration: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--no-logiscout" => {
                o.logiscout = false;
                continue;
            }
            _ => {}
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
            "--framework" => match value.as_str() {
                "axum" => o.actix = false,
                "actix" => o.actix = true,
                _ => return Err(format!("--framework: axum or actix, got {value:?}")),
            },
            "--listen" => {
                o.listen = value
                    .parse()
                    .map_err(|e| format!("--listen: bad address {value:?}: {e}"))?
            }
            "--endpoint" => o.endpoint = Some(value),
            "--token" => o.token = value,
            "--sample-ms" => o.sample = Duration::from_millis(number(&value)?),
            "--samples" => o.samples = Some(PathBuf::from(value)),
            "--duration-s" => o.duration = Some(Duration::from_secs(number(&value)?)),
            _ => return Err(format!("unknown option {flag:?}\n{USAGE}")),
        }
    }
    if o.logiscout && o.endpoint.is_none() {
        return Err(format!(
            "--endpoint is required (or --no-logiscout)\n{USAGE}"
        ));
    }
    Ok(o)
}

async fn hello() -> &'static str {
    let n = REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
    log::info!(step = 1, user_id = n, path = "/"; "Handling request");
    log::info!(step = 2, user_id = n, cache = "miss", region = "eu-west-1"; "Loaded user profile");
    log::info!(step = 3, user_id = n, status = 200; "Request completed");
    "hello"
}

fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}

/// A `/proc/self/status` field in KiB (`VmRSS`, `RssAnon`, `RssFile`, `VmHWM`); 0 if unreadable.
fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_owned))
        })
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn sample(start: Instant, stats: logiscout::Stats) -> Value {
    json!({
        "t_s": (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        "rss_kib": proc_status_kib("VmRSS"),
        // RSS's two parts: the heap, stacks and other anonymous memory, and the pages of the binary
        // and libraries touched so far (code run for the first time adds to it).
        "rss_anon_kib": proc_status_kib("RssAnon"),
        "rss_file_kib": proc_status_kib("RssFile"),
        "logs_enqueued": stats.logs_enqueued,
        "logs_sent": stats.logs_sent,
        "logs_dropped": stats.logs_dropped,
        "logs_pending": stats.logs_pending(),
        "batches_sent": stats.batches_sent,
        "batches_retried": stats.batches_retried,
        "batches_failed": stats.batches_failed,
        "requests": REQUESTS.load(Ordering::Relaxed),
    })
}

/// Appends one line to the samples file, or prints it.
fn emit(file: &mut Option<std::fs::File>, line: &Value) {
    let text = format!("{line}\n");
    let written = match file {
        Some(f) => f.write_all(text.as_bytes()),
        None => std::io::stdout().lock().write_all(text.as_bytes()),
    };
    if let Err(e) = written {
        eprintln!("soak_app: cannot write a sample: {e}");
    }
}

/// Waits for SIGTERM, SIGINT or the duration.
async fn stop_signal(duration: Option<Duration>) -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let elapsed = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = elapsed => "duration",
    })
}

/// Starts actix-web on a thread of its own; returns its handle once bound.
fn start_actix(o: &Options) -> Result<actix_web::dev::ServerHandle, String> {
    use actix_web::{web, App, HttpServer};
    let (tx, rx) = std::sync::mpsc::channel();
    let (addr, logiscout) = (o.listen, o.logiscout);
    std::thread::Builder::new()
        .name("actix-system".to_owned())
        .spawn(move || {
            let served = actix_web::rt::System::new().block_on(async move {
                let bind = |addr| {
                    HttpServer::new(move || {
                        App::new()
                            .wrap(actix_web::middleware::Condition::new(
                                logiscout,
                                logiscout::actix::Correlation,
                            ))
                            .route("/", web::get().to(hello))
                    })
                    .disable_signals()
                    .bind(addr)
                };
                let server = match bind(addr) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(format!("cannot bind {addr}: {e}")));
                        return Ok(());
                    }
                };
                for bound in server.addrs() {
                    announce(bound);
                }
                let server = server.run();
                let _ = tx.send(Ok(server.handle()));
                server.await
            });
            if let Err(e) = served {
                eprintln!("soak_app: actix: {e}");
            }
        })
        .map_err(|e| format!("cannot start the actix thread: {e}"))?;
    rx.recv()
        .map_err(|_| "the actix thread ended before binding".to_owned())?
}

fn run() -> Result<(), String> {
    let start = Instant::now();
    let o = parse_options()?;
    let guard = match &o.endpoint {
        Some(endpoint) if o.logiscout => Some(
            logiscout::init(
                logiscout::Config::new("soak")
                    .env(logiscout::Env::Prod)
                    .api_token(o.token.as_str())
                    .endpoint(endpoint.as_str())
                    .console(logiscout::Console::Off)
                    .read_rust_log(false)
                    .filter("info"),
            )
            .map_err(|e| format!("logiscout::init failed: {e}"))?,
        ),
        _ => None,
    };
    let mut samples = match &o.samples {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build the tokio runtime: {e}"))?;

    let stopped_by = runtime.block_on(async {
        // The server: axum on this runtime, or actix on its own thread.
        let (axum_task, actix) = if o.actix {
            (None, Some(start_actix(&o)?))
        } else {
            use axum::routing::get;
            let router = axum::Router::new().route("/", get(hello));
            let router = if o.logiscout {
                router.layer(logiscout::tower::CorrelationLayer::new())
            } else {
                router
            };
            let listener = tokio::net::TcpListener::bind(o.listen)
                .await
                .map_err(|e| format!("cannot bind {}: {e}", o.listen))?;
            announce(listener.local_addr().map_err(|e| e.to_string())?);
            let task = tokio::spawn(async move { axum::serve(listener, router).await });
            (Some(task), None)
        };

        let stop = stop_signal(o.duration);
        tokio::pin!(stop);
        let mut ticks = tokio::time::interval(o.sample);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate
        let stopped_by = loop {
            tokio::select! {
                why = &mut stop => break why.map_err(|e| format!("cannot wait for signals: {e}"))?,
                _ = ticks.tick() => emit(&mut samples, &sample(start, logiscout::stats())),
            }
        };

        // Stop serving; connections still open are dropped with the runtime.
        if let Some(task) = axum_task {
            task.abort();
        }
        if let Some(handle) = actix {
            handle.stop(false).await;
        }
        Ok::<_, String>(stopped_by)
    })?;

    let shutdown_start = Instant::now();
    let report = match guard {
        Some(guard) => guard.shutdown(Duration::from_secs(10)),
        None => logiscout::flush(Duration::ZERO),
    };
    let shutdown_s = shutdown_start.elapsed().as_secs_f64();
    let mut last = sample(start, report.stats);
    last["final"] = json!(true);
    last["stopped_by"] = json!(stopped_by);
    last["complete"] = json!(report.complete);
    last["shutdown_s"] = json!((shutdown_s * 1000.0).round() / 1000.0);
    last["max_rss_kib"] = json!(proc_status_kib("VmHWM"));
    println!("{last}");
    runtime.shutdown_background();
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak_app: {e}");
            ExitCode::FAILURE
        }
    }
}
