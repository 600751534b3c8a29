//! The batch-ID dedup window (`SinkConfig::dedup_window`): a retry within it is a duplicate, the window
//! forgets its oldest ID first, and it never holds more IDs than its size. Over real HTTP on 127.0.0.1.

use logiscout_sink::{Sink, SinkConfig, SinkHandle, DEFAULT_DEDUP_WINDOW};
use serde_json::{json, Value};

fn start(dedup_window: usize) -> SinkHandle {
    Sink::start(SinkConfig {
        quiet: true,
        dedup_window,
        ..SinkConfig::default()
    })
    .expect("sink starts")
}

/// A valid batch with one completed request of one log.
fn batch(batch_id: &str) -> Value {
    json!({
        "payloads": [{
            "correlationId": format!("req-of-{batch_id}"),
            "startedAt": "2026-11-25T11:42:47.630157Z",
            "endedAt": "2026-11-25T11:42:47.638316Z",
            "request": { "method": "GET", "path": "/", "statusCode": 200 },
            "logs": [{
                "timestamp": "2026-11-25T11:42:47.636304Z",
                "level": "info",
                "message": "hello",
                "loggerName": "api",
                "metadata": {}
            }]
        }],
        "batch_metadata": {
            "batch_id": batch_id,
            "service_name": "sink-tests",
            "total_requests": 1,
            "total_logs": 1,
            "flushed_at": "2026-11-25T11:42:48.001Z"
        }
    })
}

/// POSTs the batch with its ID in the header; returns the answer's `status` ("accepted" or "duplicate").
async fn post(client: &reqwest::Client, sink: &SinkHandle, batch_id: &str) -> String {
    let resp = client
        .post(sink.url())
        .header("content-type", "application/json")
        .header("x-logiscout-batch-id", batch_id)
        .body(batch(batch_id).to_string())
        .send()
        .await
        .expect("an answer");
    assert_eq!(resp.status().as_u16(), 200, "{batch_id}");
    let answer: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    answer["status"].as_str().unwrap().to_owned()
}

#[test]
fn the_default_window_is_documented_and_used() {
    assert_eq!(DEFAULT_DEDUP_WINDOW, 100_000);
    assert_eq!(SinkConfig::default().dedup_window, DEFAULT_DEDUP_WINDOW);
}

#[tokio::test]
async fn a_duplicate_within_the_window_is_not_stored_twice() {
    let sink = start(5);
    let client = reqwest::Client::new();
    for i in 0..5 {
        assert_eq!(post(&client, &sink, &format!("b{i}")).await, "accepted");
    }
    // b0 has 4 newer batches after it: still within a window of 5, however often it is retried.
    for _ in 0..3 {
        assert_eq!(post(&client, &sink, "b0").await, "duplicate");
        assert_eq!(post(&client, &sink, "b4").await, "duplicate");
    }
    let stats = sink.stats();
    assert_eq!((stats.batches, stats.logs, stats.duplicates), (5, 5, 6));
    assert_eq!(stats.requests, 5);
    assert_eq!(sink.batches().len(), 5);
    assert_eq!(sink.remembered_batch_ids(), 5);
}

#[tokio::test]
async fn the_window_forgets_the_oldest_id_after_n_newer_batches_and_stays_bounded() {
    const WINDOW: usize = 3;
    let sink = start(WINDOW);
    let client = reqwest::Client::new();
    for i in 0..WINDOW {
        assert_eq!(post(&client, &sink, &format!("b{i}")).await, "accepted");
    }
    assert_eq!(post(&client, &sink, "b0").await, "duplicate");
    // The window's size-th newer batch pushes b0 out: its retry is stored again.
    assert_eq!(post(&client, &sink, "b3").await, "accepted");
    assert_eq!(sink.remembered_batch_ids(), WINDOW);
    assert_eq!(post(&client, &sink, "b0").await, "accepted");
    // Storing b0 again pushed b1 out; b2, b3 and b0 are remembered.
    assert_eq!(post(&client, &sink, "b1").await, "accepted");
    assert_eq!(post(&client, &sink, "b0").await, "duplicate");

    // window + k batches: the set never holds more than the window.
    for i in 100..160 {
        assert_eq!(post(&client, &sink, &format!("b{i}")).await, "accepted");
        assert!(sink.remembered_batch_ids() <= WINDOW);
    }
    assert_eq!(sink.remembered_batch_ids(), WINDOW);
    for i in 157..160 {
        assert_eq!(post(&client, &sink, &format!("b{i}")).await, "duplicate");
    }
    assert_eq!(post(&client, &sink, "b156").await, "accepted");
    let stats = sink.stats();
    assert_eq!(stats.batches, 4 + 2 + 60 + 1);
    assert_eq!(stats.duplicates, 2 + 3);
}

#[tokio::test]
async fn a_window_of_zero_stores_every_retry() {
    let sink = start(0);
    let client = reqwest::Client::new();
    for _ in 0..3 {
        assert_eq!(post(&client, &sink, "same").await, "accepted");
    }
    let stats = sink.stats();
    assert_eq!((stats.batches, stats.duplicates), (3, 0));
    assert_eq!(sink.remembered_batch_ids(), 0);
}
