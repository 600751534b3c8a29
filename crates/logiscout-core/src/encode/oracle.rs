//! The direct encoder: a `log::Record` straight to the LogiScout format's JSON entry, in one pass.
//!
//! Nothing in the pipeline uses it any more: shipping and the console's JSON lines both render a capture
//! (`capture` + `render`/`render_line`), the one encoder of a wire entry. It is kept as the oracle that
//! encoder is held to, byte for byte: a proptest (`capture::tests`) and the fuzz target
//! (`__private::encode_for_fuzzing`) compare the two on any record, caps included.

use std::fmt;
use std::io::Write as _;

use log::kv::{self, Key, Value, VisitSource, VisitValue};
use log::Record;
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter as _};

use super::record::*;

/// Writes one log entry as a JSON object into `out`.
///
/// With `timestamp: None` the `timestamp` field is left out: the shipping worker adds it when it builds the
/// batch, which keeps clock formatting off the application's thread.
///
/// `max_record_bytes` caps the entry's JSON from its start (not counting the timestamp) to the end of the
/// key-values: a key-value that would take it past the cap is left out, and so is every later one; then
/// `"logiscout.truncated_keys": N` (how many were left out) ends the metadata. The message and target
/// count toward the cap but are never cut by it (only by `max_string_bytes`); the traceback and the
/// console extras come after it. `capture` + `render` apply the same rule (a proptest checks it).
///
/// The fixed parts are written as constant bytes and strings are escaped in place (one pass, no
/// intermediate `String`); only `:serde`, `:?` and `:%` values go through `serde_json`.
pub(crate) fn encode_entry(
    out: &mut Vec<u8>,
    record: &Record<'_>,
    level: WireLevel,
    timestamp: Option<Timestamp>,
    max_string_bytes: usize,
    max_record_bytes: usize,
    extras: Option<&LineExtras<'_>>,
) -> serde_json::Result<()> {
    let cap = max_string_bytes;
    out.push(b'{');
    if let Some(ts) = timestamp {
        out.extend_from_slice(b"\"timestamp\":\"");
        let _ = write!(out, "{ts}");
        out.extend_from_slice(b"\",");
    }
    // Where the record's size is counted from: its `{`, as if the timestamp were not there (the shipped
    // entry has none until the worker adds it).
    let base = out.len() - 1;
    out.extend_from_slice(b"\"level\":\"");
    out.extend_from_slice(level.as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    match record.args().as_str() {
        Some(message) => write_json_str(out, message, cap),
        None => {
            let mut s = JsonStr::begin(out, cap);
            // Writing to a Vec cannot fail; a `Display` impl that errors just ends the message early.
            let _ = fmt::Write::write_fmt(&mut s, *record.args());
            s.end();
        }
    }
    out.extend_from_slice(b",\"loggerName\":");
    write_json_str(out, record.target(), cap);
    out.extend_from_slice(b",\"metadata\":{");
    let mut visitor = MetadataWriter {
        out: &mut *out,
        cap,
        base,
        record_cap: max_record_bytes,
        left_out: 0,
        first: true,
        error: None,
        failed: None,
    };
    let _ = record.key_values().visit(&mut visitor);
    let MetadataWriter {
        error,
        failed,
        first,
        left_out,
        ..
    } = visitor;
    if let Some(e) = failed {
        return Err(e);
    }
    if left_out > 0 {
        write_truncated_keys(out, first, left_out);
    }
    out.extend_from_slice(b"},\"exception\":");
    match error {
        None => out.extend_from_slice(b"null"),
        Some(err) => {
            out.extend_from_slice(b"{\"traceback\":");
            let mut s = JsonStr::begin(out, cap);
            let _ = fmt::Write::write_fmt(&mut s, format_args!("{}", ErrorChain(err)));
            s.end();
            out.push(b'}');
        }
    }
    if let Some(extras) = extras {
        out.extend_from_slice(b",\"service\":");
        write_json_str(out, extras.service, cap);
        if let Some(id) = extras.correlation_id {
            out.extend_from_slice(b",\"correlationId\":");
            write_json_str(out, id, cap);
        }
    }
    out.push(b'}');
    Ok(())
}

/// Writes the key-values as the members of the `metadata` object, up to `max_record_bytes`, and
/// remembers the first `:err` value (also among the key-values cut).
struct MetadataWriter<'o, 'kvs> {
    out: &'o mut Vec<u8>,
    cap: usize,
    /// Where the record starts in `out`, and the most it may take up to the end of its key-values.
    base: usize,
    record_cap: usize,
    /// Key-values left out so far; once one is, all later ones are.
    left_out: u64,
    first: bool,
    error: Option<&'kvs (dyn std::error::Error + 'static)>,
    failed: Option<serde_json::Error>,
}

impl<'kvs> VisitSource<'kvs> for MetadataWriter<'_, 'kvs> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        if is_reserved_key(key.as_str()) {
            return Ok(());
        }
        if self.left_out > 0 {
            self.left_out += 1;
            if self.error.is_none() {
                self.error = borrowed_error(&value);
            }
            return Ok(());
        }
        let mark = self.out.len();
        if !self.first {
            self.out.push(b',');
        }
        write_json_str(self.out, key.as_str(), self.cap);
        self.out.push(b':');
        let used = self.out.len() - self.base;
        let mut writer = ValueWriter {
            out: &mut *self.out,
            cap: self.cap,
            room: self.record_cap.saturating_sub(used),
            over: false,
            error: None,
            failed: None,
        };
        let _ = value.visit(&mut writer);
        let ValueWriter {
            error,
            failed,
            over,
            ..
        } = writer;
        if self.error.is_none() {
            self.error = error;
        }
        // The same order as `capture`: past the cap while writing, a real failure, past the cap after.
        if over {
            self.out.truncate(mark);
            self.left_out = 1;
            return Ok(());
        }
        if let Some(e) = failed {
            self.failed = Some(e);
            return Err(kv::Error::msg("metadata encoding failed"));
        }
        if self.out.len() - self.base > self.record_cap {
            self.out.truncate(mark);
            self.left_out = 1;
            return Ok(());
        }
        self.first = false;
        Ok(())
    }
}

/// Writes one value with its JSON type.
struct ValueWriter<'o, 'v> {
    out: &'o mut Vec<u8>,
    cap: usize,
    /// What is left of the record's budget: a `:serde`/`:?`/`:%` value stops growing past it.
    room: usize,
    over: bool,
    error: Option<&'v (dyn std::error::Error + 'static)>,
    failed: Option<serde_json::Error>,
}

impl<'v> VisitValue<'v> for ValueWriter<'_, 'v> {
    fn visit_any(&mut self, value: Value<'_>) -> Result<(), kv::Error> {
        // `:serde`, `:?` and `:%` captures: serde_json with the same string cap, and no further than the
        // record's budget.
        let limited = Limited {
            out: &mut *self.out,
            room: self.room,
            over: false,
        };
        let mut ser =
            serde_json::Serializer::with_formatter(limited, CappedFormatter::new(self.cap));
        let result = value.serialize(&mut ser);
        if ser.into_inner().over {
            self.over = true;
        } else if let Err(e) = result {
            self.failed = Some(e);
        }
        Ok(())
    }
    fn visit_null(&mut self) -> Result<(), kv::Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn visit_u64(&mut self, v: u64) -> Result<(), kv::Error> {
        let _ = CompactFormatter.write_u64(self.out, v);
        Ok(())
    }
    fn visit_i64(&mut self, v: i64) -> Result<(), kv::Error> {
        let _ = CompactFormatter.write_i64(self.out, v);
        Ok(())
    }
    fn visit_u128(&mut self, v: u128) -> Result<(), kv::Error> {
        let _ = CompactFormatter.write_u128(self.out, v);
        Ok(())
    }
    fn visit_i128(&mut self, v: i128) -> Result<(), kv::Error> {
        let _ = CompactFormatter.write_i128(self.out, v);
        Ok(())
    }
    fn visit_f64(&mut self, v: f64) -> Result<(), kv::Error> {
        match non_finite_name(v) {
            Some(name) => write_json_str(self.out, name, self.cap),
            None => {
                let _ = CompactFormatter.write_f64(self.out, v);
            }
        }
        Ok(())
    }
    fn visit_bool(&mut self, v: bool) -> Result<(), kv::Error> {
        self.out
            .extend_from_slice(if v { b"true" as &[u8] } else { b"false" });
        Ok(())
    }
    fn visit_str(&mut self, v: &str) -> Result<(), kv::Error> {
        write_json_str(self.out, v, self.cap);
        Ok(())
    }
    fn visit_char(&mut self, v: char) -> Result<(), kv::Error> {
        write_json_str(self.out, v.encode_utf8(&mut [0; 4]), self.cap);
        Ok(())
    }
    fn visit_error(&mut self, err: &(dyn std::error::Error + 'static)) -> Result<(), kv::Error> {
        let mut s = JsonStr::begin(self.out, self.cap);
        let _ = fmt::Write::write_fmt(&mut s, format_args!("{err}"));
        s.end();
        Ok(())
    }
    fn visit_borrowed_error(
        &mut self,
        err: &'v (dyn std::error::Error + 'static),
    ) -> Result<(), kv::Error> {
        self.error = Some(err);
        self.visit_error(err)
    }
}
