//! OTLP/HTTP encoding of a batch (feature `otlp`): [`encode`] turns a [`BatchContent`] into an
//! `ExportLogsServiceRequest` of the official generated types (`opentelemetry-proto`), as protobuf
//! (`prost`) or as OTLP/JSON (its serde derive: lowerCamelCase keys, hex trace and span IDs, 64-bit
//! integers as strings, enums as integers).
//!
//! Each held log's body is already the wire JSON object of one record (`{"level":…,"message":…,
//! "loggerName":…,"metadata":{…},"exception":…}`): the worker parses it back with serde_json and maps
//! it. That costs the worker one parse per record, off the application's threads; the hot path is the
//! same for both protocols.
//!
//! The mapping, after the OpenTelemetry logs data model and semantic conventions:
//! - one `ResourceLogs` per batch: `service.name`, `deployment.environment.name` (`dev` or `prod`),
//!   `telemetry.sdk.name` (`logiscout`), `telemetry.sdk.language` (`rust`), `telemetry.sdk.version`;
//! - one `ScopeLogs` per target (`loggerName`), in order of first appearance: the scope's name;
//! - `timeUnixNano` and `observedTimeUnixNano`: the record's time (taken at the log call);
//! - `severityNumber` DEBUG 5, INFO 9, WARN 13, ERROR 17, critical 21 (FATAL); `severityText` `DEBUG`,
//!   `INFO`, `WARN`, `ERROR`, `CRITICAL`;
//! - the message as a string body;
//! - key-values as attributes of their own types: integers `intValue` (beyond `i64`: `doubleValue`),
//!   floats `doubleValue`, bools, strings; `:serde` objects and arrays as `kvlistValue`/`arrayValue`;
//!   a JSON `null` as an empty value;
//! - the correlation ID as the attribute `logiscout.correlation_id`; a record made outside any
//!   correlation scope has none: the per-process ID such records share is the resource's
//!   `service.instance.id` (a UUID v4 per process, as the semantic conventions suggest), sent once per batch;
//! - the W3C trace context the record was made in (see [`TraceContext`](crate::correlation::TraceContext))
//!   as `traceId`, `spanId` and `flags` (the trace flags byte);
//! - request info as `http.request.method`, `url.path` (the path without its query) and, once known,
//!   `http.response.status_code`;
//! - an `:err` value's source chain as `exception.stacktrace`, its first line as `exception.message`
//!   (the error's type is not known at the log call, so `exception.type` is left out).

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use prost::Message as _;
use serde_json::Value as Json;

use crate::batch::{BatchContent, LogEntry, Part};

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

/// The request body for `content`: protobuf, or OTLP/JSON when `json`.
pub(crate) fn encode(content: &BatchContent, resource: &Resource<'_>, json: bool) -> Vec<u8> {
    let request = to_request(content, resource);
    if json {
        // The generated types' serde output cannot fail: no maps with non-string keys, no NaN (JSON
        // numbers parsed from our own bodies are finite).
        serde_json::to_vec(&request).unwrap_or_default()
    } else {
        request.encode_to_vec()
    }
}

/// The `ExportLogsServiceRequest` for `content`.
pub(crate) fn to_request(
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

fn int(i: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(i)),
    }
}

/// A JSON value as an OTLP value of its own type.
fn json_value(value: Json) -> AnyValue {
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

/// `(severityNumber, severityText)` of a wire level.
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

/// One record and its target.
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
    match serde_json::from_slice::<Json>(&log.body) {
        Ok(Json::Object(mut entry)) => {
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
        }
        // Never happens (the worker rendered the body itself); shipped as text rather than lost.
        _ => record.body = Some(string(String::from_utf8_lossy(&log.body))),
    }
    // A record outside any scope has no correlation ID of its own: the process's is on the resource.
    if part.id.as_str() != instance_id {
        record
            .attributes
            .push(kv(CORRELATION_ID, string(part.id.as_str())));
    }
    if let Some(request) = &part.request {
        record
            .attributes
            .push(kv("http.request.method", string(request.method.as_str())));
        let path = request.path.split(['?', '#']).next().unwrap_or_default();
        record.attributes.push(kv("url.path", string(path)));
        if let Some(status) = request.status {
            record
                .attributes
                .push(kv("http.response.status_code", int(i64::from(status))));
        }
    }
    (target, record)
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
