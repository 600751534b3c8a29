//! The plain console logger: no token, no network. Run with `cargo run --example plain`.
//!
//! Set `LOGISCOUT_CONSOLE=json` for one JSON object per line, or `RUST_LOG=debug` for more.

use logiscout::correlation::{self, CorrelationId};

#[derive(Debug)]
struct PaymentError;

impl std::fmt::Display for PaymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined")
    }
}

impl std::error::Error for PaymentError {}

fn main() -> Result<(), logiscout::Error> {
    let _guard = logiscout::init(logiscout::Config::from_env()?.service_name("plain-example"))?;

    log::info!("Script started");
    log::info!(user_id = 123; "User logged in");
    log::warn!(current = 95, limit = 100; "Rate limit approaching");
    log::info!(send = false, token = "secret-token"; "Password reset token generated");
    let err = PaymentError;
    log::error!(order_id = "abc-123", reason:err = err; "Payment failed");
    logiscout::critical!(order_id = "abc-123"; "Payment system down");

    let user_log = logiscout::bind!(user_id = 123, session_id = "abc");
    log::info!(logger: user_log, action = "click"; "User action");

    correlation::sync_scope(CorrelationId::new("nightly-import"), || {
        log::info!(rows = 1_000; "Import finished");
    });
    Ok(())
}
