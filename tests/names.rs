//! Every public module glob-imported at once, and each public name used: two distinct items with one name
//! in `logiscout`, `logiscout::correlation`, `logiscout::middleware`, `logiscout::tower`,
//! `logiscout::actix`, `logiscout::tracing` or `logiscout::testing` would make that name ambiguous, and
//! this file would not compile. (The same item re-exported in several modules, like `CorrelationId` or
//! `DEFAULT_HEADER`, is not ambiguous.)

#![allow(unused_imports)]
// rustc reports some ambiguities between glob imports as a (future-incompatible) warning, not an error.
#![deny(ambiguous_glob_imports)]

use logiscout::actix::*;
use logiscout::correlation::*;
use logiscout::middleware::*;
use logiscout::testing::*;
use logiscout::tower::*;
use logiscout::tracing::*;
use logiscout::*;

#[test]
fn every_public_name_resolves_to_one_item() {
    // logiscout
    let _: Option<(
        BoundLogger,
        Config,
        Console,
        Env,
        Error,
        FieldValue,
        WireLevel,
    )> = None;
    let _: Option<(FlushReport, Stats, Guard, Protocol)> = None;
    let _ = (init, flush, flush_async, set_filter, stats, SDK);
    let _ = middleware::request_started;
    let _ = correlation::current;
    let _bound = bind!(user_id = 1);
    critical!("names: no logger installed, so nothing happens");

    // logiscout::correlation
    let _ = (current, current_context, MAX_CORRELATION_ID_LEN);
    sync_scope(CorrelationId::new("names-0"), || ());
    let _unpolled = scope(CorrelationId::new("names-0"), async {});
    let _: Option<(Context, InvalidCorrelationId, RequestInfo, Scoped<()>)> = None;
    fn _future_ext<F: FutureExt>() {}
    // the W3C trace context, also in logiscout::correlation
    let _: Option<TraceContext> = current_trace();
    assert_eq!(TRACEPARENT_HEADER, "traceparent");
    let _ = TraceContext::new_root;

    // logiscout::middleware (the framework-free core of both middlewares)
    let _: Option<(RequestPolicy, IncomingRequest<'static>, RequestGuard)> = None;
    let _ = (request_started, request_finished);

    // one CorrelationId and one DEFAULT_HEADER, re-exported by the integrations
    let id: CorrelationId = logiscout::correlation::CorrelationId::new("names-1");
    let _: logiscout::tower::CorrelationId = id.clone();
    let _: logiscout::actix::CorrelationId = id;
    assert_eq!(DEFAULT_HEADER, "x-correlation-id");
    assert_eq!(
        logiscout::tower::DEFAULT_HEADER,
        logiscout::actix::DEFAULT_HEADER
    );

    // logiscout::tower
    let _ = (CorrelationLayer::new(), PropagateCorrelationLayer::new());
    let _: Option<(CorrelationService<()>, PropagateCorrelation<()>)> = None;
    let _: Option<(
        CorrelatedBody<String>,
        ResponseFuture<std::future::Ready<()>>,
    )> = None;

    // logiscout::actix
    let _ = (Correlation, Correlation::options());
    let _: Option<(
        CorrelationOptions,
        CorrelationMiddleware<()>,
        CorrelatedMessageBody<()>,
    )> = None;
    let _: Option<CorrelationResponse<std::future::Ready<()>, ()>> = None;
    let _ = block::<fn(), ()>;

    // logiscout::tracing
    let _: LogiscoutLayer = layer();

    // logiscout::testing
    let _ = capture;
    let _: Option<(Logs, CapturedRecord)> = None;
}
