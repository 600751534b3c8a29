//! Shared by this crate's integration tests: the Prod logger pointed at a local ingest server, and a
//! response body that logs while it streams.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::Frame;

logiscout_testkit::prod_logger!(pub service = "tower-tests");

/// Three chunks; producing each one logs `chunk` with the tag.
pub(crate) struct LoggingBody {
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
