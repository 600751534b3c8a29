//! Correlation context: which request (or job) the current code is working for.
//!
//! Every log record made while a context is current carries its [`CorrelationId`]: the console shows it and
//! the ingest payload groups records by it. A context is current
//!
//! * inside [`scope`]: for every poll of the wrapped future, on whatever thread polls it, so it survives
//!   `.await` points on a multi-thread runtime;
//! * inside [`sync_scope`]: for the duration of a closure on this thread (blocking code, `spawn_blocking`,
//!   plain threads).
//!
//! Spawned tasks do not inherit a context by themselves (tokio cannot know about it); wrap them with
//! [`FutureExt::in_current_scope`]:
//!
//! ```
//! use logiscout_core::correlation::{self, CorrelationId, FutureExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let id = CorrelationId::new("job-42");
//! correlation::scope(id, async {
//!     assert_eq!(correlation::current().unwrap().as_str(), "job-42");
//!     let child = tokio::spawn(
//!         async { correlation::current().map(|id| id.to_string()) }.in_current_scope(),
//!     );
//!     assert_eq!(child.await.unwrap().as_deref(), Some("job-42"));
//! })
//! .await;
//! assert!(correlation::current().is_none());
//! # }
//! ```
//!
//! The mechanism is the one `tracing` uses for spans: the scope future installs its context in a
//! thread-local for the length of each `poll` and restores the previous one afterwards, so nesting works and
//! nothing leaks between tasks that share a worker thread.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Instant, SystemTime};

pub(crate) use crate::trace::TraceContext;

/// The longest correlation ID accepted, in bytes (the wire format's limit).
pub const MAX_CORRELATION_ID_LEN: usize = 128;

/// The header that carries the ID in and out of a service by default: `x-correlation-id` (the tower
/// layers' and the actix middleware's default).
pub const DEFAULT_HEADER: &str = "x-correlation-id";

/// A correlation ID: the key that ties together every record of one request or job.
///
/// Cheap to clone: IDs up to 38 bytes (UUIDs, trace-ids, most incoming IDs) are stored inline, so making,
/// cloning and dropping one allocates nothing and writes no shared reference count; longer ones are a
/// reference-counted string.
///
/// It is also the request extractor of axum (feature `axum`) and actix-web (feature `actix`) handlers, and
/// what `logiscout::tower::CorrelationLayer` and `logiscout::actix::Correlation` store in the request's
/// extensions: `async fn handler(id: CorrelationId)` and `req.extensions().get::<CorrelationId>()` see the
/// same ID. Without the middleware, the extractor gives the current scope's ID, or a new one.
#[derive(Clone)]
pub struct CorrelationId(Repr);

/// Bytes an ID may have to be stored inline (a UUID is 36, a W3C trace-id 32).
const INLINE: usize = 38;

#[derive(Clone)]
enum Repr {
    Inline(arrayvec::ArrayString<INLINE>),
    Shared(Arc<str>),
}

impl CorrelationId {
    /// Stores `s` (already checked or cut by the caller) inline when it fits.
    fn from_checked(s: &str) -> Self {
        match arrayvec::ArrayString::from(s) {
            Ok(inline) => CorrelationId(Repr::Inline(inline)),
            Err(_) => CorrelationId(Repr::Shared(Arc::from(s))),
        }
    }

    /// Whether `value` would pass [`CorrelationId::parse`], without making an ID.
    pub(crate) fn is_valid(value: &[u8]) -> bool {
        !value.is_empty() && value.len() <= MAX_CORRELATION_ID_LEN && all_id_bytes(value)
    }
}

/// Whether every byte of `value` may be in an ID: no early exit, so no branch per byte (~4 instructions
/// per byte where `iter().all` took ~6).
fn all_id_bytes(value: &[u8]) -> bool {
    value.iter().fold(true, |ok, &b| ok & is_id_byte(b))
}

impl PartialEq for CorrelationId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for CorrelationId {}

impl std::hash::Hash for CorrelationId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for CorrelationId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CorrelationId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl CorrelationId {
    /// Wraps a trusted value (one your own code made), without checking its characters.
    ///
    /// The wire format needs 1 to 128 bytes: an empty value is replaced by a generated ID and a longer one is
    /// cut at the last character boundary within 128 bytes. For values from outside (headers, messages), use
    /// [`CorrelationId::parse`].
    ///
    /// ```
    /// let id = logiscout_core::correlation::CorrelationId::new("order-7");
    /// assert_eq!(id.as_str(), "order-7");
    /// ```
    pub fn new(id: impl AsRef<str>) -> Self {
        let mut id = id.as_ref();
        if id.is_empty() {
            return Self::generate();
        }
        id = crate::encode::record::cut_str(id, MAX_CORRELATION_ID_LEN).0;
        Self::from_checked(id)
    }

    /// Validates an untrusted value: 1 to 128 bytes of `A-Z a-z 0-9 . _ : -`.
    ///
    /// ```
    /// use logiscout_core::correlation::CorrelationId;
    /// assert!(CorrelationId::parse("req-1:a.b_c").is_ok());
    /// assert!(CorrelationId::parse("evil\r\nSet-Cookie: x").is_err());
    /// assert!(CorrelationId::parse("").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Self, InvalidCorrelationId> {
        Self::parse_bytes(value.as_bytes())
    }

    /// Like [`CorrelationId::parse`], for raw bytes (a header value that may not even be UTF-8).
    pub fn parse_bytes(value: &[u8]) -> Result<Self, InvalidCorrelationId> {
        if value.is_empty() {
            return Err(InvalidCorrelationId::Empty);
        }
        if value.len() > MAX_CORRELATION_ID_LEN {
            return Err(InvalidCorrelationId::TooLong { len: value.len() });
        }
        if !all_id_bytes(value) {
            let position = value.iter().position(|&b| !is_id_byte(b)).unwrap_or(0);
            return Err(InvalidCorrelationId::InvalidByte { position });
        }
        // Only ASCII passed the check above, so this cannot fail.
        match std::str::from_utf8(value) {
            Ok(s) => Ok(Self::from_checked(s)),
            Err(_) => Err(InvalidCorrelationId::InvalidByte { position: 0 }),
        }
    }

    /// A new random ID (a UUID v4, 36 characters).
    ///
    /// ```
    /// use logiscout_core::correlation::CorrelationId;
    /// assert_ne!(CorrelationId::generate(), CorrelationId::generate());
    /// ```
    pub fn generate() -> Self {
        let mut buf = uuid::Uuid::encode_buffer();
        let s = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
        Self::from_checked(s)
    }

    /// The ID as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

fn is_id_byte(b: u8) -> bool {
    ID_BYTES[usize::from(b)]
}

/// Which bytes an ID may hold (`A-Z a-z 0-9 . _ : -`): one load per byte when a header is checked, where
/// the comparisons took ~10 instructions per byte.
static ID_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-');
        b += 1;
    }
    table
};

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CorrelationId")
            .field(&self.as_str())
            .finish()
    }
}

impl AsRef<str> for CorrelationId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// The ID's bytes (ASCII): what a header value is made of. It also lets an ID own a shared buffer,
/// `bytes::Bytes::from_owner(id)`, which the middleware puts in the request's and the response's header.
impl AsRef<[u8]> for CorrelationId {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl std::str::FromStr for CorrelationId {
    type Err = InvalidCorrelationId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Why an untrusted correlation ID was refused. Its `Display` never repeats the value itself, so it is safe
/// to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidCorrelationId {
    /// The value was empty.
    #[error("correlation id is empty")]
    Empty,
    /// The value was longer than [`MAX_CORRELATION_ID_LEN`] bytes.
    #[error("correlation id is {len} bytes long; at most {MAX_CORRELATION_ID_LEN} are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The value held a byte outside `A-Z a-z 0-9 . _ : -`.
    #[error("correlation id has a byte outside [A-Za-z0-9._:-] at position {position}")]
    InvalidByte {
        /// Where the first such byte is.
        position: usize,
    },
}

/// What the middleware knows about the request being served.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The HTTP method, e.g. `GET` (the standard methods are not copied).
    pub method: Cow<'static, str>,
    /// The path, without query string or fragment.
    pub path: String,
    /// Wall-clock start, for the payload's `startedAt`.
    pub started_at: SystemTime,
    /// Monotonic start, for the duration.
    pub started: Instant,
    /// Ship this request's payload even when it logged nothing (access-log style).
    pub record_always: bool,
}

impl RequestInfo {
    /// Request info starting now. A query string or fragment in `path` is removed (it may hold secrets).
    pub fn new(method: impl AsRef<str>, path: &str) -> Self {
        // Bytes, not chars: both are ASCII, and a char search decodes UTF-8 on every step of the path.
        let end = path
            .bytes()
            .position(|b| matches!(b, b'?' | b'#'))
            .unwrap_or(path.len());
        let method = method.as_ref();
        let standard = match method {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "DELETE" => "DELETE",
            "PATCH" => "PATCH",
            "HEAD" => "HEAD",
            "OPTIONS" => "OPTIONS",
            "CONNECT" => "CONNECT",
            "TRACE" => "TRACE",
            _ => "",
        };
        RequestInfo {
            method: if standard.is_empty() {
                Cow::Owned(method.to_owned())
            } else {
                Cow::Borrowed(standard)
            },
            path: path[..end].to_owned(),
            started_at: SystemTime::now(),
            started: Instant::now(),
            record_always: false,
        }
    }

    /// Ships this request's payload even when it logged nothing.
    pub fn record_always(mut self, yes: bool) -> Self {
        self.record_always = yes;
        self
    }
}

/// A correlation context: a [`CorrelationId`], its W3C trace context if any, and, inside a request, what
/// is known about that request.
///
/// Cheap to clone and to move: one reference-counted pointer. A scope lends it to the thread for each
/// poll by moving that pointer in and out of a thread-local.
#[derive(Debug, Clone)]
pub struct Context(Arc<ContextInner>);

#[derive(Debug)]
struct ContextInner {
    id: CorrelationId,
    trace: Option<TraceContext>,
    request: Option<RequestSlot>,
}

/// Only for [`Arc::make_mut`] while a context is built: the copy's request slot starts in the state the
/// original's is in.
impl Clone for ContextInner {
    fn clone(&self) -> Self {
        ContextInner {
            id: self.id.clone(),
            trace: self.trace,
            request: self.request.as_ref().map(|slot| RequestSlot {
                info: slot.info.clone(),
                state: AtomicU8::new(slot.state.load(Ordering::Acquire)),
            }),
        }
    }
}

/// A request's info and whether the shipping worker has been told about it.
///
/// The worker hears of a request only when the request first logs (or at its start, with
/// `record_always`): a request that logs nothing costs no event at all, which is most requests. The
/// states: `QUIET` (nothing announced), `ANNOUNCING` (one thread is handing the start over), `ANNOUNCED`
/// (the start is in the queue: the end must follow it), `CLOSED` (ended without ever logging; later logs,
/// from a task that outlived the request, ship without request info).
#[derive(Debug)]
struct RequestSlot {
    info: RequestInfo,
    state: AtomicU8,
}

const QUIET: u8 = 0;
const ANNOUNCING: u8 = 1;
const ANNOUNCED: u8 = 2;
const CLOSED: u8 = 3;

/// What the end of a request needs to tell the worker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RequestEnd {
    /// The worker knows the request: send its end.
    Announced,
    /// The request never logged (or has no request info): nothing to send.
    Quiet,
}

impl Context {
    /// A context for `id`, not tied to a request (a background job, a batch run).
    pub fn new(id: CorrelationId) -> Self {
        Context(Arc::new(ContextInner {
            id,
            trace: None,
            request: None,
        }))
    }

    /// A request's context, built in place in one allocation (what `RequestPolicy::start` makes):
    /// `new(..).with_request(..).with_trace(..)` would check and move the parts twice more.
    pub(crate) fn for_request(
        id: CorrelationId,
        trace: Option<TraceContext>,
        request: RequestInfo,
    ) -> Self {
        Context(Arc::new(ContextInner {
            id,
            trace,
            request: Some(RequestSlot {
                info: request,
                state: AtomicU8::new(QUIET),
            }),
        }))
    }

    /// The inner parts, to change while building. A context already cloned is copied first, so the
    /// clones never see the change (its request slot is copied with its state).
    fn inner_mut(&mut self) -> &mut ContextInner {
        Arc::make_mut(&mut self.0)
    }

    /// Attaches a W3C trace context: every record logged in this context carries its trace-id and
    /// span-id (the middleware attaches the request's span).
    pub fn with_trace(mut self, trace: TraceContext) -> Self {
        self.inner_mut().trace = Some(trace);
        self
    }

    /// The trace context, if any.
    pub fn trace(&self) -> Option<&TraceContext> {
        self.0.trace.as_ref()
    }

    /// Attaches request info (done by the middleware).
    pub fn with_request(mut self, request: RequestInfo) -> Self {
        self.inner_mut().request = Some(RequestSlot {
            info: request,
            state: AtomicU8::new(QUIET),
        });
        self
    }

    /// The correlation ID.
    pub fn correlation_id(&self) -> &CorrelationId {
        &self.0.id
    }

    /// The request being served, if any.
    pub fn request(&self) -> Option<&RequestInfo> {
        self.0.request.as_ref().map(|slot| &slot.info)
    }

    /// True while the request has not been announced to the worker (a relaxed load: the hot path's check).
    pub(crate) fn request_unannounced(&self) -> bool {
        self.0
            .request
            .as_ref()
            .is_some_and(|slot| slot.state.load(Ordering::Relaxed) == QUIET)
    }

    /// Claims the request's announcement: true for exactly one caller, which must hand the start over
    /// and then call [`announced`](Self::announced). False once announced or closed.
    pub(crate) fn claim_announcement(&self) -> bool {
        self.0.request.as_ref().is_some_and(|slot| {
            slot.state
                .compare_exchange(QUIET, ANNOUNCING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }

    /// The start claimed with [`claim_announcement`](Self::claim_announcement) is in the queue (or was
    /// dropped, which the worker copes with): the end may follow.
    pub(crate) fn announced(&self) {
        if let Some(slot) = self.0.request.as_ref() {
            slot.state.store(ANNOUNCED, Ordering::Release);
        }
    }

    /// Gives back an announcement claimed with [`claim_announcement`](Self::claim_announcement) whose
    /// start never reached the queue (the log it rode with was dropped): the request is quiet again, so
    /// its next log announces it, and an end with no log in between sends nothing.
    pub(crate) fn unclaim_announcement(&self) {
        if let Some(slot) = self.0.request.as_ref() {
            slot.state.store(QUIET, Ordering::Release);
        }
    }

    /// Ends the request's announcement: `Announced` when the worker knows the request (its end must be
    /// sent), `Quiet` when it never logged. Waits out a start being handed over right now on another
    /// thread (a non-blocking hand-off: nanoseconds), so the end always follows the start in the queue.
    pub(crate) fn close_announcement(&self) -> RequestEnd {
        let Some(slot) = self.0.request.as_ref() else {
            return RequestEnd::Quiet;
        };
        let mut spins = 0u32;
        loop {
            let state = slot.state.load(Ordering::Acquire);
            match state {
                QUIET | ANNOUNCED => {
                    if slot
                        .state
                        .compare_exchange(state, CLOSED, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        return if state == ANNOUNCED {
                            RequestEnd::Announced
                        } else {
                            RequestEnd::Quiet
                        };
                    }
                }
                // Already ended (a second end, e.g. a body dropped after a panic was recorded).
                CLOSED => return RequestEnd::Quiet,
                _ => {
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
    }
}

impl From<CorrelationId> for Context {
    fn from(id: CorrelationId) -> Self {
        Context::new(id)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// The current correlation ID, if code runs inside a [`scope`] or [`sync_scope`].
pub fn current() -> Option<CorrelationId> {
    with_current(|ctx| ctx.map(|c| c.0.id.clone()))
}

/// The current trace context, if code runs inside a scope that has one (a request served behind the
/// correlation middleware, or a [`Context::with_trace`]). Outgoing calls send it on as
/// [`TraceContext::traceparent`]:
///
/// ```
/// use logiscout_core::correlation::{self, Context, CorrelationId, TraceContext};
///
/// let ctx = Context::new(CorrelationId::new("job-1")).with_trace(TraceContext::new_root());
/// correlation::sync_scope(ctx, || {
///     let header = correlation::current_trace().map(|t| t.traceparent());
///     assert!(header.unwrap().starts_with("00-"));
/// });
/// assert!(correlation::current_trace().is_none());
/// ```
pub fn current_trace() -> Option<TraceContext> {
    with_current(|ctx| ctx.and_then(|c| c.0.trace))
}

/// What a log call takes from the current context: the correlation ID, the trace context, and whether
/// the current request still has to be announced to the worker (the log call's one look at it).
pub(crate) struct ForLog {
    pub(crate) id: Option<CorrelationId>,
    pub(crate) trace: Option<TraceContext>,
    pub(crate) unannounced: bool,
}

pub(crate) fn current_for_log() -> ForLog {
    with_current(|ctx| match ctx {
        None => ForLog {
            id: None,
            trace: None,
            unannounced: false,
        },
        Some(c) => ForLog {
            id: Some(c.0.id.clone()),
            trace: c.0.trace,
            unannounced: c.request_unannounced(),
        },
    })
}

/// The current context (ID and request info), if any.
pub fn current_context() -> Option<Context> {
    with_current(|ctx| ctx.cloned())
}

/// Calls `f` with the current context without cloning it. Never panics: during thread teardown, or when
/// called re-entrantly while the context is being swapped, `f` sees `None`.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Context>) -> R) -> R {
    let mut f = Some(f);
    let out = CURRENT.try_with(|cell| match cell.try_borrow() {
        Ok(ctx) => (f.take().expect("called once"))(ctx.as_ref()),
        Err(_) => (f.take().expect("called once"))(None),
    });
    match out {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called when try_with failed"))(None),
    }
}

/// Installs `ctx` in this thread's slot and returns the previous one; `Err(ctx)` gives `ctx` back when
/// nothing could be installed (the thread is being torn down, or the slot is borrowed right now).
fn swap_current(ctx: Option<Context>) -> Result<Option<Context>, Option<Context>> {
    let mut ctx = Some(ctx);
    let swapped = CURRENT.try_with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => ctx.take().map(|ctx| std::mem::replace(&mut *slot, ctx)),
        Err(_) => None,
    });
    match swapped {
        Ok(Some(prev)) => Ok(prev),
        _ => Err(ctx.flatten()),
    }
}

/// Puts the previous context back when dropped (also during a panic), and the one it replaced back into
/// `home`: a [`Scoped`] lends its context to the thread for one poll and takes it back afterwards, so
/// entering a scope moves the context in and out (no clone, no reference count touched).
struct Restore<'a> {
    /// What was current before, when the install succeeded.
    prev: Option<Option<Context>>,
    /// Where the lent context goes back (`None`: `sync_scope`, which owns its context and drops it).
    home: Option<&'a mut Option<Context>>,
}

impl<'a> Restore<'a> {
    /// Makes `ctx` current until the guard drops; the guard gives it back to `home`, if any.
    fn install(ctx: Option<Context>, home: Option<&'a mut Option<Context>>) -> Self {
        match swap_current(ctx) {
            Ok(prev) => Restore {
                prev: Some(prev),
                home,
            },
            Err(ctx) => {
                // Not installed: the context stays where it was.
                if let Some(home) = home {
                    *home = ctx;
                }
                Restore {
                    prev: None,
                    home: None,
                }
            }
        }
    }
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let Some(prev) = self.prev.take() else {
            return;
        };
        // The slot cannot be reached while the thread is torn down: then the lent context is lost to
        // this scope, which is ending with its thread anyway.
        let mine = swap_current(prev).unwrap_or_default();
        if let Some(home) = self.home.take() {
            *home = mine;
        }
    }
}

/// Runs `f` with `ctx` (a [`CorrelationId`] or a [`Context`]) current on this thread.
///
/// For synchronous code: a blocking task, a thread, a `web::block` closure.
///
/// ```
/// use logiscout_core::correlation::{self, CorrelationId};
///
/// let id = CorrelationId::new("import-2026-11-25");
/// let seen = correlation::sync_scope(id, || correlation::current());
/// assert_eq!(seen.unwrap().as_str(), "import-2026-11-25");
/// assert!(correlation::current().is_none());
/// ```
#[inline]
pub fn sync_scope<R>(ctx: impl Into<Context>, f: impl FnOnce() -> R) -> R {
    let _restore = Restore::install(Some(ctx.into()), None);
    f()
}

/// Wraps `fut` so that `ctx` (a [`CorrelationId`] or a [`Context`]) is current whenever it runs.
///
/// ```
/// use logiscout_core::correlation::{self, CorrelationId};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let seen = correlation::scope(CorrelationId::new("req-1"), async {
///     tokio::task::yield_now().await;
///     correlation::current()
/// })
/// .await;
/// assert_eq!(seen.unwrap().as_str(), "req-1");
/// # }
/// ```
pub fn scope<F: Future>(ctx: impl Into<Context>, fut: F) -> Scoped<F> {
    Scoped::new(Some(ctx.into()), fut)
}

pin_project_lite::pin_project! {
    /// A future (or the poll of anything else, see [`Scoped::enter`]) that runs inside a correlation context.
    ///
    /// Made by [`scope`] and [`FutureExt`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Scoped<F> {
        ctx: Option<Context>,
        #[pin]
        inner: Option<F>,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            // Drop the inner future inside the context too: its destructors may log.
            let mut this = this.project();
            if this.inner.is_some() {
                let ctx = this.ctx.take();
                let _restore = Restore::install(ctx, Some(this.ctx));
                this.inner.set(None);
            }
        }
    }
}

impl<F> Scoped<F> {
    /// Wraps `inner` in `ctx` (`None`: explicitly no context).
    pub fn new(ctx: Option<Context>, inner: F) -> Self {
        Scoped {
            ctx,
            inner: Some(inner),
        }
    }

    /// The context this wrapper installs.
    pub fn context(&self) -> Option<&Context> {
        self.ctx.as_ref()
    }

    /// Runs `f` with this wrapper's context current and the inner value pinned: how a middleware polls a
    /// response body (or any other poll-based type) inside the scope.
    pub fn enter<R>(self: Pin<&mut Self>, f: impl FnOnce(Pin<&mut F>) -> R) -> R {
        let this = self.project();
        let ctx = this.ctx.take();
        let _restore = Restore::install(ctx, Some(this.ctx));
        match this.inner.as_pin_mut() {
            Some(inner) => f(inner),
            // Only reachable after drop started; keep it panic-free anyway.
            None => unreachable_inner(),
        }
    }

    /// Like [`enter`](Self::enter), for a poll that may be the last: when `done` says so of `f`'s result
    /// (given the inner value too, e.g. a body's end of stream), the inner value is dropped there and then,
    /// still inside the scope, so the wrapper's own drop has nothing left to run in it (one scope entry
    /// fewer). Once the inner value is gone, returns `None` without calling `f` or entering the scope.
    ///
    /// ```
    /// use std::pin::pin;
    /// use logiscout_core::correlation::{CorrelationId, Scoped};
    ///
    /// let mut countdown = pin!(Scoped::new(Some(CorrelationId::new("body-1").into()), 2));
    /// let mut step = || countdown.as_mut().enter_until(|mut n| { *n -= 1; *n }, |n, _| *n == 0);
    /// assert_eq!(step(), Some(1));
    /// assert_eq!(step(), Some(0)); // done: the inner value is dropped inside the scope
    /// assert_eq!(step(), None);
    /// ```
    pub fn enter_until<R>(
        self: Pin<&mut Self>,
        f: impl FnOnce(Pin<&mut F>) -> R,
        done: impl FnOnce(&R, &F) -> bool,
    ) -> Option<R> {
        let mut this = self.project();
        let inner = this.inner.as_mut().as_pin_mut()?;
        let ctx = this.ctx.take();
        let _restore = Restore::install(ctx, Some(this.ctx));
        let mut inner = inner;
        let out = f(inner.as_mut());
        if done(&out, inner.as_ref().get_ref()) {
            this.inner.set(None);
        }
        Some(out)
    }

    /// The wrapped value: `None` once it is finished (a future that completed, a body that
    /// [`enter_until`](Self::enter_until) released).
    pub fn get_ref(&self) -> Option<&F> {
        self.inner.as_ref()
    }
}

#[cold]
fn unreachable_inner() -> ! {
    // `inner` is only taken in `PinnedDrop`, after which no method can run. A panic here would be a bug in
    // this module, not something an application can trigger.
    unreachable!("Scoped used after drop")
}

#[cold]
fn polled_after_completion() -> ! {
    // The `Future` contract: a completed future may panic when polled again (as `async` blocks do).
    panic!("`Scoped` future polled after completion")
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    /// Polls the inner future with the context current; once it completes, drops it there and then,
    /// still inside the scope (its destructors may log), so dropping the `Scoped` afterwards costs no
    /// second entry. Polled again after that, it panics (as the `Future` contract allows).
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            polled_after_completion()
        };
        let ctx = this.ctx.take();
        let _restore = Restore::install(ctx, Some(this.ctx));
        let polled = inner.poll(cx);
        if polled.is_ready() {
            this.inner.set(None);
        }
        polled
    }
}

/// Carries correlation context into futures that run elsewhere (`tokio::spawn`, `JoinSet`, executors).
pub trait FutureExt: Future + Sized {
    /// Runs this future inside the context that is current *now*, at the call site.
    ///
    /// ```
    /// use logiscout_core::correlation::{self, CorrelationId, FutureExt};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// correlation::scope(CorrelationId::new("parent"), async {
    ///     let id = tokio::spawn(async { correlation::current() }.in_current_scope());
    ///     assert_eq!(id.await.unwrap().unwrap().as_str(), "parent");
    /// })
    /// .await;
    /// # }
    /// ```
    fn in_current_scope(self) -> Scoped<Self> {
        Scoped::new(current_context(), self)
    }

    /// Runs this future inside `ctx`.
    fn in_scope(self, ctx: impl Into<Context>) -> Scoped<Self> {
        Scoped::new(Some(ctx.into()), self)
    }
}

impl<F: Future> FutureExt for F {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_the_allowed_alphabet() {
        let ok = "AZaz09._:-";
        assert_eq!(CorrelationId::parse(ok).unwrap().as_str(), ok);
        let max = "a".repeat(MAX_CORRELATION_ID_LEN);
        assert!(CorrelationId::parse(&max).is_ok());
    }

    #[test]
    fn parse_refuses_bad_values_without_echoing_them() {
        let cases: &[(&[u8], InvalidCorrelationId)] = &[
            (b"", InvalidCorrelationId::Empty),
            (&[b'a'; 129], InvalidCorrelationId::TooLong { len: 129 }),
            (b"a\r\nb", InvalidCorrelationId::InvalidByte { position: 1 }),
            (b"a b", InvalidCorrelationId::InvalidByte { position: 1 }),
            (
                "é".as_bytes(),
                InvalidCorrelationId::InvalidByte { position: 0 },
            ),
            (
                &[0xff, 0xfe],
                InvalidCorrelationId::InvalidByte { position: 0 },
            ),
            (b"x\"y", InvalidCorrelationId::InvalidByte { position: 1 }),
        ];
        for (input, want) in cases {
            let err = CorrelationId::parse_bytes(input).unwrap_err();
            assert_eq!(&err, want, "input {input:?}");
            let shown = err.to_string();
            assert!(!shown.contains('\r') && !shown.contains('"'), "{shown}");
        }
    }

    #[test]
    fn new_clamps_to_the_wire_limits() {
        let long = "é".repeat(100); // 200 bytes
        let id = CorrelationId::new(long);
        assert!(id.as_str().len() <= MAX_CORRELATION_ID_LEN);
        assert_eq!(id.as_str().len(), 128);
        let empty = CorrelationId::new("");
        assert_eq!(empty.as_str().len(), 36);
    }

    #[test]
    fn request_info_drops_the_query_string() {
        assert_eq!(RequestInfo::new("GET", "/a/b?token=x").path, "/a/b");
        assert_eq!(RequestInfo::new("GET", "/a#frag").path, "/a");
        assert_eq!(RequestInfo::new("GET", "/plain").path, "/plain");
        assert_eq!(RequestInfo::new("GET", "/é/ü?q=é").path, "/é/ü");
    }

    #[test]
    fn request_info_borrows_the_standard_methods_only() {
        for m in [
            "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
        ] {
            let info = RequestInfo::new(m, "/");
            assert!(matches!(info.method, Cow::Borrowed(b) if b == m), "{m}");
        }
        for m in ["PROPFIND", "get", ""] {
            let info = RequestInfo::new(m, "/");
            assert!(matches!(info.method, Cow::Owned(ref o) if o == m), "{m:?}");
        }
    }

    #[test]
    fn the_id_alphabet_table_is_the_documented_alphabet() {
        for b in 0..=255u8 {
            let documented = b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-');
            assert_eq!(is_id_byte(b), documented, "byte {b}");
        }
        for _ in 0..100 {
            let id = CorrelationId::generate();
            assert!(CorrelationId::is_valid(id.as_str().as_bytes()), "{id}");
            assert_eq!(CorrelationId::parse(id.as_str()).unwrap(), id);
        }
    }

    /// Notes, when dropped, whether the current scope's ID is its `.0`.
    struct DropsIn(&'static str, std::sync::Arc<std::sync::Mutex<Vec<bool>>>);
    impl Drop for DropsIn {
        fn drop(&mut self) {
            let here = current().is_some_and(|id| id.as_str() == self.0);
            self.1.lock().unwrap().push(here);
        }
    }

    #[test]
    fn a_completed_future_is_dropped_inside_its_scope_at_completion() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        /// Ready at once, and keeps what it holds until dropped (unlike an `async` block, which drops
        /// its locals as it completes).
        struct ReadyHolding {
            _held: DropsIn,
        }
        impl Future for ReadyHolding {
            type Output = u8;
            fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<u8> {
                Poll::Ready(7)
            }
        }
        let mut fut = Box::pin(scope(
            CorrelationId::new("done"),
            ReadyHolding {
                _held: DropsIn("done", seen.clone()),
            },
        ));
        let mut cx = TaskContext::from_waker(std::task::Waker::noop());
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(7));
        assert_eq!(
            *seen.lock().unwrap(),
            [true],
            "dropped at completion, in scope"
        );
        assert!(fut.get_ref().is_none());
        assert_eq!(fut.context().unwrap().correlation_id().as_str(), "done");
        drop(fut);
        assert_eq!(seen.lock().unwrap().len(), 1, "not dropped twice");
        assert!(current().is_none());
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut fut = Box::pin(scope(CorrelationId::new("x"), async {}));
            let _ = fut.as_mut().poll(&mut cx);
            let _ = fut.as_mut().poll(&mut cx);
        }));
        assert!(again.is_err(), "polled after completion");
        assert!(current().is_none());
    }

    #[test]
    fn enter_until_releases_the_inner_value_inside_the_scope() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut body = Box::pin(Scoped::new(
            Some(CorrelationId::new("body").into()),
            (DropsIn("body", seen.clone()), 2u32),
        ));
        let mut step = || {
            body.as_mut().enter_until(
                |mut b| {
                    assert_eq!(current().unwrap().as_str(), "body");
                    b.1 -= 1;
                    b.1
                },
                |left, b| *left == 0 && b.1 == 0,
            )
        };
        assert_eq!(step(), Some(1));
        assert!(seen.lock().unwrap().is_empty());
        assert_eq!(step(), Some(0));
        assert_eq!(*seen.lock().unwrap(), [true], "released in scope");
        assert_eq!(step(), None, "released: f is not called again");
        assert!(current().is_none());
        drop(body);
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn sync_scopes_nest_and_restore_after_a_panic() {
        sync_scope(CorrelationId::new("outer"), || {
            assert_eq!(current().unwrap().as_str(), "outer");
            sync_scope(CorrelationId::new("inner"), || {
                assert_eq!(current().unwrap().as_str(), "inner");
            });
            assert_eq!(current().unwrap().as_str(), "outer");
            let r = std::panic::catch_unwind(|| {
                sync_scope(CorrelationId::new("boom"), || panic!("test panic"))
            });
            assert!(r.is_err());
            assert_eq!(current().unwrap().as_str(), "outer");
        });
        assert!(current().is_none());
    }

    #[test]
    fn an_async_scope_inside_a_sync_scope_wins_while_polled() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        sync_scope(CorrelationId::new("job"), || {
            let seen = rt.block_on(scope(CorrelationId::new("req"), async { current() }));
            assert_eq!(seen.unwrap().as_str(), "req");
            assert_eq!(current().unwrap().as_str(), "job");
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn context_survives_awaits_across_threads_and_does_not_leak() {
        let mut tasks = Vec::new();
        for i in 0..64 {
            let id = CorrelationId::new(format!("task-{i}"));
            tasks.push(tokio::spawn(scope(id, async move {
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                    assert_eq!(current().unwrap().as_str(), format!("task-{i}"));
                }
            })));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(current().is_none());
    }

    #[tokio::test]
    async fn spawned_tasks_inherit_only_with_the_extension() {
        scope(CorrelationId::new("parent"), async {
            let without = tokio::spawn(async { current() }).await.unwrap();
            assert!(without.is_none());
            let with = tokio::spawn(async { current() }.in_current_scope())
                .await
                .unwrap();
            assert_eq!(with.unwrap().as_str(), "parent");
        })
        .await;
    }

    #[tokio::test]
    async fn spawn_blocking_keeps_the_id_through_sync_scope() {
        scope(CorrelationId::new("blocking"), async {
            let ctx = current_context().unwrap();
            let seen = tokio::task::spawn_blocking(move || sync_scope(ctx, current))
                .await
                .unwrap();
            assert_eq!(seen.unwrap().as_str(), "blocking");
        })
        .await;
    }

    #[test]
    fn dropping_a_scoped_future_runs_its_destructors_inside_the_scope() {
        struct LogOnDrop(std::sync::Arc<std::sync::Mutex<Option<CorrelationId>>>);
        impl Drop for LogOnDrop {
            fn drop(&mut self) {
                *self.0.lock().unwrap() = current();
            }
        }
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let guard = LogOnDrop(seen.clone());
        let fut = scope(CorrelationId::new("dropped"), async move {
            let _g = guard;
            std::future::pending::<()>().await;
        });
        let mut fut = Box::pin(fut);
        let waker = std::task::Waker::noop();
        let mut cx = TaskContext::from_waker(waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        drop(fut);
        assert_eq!(seen.lock().unwrap().as_ref().unwrap().as_str(), "dropped");
        assert!(current().is_none());
    }

    #[test]
    fn a_scope_lends_its_context_for_each_poll_and_gets_it_back_even_after_a_panic() {
        let waker = std::task::Waker::noop();
        let mut cx = TaskContext::from_waker(waker);
        // Pending twice, then a panic inside the third poll, caught outside.
        let mut polls = 0;
        let inner = std::future::poll_fn(move |_| {
            polls += 1;
            assert_eq!(current().unwrap().as_str(), "lent");
            // A nested scope swaps its own in and back within the same poll.
            let nested = sync_scope(CorrelationId::new("nested"), current);
            assert_eq!(nested.unwrap().as_str(), "nested");
            assert_eq!(current().unwrap().as_str(), "lent");
            if polls == 3 {
                panic!("inside the poll");
            }
            Poll::<()>::Pending
        });
        let mut fut = Box::pin(scope(CorrelationId::new("lent"), inner));
        for _ in 0..2 {
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            assert!(current().is_none(), "nothing leaks out of a poll");
            assert_eq!(fut.context().unwrap().correlation_id().as_str(), "lent");
        }
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = fut.as_mut().poll(&mut cx);
        }));
        assert!(caught.is_err());
        assert!(current().is_none());
        assert_eq!(
            fut.context().unwrap().correlation_id().as_str(),
            "lent",
            "the context came back during the unwinding"
        );
    }

    #[test]
    fn inline_and_shared_ids_behave_alike() {
        use std::collections::HashSet;
        let short = CorrelationId::new("a".repeat(INLINE));
        let long = CorrelationId::new("a".repeat(INLINE + 1));
        assert!(matches!(short.0, Repr::Inline(_)));
        assert!(matches!(long.0, Repr::Shared(_)));
        assert_eq!(short.as_str().len(), INLINE);
        assert_eq!(long.as_str().len(), INLINE + 1);
        assert!(short < long);
        let set: HashSet<_> = [short.clone(), long.clone(), short.clone()].into();
        assert_eq!(set.len(), 2);
        assert_eq!(
            CorrelationId::new("é".repeat(19)).as_str(),
            "é".repeat(19),
            "UTF-8 inline"
        );
        assert_eq!(
            format!("{:?}", CorrelationId::new("x-1")),
            "CorrelationId(\"x-1\")"
        );
    }

    proptest::proptest! {
        /// Parsing never panics, accepts exactly the documented alphabet and length, and what it
        /// accepts is the input unchanged.
        #[test]
        fn parse_accepts_exactly_the_documented_ids(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let valid = !bytes.is_empty() && bytes.len() <= MAX_CORRELATION_ID_LEN && bytes.iter().all(|&b| is_id_byte(b));
            match CorrelationId::parse_bytes(&bytes) {
                Ok(id) => {
                    proptest::prop_assert!(valid);
                    proptest::prop_assert_eq!(id.as_str().as_bytes(), &bytes[..]);
                }
                Err(_) => proptest::prop_assert!(!valid),
            }
        }
    }
}
