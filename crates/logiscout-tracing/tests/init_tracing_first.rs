//! tracing-subscriber's `.init()` first (with its default `tracing-log` feature it puts `LogTracer` in the
//! `log` slot), then `logiscout::init`: a clear error that names the fix, never a panic, nothing half
//! installed.

use tracing_subscriber::prelude::*;
use tracing_subscriber::util::SubscriberInitExt;

#[test]
fn logiscout_init_after_tracing_init_fails_with_the_fix_in_its_message() {
    tracing_subscriber::registry()
        .with(logiscout_tracing::layer())
        .init();
    let err = logiscout_core::init(logiscout_core::Config::new("late")).unwrap_err();
    assert!(
        matches!(err, logiscout_core::Error::AlreadyInitialized),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("set_global_default") && text.contains("LogTracer"),
        "{text}"
    );
    assert_eq!(format!("{err:?}"), text, "Debug shows the fix too");
    // The layer without a logiscout pipeline ships nothing and does not panic.
    tracing::info!("no pipeline yet");
    assert_eq!(logiscout_core::stats().logs_enqueued, 0);
}
