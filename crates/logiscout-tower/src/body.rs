use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http_body::{Body, Frame, SizeHint};
use logiscout_core::correlation::{Context, Scoped};

pin_project_lite::pin_project! {
    /// A response body polled inside the request's correlation scope, so records emitted while a
    /// streaming body is produced carry the request's ID.
    pub struct CorrelatedBody<B> {
        #[pin]
        inner: Scoped<B>,
    }
}

impl<B> CorrelatedBody<B> {
    pub(crate) fn new(inner: B, ctx: Context) -> Self {
        CorrelatedBody {
            inner: Scoped::new(Some(ctx), inner),
        }
    }
}

impl<B: Body> Body for CorrelatedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.enter(|body| body.poll_frame(cx))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.get_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .get_ref()
            .map(Body::size_hint)
            .unwrap_or_default()
    }
}
