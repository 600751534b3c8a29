//! Shared by the integration tests: the Prod configuration they ship with ([`prod_to`]); and for the
//! async-wait tests (`flush_async`, `shutdown_async`) a loopback endpoint whose first answer is slow, the
//! Prod logger shipping to it, and a ticker that shows whether the runtime's one thread stayed free while
//! the test awaited the flush or shutdown.

// Each test binary includes this file and uses a part of it.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logiscout_core::{FlushReport, Guard};
use logiscout_testkit::{IngestServer, Reply};

/// `Env::Prod` as `service` with `token`, shipping to `url`, console off, `info`, `RUST_LOG` not read.
pub(crate) fn prod_to(service: &str, token: &str, url: &str) -> logiscout_core::Config {
    logiscout_core::Config::new(service)
        .env(logiscout_core::Env::Prod)
        .api_token(token)
        .endpoint(url)
        .console(logiscout_core::Console::Off)
        .read_rust_log(false)
        .filter("info")
}

/// The endpoint and the ticker of one test, and how many records it logged.
pub(crate) struct SlowWait {
    pub(crate) server: IngestServer,
    ticks: Arc<AtomicU64>,
    ticker: tokio::task::JoinHandle<()>,
    logs: u64,
}

impl SlowWait {
    /// Starts an ingest server whose next answer takes 600 ms, initialises logiscout (Prod, console off,
    /// `info`) as `service` with `token` against it, starts the ticker, then logs `logs` records
    /// (`n = 0..logs`) with `message`.
    pub(crate) async fn start(
        service: &str,
        token: &str,
        logs: u64,
        message: &str,
    ) -> (SlowWait, Guard) {
        let server = IngestServer::start();
        server.reply_next(Reply::ok().delay(Duration::from_millis(600)));
        let guard = logiscout_core::init(prod_to(service, token, &server.url())).unwrap();

        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        // Let the ticker start.
        tokio::time::sleep(Duration::from_millis(30)).await;

        for n in 0..logs {
            log::info!(n = n; "{message}");
        }
        let setup = SlowWait {
            server,
            ticks,
            ticker,
            logs,
        };
        (setup, guard)
    }

    /// Awaits `wait` (a flush or a shutdown) and checks what both tests check: it completed, delivered
    /// every record, waited for the slow answer, and the ticker kept running meanwhile. Its report.
    pub(crate) async fn measure(&self, wait: impl Future<Output = FlushReport>) -> FlushReport {
        let t = Instant::now();
        let before = self.ticks.load(Ordering::Relaxed);
        let report = wait.await;
        let waited = t.elapsed();
        let during = self.ticks.load(Ordering::Relaxed) - before;

        assert!(report.complete, "{report:?}");
        assert_eq!(report.stats.logs_sent, self.logs, "{report:?}");
        assert!(
            waited >= Duration::from_millis(500),
            "the wait lasted for the slow answer: {waited:?}"
        );
        // ~60 ticks in 600 ms; a blocked runtime thread makes none.
        assert!(
            during >= 10,
            "only {during} ticks in {waited:?}: the runtime's thread was blocked"
        );
        assert_eq!(self.server.accepted_logs().len() as u64, self.logs);
        report
    }
}

impl Drop for SlowWait {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}
