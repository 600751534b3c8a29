//! Shared by this crate's integration tests: the Prod logger pointed at a local ingest server, and a
//! response body that logs while it streams.

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::Frame;
use logiscout_testkit::IngestServer;

pub fn ingest() -> &'static IngestServer {
    static SETUP: OnceLock<(IngestServer, logiscout_core::Guard)> = OnceLock::new();
    &SETUP
        .get_or_init(|| {
            let server = IngestServer::start();
            let guard = logiscout_core::init(
                logiscout_core::Config::new("tower-tests")
                    .env(logiscout_core::Env::Prod)
                    .api_token("lgs_tower_tests")
                    .endpoint(server.url())
                    .console(logiscout_core::Console::Off)
                    .read_rust_log(false)
                    .max_batch_wait(Duration::from_millis(100)),
            )
            .expect("init");
            (server, guard)
        })
        .0
}

pub fn flush() {
    let report = logiscout_core::flush(Duration::from_secs(30));
    assert!(report.complete, "{report:?}");
}

/// Three chunks; producing each one logs `chunk` with the tag.
pub struct LoggingBody {
    pub tag: String,
    pub next: usize,
}

impl http_body::Body for LoggingBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.next == 3 {
            return Poll::Ready(None);
        }
        let n = self.next;
        self.next += 1;
        log::info!(tag = self.tag.as_str(), n = n; "chunk");
        Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from(format!(
            "chunk {n}\n"
        ))))))
    }
}
