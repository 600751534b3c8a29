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
    pub(crate) fn new(inner: B, ctx: Context) -> Self {
        CorrelatedMessageBody {
            inner: Scoped::new(Some(ctx), inner),
        }
    }
}

impl<B: MessageBody> MessageBody for CorrelatedMessageBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.inner.get_ref().map_or(BodySize::None, B::size)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.project().inner.enter(|body| body.poll_next(cx))
    }
}
