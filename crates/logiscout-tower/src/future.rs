use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http::{HeaderName, HeaderValue, Response};
use logiscout_core::correlation::{Context, Scoped};

use crate::body::CorrelatedBody;

pin_project_lite::pin_project! {
    /// The response future of [`CorrelationService`](crate::CorrelationService): runs the inner future in the
    /// correlation scope, echoes the ID on the response, and records the request's end.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Scoped<F>,
        ctx: Context,
        header: HeaderName,
        value: HeaderValue,
        finished: bool,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.finished {
                // Dropped before a response: a panic unwinding to an outer `CatchPanicLayer` (recorded
                // as 500, what that layer answers), or the client going away (499, as nginx logs it).
                let status = if std::thread::panicking() { 500 } else { 499 };
                logiscout_core::middleware::request_finished(this.ctx, Some(status));
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, ctx: Context, header: HeaderName, value: HeaderValue) -> Self {
        ResponseFuture {
            inner: Scoped::new(Some(ctx.clone()), inner),
            ctx,
            header,
            value,
            finished: false,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<CorrelatedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // A panic unwinding out of the handler passes through here: record the request as a 500 (what
        // an outer `CatchPanicLayer` answers) before the unwinding goes on.
        let mut guard = PanicGuard {
            ctx: this.ctx,
            finished: &mut *this.finished,
            armed: true,
        };
        let polled = this.inner.poll(cx);
        guard.armed = false;
        drop(guard);
        let result = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        *this.finished = true;
        match result {
            Ok(response) => {
                logiscout_core::middleware::request_finished(
                    this.ctx,
                    Some(response.status().as_u16()),
                );
                let (mut parts, body) = response.into_parts();
                parts
                    .headers
                    .insert(this.header.clone(), this.value.clone());
                let body = CorrelatedBody::new(body, this.ctx.clone());
                Poll::Ready(Ok(Response::from_parts(parts, body)))
            }
            Err(e) => {
                // The inner service failed without a response: the server will answer 500.
                logiscout_core::middleware::request_finished(this.ctx, Some(500));
                Poll::Ready(Err(e))
            }
        }
    }
}

/// Records the request as a 500 if dropped while a panic unwinds through `poll`.
struct PanicGuard<'a> {
    ctx: &'a Context,
    finished: &'a mut bool,
    armed: bool,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if self.armed && std::thread::panicking() && !*self.finished {
            *self.finished = true;
            logiscout_core::middleware::request_finished(self.ctx, Some(500));
        }
    }
}
