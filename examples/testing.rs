//! `logiscout::testing` (feature `testing`): assert on what code logged, without a server.
//! Run with `cargo run --example testing --features testing`; in a test, the same lines go in a `#[test]`.

use logiscout::testing;

/// The code under test.
fn place_order(order_id: u64, total_cents: u64) {
    log::info!(order_id = order_id, total_cents = total_cents; "Order placed");
    if total_cents > 10_000 {
        log::warn!(order_id = order_id; "Large order, flagged for review");
    }
}

fn main() {
    // The first capture installs logiscout (console off, every level) unless `init` already did.
    let logs = testing::capture();

    place_order(7, 25_000);

    assert!(logs.contains("Order placed"));
    let records = logs.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].fields["total_cents"], 25_000);
    assert_eq!(records[1].level, logiscout::WireLevel::Warning);
    for r in &records {
        println!(
            "captured {:?} {:?} {}",
            r.level,
            r.message,
            serde_json::Value::Object(r.fields.clone())
        );
    }
    println!("testing example ok: {} records captured", records.len());
}
