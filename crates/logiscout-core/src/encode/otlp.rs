//! OTLP/HTTP encoding of a batch (feature `otlp`): [`encode`] turns a [`BatchContent`] into an
//! `ExportLogsServiceRequest` of the official generated types (`opentelemetry-proto`), as protobuf
//! (`prost`) or as OTLP/JSON (its serde derive: lowerCamelCase keys, hex trace and span IDs, 64-bit
//! integers as strings, enums as integers).
//!
//! Two steps, as for the LogiScout format. The worker renders each capture once, as it receives it, into
//! what the batcher holds ([`render_record`]): the record's target, then the protobuf fields of its
//! `LogRecord` that come from the log call (severity, body, attributes). At send time [`encode`] writes
//! the request around them: the resource, one scope per target, and per record its times, trace context
//! and the attributes of its request (correlation ID, method, path, status), which are known only then.
//! Protobuf is written straight, with `prost`'s wire primitives, field numbers of the official
//! `opentelemetry-proto` messages; OTLP/JSON decodes that body into the official types and serializes
//! them with their serde derive. The tests decode every body with the official types and compare it with
//! the mapping of the record's LogiScout JSON (an oracle kept in the tests).
//!
//! The mapping, after the OpenTelemetry logs data model and semantic conventions:
//! - one `ResourceLogs` per batch: `service.name`, `deployment.environment.name` (`dev` or `prod`),
//!   `telemetry.sdk.name` (`logiscout`), `telemetry.sdk.language` (`rust`), `telemetry.sdk.version`;
//! - one `ScopeLogs` per target (`loggerName`), in order of first appearance: the scope's name;
//! - `timeUnixNano` and `observedTimeUnixNano`: the record's time (taken at the log call);
//! - `severityNumber` DEBUG 5, INFO 9, WARN 13, ERROR 17, critical 21 (FATAL); `severityText` `DEBUG`,
//!   `INFO`, `WARN`, `ERROR`, `CRITICAL`;
//! - the message as a string body;
//! - key-values as attributes of their own types, in the log call's order: integers `intValue` (beyond
//!   `i64`: `doubleValue`), floats `doubleValue` (NaN and infinities as the strings the LogiScout format
//!   writes), bools, strings; `:serde` objects and arrays as `kvlistValue`/`arrayValue`; a `null` as an
//!   empty value. Attribute keys are unique, as OTLP requires: of a key given twice, the last value wins
//!   (as in a JSON object, and as the tracing layer wants an event's fields over its spans'). Past
//!   `max_record_bytes` (counted on the record's protobuf fields) the remaining key-values are left out
//!   and counted in `logiscout.truncated_keys`;
//! - the correlation ID as the attribute `logiscout.correlation_id`; a record made outside any
//!   correlation scope has none: the per-process ID such records share is the resource's
//!   `service.instance.id` (a UUID v4 per process, as the semantic conventions suggest), sent once per batch;
//! - the W3C trace context the record was made in (see [`TraceContext`](crate::correlation::TraceContext))
//!   as `traceId`, `spanId` and `flags` (the trace flags byte);
//! - request info as `http.request.method`, `url.path` (the path without its query) and, once known,
//!   `http.response.status_code`;
//! - an `:err` value's source chain as `exception.stacktrace`, its first line as `exception.message`
//!   (the error's type is not known at the log call, so `exception.type` is left out).

use std::collections::HashMap;
use std::ops::Range;

use arrayvec::{ArrayString, ArrayVec};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message as _;
use serde_json::Value as Json;

use crate::encode::capture::{self, Capture, Captured, CutStr, Malformed};
use crate::encode::record::{non_finite_name, WireLevel, TRUNCATED_KEYS_KEY};
use crate::ship::batch::{BatchContent, LogEntry, Part};

/// The attribute that carries a record's correlation ID.
pub(crate) const CORRELATION_ID: &str = "logiscout.correlation_id";

/// What the resource says about the service.
pub(crate) struct Resource<'a> {
    pub service_name: &'a str,
    pub environment: &'a str,
    /// The ID of the records made outside any correlation scope (one per process, the LogiScout
    /// format's fallback payload ID): `service.instance.id` on the resource, not repeated per record.
    pub instance_id: &'a str,
}

// Field numbers of the official messages (opentelemetry/proto/{collector/logs,logs,common}/v1).
const REQUEST_RESOURCE_LOGS: u32 = 1;
const RESOURCE_LOGS_RESOURCE: u32 = 1;
const RESOURCE_LOGS_SCOPE_LOGS: u32 = 2;
const SCOPE_LOGS_SCOPE: u32 = 1;
const SCOPE_LOGS_LOG_RECORDS: u32 = 2;
const SCOPE_NAME: u32 = 1;
const RECORD_TIME: u32 = 1;
const RECORD_SEVERITY_NUMBER: u32 = 2;
const RECORD_SEVERITY_TEXT: u32 = 3;
const RECORD_BODY: u32 = 5;
const RECORD_ATTRIBUTES: u32 = 6;
const RECORD_FLAGS: u32 = 8;
const RECORD_TRACE_ID: u32 = 9;
const RECORD_SPAN_ID: u32 = 10;
const RECORD_OBSERVED_TIME: u32 = 11;
const KV_KEY: u32 = 1;
const KV_VALUE: u32 = 2;
const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;
const ANY_DOUBLE: u32 = 4;

/// The body for `content`: protobuf, or OTLP/JSON when `json`.
pub(crate) fn encode(content: &BatchContent, resource: &Resource<'_>, json: bool) -> Vec<u8> {
    let body = encode_protobuf(content, resource);
    if !json {
        return body;
    }
    // Our own protobuf always decodes; the generated types' serde output cannot fail (no maps with
    // non-string keys, no NaN: non-finite floats are strings).
    ExportLogsServiceRequest::decode(body.as_slice())
        .ok()
        .and_then(|request| serde_json::to_vec(&request).ok())
        .unwrap_or_default()
}

// --- the worker's render, one record as it arrives ---

/// Renders `capture` (made with string cap `cap`) into `out` as the batcher holds it for OTLP: the
/// target's length (u32, little-endian) and bytes, then the `LogRecord` fields that come from the log
/// call. Fails only on a malformed capture, which `capture` never produces.
pub(crate) fn render_record(
    capture: &Capture,
    out: &mut Vec<u8>,
    cap: usize,
) -> Result<(), Malformed> {
    let head = capture::read(capture, cap)?;
    let target_at = out.len();
    out.extend_from_slice(&[0; 4]);
    put_cut(out, head.target);
    let target_len = (out.len() - target_at - 4) as u32;
    out[target_at..target_at + 4].copy_from_slice(&target_len.to_le_bytes());

    let base = out.len();
    let (number, text) = severity(capture.level);
    encode_key(RECORD_SEVERITY_NUMBER, WireType::Varint, out);
    encode_varint(number, out);
    put_str_field(out, RECORD_SEVERITY_TEXT, CutStr::whole(text));
    put_message_header(out, RECORD_BODY, str_field_len(ANY_STRING, head.message));
    put_str_field(out, ANY_STRING, head.message);

    let record_cap = capture.record_cap as usize;
    let mut fields = head.fields;
    let mut seen = SeenKeys::default();
    let mut superseded: Vec<Range<usize>> = Vec::new();
    let mut left_out = 0u64;
    while let Some((key, value)) = fields.next_kv()? {
        if left_out > 0 {
            left_out += 1;
            continue;
        }
        let start = out.len();
        put_attribute(out, key, &Value::of(value));
        if out.len() - base > record_cap {
            out.truncate(start);
            left_out = 1;
        } else if let Some(earlier) = seen.insert(key, start..out.len()) {
            superseded.push(earlier);
        }
    }
    // Rare: a key given twice. Its earlier attributes go, last first so the ranges stay right.
    superseded.sort_unstable_by_key(|range| std::cmp::Reverse(range.start));
    for range in superseded {
        out.drain(range);
    }
    let (not_copied, exception) = fields.finish()?;
    left_out += not_copied;
    if left_out > 0 {
        let count = i64::try_from(left_out).unwrap_or(i64::MAX);
        put_attribute(out, CutStr::whole(TRUNCATED_KEYS_KEY), &Value::Int(count));
    }
    if let Some(chain) = exception {
        let first_line = match chain.kept.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let line = &chain.kept[..end];
                CutStr {
                    kept: line.strip_suffix(b"\r").unwrap_or(line),
                    truncated: 0,
                }
            }
            None => chain,
        };
        put_attribute(
            out,
            CutStr::whole("exception.message"),
            &Value::Str(first_line),
        );
        put_attribute(
            out,
            CutStr::whole("exception.stacktrace"),
            &Value::Str(chain),
        );
    }
    Ok(())
}

/// The attributes a record got so far, by key, to find a key given again: the first 32 in place, more
/// in a map.
#[derive(Default)]
struct SeenKeys<'a> {
    few: ArrayVec<(CutStr<'a>, Range<usize>), 32>,
    many: HashMap<(&'a [u8], u64), Range<usize>>,
}

impl<'a> SeenKeys<'a> {
    /// Notes `key`'s attribute at `range` in the output; returns the range of an earlier one with the
    /// same key, which it replaces.
    fn insert(&mut self, key: CutStr<'a>, range: Range<usize>) -> Option<Range<usize>> {
        if self.many.is_empty() {
            if let Some((_, earlier)) = self.few.iter_mut().find(|(k, _)| *k == key) {
                return Some(std::mem::replace(earlier, range));
            }
            match self.few.try_push((key, range)) {
                Ok(()) => return None,
                Err(full) => {
                    let (key, range) = full.element();
                    self.many
                        .extend(self.few.drain(..).map(|(k, r)| ((k.kept, k.truncated), r)));
                    return self.many.insert((key.kept, key.truncated), range);
                }
            }
        }
        self.many.insert((key.kept, key.truncated), range)
    }
}

/// `(severityNumber, severityText)` of a level.
fn severity(level: WireLevel) -> (u64, &'static str) {
    match level {
        WireLevel::Debug => (5, "DEBUG"),
        WireLevel::Info => (9, "INFO"),
        WireLevel::Warning => (13, "WARN"),
        WireLevel::Error => (17, "ERROR"),
        WireLevel::Critical => (21, "CRITICAL"),
    }
}

/// An attribute's value.
enum Value<'a> {
    Empty,
    Str(CutStr<'a>),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// A `:serde`/`:?`/`:%` value: its JSON mapped to the official type.
    Any(AnyValue),
}

impl<'a> Value<'a> {
    fn of(value: Captured<'a>) -> Self {
        match value {
            Captured::Null => Value::Empty,
            Captured::Bool(b) => Value::Bool(b),
            Captured::I64(i) => Value::Int(i),
            Captured::U64(u) => i64::try_from(u).map_or(Value::Double(u as f64), Value::Int),
            Captured::I128(i) => i64::try_from(i).map_or(Value::Double(i as f64), Value::Int),
            Captured::U128(u) => i64::try_from(u).map_or(Value::Double(u as f64), Value::Int),
            Captured::F64(f) => match non_finite_name(f) {
                Some(name) => Value::Str(CutStr::whole(name)),
                None => Value::Double(f),
            },
            Captured::Str(s) => Value::Str(s),
            // The hot path wrote this JSON itself; unreadable would be a bug, sent as its text.
            Captured::Json(json) => match serde_json::from_slice::<Json>(json) {
                Ok(Json::String(s)) => Value::Any(string_value(s)),
                Ok(value) => Value::Any(json_value(value)),
                Err(_) => Value::Any(string_value(String::from_utf8_lossy(json).into_owned())),
            },
        }
    }

    /// The encoded `AnyValue` message's length.
    fn len(&self) -> usize {
        match self {
            Value::Empty => 0,
            Value::Str(s) => str_field_len(ANY_STRING, *s),
            Value::Bool(_) => 2,
            Value::Int(i) => 1 + encoded_len_varint(*i as u64),
            Value::Double(_) => 9,
            Value::Any(any) => any.encoded_len(),
        }
    }

    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Value::Empty => {}
            Value::Str(s) => put_str_field(out, ANY_STRING, *s),
            Value::Bool(b) => {
                encode_key(ANY_BOOL, WireType::Varint, out);
                out.push(u8::from(*b));
            }
            Value::Int(i) => {
                encode_key(ANY_INT, WireType::Varint, out);
                encode_varint(*i as u64, out);
            }
            Value::Double(f) => {
                encode_key(ANY_DOUBLE, WireType::SixtyFourBit, out);
                out.extend_from_slice(&f.to_le_bytes());
            }
            // Writing into a Vec cannot run out of room.
            Value::Any(any) => {
                let _ = any.encode(out);
            }
        }
    }
}

/// A LogRecord `attributes` entry: `KeyValue { key, value }`.
fn put_attribute(out: &mut Vec<u8>, key: CutStr<'_>, value: &Value<'_>) {
    let value_len = value.len();
    let kv_len = str_field_len(KV_KEY, key) + 1 + encoded_len_varint(value_len as u64) + value_len;
    put_message_header(out, RECORD_ATTRIBUTES, kv_len);
    put_str_field(out, KV_KEY, key);
    put_message_header(out, KV_VALUE, value_len);
    value.put(out);
}

/// The marker a cut string ends with, as the LogiScout format writes it.
fn marker(truncated: u64) -> ArrayString<48> {
    let mut m = ArrayString::new();
    if truncated > 0 {
        // 41 bytes at most: it fits.
        let _ = std::fmt::Write::write_fmt(&mut m, format_args!("…[truncated {truncated} bytes]"));
    }
    m
}

fn cut_len(s: CutStr<'_>) -> usize {
    s.kept.len() + marker(s.truncated).len()
}

fn put_cut(out: &mut Vec<u8>, s: CutStr<'_>) {
    out.extend_from_slice(s.kept);
    out.extend_from_slice(marker(s.truncated).as_bytes());
}

/// A length-delimited field's header.
fn put_message_header(out: &mut Vec<u8>, field: u32, len: usize) {
    encode_key(field, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

/// The bytes a length-delimited field of `len` bytes takes (every field number here is below 16: a
/// one-byte key).
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn str_field_len(_field: u32, s: CutStr<'_>) -> usize {
    field_len(cut_len(s))
}

fn put_str_field(out: &mut Vec<u8>, field: u32, s: CutStr<'_>) {
    put_message_header(out, field, cut_len(s));
    put_cut(out, s);
}

// --- the request, at send time ---

/// A held record's target and `LogRecord` fields (see [`render_record`]); a body too short to hold
/// them (never made by the worker) is all fields.
fn split_body(body: &[u8]) -> (&[u8], &[u8]) {
    let split = body
        .get(..4)
        .map(|len| u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize)
        .and_then(|len| Some((body.get(4..4 + len)?, &body[4 + len..])));
    split.unwrap_or((&[], body))
}

/// The attributes every record of `part` carries: its correlation ID (unless it is the process's, on
/// the resource) and its request's method, path and status.
fn part_attributes(part: &Part, instance_id: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if part.id.as_str() != instance_id {
        put_attribute(
            &mut out,
            CutStr::whole(CORRELATION_ID),
            &Value::Str(CutStr::whole(part.id.as_str())),
        );
    }
    if let Some(request) = &part.request {
        let method = Value::Str(CutStr::whole(&request.method));
        put_attribute(&mut out, CutStr::whole("http.request.method"), &method);
        let path = request.path.split(['?', '#']).next().unwrap_or_default();
        put_attribute(
            &mut out,
            CutStr::whole("url.path"),
            &Value::Str(CutStr::whole(path)),
        );
        if let Some(status) = request.status {
            let status = Value::Int(i64::from(status));
            put_attribute(
                &mut out,
                CutStr::whole("http.response.status_code"),
                &status,
            );
        }
    }
    out
}

/// The `LogRecord` of `log` without its header: times, trace context, then the rendered fields and the
/// part's attributes.
struct RecordPlan<'a> {
    log: &'a LogEntry,
    fields: &'a [u8],
    part_attributes: &'a [u8],
    len: usize,
}

impl<'a> RecordPlan<'a> {
    fn new(log: &'a LogEntry, fields: &'a [u8], part_attributes: &'a [u8]) -> Self {
        let trace = log.trace.as_ref().map_or(0, |t| {
            field_len(16) + field_len(8) + if t.flags() != 0 { 5 } else { 0 }
        });
        RecordPlan {
            log,
            fields,
            part_attributes,
            len: 2 * 9 + trace + fields.len() + part_attributes.len(),
        }
    }

    fn put(&self, out: &mut Vec<u8>) {
        put_message_header(out, SCOPE_LOGS_LOG_RECORDS, self.len);
        let nanos = u64::try_from(self.log.ts.0)
            .unwrap_or_default()
            .saturating_mul(1000)
            .to_le_bytes();
        encode_key(RECORD_TIME, WireType::SixtyFourBit, out);
        out.extend_from_slice(&nanos);
        encode_key(RECORD_OBSERVED_TIME, WireType::SixtyFourBit, out);
        out.extend_from_slice(&nanos);
        if let Some(trace) = &self.log.trace {
            put_message_header(out, RECORD_TRACE_ID, 16);
            out.extend_from_slice(&trace.trace_id());
            put_message_header(out, RECORD_SPAN_ID, 8);
            out.extend_from_slice(&trace.span_id());
            if trace.flags() != 0 {
                encode_key(RECORD_FLAGS, WireType::ThirtyTwoBit, out);
                out.extend_from_slice(&u32::from(trace.flags()).to_le_bytes());
            }
        }
        out.extend_from_slice(self.fields);
        out.extend_from_slice(self.part_attributes);
    }
}

/// One `ScopeLogs`: its target and its records, in order.
struct ScopePlan<'a> {
    name: &'a [u8],
    records: Vec<RecordPlan<'a>>,
}

impl ScopePlan<'_> {
    /// The `ScopeLogs` message's length: the scope (its name) and every record.
    fn len(&self) -> usize {
        field_len(field_len(self.name.len()))
            + self.records.iter().map(|r| field_len(r.len)).sum::<usize>()
    }
}

/// The protobuf `ExportLogsServiceRequest` for `content`.
fn encode_protobuf(content: &BatchContent, resource: &Resource<'_>) -> Vec<u8> {
    let attributes: Vec<Vec<u8>> = content
        .parts
        .iter()
        .map(|part| part_attributes(part, resource.instance_id))
        .collect();
    // Scopes in order of first appearance; targets are few, a map finds them in any number.
    let mut scopes: Vec<ScopePlan<'_>> = Vec::new();
    let mut by_name: HashMap<&[u8], usize> = HashMap::new();
    for (part, attributes) in content.parts.iter().zip(&attributes) {
        for log in &part.logs {
            let (name, fields) = split_body(&log.body);
            let index = *by_name.entry(name).or_insert_with(|| {
                scopes.push(ScopePlan {
                    name,
                    records: Vec::new(),
                });
                scopes.len() - 1
            });
            scopes[index]
                .records
                .push(RecordPlan::new(log, fields, attributes));
        }
    }
    let resource = resource_message(resource).encode_to_vec();
    let scope_lens: Vec<usize> = scopes.iter().map(ScopePlan::len).collect();
    let resource_logs_len =
        field_len(resource.len()) + scope_lens.iter().map(|&len| field_len(len)).sum::<usize>();
    let mut out = Vec::with_capacity(field_len(resource_logs_len));
    put_message_header(&mut out, REQUEST_RESOURCE_LOGS, resource_logs_len);
    put_message_header(&mut out, RESOURCE_LOGS_RESOURCE, resource.len());
    out.extend_from_slice(&resource);
    for (scope, len) in scopes.iter().zip(scope_lens) {
        put_message_header(&mut out, RESOURCE_LOGS_SCOPE_LOGS, len);
        put_message_header(&mut out, SCOPE_LOGS_SCOPE, field_len(scope.name.len()));
        put_message_header(&mut out, SCOPE_NAME, scope.name.len());
        out.extend_from_slice(scope.name);
        for record in &scope.records {
            record.put(&mut out);
        }
    }
    out
}

/// The resource: the service and the SDK.
fn resource_message(resource: &Resource<'_>) -> OtlpResource {
    OtlpResource {
        attributes: vec![
            kv("service.name", string_value(resource.service_name)),
            kv(
                "deployment.environment.name",
                string_value(resource.environment),
            ),
            kv("service.instance.id", string_value(resource.instance_id)),
            kv("telemetry.sdk.name", string_value("logiscout")),
            kv("telemetry.sdk.language", string_value("rust")),
            kv(
                "telemetry.sdk.version",
                string_value(env!("CARGO_PKG_VERSION")),
            ),
        ],
        ..Default::default()
    }
}

fn kv(key: impl Into<String>, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

fn string_value(s: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    }
}

/// A JSON value as an OTLP value of its own type.
pub(crate) fn json_value(value: Json) -> AnyValue {
    use any_value::Value;
    let value = match value {
        Json::Null => None,
        Json::Bool(b) => Some(Value::BoolValue(b)),
        Json::Number(n) => Some(match n.as_i64() {
            Some(i) => Value::IntValue(i),
            None => Value::DoubleValue(n.as_f64().unwrap_or_default()),
        }),
        Json::String(s) => Some(Value::StringValue(s)),
        Json::Array(items) => Some(Value::ArrayValue(ArrayValue {
            values: items.into_iter().map(json_value).collect(),
        })),
        Json::Object(map) => Some(Value::KvlistValue(KeyValueList {
            values: map.into_iter().map(|(k, v)| kv(k, json_value(v))).collect(),
        })),
    };
    AnyValue { value }
}

/// A 2xx response's `partial_success`, when it rejected records or said something: `(rejected,
/// errorMessage)`. `json`: the response is OTLP/JSON (`rejectedLogRecords` may be a string or a number
/// there); otherwise protobuf. An empty or unreadable body is full success, as the spec has it.
pub(crate) fn partial_success(body: &[u8], json: bool) -> Option<(u64, String)> {
    if body.is_empty() {
        return None;
    }
    let (rejected, message) = if json {
        let value: Json = serde_json::from_slice(body).ok()?;
        let partial = value.get("partialSuccess")?;
        let rejected = match partial.get("rejectedLogRecords") {
            Some(Json::Number(n)) => n.as_i64().unwrap_or_default(),
            Some(Json::String(s)) => s.trim().parse().unwrap_or_default(),
            _ => 0,
        };
        let message = partial
            .get("errorMessage")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned();
        (rejected, message)
    } else {
        let partial = ExportLogsServiceResponse::decode(body)
            .ok()?
            .partial_success?;
        (partial.rejected_log_records, partial.error_message)
    };
    let rejected = u64::try_from(rejected).unwrap_or_default();
    if rejected == 0 && message.is_empty() {
        return None;
    }
    let message = if message.is_empty() {
        "no message".to_owned()
    } else {
        // The server's words, bounded: they go to stderr.
        message.chars().take(512).collect()
    };
    Some((rejected, message))
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
