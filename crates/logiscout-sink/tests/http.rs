//! The sink over real HTTP on 127.0.0.1: validation, token check, dedupe, gzip, limits, fault flags and
//! `/stats`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use logiscout_sink::{Faults, Sink, SinkConfig, SinkHandle};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "lgs_test_token";

fn start(config: SinkConfig) -> SinkHandle {
    Sink::start(SinkConfig {
        quiet: true,
        ..config
    })
    .expect("sink starts")
}

fn start_with_faults(faults: Faults) -> SinkHandle {
    start(SinkConfig {
        faults,
        ..SinkConfig::default()
    })
}

/// A valid batch: one payload per `(correlation ID, number of logs)`.
fn batch(batch_id: &str, payloads: &[(&str, usize)]) -> Value {
    let payloads: Vec<Value> = payloads
        .iter()
        .map(|(id, n)| {
            let logs: Vec<Value> = (0..*n)
                .map(|i| {
                    json!({
                        "timestamp": "2026-11-25T11:42:47.636304Z",
                        "level": "info",
                        "message": format!("log {i}"),
                        "loggerName": "api",
                        "metadata": { "i": i },
                        "exception": null
                    })
                })
                .collect();
            json!({
                "correlationId": id,
                "startedAt": "2026-11-25T11:42:47.630157Z",
                "endedAt": "2026-11-25T11:42:47.638316Z",
                "durationMS": 8.1,
                "request": { "method": "GET", "path": "/users/7", "statusCode": 200 },
                "logs": logs
            })
        })
        .collect();
    let total_logs: usize = payloads
        .iter()
        .map(|p| p["logs"].as_array().unwrap().len())
        .sum();
    json!({
        "payloads": payloads,
        "batch_metadata": {
            "batch_id": batch_id,
            "service_name": "sink-tests",
            "environment": "production",
            "sdk": "test",
            "total_requests": payloads.len(),
            "total_logs": total_logs,
            "dropped_logs": 0,
            "flushed_at": "2026-11-25T11:42:48.001Z"
        }
    })
}

/// Makes a payload the open (not last) piece of a request: no `endedAt`, `durationMS` or `statusCode`.
fn open_piece(payload: &mut Value) {
    payload["endedAt"] = Value::Null;
    payload["durationMS"] = Value::Null;
    payload["request"]
        .as_object_mut()
        .expect("a request object")
        .remove("statusCode");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// POSTs `body` with the batch ID header taken from the body and, when given, a bearer token.
async fn post(sink: &SinkHandle, body: &Value, token: Option<&str>) -> reqwest::Response {
    let mut req = client()
        .post(sink.url())
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(id) = body["batch_metadata"]["batch_id"].as_str() {
        req = req.header("x-logiscout-batch-id", id);
    }
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("an answer")
}

async fn post_raw(sink: &SinkHandle, body: Vec<u8>, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().post(sink.url()).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("an answer")
}

async fn stats_json(sink: &SinkHandle) -> Value {
    let resp = client()
        .get(format!("http://{}/stats", sink.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    resp.json_value().await
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let text = self.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

fn temp_file(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "logiscout-sink-{name}-{}-{nanos}.jsonl",
        std::process::id()
    ))
}

#[test]
fn the_schema_is_the_testkit_schema_byte_for_byte() {
    assert_eq!(
        logiscout_sink::SCHEMA,
        include_str!("../../logiscout-testkit/src/wire-format.schema.json")
    );
}

#[tokio::test]
async fn a_valid_batch_is_accepted_stored_and_appended_to_the_jsonl_file() {
    let out = temp_file("valid");
    let sink = start(SinkConfig {
        out: Some(out.clone()),
        ..SinkConfig::default()
    });
    let first = batch("batch-1", &[("req-1", 3), ("req-2", 2)]);
    let second = batch("batch-2", &[("req-3", 1)]);
    for body in [&first, &second] {
        let resp = post(&sink, body, None).await;
        assert_eq!(resp.status().as_u16(), 200);
        let answer = resp.json_value().await;
        assert_eq!(answer["status"], "accepted");
    }

    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, vec![first.clone(), second.clone()]);
    assert_eq!(sink.batches(), vec![first, second]);
    assert_eq!(sink.logs().len(), 6);
    assert_eq!(sink.logs()[0].0, "req-1");
    let stats = sink.stats();
    assert_eq!((stats.batches, stats.logs, stats.payloads), (2, 6, 3));
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.rejected, 0);
    drop(sink);
    let _ = std::fs::remove_file(out);
}

#[tokio::test]
async fn the_file_is_appended_to_not_truncated() {
    let out = temp_file("append");
    std::fs::write(&out, "{\"earlier\":true}\n").unwrap();
    let sink = start(SinkConfig {
        out: Some(out.clone()),
        ..SinkConfig::default()
    });
    assert_eq!(
        post(&sink, &batch("b", &[("r", 1)]), None)
            .await
            .status()
            .as_u16(),
        200
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.starts_with("{\"earlier\":true}\n"));
    drop(sink);
    let _ = std::fs::remove_file(out);
}

#[tokio::test]
async fn a_body_that_breaks_the_schema_is_400_with_the_reason() {
    let sink = start(SinkConfig::default());
    let mut body = batch("bad-level", &[("req-1", 1)]);
    body["payloads"][0]["logs"][0]["level"] = json!("loud");
    let resp = post(&sink, &body, None).await;
    assert_eq!(resp.status().as_u16(), 400);
    let reason = resp.json_value().await["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("wire-format schema"), "{reason}");
    assert!(reason.contains("\"loud\""), "{reason}");
    assert!(reason.contains("/payloads/0/logs/0/level"), "{reason}");

    // The reserved keys never belong in metadata.
    let mut body = batch("reserved-key", &[("req-1", 1)]);
    body["payloads"][0]["logs"][0]["metadata"]["correlation_id"] = json!("x");
    let resp = post(&sink, &body, None).await;
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.json_value().await["error"]
        .as_str()
        .unwrap()
        .contains("/payloads/0/logs/0/metadata"));

    // No payloads at all.
    let resp = post_raw(&sink, br#"{"payloads":[]}"#.to_vec(), &[]).await;
    assert_eq!(resp.status().as_u16(), 400);

    let stats = sink.stats();
    assert_eq!((stats.rejected, stats.batches, stats.logs), (3, 0, 0));
    assert!(sink.batches().is_empty());
}

#[tokio::test]
async fn bodies_that_are_not_json_or_are_inconsistent_are_400_and_never_crash() {
    let sink = start(SinkConfig::default());
    let bad_bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"nope".to_vec(),
        b"{\"payloads\":".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80],
        b"[]".to_vec(),
        b"null".to_vec(),
        "[".repeat(100_000).into_bytes(),
    ];
    let n = bad_bodies.len() as u64;
    for body in bad_bodies {
        let resp = post_raw(&sink, body, &[]).await;
        assert_eq!(resp.status().as_u16(), 400);
        assert!(resp.json_value().await["error"].is_string());
    }

    let mut body = batch("wrong-total", &[("req-1", 2)]);
    body["batch_metadata"]["total_logs"] = json!(5);
    let resp = post(&sink, &body, None).await;
    assert_eq!(resp.status().as_u16(), 400);
    let reason = resp.json_value().await["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.contains("total_logs is 5 but the batch has 2 logs"),
        "{reason}"
    );

    // The header and the body disagree on the batch ID.
    let body = batch("body-id", &[("req-1", 1)]);
    let resp = post_raw(
        &sink,
        body.to_string().into_bytes(),
        &[("x-logiscout-batch-id", "header-id")],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.json_value().await["error"]
        .as_str()
        .unwrap()
        .contains("differs"));

    assert_eq!(sink.stats().rejected, n + 2);
    // Still serving.
    assert_eq!(
        post(&sink, &batch("fine", &[("r", 1)]), None)
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_and_the_token_is_never_echoed() {
    let sink = start(SinkConfig {
        token: Some(TOKEN.to_owned()),
        ..SinkConfig::default()
    });
    let body = batch("tok", &[("req-1", 1)]);

    let resp = post(&sink, &body, None).await;
    assert_eq!(resp.status().as_u16(), 401);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(TOKEN), "{text}");

    let resp = post(&sink, &body, Some("lgs_wrong")).await;
    assert_eq!(resp.status().as_u16(), 401);
    let text = resp.text().await.unwrap();
    assert!(
        !text.contains(TOKEN) && !text.contains("lgs_wrong"),
        "{text}"
    );

    // A prefix of the right token, or another scheme, is not the token.
    let resp = post(&sink, &body, Some(&TOKEN[..TOKEN.len() - 1])).await;
    assert_eq!(resp.status().as_u16(), 401);
    let resp = post_raw(
        &sink,
        body.to_string().into_bytes(),
        &[("authorization", &format!("Basic {TOKEN}"))],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 401);

    let resp = post(&sink, &body, Some(TOKEN)).await;
    assert_eq!(resp.status().as_u16(), 200);
    let stats = sink.stats();
    assert_eq!(
        (stats.unauthorized, stats.batches, stats.rejected),
        (4, 1, 0)
    );
    assert!(!format!(
        "{:?}",
        SinkConfig {
            token: Some(TOKEN.to_owned()),
            ..SinkConfig::default()
        }
    )
    .contains(TOKEN));
}

#[tokio::test]
async fn a_duplicate_batch_id_is_answered_200_but_stored_and_counted_once() {
    let out = temp_file("dedupe");
    let sink = start(SinkConfig {
        out: Some(out.clone()),
        ..SinkConfig::default()
    });
    let body = batch("6f1c0a2e-dup", &[("req-1", 4)]);
    let first = post(&sink, &body, None).await;
    assert_eq!(first.status().as_u16(), 200);
    let again = post(&sink, &body, None).await;
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(again.json_value().await["status"], "duplicate");

    // Without the header, the body's batch_metadata.batch_id identifies the batch.
    let resp = post_raw(&sink, body.to_string().into_bytes(), &[]).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.json_value().await["status"], "duplicate");

    let stats = sink.stats();
    assert_eq!((stats.batches, stats.logs, stats.duplicates), (1, 4, 2));
    assert_eq!(sink.batches().len(), 1);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1);
    drop(sink);
    let _ = std::fs::remove_file(out);
}

#[tokio::test]
async fn a_gzip_body_is_accepted_and_bad_encodings_are_refused() {
    let sink = start(SinkConfig::default());
    let body = batch("gz", &[("req-1", 50)]);
    let resp = post_raw(
        &sink,
        gzip(body.to_string().as_bytes()),
        &[("content-encoding", "gzip"), ("x-logiscout-batch-id", "gz")],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(sink.batches(), vec![body.clone()]);

    // Gzip claimed but not gzip.
    let resp = post_raw(
        &sink,
        body.to_string().into_bytes(),
        &[("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.json_value().await["error"]
        .as_str()
        .unwrap()
        .contains("gzip"));

    let resp = post_raw(&sink, b"{}".to_vec(), &[("content-encoding", "br")]).await;
    assert_eq!(resp.status().as_u16(), 415);
    assert_eq!(sink.stats().rejected, 2);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_on_the_wire_and_after_gunzip() {
    let sink = start(SinkConfig {
        max_body_bytes: 4096,
        ..SinkConfig::default()
    });
    let big = batch("big", &[("req-1", 100)]);
    assert!(big.to_string().len() > 4096);
    let resp = post(&sink, &big, None).await;
    assert_eq!(resp.status().as_u16(), 413);

    // Small on the wire, large once decoded.
    let bomb = gzip(&vec![b' '; 1_000_000]);
    assert!(bomb.len() < 4096);
    let resp = post_raw(&sink, bomb, &[("content-encoding", "gzip")]).await;
    assert_eq!(resp.status().as_u16(), 413);
    assert_eq!(sink.stats().rejected, 2);

    // Compressed below the limit is fine even when the plain body would not be... as long as the
    // decoded body fits too.
    let small = batch("small", &[("req-1", 2)]);
    let resp = post(&sink, &small, None).await;
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn fail_status_with_retry_after_answers_503_and_stores_nothing() {
    let sink = start_with_faults(Faults {
        statuses: vec![503],
        retry_after: Some(2),
        ..Faults::default()
    });
    let body = batch("f", &[("req-1", 1)]);
    for _ in 0..3 {
        let resp = post(&sink, &body, None).await;
        assert_eq!(resp.status().as_u16(), 503);
        assert_eq!(resp.headers()["retry-after"], "2");
    }
    // /stats is never faulted.
    let stats = stats_json(&sink).await;
    assert_eq!(stats["faults"], 3);
    assert_eq!(stats["received"], 3);
    assert_eq!(stats["batches"], 0);
}

#[tokio::test]
async fn fail_rate_faults_a_random_share_with_random_statuses() {
    let sink = start_with_faults(Faults {
        statuses: vec![500, 502],
        rate: Some(0.5),
        seed: Some(7),
        ..Faults::default()
    });
    let mut seen = std::collections::BTreeMap::<u16, u32>::new();
    for i in 0..200 {
        let resp = post(&sink, &batch(&format!("r-{i}"), &[("req", 1)]), None).await;
        *seen.entry(resp.status().as_u16()).or_default() += 1;
    }
    let ok = seen.get(&200).copied().unwrap_or(0);
    assert!((60..=140).contains(&ok), "{seen:?}");
    assert!(seen.get(&500).copied().unwrap_or(0) > 10, "{seen:?}");
    assert!(seen.get(&502).copied().unwrap_or(0) > 10, "{seen:?}");
    assert_eq!(seen.len(), 3, "{seen:?}");
    let stats = sink.stats();
    assert_eq!(stats.batches, u64::from(ok));
    assert_eq!(stats.faults, 200 - u64::from(ok));

    // A rate without a status answers 503.
    let sink = start_with_faults(Faults {
        rate: Some(1.0),
        ..Faults::default()
    });
    let resp = post(&sink, &batch("x", &[("req", 1)]), None).await;
    assert_eq!(resp.status().as_u16(), 503);
}

#[tokio::test]
async fn latency_delays_every_ingest_answer() {
    let latency = Duration::from_millis(200);
    let sink = start_with_faults(Faults {
        latency,
        ..Faults::default()
    });
    let started = Instant::now();
    let resp = post(&sink, &batch("slow", &[("req-1", 1)]), None).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    assert_eq!(sink.stats().batches, 1);
}

#[tokio::test]
async fn hang_never_answers_so_the_client_times_out() {
    let sink = start_with_faults(Faults {
        hang: true,
        ..Faults::default()
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client
        .post(sink.url())
        .body(batch("h", &[("req-1", 1)]).to_string())
        .send()
        .await
        .expect_err("no answer");
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(sink.stats().faults, 1);
    // The hanging request does not hold the shutdown up for long.
    let started = Instant::now();
    tokio::task::spawn_blocking(move || sink.shutdown())
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn close_drops_the_connection_without_an_answer() {
    let sink = start_with_faults(Faults {
        close: true,
        ..Faults::default()
    });
    let body = batch("c", &[("req-1", 1)]).to_string();

    let err = client()
        .post(sink.url())
        .body(body.clone())
        .send()
        .await
        .expect_err("the connection is closed");
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");

    // At the TCP level: the server closes (or resets) the connection and never writes a byte.
    let mut stream = tokio::net::TcpStream::connect(sink.addr()).await.unwrap();
    let request = format!(
        "POST /ingest HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        sink.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection");
    match read {
        Ok(n) => assert_eq!(n, 0, "{}", String::from_utf8_lossy(&answer)),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert!(answer.is_empty());
    assert_eq!(sink.stats().faults, 2);
    assert_eq!(sink.stats().batches, 0);
}

#[tokio::test]
async fn stats_counts_every_outcome() {
    let sink = start(SinkConfig {
        token: Some(TOKEN.to_owned()),
        ..SinkConfig::default()
    });
    let zero = stats_json(&sink).await;
    assert_eq!(
        zero,
        json!({"batches":0,"logs":0,"requests":0,"payloads":0,"duplicates":0,"rejected":0,
               "unauthorized":0,"faults":0,"dropped_logs":0,"received":0})
    );

    let mut with_drops = batch("a", &[("req-1", 2), ("req-2", 3)]);
    with_drops["batch_metadata"]["dropped_logs"] = json!(4);
    // req-2 is still running: this first piece is open, as a client sends it (no end, no status).
    open_piece(&mut with_drops["payloads"][1]);
    assert_eq!(
        post(&sink, &with_drops, Some(TOKEN))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        post(&sink, &with_drops, Some(TOKEN))
            .await
            .status()
            .as_u16(),
        200
    );
    // The same request continued (and ended) in a later batch counts once as a request.
    let later = batch("b", &[("req-2", 1)]);
    assert_eq!(
        post(&sink, &later, Some(TOKEN)).await.status().as_u16(),
        200
    );
    assert_eq!(
        post_raw(
            &sink,
            b"{}".to_vec(),
            &[("authorization", &format!("Bearer {TOKEN}"))]
        )
        .await
        .status()
        .as_u16(),
        400
    );
    assert_eq!(post(&sink, &later, None).await.status().as_u16(), 401);

    let stats = stats_json(&sink).await;
    assert_eq!(
        stats,
        json!({"batches":2,"logs":6,"requests":2,"payloads":3,"duplicates":1,"rejected":1,
               "unauthorized":1,"faults":0,"dropped_logs":4,"received":5})
    );
    assert_eq!(serde_json::to_value(sink.stats()).unwrap(), stats);

    // Other paths and methods.
    let resp = client().get(sink.url()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let resp = client()
        .get(format!("http://{}/nope", sink.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test]
async fn requests_counts_each_completed_request_once_from_its_closing_piece() {
    let sink = start(SinkConfig::default());
    // A request split across three batches: two open pieces, then the closing one.
    for (i, last) in [(1, false), (2, false), (3, true)] {
        let mut body = batch(&format!("split-{i}"), &[("long-req", 2)]);
        if !last {
            open_piece(&mut body["payloads"][0]);
        }
        assert_eq!(post(&sink, &body, None).await.status().as_u16(), 200);
        assert_eq!(sink.stats().requests, u64::from(last), "after piece {i}");
    }
    // Logs outside any request (no `request` object) are not requests, ended or not.
    let mut background = batch("bg", &[("job-1", 1)]);
    background["payloads"][0]
        .as_object_mut()
        .unwrap()
        .remove("request");
    assert_eq!(post(&sink, &background, None).await.status().as_u16(), 200);
    // A closing piece with a status but no `endedAt` still closes its request.
    let mut status_only = batch("status-only", &[("short-req", 1)]);
    status_only["payloads"][0]["endedAt"] = Value::Null;
    assert_eq!(post(&sink, &status_only, None).await.status().as_u16(), 200);
    // A retried batch (a duplicate) counts nothing again.
    assert_eq!(post(&sink, &status_only, None).await.status().as_u16(), 200);
    let stats = sink.stats();
    assert_eq!(
        (stats.requests, stats.payloads, stats.duplicates),
        (2, 5, 1)
    );
}

#[test]
fn start_reports_errors_instead_of_panicking() {
    let taken = start(SinkConfig::default());
    let err = Sink::start(SinkConfig {
        listen: taken.addr(),
        ..SinkConfig::default()
    })
    .expect_err("the port is taken");
    assert!(err.to_string().contains("cannot listen"), "{err}");

    let err = Sink::start(SinkConfig {
        out: Some(PathBuf::from("/nonexistent-dir/x/batches.jsonl")),
        ..SinkConfig::default()
    })
    .expect_err("no such directory");
    assert!(err.to_string().contains("cannot open"), "{err}");

    let err = Sink::start(SinkConfig {
        faults: Faults {
            hang: true,
            close: true,
            ..Faults::default()
        },
        ..SinkConfig::default()
    })
    .expect_err("inconsistent faults");
    assert!(err.to_string().contains("hang and close"), "{err}");
}

#[test]
fn the_handle_works_from_sync_code_and_shuts_down() {
    let sink = start(SinkConfig::default());
    let addr = sink.addr();
    let stats = sink.shutdown();
    assert_eq!(stats.batches, 0);
    // The port is released.
    assert!(std::net::TcpStream::connect(addr).is_err());
}
