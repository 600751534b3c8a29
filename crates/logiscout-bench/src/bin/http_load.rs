//! Middleware throughput under real HTTP load: requests per second and latency percentiles of a
//! hello-world axum and actix-web service (`http_server`) with and without logiscout's correlation
//! middleware (and, for axum, tower-http's request-id + trace stack), measured with `wrk` over loopback.
//!
//! ```text
//! scripts/bench-http.sh                       # installs wrk if missing, builds, runs with the defaults
//! scripts/bench-http.sh -d 2s --rounds 1      # a quick check
//! target/release/http_load --help
//! ```
//!
//! For each round (default 3), every variant runs once, in an order rotated by one each round (round 1:
//! axum-plain first; round 2: axum-correlation first; ...) so no variant always runs first or last. For each
//! run: start `http_server <variant> 127.0.0.1:0` pinned with `taskset -c <server-cpu>` (default CPU 0: the
//! whole server process, so the logiscout worker thread competes with the server for that core), wait for
//! `listening on ADDR`, check with one real request that it answers `hello` with the variant's header
//! (`x-correlation-id`, `x-request-id`, or neither), warm up with `wrk` for `--warmup` seconds (default 2),
//! then measure with `wrk -t<threads> -c<connections> -d<duration> --latency` pinned with
//! `taskset -c <load-cpu>` (default CPU 1), and kill the server. A run with non-2xx answers fails the
//! whole benchmark; socket errors are reported on standard error.
//!
//! Writes `target/bench-results/http.json`: per variant the requests/s of each round (in round order),
//! their median, and the p50 and p99 latencies, each the **median over the rounds** of that round's wrk
//! percentile (not the latencies of one chosen round).
//!
//! It also records the **server's CPU time per request** in each round: the server process's user +
//! system time (`/proc/<pid>/stat`, all its threads, the logiscout worker included) over the measured wrk
//! run, divided by the requests wrk completed. It leaves out time the server was not scheduled (another
//! process, the host), though not a core that runs slower: on this VM req/s moved by ±30 % between rounds
//! of the same variant, and CPU time per request moved with it. With the server saturating its one core,
//! throughput is 1 / CPU time per request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use logiscout_bench::child::median;
use serde_json::json;

/// A server variant: its `http_server` name, and how it is reported.
struct Variant {
    name: &'static str,
    framework: &'static str,
    label: &'static str,
    /// The response header the middleware adds (none for the plain variants).
    header: Option<&'static str>,
}

const VARIANTS: [Variant; 5] = [
    Variant {
        name: "axum-plain",
        framework: "axum",
        label: "no layer",
        header: None,
    },
    Variant {
        name: "axum-correlation",
        framework: "axum",
        label: "CorrelationLayer",
        header: Some("x-correlation-id"),
    },
    Variant {
        name: "axum-tower-http",
        framework: "axum",
        label: "tower-http request-id + trace",
        header: Some("x-request-id"),
    },
    Variant {
        name: "actix-plain",
        framework: "actix",
        label: "no middleware",
        header: None,
    },
    Variant {
        name: "actix-correlation",
        framework: "actix",
        label: "Correlation",
        header: Some("x-correlation-id"),
    },
];

const USAGE: &str = "\
usage: http_load [options]
  -d, --duration SECS      measured wrk run per variant and round, e.g. 10 or 10s (default 10s)
  -r, --rounds N           rounds over all variants (default 3)
  -c, --connections N      wrk connections (default 64)
  -t, --threads N          wrk threads (default 1)
  -w, --warmup SECS        wrk warm-up before each measured run (default 2s; 0 for none)
      --server-cpu LIST    taskset CPU list for the server (default 0)
      --load-cpu LIST      taskset CPU list for wrk (default 1)
      --variants A,B,...   only these variants (default all: axum-plain, axum-correlation,
                           axum-tower-http, actix-plain, actix-correlation)
      --server-bin PATH    the http_server binary (default: next to this one)
  -h, --help               this text
Writes target/bench-results/http.json.";

struct Options {
    duration_s: u64,
    rounds: usize,
    connections: u32,
    threads: u32,
    warmup_s: u64,
    server_cpu: String,
    load_cpu: String,
    variants: Vec<&'static Variant>,
    server_bin: PathBuf,
}

fn parse_secs(flag: &str, value: &str) -> Result<u64, String> {
    value
        .strip_suffix('s')
        .unwrap_or(value)
        .parse()
        .map_err(|_| format!("{flag}: expected whole seconds such as 10 or 10s, got {value:?}"))
}

fn parse_options() -> Result<Options, String> {
    let server_bin = std::env::current_exe()
        .map_err(|e| format!("cannot find this executable's path: {e}"))?
        .with_file_name("http_server");
    let mut o = Options {
        duration_s: 10,
        rounds: 3,
        connections: 64,
        threads: 1,
        warmup_s: 2,
        server_cpu: "0".to_owned(),
        load_cpu: "1".to_owned(),
        variants: VARIANTS.iter().collect(),
        server_bin,
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
            "-d" | "--duration" => {
                o.duration_s = parse_secs(&flag, &value)?;
                if o.duration_s == 0 {
                    return Err(format!("{flag} must be at least 1 second"));
                }
            }
            "-r" | "--rounds" => o.rounds = number(&value)? as usize,
            "-c" | "--connections" => o.connections = number(&value)? as u32,
            "-t" | "--threads" => o.threads = number(&value)? as u32,
            "-w" | "--warmup" => o.warmup_s = parse_secs(&flag, &value)?,
            "--server-cpu" => o.server_cpu = value,
            "--load-cpu" => o.load_cpu = value,
            "--server-bin" => o.server_bin = PathBuf::from(value),
            "--variants" => {
                o.variants = value
                    .split(',')
                    .map(|name| {
                        VARIANTS
                            .iter()
                            .find(|v| v.name == name.trim())
                            .ok_or_else(|| format!("--variants: unknown variant {name:?}\n{USAGE}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            _ => return Err(format!("unknown option {flag:?}\n{USAGE}")),
        }
    }
    if !o.server_bin.is_file() {
        return Err(format!(
            "the server binary {} does not exist; build it with `cargo build --release -p logiscout-bench --bins`",
            o.server_bin.display()
        ));
    }
    Ok(o)
}

/// A running `http_server`, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(o: &Options, variant: &Variant) -> Result<Server, String> {
        let mut child = Command::new("taskset")
            .arg("-c")
            .arg(&o.server_cpu)
            .arg(&o.server_bin)
            .args([variant.name, "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start `taskset ... http_server {}`: {e}",
                    variant.name
                )
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or("the server's standard output was not captured")?;
        let (tx, rx) = mpsc::channel();
        // Reads the server's output for as long as it lives; the first `listening on` line is the address.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let addr = rx.recv_timeout(Duration::from_secs(20)).map_err(|_| {
            let status = server.child.try_wait().ok().flatten();
            format!(
                "{} did not print `listening on ADDR` within 20 s (exit status: {status:?})",
                variant.name
            )
        })?;
        server.addr = addr
            .parse()
            .map_err(|e| format!("{} printed a bad address {addr:?}: {e}", variant.name))?;
        Ok(server)
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `GET /` over a fresh connection; the whole response as text.
fn get_once(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// Waits until the server answers, and checks that the answer is the variant's: status 200, body
/// `hello`, and the middleware's header present (or, for the plain variants, neither header).
fn check_ready(server: &Server, variant: &Variant) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        match get_once(server.addr) {
            Ok(r) if !r.is_empty() => break r,
            result => {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{} at {} did not answer within 20 s (last: {result:?})",
                        variant.name, server.addr
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    let lower = response.to_ascii_lowercase();
    let has = |h: &str| lower.contains(&format!("\r\n{h}:"));
    let ok_status = lower.starts_with("http/1.1 200");
    let ok_body = response.ends_with("hello");
    let ok_header = match variant.header {
        Some(h) => has(h),
        None => !has("x-correlation-id") && !has("x-request-id"),
    };
    if ok_status && ok_body && ok_header {
        Ok(())
    } else {
        Err(format!(
            "{} answered unexpectedly (expected 200, body `hello`, header {:?}):\n{response}",
            variant.name, variant.header
        ))
    }
}

/// What one measured wrk run gave.
#[derive(Debug)]
struct WrkRun {
    requests_per_s: f64,
    /// Requests completed in the measured run (`N requests in ...`).
    requests: u64,
    /// The server's CPU time per completed request, µs (filled in by `measure`).
    cpu_us_per_request: f64,
    p50_us: f64,
    p99_us: f64,
}

fn run_wrk(o: &Options, url: &str, seconds: u64, latency: bool) -> Result<String, String> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg(&o.load_cpu)
        .arg("wrk")
        .arg(format!("-t{}", o.threads))
        .arg(format!("-c{}", o.connections))
        .arg(format!("-d{seconds}s"));
    if latency {
        cmd.arg("--latency");
    }
    let out = cmd
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run `taskset -c {} wrk`: {e}", o.load_cpu))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "wrk failed ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
}

/// A wrk duration such as `584.00us`, `1.23ms` or `2.00s`, in microseconds.
fn parse_wrk_time(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(number * factor)
}

fn parse_wrk(output: &str) -> Result<WrkRun, String> {
    let mut rps = None;
    let mut requests = None;
    let mut p50 = None;
    let mut p99 = None;
    for line in output.lines() {
        let line = line.trim();
        if let Some((n, _)) = line.split_once(" requests in ") {
            requests = n.trim().parse::<u64>().ok();
        } else if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = line.strip_prefix("50%") {
            p50 = parse_wrk_time(v.trim());
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = parse_wrk_time(v.trim());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            return Err(format!(
                "wrk saw {} non-2xx/3xx responses; no figure is kept from a failing server:\n{output}",
                v.trim()
            ));
        } else if line.starts_with("Socket errors:") {
            eprintln!("  warning: wrk reported {line}");
        }
    }
    match (rps, requests, p50, p99) {
        (Some(requests_per_s), Some(requests), Some(p50_us), Some(p99_us)) => Ok(WrkRun {
            requests_per_s,
            requests,
            cpu_us_per_request: f64::NAN,
            p50_us,
            p99_us,
        }),
        _ => Err(format!(
            "could not find the request count, Requests/sec and the 50%/99% latencies in wrk's output:\n{output}"
        )),
    }
}

fn wrk_version() -> Result<String, String> {
    // `wrk -v` prints its version and usage, and exits with status 1.
    let out = Command::new("wrk").arg("-v").output().map_err(|e| {
        format!("cannot run wrk ({e}); install it (`apt-get install -y wrk`) or use scripts/bench-http.sh")
    })?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "`wrk -v` printed nothing".to_owned())
}

/// User + system CPU time of process `pid` and all its threads so far, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("cannot read /proc/{pid}/stat: {e}"))?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are plain.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| format!("unexpected /proc/{pid}/stat: {stat}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let field = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("no CPU time in /proc/{pid}/stat: {stat}"))
    };
    Ok(field(11)? + field(12)?)
}

/// Clock ticks per second (`getconf CLK_TCK`), the unit of `/proc/<pid>/stat`'s CPU times.
fn clock_ticks_per_second() -> Result<f64, String> {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .map_err(|e| format!("cannot run `getconf CLK_TCK`: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|t| *t > 0.0)
        .ok_or_else(|| "`getconf CLK_TCK` printed no positive number".to_owned())
}

fn measure(o: &Options, variant: &Variant, ticks_per_s: f64) -> Result<WrkRun, String> {
    let server = Server::start(o, variant)?;
    check_ready(&server, variant)?;
    if o.warmup_s > 0 {
        run_wrk(o, &server.url(), o.warmup_s, false)?;
    }
    let pid = server.child.id();
    let before = cpu_ticks(pid)?;
    let output = run_wrk(o, &server.url(), o.duration_s, true)?;
    let after = cpu_ticks(pid)?;
    drop(server);
    let mut run = parse_wrk(&output)?;
    if run.requests == 0 {
        return Err(format!("wrk completed no request:\n{output}"));
    }
    run.cpu_us_per_request = (after - before) as f64 / ticks_per_s * 1e6 / run.requests as f64;
    Ok(run)
}

fn run() -> Result<(), String> {
    let o = parse_options()?;
    let tool = wrk_version()?;
    let ticks_per_s = clock_ticks_per_second()?;
    eprintln!(
        "http_load: {tool}; {} round(s) of {} variant(s), wrk -t{} -c{} -d{}s after {}s warm-up; server on CPU {}, wrk on CPU {}",
        o.rounds,
        o.variants.len(),
        o.threads,
        o.connections,
        o.duration_s,
        o.warmup_s,
        o.server_cpu,
        o.load_cpu
    );
    let n = o.variants.len();
    let mut runs: Vec<Vec<WrkRun>> = (0..n).map(|_| Vec::new()).collect();
    for round in 0..o.rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let variant = o.variants[i];
            let run = measure(&o, variant, ticks_per_s)?;
            eprintln!(
                "  round {}/{}  {:<18} {:>10.0} req/s  {:>6.2} us CPU/req  p50 {:>8.1} us  p99 {:>8.1} us",
                round + 1,
                o.rounds,
                variant.name,
                run.requests_per_s,
                run.cpu_us_per_request,
                run.p50_us,
                run.p99_us
            );
            runs[i].push(run);
        }
    }
    let results: Vec<serde_json::Value> = o
        .variants
        .iter()
        .zip(&runs)
        .map(|(variant, runs)| {
            let rps: Vec<f64> = runs.iter().map(|r| r.requests_per_s).collect();
            let p50: Vec<f64> = runs.iter().map(|r| r.p50_us).collect();
            let p99: Vec<f64> = runs.iter().map(|r| r.p99_us).collect();
            let cpu: Vec<f64> = runs.iter().map(|r| r.cpu_us_per_request).collect();
            json!({
                "framework": variant.framework,
                "variant": variant.label,
                "requests_per_s": rps,
                "median_requests_per_s": median(&rps),
                "cpu_us_per_request": cpu,
                "median_cpu_us_per_request": median(&cpu),
                "p50_latency_us": median(&p50),
                "p99_latency_us": median(&p99),
            })
        })
        .collect();
    let value = json!({
        "tool": tool,
        "duration_s": o.duration_s,
        "connections": o.connections,
        "threads": o.threads,
        "rounds": o.rounds,
        "server_cpu": o.server_cpu,
        "load_cpu": o.load_cpu,
        "results": results,
    });
    let path = logiscout_bench::write_result("http.json", &value);
    for r in &results {
        eprintln!(
            "  {:<6} {:<30} median {:>10.0} req/s  {:>6.2} us CPU/req  p50 {:>8.1} us  p99 {:>8.1} us",
            r["framework"].as_str().unwrap_or("?"),
            r["variant"].as_str().unwrap_or("?"),
            r["median_requests_per_s"].as_f64().unwrap_or(f64::NAN),
            r["median_cpu_us_per_request"].as_f64().unwrap_or(f64::NAN),
            r["p50_latency_us"].as_f64().unwrap_or(f64::NAN),
            r["p99_latency_us"].as_f64().unwrap_or(f64::NAN),
        );
    }
    eprintln!("http_load: wrote {}", path.display());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_load: {e}");
            ExitCode::FAILURE
        }
    }
}
