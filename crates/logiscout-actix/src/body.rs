use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use logiscout_core::correlation::{Context, Scoped};

pin_project_lite::pin_project! {
    /// A response body polled inside the request's correlation scope, so records emitted while a
    /// streaming body is produced carry the request's ID.
    pub struct CorrelatedMessageBody<B> {
        #[pin]
        inner: Scoped<B>,
    }
}

impl<B> CorrelatedMessageBody<B> {
    pub(crate) fn new(inner: B, ctx: Option<Context>) -> Self {
        CorrelatedMessageBody {
            inner: Scoped::new(ctx, inner),
        }
    }
}

impl<B: MessageBody> MessageBody for CorrelatedMessageBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        // Ended (released at its end): nothing more to come.
        self.inner.get_ref().map_or(BodySize::Sized(0), B::size)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        // At its end the inner body is dropped inside this poll's scope entry (its destructors run in the
        // scope), not by a second entry when the response is dropped.
        self.project()
            .inner
            .enter_until(
                |body| body.poll_next(cx),
                |polled, _| matches!(polled, Poll::Ready(None)),
            )
            .unwrap_or(Poll::Ready(None))
    }
}
