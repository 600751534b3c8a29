use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http::{HeaderName, HeaderValue, Response};
use logiscout_core::correlation::{Context, Scoped};
use logiscout_core::middleware::RequestGuard;

use crate::body::CorrelatedBody;

pin_project_lite::pin_project! {
    /// The response future of [`CorrelationService`](crate::CorrelationService): runs the inner future in the
    /// correlation scope, echoes the ID on the response, and records the request's end.
    ///
    /// Dropped before a response, its guard records the end: 500 while a panic unwinds to an outer
    /// `CatchPanicLayer` (what that layer answers), 499 when the client went away (as nginx logs it).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Scoped<F>,
        guard: RequestGuard,
        header: HeaderName,
        value: HeaderValue,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, ctx: Context, header: HeaderName, value: HeaderValue) -> Self {
        ResponseFuture {
            guard: RequestGuard::new(ctx.clone()),
            inner: Scoped::new(Some(ctx), inner),
            header,
            value,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<CorrelatedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // A panic unwinding out of the handler passes through here: record the request as a 500 (what
        // an outer `CatchPanicLayer` answers, which may drop this future only after it caught the panic)
        // before the unwinding goes on.
        let mut panic_guard = PanicGuard {
            guard: &mut *this.guard,
            armed: true,
        };
        let polled = this.inner.as_mut().poll(cx);
        panic_guard.armed = false;
        drop(panic_guard);
        let result = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        match result {
            Ok(response) => {
                this.guard.record(response.status().as_u16());
                let (mut parts, body) = response.into_parts();
                parts
                    .headers
                    .insert(this.header.clone(), this.value.clone());
                // The scope's context (its future is done), for the body's polls.
                let body = CorrelatedBody::new(body, this.inner.context().cloned());
                Poll::Ready(Ok(Response::from_parts(parts, body)))
            }
            Err(e) => {
                // The inner service failed without a response: the server will answer 500.
                this.guard.record(500);
                Poll::Ready(Err(e))
            }
        }
    }
}

/// Records the request as a 500 if dropped while a panic unwinds through `poll`.
struct PanicGuard<'a> {
    guard: &'a mut RequestGuard,
    armed: bool,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if self.armed && std::thread::panicking() {
            self.guard.record(500);
        }
    }
}
