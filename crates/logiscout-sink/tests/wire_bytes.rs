//! `SinkHandle::wire_bytes`: the body bytes ingest requests brought on the wire, compressed when gzip,
//! counted for stored, duplicate and refused bodies alike. Over real HTTP on 127.0.0.1.

use std::io::Write;

use logiscout_sink::{Sink, SinkConfig, SinkHandle};
use serde_json::{json, Value};

fn batch(batch_id: &str, logs: usize) -> Value {
    let logs: Vec<Value> = (0..logs)
        .map(|i| {
            json!({
                "timestamp": "2026-11-25T11:42:47.636304Z",
                "level": "info",
                "message": "Order created okay!!",
                "loggerName": "api",
                "metadata": { "user_id": i, "ratio": 0.25, "region": "eu-west-1" },
                "exception": null
            })
        })
        .collect();
    json!({
        "payloads": [{
            "correlationId": "bench-request-0001",
            "startedAt": "2026-11-25T11:42:47.630157Z",
            "logs": logs
        }],
        "batch_metadata": {
            "batch_id": batch_id,
            "service_name": "sink-tests",
            "total_requests": 1,
            "total_logs": logs.len(),
            "flushed_at": "2026-11-25T11:42:48.001Z"
        }
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

async fn post(sink: &SinkHandle, body: Vec<u8>, headers: &[(&str, &str)]) -> u16 {
    let mut req = reqwest::Client::new().post(sink.url()).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("an answer").status().as_u16()
}

#[tokio::test]
async fn wire_bytes_count_bodies_as_sent_compressed_or_not() {
    let sink = Sink::start(SinkConfig {
        quiet: true,
        ..SinkConfig::default()
    })
    .expect("sink starts");
    assert_eq!(sink.wire_bytes(), 0);

    let plain = batch("plain", 50).to_string().into_bytes();
    assert_eq!(post(&sink, plain.clone(), &[]).await, 200);
    assert_eq!(sink.wire_bytes(), plain.len() as u64);

    // Gzip: the compressed size counts, not the decoded one.
    let decoded = batch("gz", 50).to_string().into_bytes();
    let compressed = gzip(&decoded);
    assert!(compressed.len() < decoded.len() / 4);
    let status = post(&sink, compressed.clone(), &[("content-encoding", "gzip")]).await;
    assert_eq!(status, 200);
    let after_gzip = (plain.len() + compressed.len()) as u64;
    assert_eq!(sink.wire_bytes(), after_gzip);

    // A duplicate and a refused body were read too: they count.
    assert_eq!(post(&sink, plain.clone(), &[]).await, 200);
    assert_eq!(post(&sink, b"not json".to_vec(), &[]).await, 400);
    assert_eq!(
        sink.wire_bytes(),
        after_gzip + plain.len() as u64 + b"not json".len() as u64
    );

    let stats = sink.shutdown();
    assert_eq!((stats.batches, stats.logs), (2, 100));
    assert_eq!((stats.duplicates, stats.rejected), (1, 1));
}
