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
    pub(crate) fn new(inner: B, ctx: Option<Context>) -> Self {
        CorrelatedBody {
            inner: Scoped::new(ctx, inner),
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
        // At its end the inner body is dropped inside this poll's scope entry (its destructors run in the
        // scope), not by a second entry when the response is dropped.
        self.project()
            .inner
            .enter_until(
                |body| body.poll_frame(cx),
                |polled, body| match polled {
                    Poll::Ready(None) => true,
                    Poll::Ready(Some(Ok(_))) => body.is_end_stream(),
                    Poll::Ready(Some(Err(_))) | Poll::Pending => false,
                },
            )
            .unwrap_or(Poll::Ready(None))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.get_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        match self.inner.get_ref() {
            Some(body) => body.size_hint(),
            // Ended: nothing more to come.
            None => SizeHint::with_exact(0),
        }
    }
}
