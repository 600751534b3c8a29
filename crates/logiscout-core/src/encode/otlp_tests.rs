//! Every OTLP body we send, decoded with the official generated types (protobuf and JSON), and the
//! OTLP delivery rules (retries, final statuses, partial success) against a loopback server.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::kv::{ToValue, Value};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use proptest::prelude::*;

use super::*;
use crate::context::CorrelationId;
use crate::encode::record::{Timestamp, WireLevel};
use crate::protocol::Protocol;
use crate::ship::batch::RequestMeta;

const RESOURCE: Resource<'static> = Resource {
    service_name: "checkout",
    environment: "prod",
    instance_id: "process-9",
};

/// What the worker renders a record into: OTLP's fields (what `encode` reads), or the LogiScout
/// format's JSON (what the oracle maps).
#[derive(Clone, Copy, PartialEq)]
enum Render {
    Otlp,
    Json,
}

const STRING_CAP: usize = 32 * 1024;

/// One record's body as the pipeline renders it: captured as on the hot path, rendered as the worker.
fn body(
    render: Render,
    level: WireLevel,
    target: &str,
    message: &str,
    kvs: &[(&str, Value<'_>)],
) -> Vec<u8> {
    body_capped(render, level, target, message, kvs, 1 << 20)
}

fn body_capped(
    render: Render,
    level: WireLevel,
    target: &str,
    message: &str,
    kvs: &[(&str, Value<'_>)],
    record_cap: usize,
) -> Vec<u8> {
    let capture = crate::encode::capture::capture(
        Vec::new(),
        &log::Record::builder()
            .args(format_args!("{message}"))
            .level(log::Level::Info)
            .target(target)
            .key_values(&kvs)
            .build(),
        level,
        STRING_CAP,
        record_cap,
    )
    .map_err(|(e, _)| e)
    .unwrap();
    let mut out = Vec::new();
    match render {
        Render::Otlp => render_record(&capture, &mut out, STRING_CAP).unwrap(),
        Render::Json => crate::encode::capture::render(&capture, &mut out, STRING_CAP).unwrap(),
    }
    out
}

fn entry(ts: i64, body: Vec<u8>) -> LogEntry {
    LogEntry {
        trace: None,
        ts: Timestamp(ts),
        body,
        seq: 0,
    }
}

#[derive(Debug)]
struct Failure;
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment failed")
    }
}
impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&Cause)
    }
}
#[derive(Debug)]
struct Cause;
impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset")
    }
}
impl std::error::Error for Cause {}

fn sample() -> BatchContent {
    sample_in(Render::Otlp)
}

fn sample_in(render: Render) -> BatchContent {
    let err = Failure;
    let nested = serde_json::json!({"sku": "a-1", "qty": [1, 2.5, true, null]});
    BatchContent {
        parts: vec![
            Part {
                id: CorrelationId::new("req-1"),
                request: Some(RequestMeta {
                    method: "POST".into(),
                    path: "/orders/7?debug=1".into(),
                    started_at: Timestamp(1_700_000_000_000_000),
                    status: Some(502),
                    ended_at: Some(Timestamp(1_700_000_000_500_000)),
                    duration_ms: Some(500.0),
                    record_always: false,
                }),
                logs: vec![
                    entry(
                        1_700_000_000_000_001,
                        body(
                            render,
                            WireLevel::Info,
                            "shop::orders",
                            "Order created",
                            &[
                                ("user_id", 123.to_value()),
                                ("big", u64::MAX.to_value()),
                                ("ratio", 0.25.to_value()),
                                ("paid", true.to_value()),
                                ("region", "eu-west-1".to_value()),
                                ("item", Value::from_serde(&nested)),
                            ],
                        ),
                    ),
                    entry(
                        1_700_000_000_000_002,
                        body(
                            render,
                            WireLevel::Critical,
                            "shop::pay",
                            "Payment system down",
                            &[("error", Value::from_dyn_error(&err))],
                        ),
                    ),
                ],
                closes: true,
            },
            Part {
                id: CorrelationId::new("process-9"),
                request: None,
                logs: vec![entry(
                    1_700_000_000_000_003,
                    body(render, WireLevel::Debug, "shop::orders", "tick", &[]),
                )],
                closes: false,
            },
        ],
    }
}

fn attr<'a>(record: &'a LogRecord, key: &str) -> Option<&'a any_value::Value> {
    record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// The sample's request: its resource and scopes, then each record.
fn check_sample(request: &ExportLogsServiceRequest) {
    assert_eq!(request.resource_logs.len(), 1);
    let rl = &request.resource_logs[0];
    let res = rl.resource.as_ref().unwrap();
    let res_attr = |k: &str| {
        res.attributes
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.clone())
            .and_then(|v| v.value)
    };
    assert_eq!(res_attr("service.name"), Some(s("checkout")));
    assert_eq!(res_attr("deployment.environment.name"), Some(s("prod")));
    assert_eq!(res_attr("service.instance.id"), Some(s("process-9")));
    assert_eq!(res_attr("telemetry.sdk.name"), Some(s("logiscout")));
    assert_eq!(res_attr("telemetry.sdk.language"), Some(s("rust")));
    assert_eq!(
        res_attr("telemetry.sdk.version"),
        Some(s(env!("CARGO_PKG_VERSION")))
    );
    let names: Vec<_> = rl
        .scope_logs
        .iter()
        .map(|s| s.scope.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["shop::orders", "shop::pay"]);
    let orders = &rl.scope_logs[0].log_records;
    assert_eq!(orders.len(), 2);
    check_created(&orders[0]);
    check_others(&orders[1], &rl.scope_logs[1].log_records[0]);
    // Attribute keys are unique within a record.
    for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
        let mut keys: Vec<_> = record.attributes.iter().map(|kv| &kv.key).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "{keys:?}");
    }
}

/// The sample's first record: every kind of value, and its request's attributes.
fn check_created(created: &LogRecord) {
    use any_value::Value as V;
    assert_eq!(created.time_unix_nano, 1_700_000_000_000_001_000);
    assert_eq!(created.observed_time_unix_nano, 1_700_000_000_000_001_000);
    assert_eq!(
        (created.severity_number, created.severity_text.as_str()),
        (9, "INFO")
    );
    assert_eq!(
        created.body.as_ref().and_then(|b| b.value.clone()),
        Some(s("Order created"))
    );
    assert_eq!(attr(created, "user_id"), Some(&V::IntValue(123)));
    assert_eq!(attr(created, "big"), Some(&V::DoubleValue(u64::MAX as f64)));
    assert_eq!(attr(created, "ratio"), Some(&V::DoubleValue(0.25)));
    assert_eq!(attr(created, "paid"), Some(&V::BoolValue(true)));
    assert_eq!(attr(created, "region"), Some(&s("eu-west-1")));
    let Some(V::KvlistValue(item)) = attr(created, "item") else {
        panic!("item: {:?}", attr(created, "item"));
    };
    let qty = item.values.iter().find(|kv| kv.key == "qty").unwrap();
    let Some(V::ArrayValue(qty)) = qty.value.as_ref().and_then(|v| v.value.clone()) else {
        panic!("qty");
    };
    let qty: Vec<_> = qty.values.into_iter().map(|v| v.value).collect();
    assert_eq!(
        qty,
        [
            Some(V::IntValue(1)),
            Some(V::DoubleValue(2.5)),
            Some(V::BoolValue(true)),
            None
        ]
    );
    assert_eq!(attr(created, CORRELATION_ID), Some(&s("req-1")));
    assert_eq!(attr(created, "http.request.method"), Some(&s("POST")));
    assert_eq!(attr(created, "url.path"), Some(&s("/orders/7")));
    assert_eq!(
        attr(created, "http.response.status_code"),
        Some(&V::IntValue(502))
    );
}

/// The sample's record outside any scope, and its critical record with an error.
fn check_others(tick: &LogRecord, down: &LogRecord) {
    assert_eq!(
        (tick.severity_number, tick.severity_text.as_str()),
        (5, "DEBUG")
    );
    // Outside any scope: the per-process ID is the resource's `service.instance.id`, not repeated.
    assert_eq!(attr(tick, CORRELATION_ID), None);
    assert_eq!(attr(tick, "http.request.method"), None);
    assert_eq!(
        (down.severity_number, down.severity_text.as_str()),
        (21, "CRITICAL")
    );
    assert_eq!(attr(down, "exception.message"), Some(&s("payment failed")));
    assert_eq!(
        attr(down, "exception.stacktrace"),
        Some(&s("payment failed\ncaused by: connection reset"))
    );
    assert_eq!(attr(down, "exception.type"), None);
}

#[test]
fn protobuf_bodies_decode_with_the_official_types() {
    let body = encode(&sample(), &RESOURCE, false);
    let decoded = ExportLogsServiceRequest::decode(body.as_slice()).unwrap();
    check_sample(&decoded);
    assert_eq!(
        normalized(decoded),
        normalized(oracle::to_request(&sample_in(Render::Json), &RESOURCE))
    );
}

/// One record rendered both ways, as a one-record batch: the direct encoder's decoded request and the
/// oracle's.
fn both_ways(
    kvs: &[(&str, Value<'_>)],
    message: &str,
) -> (ExportLogsServiceRequest, ExportLogsServiceRequest) {
    let content = |render| BatchContent {
        parts: vec![Part {
            id: CorrelationId::new("c-1"),
            request: None,
            logs: vec![entry(
                7,
                body(render, WireLevel::Warning, "t", message, kvs),
            )],
            closes: false,
        }],
    };
    let direct = ExportLogsServiceRequest::decode(
        encode(&content(Render::Otlp), &RESOURCE, false).as_slice(),
    )
    .unwrap();
    (
        direct,
        oracle::to_request(&content(Render::Json), &RESOURCE),
    )
}

#[test]
fn edge_values_are_encoded_as_the_json_mapping_says() {
    let long = "é".repeat(STRING_CAP);
    let err = Failure;
    let kvs = [
        ("nan", f64::NAN.to_value()),
        ("inf", f64::NEG_INFINITY.to_value()),
        ("huge", Value::from(u128::MAX)),
        ("small", Value::from(-5i128)),
        ("long", long.as_str().to_value()),
        ("dbg", Value::from_debug(&Some(3))),
        ("shown", Value::from_display(&"a \"quoted\" word")),
        ("nothing", Value::null()),
        ("err", Value::from_dyn_error(&err)),
    ];
    let (direct, oracle) = both_ways(&kvs, &long);
    assert_eq!(normalized(direct.clone()), normalized(oracle));
    let record = &direct.resource_logs[0].scope_logs[0].log_records[0];
    // Call order, not the oracle's map order.
    let keys: Vec<_> = record.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "nan",
            "inf",
            "huge",
            "small",
            "long",
            "dbg",
            "shown",
            "nothing",
            "err",
            "exception.message",
            "exception.stacktrace",
            CORRELATION_ID
        ]
    );
    let Some(any_value::Value::StringValue(kept)) = attr(record, "long").cloned() else {
        panic!("long");
    };
    assert!(
        kept.ends_with(&format!("…[truncated {} bytes]", long.len() - STRING_CAP)),
        "{}",
        &kept[kept.len() - 40..]
    );
}

#[test]
fn a_key_given_twice_keeps_its_last_value() {
    // An event's fields come after its spans' (the tracing layer's order): the later one wins.
    for n in [2usize, 40] {
        let mut kvs: Vec<(&str, Value<'_>)> =
            (0..n).map(|i| ("k", Value::from(i as u64))).collect();
        kvs.push(("other", true.to_value()));
        let (direct, oracle) = both_ways(&kvs, "m");
        assert_eq!(normalized(direct.clone()), normalized(oracle));
        let record = &direct.resource_logs[0].scope_logs[0].log_records[0];
        let ks: Vec<_> = record
            .attributes
            .iter()
            .filter(|kv| kv.key == "k")
            .collect();
        assert_eq!(ks.len(), 1, "{n} values of one key");
        assert_eq!(
            attr(record, "k"),
            Some(&any_value::Value::IntValue(n as i64 - 1))
        );
    }
}

#[test]
fn past_the_record_cap_the_remaining_key_values_are_counted_not_sent() {
    let value = "v".repeat(100);
    let kvs: Vec<(String, &str)> = (0..50)
        .map(|i| (format!("key{i:02}"), value.as_str()))
        .collect();
    let kvs: Vec<(&str, Value<'_>)> = kvs
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_value()))
        .collect();
    let record_cap = 1_000;
    let logs = vec![entry(
        1,
        body_capped(Render::Otlp, WireLevel::Info, "t", "m", &kvs, record_cap),
    )];
    let fields = split_body(&logs[0].body).1.len();
    assert!(fields <= record_cap, "{fields} bytes of fields");
    let content = BatchContent {
        parts: vec![Part {
            id: CorrelationId::new("c-1"),
            request: None,
            logs,
            closes: false,
        }],
    };
    let decoded =
        ExportLogsServiceRequest::decode(encode(&content, &RESOURCE, false).as_slice()).unwrap();
    let record = &decoded.resource_logs[0].scope_logs[0].log_records[0];
    let kept = record
        .attributes
        .iter()
        .filter(|kv| kv.key.starts_with("key"))
        .count();
    let Some(any_value::Value::IntValue(left_out)) =
        attr(record, "logiscout.truncated_keys").cloned()
    else {
        panic!("no truncated_keys: {:?}", record.attributes);
    };
    assert!(kept >= 8, "{kept} kept");
    assert_eq!(kept as i64 + left_out, 50);
    // The first ones are kept, in order.
    assert_eq!(record.attributes[0].key, "key00");
}

#[test]
fn json_bodies_decode_with_the_official_types() {
    let body = encode(&sample(), &RESOURCE, true);
    let decoded: ExportLogsServiceRequest = serde_json::from_slice(&body).unwrap();
    check_sample(&decoded);
}

#[test]
fn json_bodies_follow_the_otlp_json_rules() {
    let body = encode(&sample(), &RESOURCE, true);
    let json: Json = serde_json::from_slice(&body).unwrap();
    let record = &json["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    // lowerCamelCase keys, 64-bit integers as strings, enums as integers.
    assert_eq!(record["timeUnixNano"], "1700000000000001000");
    assert_eq!(record["observedTimeUnixNano"], "1700000000000001000");
    assert_eq!(record["severityNumber"], 9);
    assert_eq!(record["severityText"], "INFO");
    assert_eq!(record["body"]["stringValue"], "Order created");
    let user = record["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv["key"] == "user_id")
        .unwrap();
    assert_eq!(user["value"]["intValue"], "123");
    // Trace and span IDs are hex strings (empty: none).
    assert_eq!(record["traceId"], "");
    assert_eq!(record["spanId"], "");
    assert_eq!(
        json["resourceLogs"][0]["scopeLogs"][0]["scope"]["name"],
        "shop::orders"
    );
    let text = String::from_utf8(body).unwrap();
    for snake in [
        "time_unix_nano",
        "severity_number",
        "log_records",
        "resource_logs",
    ] {
        assert!(!text.contains(snake), "{snake} in {text}");
    }
}

#[test]
fn a_records_trace_context_becomes_the_log_records_trace_and_span_ids() {
    let traceparent = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let trace = crate::trace::TraceContext::parse_traceparent(traceparent).unwrap();
    let mut content = sample();
    content.parts[0].logs[0].trace = Some(trace);
    let decoded =
        ExportLogsServiceRequest::decode(encode(&content, &RESOURCE, false).as_slice()).unwrap();
    let record = &decoded.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(record.trace_id, trace.trace_id().to_vec());
    assert_eq!(record.span_id, trace.span_id().to_vec());
    assert_eq!(record.flags, 1, "the W3C trace flags byte (sampled)");
    let json: Json = serde_json::from_slice(&encode(&content, &RESOURCE, true)).unwrap();
    let record = &json["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(record["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(record["spanId"], "00f067aa0ba902b7");
    assert_eq!(record["flags"], 1);
    let typed: ExportLogsServiceRequest =
        serde_json::from_slice(&encode(&content, &RESOURCE, true)).unwrap();
    assert_eq!(
        typed.resource_logs[0].scope_logs[0].log_records[0].trace_id,
        trace.trace_id().to_vec()
    );
}

#[test]
fn partial_success_is_read_from_protobuf_and_json_responses() {
    let proto = ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: 2,
            error_message: "too old".into(),
        }),
    }
    .encode_to_vec();
    assert_eq!(partial_success(&proto, false), Some((2, "too old".into())));
    assert_eq!(
        partial_success(&ExportLogsServiceResponse::default().encode_to_vec(), false),
        None
    );
    assert_eq!(partial_success(b"", false), None);
    assert_eq!(partial_success(b"", true), None);
    assert_eq!(partial_success(b"{}", true), None);
    assert_eq!(
        partial_success(
            br#"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"bad"}}"#,
            true
        ),
        Some((3, "bad".into()))
    );
    assert_eq!(
        partial_success(br#"{"partialSuccess":{"rejectedLogRecords":1}}"#, true),
        Some((1, "no message".into()))
    );
    assert_eq!(partial_success(br#"{"partialSuccess":{}}"#, true), None);
}

/// A JSON value a `:serde` key-value may hold (finite numbers only: JSON has no NaN).
fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        (-1e12f64..1e12).prop_map(Json::from),
        ".{0,12}".prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// What a JSON value becomes, in OTLP terms.
fn expected(value: &Json) -> Option<any_value::Value> {
    json_value(value.clone()).value
}

/// `request` with each record's attributes sorted by key: the oracle's come in its JSON map's order.
fn normalized(mut request: ExportLogsServiceRequest) -> ExportLogsServiceRequest {
    for rl in &mut request.resource_logs {
        for scope in &mut rl.scope_logs {
            for record in &mut scope.log_records {
                record.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
    }
    request
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_records_round_trip_through_the_official_types(
        records in prop::collection::vec(
            (
                0usize..5,
                "[a-z:]{1,10}",
                ".{0,40}",
                prop::collection::btree_map("k[a-z_]{0,7}", arb_json(), 0..6),
                0i64..4_000_000_000_000_000,
            ),
            1..8,
        ),
        json in any::<bool>(),
    ) {
        let levels = [WireLevel::Debug, WireLevel::Info, WireLevel::Warning, WireLevel::Error, WireLevel::Critical];
        let content_in = |render: Render| {
            let logs: Vec<LogEntry> = records
                .iter()
                .map(|(level, target, message, kvs, ts)| {
                    let kvs: Vec<(&str, Value<'_>)> =
                        kvs.iter().map(|(k, v)| (k.as_str(), Value::from_serde(v))).collect();
                    entry(*ts, body(render, levels[*level], target, message, &kvs))
                })
                .collect();
            BatchContent {
                parts: vec![Part { id: CorrelationId::new("c-1"), request: None, logs, closes: false }],
            }
        };
        let content = content_in(Render::Otlp);
        let encoded = encode(&content, &RESOURCE, json);
        let decoded: ExportLogsServiceRequest = if json {
            serde_json::from_slice(&encoded).unwrap()
        } else {
            ExportLogsServiceRequest::decode(encoded.as_slice()).unwrap()
        };
        prop_assert_eq!(
            normalized(decoded.clone()),
            normalized(oracle::to_request(&content_in(Render::Json), &RESOURCE))
        );
        let all: Vec<(&str, &LogRecord)> = decoded.resource_logs[0]
            .scope_logs
            .iter()
            .flat_map(|s| {
                let name = s.scope.as_ref().unwrap().name.as_str();
                s.log_records.iter().map(move |r| (name, r))
            })
            .collect();
        prop_assert_eq!(all.len(), records.len());
        for (level, target, message, kvs, ts) in &records {
            // Scopes group records by target; within a target, order is kept.
            let (_, record) = all
                .iter()
                .find(|(name, r)| {
                    name == target
                        && r.time_unix_nano == (*ts as u64) * 1000
                        && r.body.as_ref().and_then(|b| b.value.clone()) == Some(s(message))
                })
                .expect("record arrived");
            let number = [5, 9, 13, 17, 21][*level];
            prop_assert_eq!(record.severity_number, number);
            for (k, v) in kvs {
                prop_assert_eq!(attr(record, k).cloned(), expected(v), "{}", k);
            }
            prop_assert_eq!(attr(record, CORRELATION_ID), Some(&s("c-1")));
        }
    }
}

// --- delivery against a loopback OTLP receiver ---

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

struct Request {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    received: Vec<Request>,
}

/// A minimal HTTP/1.1 receiver on 127.0.0.1: one request per connection, scripted replies (then 200).
struct Receiver {
    url: String,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    fn start(script: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/logs", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            received: Vec::new(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(i);
                    }
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break None,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let Some(head_end) = head_end else { continue };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let headers: Vec<(String, String)> = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < len {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => body.extend_from_slice(&chunk[..n]),
                    }
                }
                let reply = {
                    let mut state = shared.lock().unwrap();
                    state.received.push(Request { headers, body });
                    state.script.pop_front().unwrap_or_else(|| reply(200))
                };
                let mut out = format!(
                    "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (k, v) in &reply.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let _ = stream.write_all(out.as_bytes());
                let _ = stream.write_all(&reply.body);
            }
        });
        Receiver { url, state }
    }

    fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    fn with<R>(&self, f: impl FnOnce(&[Request]) -> R) -> R {
        f(&self.state.lock().unwrap().received)
    }
}

fn shipper(
    receiver: &Receiver,
    protocol: Protocol,
    token: Option<&str>,
    diagnostics: Option<crate::config::SharedWriter>,
) -> crate::ship::Shipper {
    let mut settings = crate::ship::tests::settings();
    settings.diagnostics = diagnostics;
    settings.max_batch_logs = 10;
    let headers = crate::protocol::Headers(vec![("x-api-key".into(), "vendor-key".into())])
        .to_reqwest()
        .unwrap();
    let token = token.map(|t| crate::config::ApiToken(t.into()));
    let transport = crate::ship::transport::HttpTransport::with_options(
        url::Url::parse(&receiver.url).unwrap(),
        token.as_ref(),
        Duration::from_secs(5),
        false,
        &crate::ship::transport::Route::Direct,
        protocol,
        headers,
    )
    .unwrap();
    crate::ship::Shipper::start(settings, Arc::new(transport)).unwrap()
}

fn log_n(shipper: &crate::ship::Shipper, n: usize) {
    for i in 0..n {
        crate::ship::tests::log(shipper, None, i);
    }
}

fn decode_proto(r: &Request) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest::decode(r.body.as_slice()).unwrap()
}

fn records(request: &ExportLogsServiceRequest) -> usize {
    request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum()
}

fn writer() -> (crate::config::SharedWriter, Arc<Mutex<Vec<u8>>>) {
    #[derive(Clone)]
    struct Out(Arc<Mutex<Vec<u8>>>);
    impl Write for Out {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let out: Box<dyn Write + Send> = Box::new(Out(buf.clone()));
    (Arc::new(Mutex::new(out)), buf)
}

#[test]
fn otlp_protobuf_is_posted_with_its_headers_and_decodes() {
    let receiver = Receiver::start(vec![]);
    let shipper = shipper(&receiver, Protocol::Otlp, None, None);
    log_n(&shipper, 10);
    let report = shipper.flush(Duration::from_secs(5));
    assert!(report.complete, "{report:?}");
    assert_eq!(report.stats.logs_sent, 10);
    receiver.with(|got| {
        assert_eq!(got.len(), 1);
        let r = &got[0];
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(
            r.header("authorization"),
            None,
            "no token, no Authorization"
        );
        assert_eq!(r.header("x-api-key"), Some("vendor-key"));
        assert_eq!(r.header("x-logiscout-batch-id"), None);
        let decoded = decode_proto(r);
        assert_eq!(records(&decoded), 10);
        let first = &decoded.resource_logs[0].scope_logs[0];
        assert_eq!(first.scope.as_ref().unwrap().name, "shipping_tests");
        assert_eq!(
            attr(&first.log_records[3], "n"),
            Some(&any_value::Value::IntValue(3))
        );
    });
    shipper.shutdown(Duration::from_secs(1));
}

#[test]
fn otlp_json_is_posted_as_json_with_the_bearer_token() {
    let receiver = Receiver::start(vec![]);
    let shipper = shipper(&receiver, Protocol::OtlpJson, Some("tok_1"), None);
    log_n(&shipper, 3);
    assert!(shipper.flush(Duration::from_secs(5)).complete);
    receiver.with(|got| {
        let r = &got[0];
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("authorization"), Some("Bearer tok_1"));
        let decoded: ExportLogsServiceRequest = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(records(&decoded), 3);
    });
    shipper.shutdown(Duration::from_secs(1));
}

#[test]
fn retryable_statuses_are_retried_honouring_retry_after() {
    let receiver = Receiver::start(vec![
        Reply {
            headers: vec![("retry-after", "1".into())],
            ..reply(429)
        },
        reply(502),
        reply(503),
        reply(504),
    ]);
    let shipper = shipper(&receiver, Protocol::Otlp, None, None);
    let started = std::time::Instant::now();
    log_n(&shipper, 10);
    let report = shipper.flush(Duration::from_secs(10));
    assert!(report.complete, "{report:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(receiver.count(), 5);
    assert_eq!(report.stats.logs_sent, 10);
    assert_eq!(report.stats.logs_dropped, 0);
    assert_eq!(report.stats.batches_retried, 4);
    // Every attempt carried the same records.
    receiver.with(|got| {
        let first = decode_proto(&got[0]);
        for r in got {
            assert_eq!(decode_proto(r), first);
        }
    });
    shipper.shutdown(Duration::from_secs(1));
}

#[test]
fn other_statuses_are_final_dropped_counted_and_reported_once() {
    for status in [400, 401, 404, 408, 500] {
        let receiver = Receiver::start(vec![reply(status), reply(status)]);
        let (out, said) = writer();
        let shipper = shipper(&receiver, Protocol::Otlp, None, Some(out));
        log_n(&shipper, 20);
        let report = shipper.flush(Duration::from_secs(5));
        assert!(report.complete, "{status}: {report:?}");
        assert_eq!(receiver.count(), 2, "{status}: two batches, no retries");
        assert_eq!(report.stats.logs_dropped, 20, "{status}");
        assert_eq!(report.stats.logs_sent, 0);
        assert_eq!(report.stats.batches_retried, 0);
        assert_eq!(report.stats.batches_failed, 2);
        let said = String::from_utf8(said.lock().unwrap().clone()).unwrap();
        assert_eq!(
            said.matches("refused a batch").count(),
            1,
            "{status}: {said}"
        );
        assert!(said.contains(&format!("HTTP {status}")), "{said}");
        shipper.shutdown(Duration::from_secs(1));
    }
}

#[test]
fn partial_success_drops_the_rejected_records_and_is_reported_once() {
    let partial = |n: i64| Reply {
        body: ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: n,
                error_message: "timestamp too old".into(),
            }),
        }
        .encode_to_vec(),
        headers: vec![("content-type", "application/x-protobuf".into())],
        ..reply(200)
    };
    let receiver = Receiver::start(vec![partial(3), partial(4)]);
    let (out, said) = writer();
    let shipper = shipper(&receiver, Protocol::Otlp, None, Some(out));
    log_n(&shipper, 30);
    let report = shipper.flush(Duration::from_secs(5));
    assert!(report.complete, "{report:?}");
    assert_eq!(receiver.count(), 3);
    let s = report.stats;
    assert_eq!(s.logs_dropped, 7, "{s:?}");
    assert_eq!(s.logs_sent, 23, "{s:?}");
    assert_eq!(s.logs_enqueued, s.logs_sent + s.logs_dropped);
    assert_eq!(s.batches_retried, 0, "partial success is never retried");
    assert_eq!(s.batches_failed, 2);
    assert_eq!(s.batches_sent, 1);
    let said = String::from_utf8(said.lock().unwrap().clone()).unwrap();
    assert_eq!(said.matches("timestamp too old").count(), 1, "{said}");
    shipper.shutdown(Duration::from_secs(1));
}

#[test]
fn json_partial_success_counts_rejected_records() {
    let receiver = Receiver::start(vec![Reply {
        body: br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"dup"}}"#.to_vec(),
        headers: vec![("content-type", "application/json".into())],
        ..reply(200)
    }]);
    let shipper = shipper(&receiver, Protocol::OtlpJson, None, None);
    log_n(&shipper, 5);
    let report = shipper.flush(Duration::from_secs(5));
    assert!(report.complete);
    assert_eq!((report.stats.logs_sent, report.stats.logs_dropped), (3, 2));
    shipper.shutdown(Duration::from_secs(1));
}

#[test]
fn otlp_bodies_larger_than_max_batch_bytes_are_split_before_sending() {
    let receiver = Receiver::start(vec![]);
    let mut settings = crate::ship::tests::settings();
    settings.max_batch_bytes = 4096;
    settings.max_batch_logs = 200;
    let transport = crate::ship::transport::HttpTransport::with_options(
        url::Url::parse(&receiver.url).unwrap(),
        None,
        Duration::from_secs(5),
        false,
        &crate::ship::transport::Route::Direct,
        Protocol::OtlpJson,
        Vec::new(),
    )
    .unwrap();
    let shipper = crate::ship::Shipper::start(settings, Arc::new(transport)).unwrap();
    let kvs: Vec<(String, i64)> = (0..20).map(|i| (format!("key_{i}"), i)).collect();
    for n in 0..40 {
        let values: Vec<(&str, Value<'_>)> = kvs
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_value()))
            .collect();
        shipper.enqueue(
            &log::Record::builder()
                .args(format_args!("record {n}"))
                .level(log::Level::Info)
                .target("split")
                .key_values(&values)
                .build(),
            WireLevel::Info,
            Timestamp::now(),
            None,
            None,
        );
    }
    let report = shipper.flush(Duration::from_secs(5));
    assert!(report.complete, "{report:?}");
    assert_eq!(report.stats.logs_sent, 40, "{report:?}");
    assert_eq!(report.stats.logs_dropped, 0);
    assert_eq!(report.stats.batches_failed, 0);
    receiver.with(|got| {
        assert!(got.len() > 1, "split into several bodies");
        let mut total = 0;
        for r in got {
            assert!(r.body.len() <= 4096, "{} bytes", r.body.len());
            let decoded: ExportLogsServiceRequest = serde_json::from_slice(&r.body).unwrap();
            total += records(&decoded);
        }
        assert_eq!(total, 40);
    });
    shipper.shutdown(Duration::from_secs(1));
}

#[test]
fn connection_errors_are_retried_until_the_retry_budget_ends() {
    // A port nobody listens on: every attempt fails to connect.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut settings = crate::ship::tests::settings();
    settings.retry.give_up_after = Duration::from_millis(400);
    let (out, said) = writer();
    settings.diagnostics = Some(out);
    let transport = crate::ship::transport::HttpTransport::with_options(
        url::Url::parse(&format!("http://127.0.0.1:{port}/v1/logs")).unwrap(),
        None,
        Duration::from_secs(1),
        false,
        &crate::ship::transport::Route::Direct,
        Protocol::Otlp,
        Vec::new(),
    )
    .unwrap();
    let shipper = crate::ship::Shipper::start(settings, Arc::new(transport)).unwrap();
    log_n(&shipper, 5);
    let report = shipper.flush(Duration::from_secs(5));
    assert!(report.complete, "{report:?}");
    let s = report.stats;
    assert!(s.batches_retried >= 1, "{s:?}");
    assert_eq!((s.logs_sent, s.logs_dropped), (0, 5), "{s:?}");
    let said = String::from_utf8(said.lock().unwrap().clone()).unwrap();
    assert!(said.contains("could not connect"), "{said}");
    assert!(said.contains("gave up"), "{said}");
    shipper.shutdown(Duration::from_secs(1));
}

#[test]
fn gzip_bodies_decode_after_gunzip() {
    let receiver = Receiver::start(vec![]);
    let transport = crate::ship::transport::HttpTransport::with_options(
        url::Url::parse(&receiver.url).unwrap(),
        None,
        Duration::from_secs(5),
        true,
        &crate::ship::transport::Route::Direct,
        Protocol::Otlp,
        Vec::new(),
    )
    .unwrap();
    let shipper =
        crate::ship::Shipper::start(crate::ship::tests::settings(), Arc::new(transport)).unwrap();
    log_n(&shipper, 4);
    assert!(shipper.flush(Duration::from_secs(5)).complete);
    receiver.with(|got| {
        assert_eq!(got[0].header("content-encoding"), Some("gzip"));
        let mut body = Vec::new();
        flate2::read::GzDecoder::new(got[0].body.as_slice())
            .read_to_end(&mut body)
            .unwrap();
        let decoded = ExportLogsServiceRequest::decode(body.as_slice()).unwrap();
        assert_eq!(records(&decoded), 4);
    });
    shipper.shutdown(Duration::from_secs(1));
}

/// The first encoder, kept as the test oracle: it maps each record's LogiScout JSON object (parsed back
/// with serde_json) to the official types. The direct encoder must say the same, attribute order aside.
mod oracle {
    use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;

    use super::super::{json_value, Resource, CORRELATION_ID};
    use super::*;

    fn kv(key: impl Into<String>, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(value),
            ..Default::default()
        }
    }

    fn string(s: impl Into<String>) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        }
    }

    pub(super) fn to_request(
        content: &BatchContent,
        resource: &Resource<'_>,
    ) -> ExportLogsServiceRequest {
        let mut scopes: Vec<ScopeLogs> = Vec::new();
        for part in &content.parts {
            for log in &part.logs {
                let (target, record) = log_record(part, log, resource.instance_id);
                match scopes
                    .iter_mut()
                    .find(|s| s.scope.as_ref().is_some_and(|scope| scope.name == target))
                {
                    Some(scope) => scope.log_records.push(record),
                    None => scopes.push(ScopeLogs {
                        scope: Some(InstrumentationScope {
                            name: target,
                            ..Default::default()
                        }),
                        log_records: vec![record],
                        ..Default::default()
                    }),
                }
            }
        }
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(OtlpResource {
                    attributes: vec![
                        kv("service.name", string(resource.service_name)),
                        kv("deployment.environment.name", string(resource.environment)),
                        kv("service.instance.id", string(resource.instance_id)),
                        kv("telemetry.sdk.name", string("logiscout")),
                        kv("telemetry.sdk.language", string("rust")),
                        kv("telemetry.sdk.version", string(env!("CARGO_PKG_VERSION"))),
                    ],
                    ..Default::default()
                }),
                scope_logs: scopes,
                ..Default::default()
            }],
        }
    }

    fn severity(level: &str) -> (i32, &'static str) {
        match level {
            "debug" => (5, "DEBUG"),
            "info" => (9, "INFO"),
            "warning" => (13, "WARN"),
            "error" => (17, "ERROR"),
            "critical" => (21, "CRITICAL"),
            _ => (0, ""),
        }
    }

    fn log_record(part: &Part, log: &LogEntry, instance_id: &str) -> (String, LogRecord) {
        let nanos = u64::try_from(log.ts.0)
            .unwrap_or_default()
            .saturating_mul(1000);
        let mut record = LogRecord {
            time_unix_nano: nanos,
            observed_time_unix_nano: nanos,
            ..Default::default()
        };
        if let Some(trace) = &log.trace {
            record.trace_id = trace.trace_id().to_vec();
            record.span_id = trace.span_id().to_vec();
            record.flags = u32::from(trace.flags());
        }
        let mut target = String::new();
        let Ok(Json::Object(mut entry)) = serde_json::from_slice::<Json>(&log.body) else {
            panic!("not a JSON object: {}", String::from_utf8_lossy(&log.body));
        };
        if let Some(Json::String(level)) = entry.remove("level") {
            let (number, text) = severity(&level);
            record.severity_number = number;
            record.severity_text = text.to_owned();
        }
        if let Some(Json::String(message)) = entry.remove("message") {
            record.body = Some(string(message));
        }
        if let Some(Json::String(logger)) = entry.remove("loggerName") {
            target = logger;
        }
        if let Some(Json::Object(metadata)) = entry.remove("metadata") {
            record
                .attributes
                .extend(metadata.into_iter().map(|(k, v)| kv(k, json_value(v))));
        }
        if let Some(Json::Object(mut exception)) = entry.remove("exception") {
            if let Some(Json::String(traceback)) = exception.remove("traceback") {
                let message = traceback.lines().next().unwrap_or_default().to_owned();
                record
                    .attributes
                    .push(kv("exception.message", string(message)));
                record
                    .attributes
                    .push(kv("exception.stacktrace", string(traceback)));
            }
        }
        if part.id.as_str() != instance_id {
            record
                .attributes
                .push(kv(CORRELATION_ID, string(part.id.as_str())));
        }
        if let Some(request) = &part.request {
            record
                .attributes
                .push(kv("http.request.method", string(&*request.method)));
            let path = request.path.split(['?', '#']).next().unwrap_or_default();
            record.attributes.push(kv("url.path", string(path)));
            if let Some(status) = request.status {
                record.attributes.push(kv(
                    "http.response.status_code",
                    AnyValue {
                        value: Some(any_value::Value::IntValue(i64::from(status))),
                    },
                ));
            }
        }
        (target, record)
    }
}
