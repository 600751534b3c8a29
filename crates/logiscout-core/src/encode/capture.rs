//! Deferred encoding: the application's thread copies a record into a compact capture; the shipping
//! worker renders it as JSON.
//!
//! Escaping strings and formatting numbers was most of the cost of a `log::info!` call (see
//! `docs/benchmarks.md`). The hot path now only copies: the message and target are kept as
//! `&'static str` when the macros give them so (no copy at all), keys and string values are copied as
//! raw bytes, numbers as their 8 or 16 bytes. The worker turns the capture into exactly the bytes
//! [`encode_entry`](crate::encode::oracle::encode_entry) would have written (a proptest checks that).
//!
//! Values that borrow from the caller and have no primitive form (`:serde`, `:?`, `:%`) and errors are
//! still formatted on the calling thread, since they cannot outlive the call: `:serde`/`:?`/`:%` as a JSON
//! fragment, errors as their message and, for the first `:err`, the traceback.
//!
//! Strings are cut at `max_string_bytes` here, so a capture never holds more than the cap per string.
//!
//! Records are cut at `max_record_bytes` here too, before the copy grows past it. The rule is the direct
//! encoder's ([`encode_entry`](crate::encode::oracle::encode_entry)): the JSON up to the end of the key-values
//! stays within the cap; the first key-value that would pass it, and every later one, is left out and
//! counted in `"logiscout.truncated_keys"`. The capture cannot know JSON sizes (escapes, number text)
//! without doing the worker's work, so it counts a lower bound of them (every kept byte of a string is at
//! least one byte of JSON, a number at least one digit, and so on) and stops copying once that bound
//! passes the cap: the JSON would have passed it by then too. `render` then applies the exact rule to
//! what was copied, writing the same bytes `encode_entry` writes. A capture holds at most the cap plus
//! about 25 bytes of framing per key-value kept.
//!
//! Layout of `Capture::buf` (lengths little-endian):
//! `[message string if not static] [target string if not static] (TAG_KV key value)* (TAG_END | TAG_CUT u64 left out) [exception string if HAS_EXCEPTION]`
//! where a string is `u32 kept length, kept bytes, u64 truncated length`, and `left out` counts the
//! key-values not copied.

use std::fmt;
use std::io::Write as _;

use log::kv::{self, Key, Value, VisitSource, VisitValue};
use log::Record;
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};

use crate::encode::record::{
    borrowed_error, cut_str, is_reserved_key, non_finite_name, sends_false, write_json_bytes_cut,
    write_json_str, write_truncated_keys, CappedFormatter, ErrorChain, Limited, LineExtras,
    Timestamp, WireLevel, SEND_KEY,
};

/// A record as the hot path hands it to the worker.
#[derive(Debug)]
pub(crate) struct Capture {
    pub level: WireLevel,
    /// The message when it is a literal with no arguments (the common case): nothing to copy.
    pub message: Option<&'static str>,
    /// The target when it is the module path (the macros' default): nothing to copy.
    pub target: Option<&'static str>,
    /// `max_record_bytes` when captured (`render` cuts by the same cap; it fits beside `level`, so a
    /// capture is no larger for it).
    pub record_cap: u32,
    /// Everything else, in the layout described in the module docs.
    pub buf: Vec<u8>,
}

/// Why a record was not captured.
#[derive(Debug)]
pub(crate) enum CaptureError {
    /// The record has `send = false` (or `"false"`): it stays on the host.
    KeepLocal,
    /// A `:serde` value failed to serialize.
    Encode(serde_json::Error),
}

const TAG_KV: u8 = 1;
const TAG_END: u8 = 2;
/// The key-values end early: `max_record_bytes` was reached. A u64 follows, the key-values not copied.
const TAG_CUT: u8 = 3;
const HAS_EXCEPTION: u8 = 1;
const NO_EXCEPTION: u8 = 0;

const V_NULL: u8 = 0;
const V_FALSE: u8 = 1;
const V_TRUE: u8 = 2;
const V_U64: u8 = 3;
const V_I64: u8 = 4;
const V_U128: u8 = 5;
const V_I128: u8 = 6;
const V_F64: u8 = 7;
const V_STR: u8 = 8;
const V_JSON: u8 = 9;

/// The least JSON a record takes before its first key-value: `{"level":"info","message":"",`
/// `"loggerName":"","metadata":{`, less the comma the first key-value does not have (each key-value is
/// counted with one).
const HEAD_MIN_JSON: usize = 56;
/// The least JSON a key-value takes besides its key's and value's kept bytes: quotes, colon, comma.
const KV_MIN_JSON: usize = 4;

/// Captures `record` into `buf` (cleared first) to ship it. Strings are cut at `cap` bytes, the record
/// at `record_cap` (see the module docs). A record with `send = false` is refused
/// ([`CaptureError::KeepLocal`]).
pub(crate) fn capture(
    buf: Vec<u8>,
    record: &Record<'_>,
    level: WireLevel,
    cap: usize,
    record_cap: usize,
) -> Result<Capture, (CaptureError, Vec<u8>)> {
    capture_with(buf, record, level, cap, record_cap, true)
}

/// Captures `record` as [`capture`] does, to print it: `send = false` does not matter here.
pub(crate) fn capture_to_print(
    buf: Vec<u8>,
    record: &Record<'_>,
    level: WireLevel,
    cap: usize,
    record_cap: usize,
) -> Result<Capture, (CaptureError, Vec<u8>)> {
    capture_with(buf, record, level, cap, record_cap, false)
}

fn capture_with(
    mut buf: Vec<u8>,
    record: &Record<'_>,
    level: WireLevel,
    cap: usize,
    record_cap: usize,
    refuse_local: bool,
) -> Result<Capture, (CaptureError, Vec<u8>)> {
    buf.clear();
    let record_cap = record_cap.min(u32::MAX as usize);
    // A lower bound of the JSON so far. A string's JSON holds at least its kept bytes; one cut holds
    // a marker longer than the few bytes a character boundary can take off the cap, so `min(len, cap)`
    // bounds a string not copied.
    let mut size = HEAD_MIN_JSON;
    let message = record.args().as_str();
    match message {
        Some(m) => size += m.len().min(cap),
        None => {
            let mut s = RawStr::begin(&mut buf, cap);
            // Writing to a Vec cannot fail; a `Display` impl that errors just ends the message early.
            let _ = fmt::Write::write_fmt(&mut s, *record.args());
            size += s.end();
        }
    }
    let target = record
        .module_path_static()
        .filter(|path| *path == record.target());
    match target {
        Some(t) => size += t.len().min(cap),
        None => size += put_str(&mut buf, record.target(), cap),
    }
    let mut visitor = KvCapture {
        buf,
        refuse_local,
        cap,
        record_cap,
        size,
        left_out: 0,
        error: None,
        outcome: None,
    };
    let _ = record.key_values().visit(&mut visitor);
    let KvCapture {
        mut buf,
        error,
        outcome,
        left_out,
        ..
    } = visitor;
    if let Some(e) = outcome {
        return Err((e, buf));
    }
    if left_out > 0 {
        buf.push(TAG_CUT);
        buf.extend_from_slice(&left_out.to_le_bytes());
    } else {
        buf.push(TAG_END);
    }
    match error {
        None => buf.push(NO_EXCEPTION),
        Some(err) => {
            buf.push(HAS_EXCEPTION);
            let mut s = RawStr::begin(&mut buf, cap);
            let _ = fmt::Write::write_fmt(&mut s, format_args!("{}", ErrorChain(err)));
            s.end();
        }
    }
    Ok(Capture {
        level,
        message,
        target,
        record_cap: record_cap as u32,
        buf,
    })
}

/// Writes the JSON object [`encode_entry`](crate::encode::oracle::encode_entry) writes for the same record
/// (without timestamp and console extras) into `out`. `cap` is the cap the capture was made with; the
/// record cap is the capture's own.
///
/// Fails only on a malformed capture, which `capture` never produces.
pub(crate) fn render(capture: &Capture, out: &mut Vec<u8>, cap: usize) -> Result<(), Malformed> {
    let (Some(message), Some(target)) = (capture.message, capture.target) else {
        return render_line(capture, out, cap, None, None);
    };
    let key = HeadKey {
        level: capture.level,
        message: (message.as_ptr() as usize, message.len()),
        target: (target.as_ptr() as usize, target.len()),
        cap,
    };
    let base = out.len();
    let cached = HEADS
        .try_with(|heads| {
            let mut heads = heads.try_borrow_mut().ok()?;
            if heads.is_empty() {
                heads.resize_with(HEAD_SLOTS, || (None, Vec::new()));
            }
            let (held, bytes) = &mut heads[key.slot()];
            if *held != Some(key) {
                *held = None;
                bytes.clear();
                bytes.push(b'{');
                // The message and target are not in the capture's buffer: nothing is read.
                write_head(capture, bytes, cap, &mut Reader { buf: &[], pos: 0 }).ok()?;
                if bytes.len() > HEAD_MAX_BYTES {
                    *bytes = Vec::new();
                    return None;
                }
                *held = Some(key);
            }
            out.extend_from_slice(bytes);
            Some(())
        })
        .ok()
        .flatten();
    if cached.is_none() {
        return render_line(capture, out, cap, None, None);
    }
    let mut r = Reader {
        buf: &capture.buf,
        pos: 0,
    };
    render_tail(capture, &mut r, out, cap, base, None)
}

/// What a record's head depends on when its message and target are both literals: their addresses and
/// lengths name their text for the whole run (a `&'static str` never changes), so the head rendered
/// once is the head of every record made by that call site.
#[derive(Clone, Copy, PartialEq, Eq)]
struct HeadKey {
    level: WireLevel,
    message: (usize, usize),
    target: (usize, usize),
    cap: usize,
}

impl HeadKey {
    fn slot(&self) -> usize {
        let h = (self.message.0 ^ self.target.0.rotate_left(17) ^ self.message.1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 58) % HEAD_SLOTS
    }
}

/// Heads kept per thread (a direct-mapped table: a new call site takes its slot), and the longest kept:
/// at most 64 × 256 bytes per rendering thread (the worker's).
const HEAD_SLOTS: usize = 64;
const HEAD_MAX_BYTES: usize = 256;

thread_local! {
    /// The heads [`render`] wrote last, by call site (see [`HeadKey`]).
    static HEADS: std::cell::RefCell<Vec<(Option<HeadKey>, Vec<u8>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes the record as [`render`] does, with a `timestamp` first and a console line's `extras` last when
/// given: the console's JSON line. The record cap counts from the `{` as if the timestamp were not there,
/// so a line keeps the key-values its shipped entry keeps.
pub(crate) fn render_line(
    capture: &Capture,
    out: &mut Vec<u8>,
    cap: usize,
    timestamp: Option<Timestamp>,
    extras: Option<&LineExtras<'_>>,
) -> Result<(), Malformed> {
    let mut r = Reader {
        buf: &capture.buf,
        pos: 0,
    };
    out.push(b'{');
    if let Some(ts) = timestamp {
        out.extend_from_slice(b"\"timestamp\":\"");
        let _ = write!(out, "{ts}");
        out.extend_from_slice(b"\",");
    }
    // The record cap counts from the `{`, as if the timestamp were not there.
    let base = out.len() - 1;
    write_head(capture, out, cap, &mut r)?;
    render_tail(capture, &mut r, out, cap, base, extras)
}

/// `"level":…,"message":…,"loggerName":…,"metadata":{`: the record after its `{` (and timestamp) up to
/// its key-values (the message and target read from `r` when the capture copied them).
fn write_head(
    capture: &Capture,
    out: &mut Vec<u8>,
    cap: usize,
    r: &mut Reader<'_>,
) -> Result<(), Malformed> {
    out.extend_from_slice(b"\"level\":\"");
    out.extend_from_slice(capture.level.as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    match capture.message {
        Some(m) => write_json_str(out, m, cap),
        None => r.json_str(out)?,
    }
    out.extend_from_slice(b",\"loggerName\":");
    match capture.target {
        Some(t) => write_json_str(out, t, cap),
        None => r.json_str(out)?,
    }
    out.extend_from_slice(b",\"metadata\":{");
    Ok(())
}

/// The rest of the record after its head: the key-values (the record cap counted from `base`, where the
/// `{` would be without a timestamp), the exception, a console line's extras, and the end.
fn render_tail(
    capture: &Capture,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    cap: usize,
    base: usize,
    extras: Option<&LineExtras<'_>>,
) -> Result<(), Malformed> {
    render_metadata(r, out, cap, base, capture.record_cap as usize)?;
    out.extend_from_slice(b"},\"exception\":");
    match r.byte()? {
        NO_EXCEPTION => out.extend_from_slice(b"null"),
        HAS_EXCEPTION => {
            out.extend_from_slice(b"{\"traceback\":");
            r.json_str(out)?;
            out.push(b'}');
        }
        _ => return Err(Malformed),
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
    if r.pos != r.buf.len() {
        return Err(Malformed);
    }
    Ok(())
}

/// The members of the `metadata` object: the key-values up to the record cap (counted from `base`),
/// then `logiscout.truncated_keys` when some were left out.
fn render_metadata(
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    cap: usize,
    base: usize,
    record_cap: usize,
) -> Result<(), Malformed> {
    let mut first = true;
    // Key-values left out: copied ones past the exact cut, then those the capture did not copy.
    let mut left_out = 0u64;
    loop {
        match r.byte()? {
            TAG_END => break,
            TAG_CUT => {
                let not_copied = u64::from_le_bytes(r.array()?);
                if not_copied == 0 {
                    return Err(Malformed);
                }
                left_out += not_copied;
                break;
            }
            TAG_KV if left_out > 0 => {
                r.skip_str()?;
                r.skip_value()?;
                left_out += 1;
            }
            TAG_KV => {
                let mark = out.len();
                if !first {
                    out.push(b',');
                }
                r.json_str(out)?;
                out.push(b':');
                r.value(out, cap)?;
                if out.len() - base > record_cap {
                    out.truncate(mark);
                    left_out = 1;
                } else {
                    first = false;
                }
            }
            _ => return Err(Malformed),
        }
    }
    if left_out > 0 {
        write_truncated_keys(out, first, left_out);
    }
    Ok(())
}

/// A capture that does not follow the layout (a bug, never user input).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Copies `s` as a capture string, cut at `cap` bytes on a character boundary; returns the bytes kept.
fn put_str(buf: &mut Vec<u8>, s: &str, cap: usize) -> usize {
    let cap = cap.min(u32::MAX as usize);
    let (kept, truncated) = cut_str(s, cap);
    let truncated = truncated as u64;
    buf.reserve(kept.len() + 12);
    buf.extend_from_slice(&(kept.len() as u32).to_le_bytes());
    buf.extend_from_slice(kept.as_bytes());
    buf.extend_from_slice(&truncated.to_le_bytes());
    kept.len()
}

/// A capture string being written: copies, and cuts at `cap` source bytes exactly as the JSON writer
/// does, counting what was cut. Implements `fmt::Write` so formatted text streams straight in.
struct RawStr<'a> {
    buf: &'a mut Vec<u8>,
    len_at: usize,
    cap: usize,
    written: usize,
    truncated: u64,
}

impl<'a> RawStr<'a> {
    fn begin(buf: &'a mut Vec<u8>, cap: usize) -> Self {
        let len_at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        RawStr {
            buf,
            len_at,
            // The kept length is a u32; no cap a user sets is near 4 GiB.
            cap: cap.min(u32::MAX as usize),
            written: 0,
            truncated: 0,
        }
    }

    fn push(&mut self, s: &str) {
        if self.truncated > 0 {
            self.truncated += s.len() as u64;
            return;
        }
        let room = self.cap - self.written;
        if s.len() <= room {
            self.buf.extend_from_slice(s.as_bytes());
            self.written += s.len();
            return;
        }
        let (kept, cut) = cut_str(s, room);
        self.buf.extend_from_slice(kept.as_bytes());
        // Later pieces are cut whole, even ones that would fit what is left of the cap: the same rule as
        // the JSON writer, so both give the same output.
        self.truncated = cut as u64;
        self.written = self.cap;
    }

    /// Finishes the string; returns the bytes kept.
    fn end(self) -> usize {
        let kept = self.buf.len() - self.len_at - 4;
        self.buf[self.len_at..self.len_at + 4].copy_from_slice(&(kept as u32).to_le_bytes());
        self.buf.extend_from_slice(&self.truncated.to_le_bytes());
        kept
    }
}

impl fmt::Write for RawStr<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s);
        Ok(())
    }
}

/// Copies the key-values up to the record cap, skipping reserved keys and noticing `send = false` (also
/// among the key-values past the cap).
struct KvCapture<'kvs> {
    buf: Vec<u8>,
    /// Stop at `send = false` (shipping); printing goes on.
    refuse_local: bool,
    cap: usize,
    record_cap: usize,
    /// The lower bound of the record's JSON so far (see the module docs).
    size: usize,
    /// Key-values not copied; once one is left out, all later ones are.
    left_out: u64,
    error: Option<&'kvs (dyn std::error::Error + 'static)>,
    outcome: Option<CaptureError>,
}

impl<'kvs> VisitSource<'kvs> for KvCapture<'kvs> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        let key = key.as_str();
        if is_reserved_key(key) {
            if self.refuse_local && key == SEND_KEY && sends_false(&value) {
                self.outcome = Some(CaptureError::KeepLocal);
                return Err(kv::Error::msg("kept local"));
            }
            return Ok(());
        }
        if self.left_out > 0 {
            self.left_out += 1;
            if self.error.is_none() {
                self.error = borrowed_error(&value);
            }
            return Ok(());
        }
        let mark = self.buf.len();
        self.buf.push(TAG_KV);
        let before_value = self.size + KV_MIN_JSON + put_str(&mut self.buf, key, self.cap);
        let mut writer = ValueCapture {
            buf: &mut self.buf,
            cap: self.cap,
            room: self.record_cap.saturating_sub(before_value),
            over: false,
            json: 0,
            error: None,
            failed: None,
        };
        let _ = value.visit(&mut writer);
        let ValueCapture {
            error,
            failed,
            over,
            json,
            ..
        } = writer;
        if self.error.is_none() {
            self.error = error;
        }
        // The same order as `encode_entry`: past the cap while writing, a real failure, past the cap
        // after.
        if over || (failed.is_none() && before_value + json > self.record_cap) {
            self.buf.truncate(mark);
            self.left_out = 1;
            return Ok(());
        }
        if let Some(e) = failed {
            // The key-values after this one are not visited: the caller checks the record for a later
            // `send = false` before counting it as an encoding failure.
            self.outcome = Some(CaptureError::Encode(e));
            return Err(kv::Error::msg("metadata encoding failed"));
        }
        self.size = before_value + json;
        Ok(())
    }
}

/// `send = false` or `send = "false"`.
struct ValueCapture<'b, 'v> {
    buf: &'b mut Vec<u8>,
    cap: usize,
    /// What is left of the record's budget: a `:serde`/`:?`/`:%` value stops growing past it.
    room: usize,
    over: bool,
    /// The least JSON this value takes (its exact JSON for `:serde`/`:?`/`:%`).
    json: usize,
    error: Option<&'v (dyn std::error::Error + 'static)>,
    failed: Option<serde_json::Error>,
}

impl ValueCapture<'_, '_> {
    /// A number: its tag and its little-endian bytes (formatted by the worker; at least one digit).
    fn number(&mut self, tag: u8, bytes: &[u8]) -> Result<(), kv::Error> {
        self.buf.push(tag);
        self.buf.extend_from_slice(bytes);
        self.json = 1;
        Ok(())
    }
}

impl<'v> VisitValue<'v> for ValueCapture<'_, 'v> {
    fn visit_any(&mut self, value: Value<'_>) -> Result<(), kv::Error> {
        // `:serde`, `:?` and `:%` borrow from the caller: rendered now, with the same string cap, and no
        // further than the record's budget.
        self.buf.push(V_JSON);
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let limited = Limited {
            out: &mut *self.buf,
            room: self.room,
            over: false,
        };
        let mut ser =
            serde_json::Serializer::with_formatter(limited, CappedFormatter::new(self.cap));
        let result = value.serialize(&mut ser);
        if ser.into_inner().over {
            self.over = true;
            return Ok(());
        }
        if let Err(e) = result {
            self.failed = Some(e);
            return Ok(());
        }
        let len = self.buf.len() - len_at - 4;
        self.json = len;
        match u32::try_from(len) {
            Ok(len) => self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes()),
            Err(_) => {
                self.failed = Some(serde::ser::Error::custom(
                    "a value's JSON is larger than 4 GiB",
                ))
            }
        }
        Ok(())
    }
    fn visit_null(&mut self) -> Result<(), kv::Error> {
        self.buf.push(V_NULL);
        self.json = 4;
        Ok(())
    }
    fn visit_u64(&mut self, v: u64) -> Result<(), kv::Error> {
        self.number(V_U64, &v.to_le_bytes())
    }
    fn visit_i64(&mut self, v: i64) -> Result<(), kv::Error> {
        self.number(V_I64, &v.to_le_bytes())
    }
    fn visit_u128(&mut self, v: u128) -> Result<(), kv::Error> {
        self.number(V_U128, &v.to_le_bytes())
    }
    fn visit_i128(&mut self, v: i128) -> Result<(), kv::Error> {
        self.number(V_I128, &v.to_le_bytes())
    }
    fn visit_f64(&mut self, v: f64) -> Result<(), kv::Error> {
        self.number(V_F64, &v.to_le_bytes())
    }
    fn visit_bool(&mut self, v: bool) -> Result<(), kv::Error> {
        self.buf.push(if v { V_TRUE } else { V_FALSE });
        self.json = 4;
        Ok(())
    }
    fn visit_str(&mut self, v: &str) -> Result<(), kv::Error> {
        self.buf.push(V_STR);
        self.json = 2 + put_str(self.buf, v, self.cap);
        Ok(())
    }
    fn visit_char(&mut self, v: char) -> Result<(), kv::Error> {
        self.visit_str(v.encode_utf8(&mut [0; 4]))
    }
    fn visit_error(&mut self, err: &(dyn std::error::Error + 'static)) -> Result<(), kv::Error> {
        self.buf.push(V_STR);
        let mut s = RawStr::begin(self.buf, self.cap);
        let _ = fmt::Write::write_fmt(&mut s, format_args!("{err}"));
        self.json = 2 + s.end();
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

/// The capture read back field by field, for the OTLP encoder (feature `otlp`).
#[cfg(feature = "otlp")]
mod view {
    use super::*;

    /// A capture string read back: the bytes kept, and how many were cut off. The bytes are UTF-8 by
    /// construction (the capture copies `&str`s cut on character boundaries); they are not checked again,
    /// as protobuf takes them as they are.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub(crate) struct CutStr<'a> {
        pub kept: &'a [u8],
        pub truncated: u64,
    }

    impl<'a> CutStr<'a> {
        /// A string that was not cut.
        pub(crate) fn whole(kept: &'a str) -> Self {
            CutStr {
                kept: kept.as_bytes(),
                truncated: 0,
            }
        }
    }

    /// A captured value read back.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub(crate) enum Captured<'a> {
        Null,
        Bool(bool),
        U64(u64),
        I64(i64),
        U128(u128),
        I128(i128),
        F64(f64),
        Str(CutStr<'a>),
        /// A `:serde`, `:?` or `:%` value, as the JSON the hot path wrote.
        Json(&'a [u8]),
    }

    /// A capture read back field by field, for encoders other than [`render`] (OTLP). `render` reads the
    /// layout itself: it is the LogiScout format's hot loop.
    pub(crate) struct Head<'a> {
        pub message: CutStr<'a>,
        pub target: CutStr<'a>,
        /// The key-values, then what follows them.
        pub fields: Fields<'a>,
    }

    /// The key-values of a capture, read one by one. `Clone` reads them again from the same place.
    #[derive(Clone)]
    pub(crate) struct Fields<'a> {
        r: Reader<'a>,
        /// Set once the key-values ended: how many the capture did not copy.
        not_copied: Option<u64>,
    }

    /// Reads `capture` (made with string cap `cap`) back: message, target, then [`Fields`].
    pub(crate) fn read(capture: &Capture, cap: usize) -> Result<Head<'_>, Malformed> {
        let mut r = Reader {
            buf: &capture.buf,
            pos: 0,
        };
        let message = r.static_or_str(capture.message, cap)?;
        let target = r.static_or_str(capture.target, cap)?;
        Ok(Head {
            message,
            target,
            fields: Fields {
                r,
                not_copied: None,
            },
        })
    }

    impl<'a> Fields<'a> {
        /// The next key-value the capture copied, or `None` after the last.
        pub(crate) fn next_kv(&mut self) -> Result<Option<(CutStr<'a>, Captured<'a>)>, Malformed> {
            if self.not_copied.is_some() {
                return Ok(None);
            }
            match self.r.byte()? {
                TAG_KV => {
                    let key = self.r.cut_str()?;
                    Ok(Some((key, self.r.captured()?)))
                }
                TAG_END => {
                    self.not_copied = Some(0);
                    Ok(None)
                }
                TAG_CUT => {
                    let n = u64::from_le_bytes(self.r.array()?);
                    if n == 0 {
                        return Err(Malformed);
                    }
                    self.not_copied = Some(n);
                    Ok(None)
                }
                _ => Err(Malformed),
            }
        }

        /// After the key-values: how many the capture did not copy (past `max_record_bytes`), and the
        /// first `:err` value's message and source chain.
        pub(crate) fn finish(mut self) -> Result<(u64, Option<CutStr<'a>>), Malformed> {
            while self.next_kv()?.is_some() {}
            let not_copied = self.not_copied.unwrap_or_default();
            let exception = match self.r.byte()? {
                NO_EXCEPTION => None,
                HAS_EXCEPTION => Some(self.r.cut_str()?),
                _ => return Err(Malformed),
            };
            if self.r.pos != self.r.buf.len() {
                return Err(Malformed);
            }
            Ok((not_copied, exception))
        }
    }

    impl<'a> Reader<'a> {
        /// `s`, cut at `cap` as the capture would have cut it, or else the next capture string.
        fn static_or_str(
            &mut self,
            s: Option<&'static str>,
            cap: usize,
        ) -> Result<CutStr<'a>, Malformed> {
            match s {
                Some(s) => {
                    let (kept, truncated) = cut_str(s, cap);
                    Ok(CutStr {
                        kept: kept.as_bytes(),
                        truncated: truncated as u64,
                    })
                }
                None => self.cut_str(),
            }
        }

        /// A capture string.
        fn cut_str(&mut self) -> Result<CutStr<'a>, Malformed> {
            let len = self.u32()?;
            let kept = self.take(len)?;
            let truncated = u64::from_le_bytes(self.array()?);
            Ok(CutStr { kept, truncated })
        }

        /// A value.
        fn captured(&mut self) -> Result<Captured<'a>, Malformed> {
            Ok(match self.byte()? {
                V_NULL => Captured::Null,
                V_FALSE => Captured::Bool(false),
                V_TRUE => Captured::Bool(true),
                V_U64 => Captured::U64(u64::from_le_bytes(self.array()?)),
                V_I64 => Captured::I64(i64::from_le_bytes(self.array()?)),
                V_U128 => Captured::U128(u128::from_le_bytes(self.array()?)),
                V_I128 => Captured::I128(i128::from_le_bytes(self.array()?)),
                V_F64 => Captured::F64(f64::from_le_bytes(self.array()?)),
                V_STR => Captured::Str(self.cut_str()?),
                V_JSON => {
                    let len = self.u32()?;
                    Captured::Json(self.take(len)?)
                }
                _ => return Err(Malformed),
            })
        }
    }
}
#[cfg(feature = "otlp")]
pub(crate) use view::{read, Captured, CutStr};

/// Reads a capture back.
#[derive(Clone)]
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.pos.checked_add(n).ok_or(Malformed)?;
        let bytes = self.buf.get(self.pos..end).ok_or(Malformed)?;
        self.pos = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        self.take(N)?.try_into().map_err(|_| Malformed)
    }

    fn u32(&mut self) -> Result<usize, Malformed> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }

    /// Steps over a capture string.
    fn skip_str(&mut self) -> Result<(), Malformed> {
        let len = self.u32()?;
        self.take(len)?;
        self.take(8)?;
        Ok(())
    }

    /// Steps over a value.
    fn skip_value(&mut self) -> Result<(), Malformed> {
        match self.byte()? {
            V_NULL | V_FALSE | V_TRUE => {}
            V_U64 | V_I64 | V_F64 => {
                self.take(8)?;
            }
            V_U128 | V_I128 => {
                self.take(16)?;
            }
            V_STR => self.skip_str()?,
            V_JSON => {
                let len = self.u32()?;
                self.take(len)?;
            }
            _ => return Err(Malformed),
        }
        Ok(())
    }

    /// A capture string, written out as a JSON string with the truncation marker if it was cut.
    fn json_str(&mut self, out: &mut Vec<u8>) -> Result<(), Malformed> {
        let len = self.u32()?;
        // UTF-8 by construction: the capture copied `&str`s, cut on character boundaries.
        let kept = self.take(len)?;
        let truncated = u64::from_le_bytes(self.array()?);
        write_json_bytes_cut(out, kept, truncated);
        Ok(())
    }

    fn value(&mut self, out: &mut Vec<u8>, cap: usize) -> Result<(), Malformed> {
        // Writing to a Vec cannot fail.
        match self.byte()? {
            V_NULL => out.extend_from_slice(b"null"),
            V_FALSE => out.extend_from_slice(b"false"),
            V_TRUE => out.extend_from_slice(b"true"),
            V_U64 => {
                let _ = CompactFormatter.write_u64(out, u64::from_le_bytes(self.array()?));
            }
            V_I64 => {
                let _ = CompactFormatter.write_i64(out, i64::from_le_bytes(self.array()?));
            }
            V_U128 => {
                let _ = CompactFormatter.write_u128(out, u128::from_le_bytes(self.array()?));
            }
            V_I128 => {
                let _ = CompactFormatter.write_i128(out, i128::from_le_bytes(self.array()?));
            }
            V_F64 => {
                let v = f64::from_le_bytes(self.array()?);
                match non_finite_name(v) {
                    Some(name) => write_json_str(out, name, cap),
                    None => {
                        let _ = CompactFormatter.write_f64(out, v);
                    }
                }
            }
            V_STR => self.json_str(out)?,
            V_JSON => {
                let len = self.u32()?;
                let json = self.take(len)?;
                let _ = out.write_all(json);
            }
            _ => return Err(Malformed),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::oracle::encode_entry;
    use crate::encode::record::tests::{Inner, Outer};
    use log::Level;

    /// What the worker ships for `record`: capture on the caller's side, render on the worker's.
    fn shipped(record: &Record<'_>, cap: usize, record_cap: usize) -> Result<Vec<u8>, String> {
        let level = WireLevel::from_log(record.level(), false);
        let capture = capture(Vec::new(), record, level, cap, record_cap)
            .map_err(|(e, _)| format!("{e:?}"))?;
        let mut out = Vec::new();
        render(&capture, &mut out, cap).map_err(|e| format!("{e:?}"))?;
        Ok(out)
    }

    /// What the direct encoder (console JSON, and the shipping path before captures) writes.
    fn direct(record: &Record<'_>, cap: usize, record_cap: usize) -> Vec<u8> {
        let level = WireLevel::from_log(record.level(), false);
        let mut out = Vec::new();
        encode_entry(&mut out, record, level, None, cap, record_cap, None).expect("encodes");
        out
    }

    fn same(record: &Record<'_>, cap: usize, record_cap: usize) {
        let shipped = shipped(record, cap, record_cap).expect("captured");
        let direct = direct(record, cap, record_cap);
        assert_eq!(
            String::from_utf8_lossy(&shipped),
            String::from_utf8_lossy(&direct),
            "cap {cap}, record cap {record_cap}"
        );
    }

    /// The record's size as the cut rule counts it: its JSON up to the end of the key-values kept.
    fn counted_size(json: &[u8]) -> usize {
        let text = std::str::from_utf8(json).unwrap();
        match text.find(",\"logiscout.truncated_keys\":") {
            Some(at) => at,
            None => match text.find("{\"logiscout.truncated_keys\":") {
                Some(at) => at + 1,
                None => text.rfind("},\"exception\":").unwrap(),
            },
        }
    }

    #[derive(serde::Serialize)]
    struct Order<'a> {
        id: u32,
        items: Vec<&'a str>,
    }

    #[test]
    fn every_value_kind_renders_as_the_direct_encoder_writes_it() {
        let err = Outer(Inner);
        let order = Order {
            id: 7,
            items: vec!["a\"b", "ü"],
        };
        let list = vec![1, 2];
        let kvs: Vec<(&str, Value<'_>)> = vec![
            ("u", 42u64.into()),
            ("i", (-42i64).into()),
            ("big", u128::MAX.into()),
            ("small", i128::MIN.into()),
            ("f", 0.25f64.into()),
            ("nan", f64::NAN.into()),
            ("inf", f64::NEG_INFINITY.into()),
            ("t", true.into()),
            ("no", false.into()),
            ("c", 'ç'.into()),
            ("s", "tab\there \"quoted\" \u{1} é".into()),
            ("none", Value::null()),
            ("dbg", Value::from_debug(&list)),
            ("disp", Value::from_display(&"shown")),
            ("order", Value::from_serde(&order)),
            ("err", Value::from_dyn_error(&err)),
            ("err2", Value::from_dyn_error(&err)),
            ("correlation_id", "reserved, left out".into()),
            ("send", true.into()),
        ];
        for cap in [usize::MAX >> 1, 32 * 1024, 5, 1, 0] {
            // Every record cap from none at all to one that keeps everything: each cut point, for each
            // value kind, in both encoders.
            for record_cap in (0..700).chain([usize::MAX]) {
                same(
                    &Record::builder()
                        .args(format_args!("static message"))
                        .target("app::orders")
                        .module_path_static(Some("app::orders"))
                        .level(Level::Warn)
                        .key_values(&kvs)
                        .build(),
                    cap,
                    record_cap,
                );
                let n = 3;
                same(
                    &Record::builder()
                        .args(format_args!("formatted {n} \"times\""))
                        .target("custom target")
                        .module_path_static(Some("app::orders"))
                        .level(Level::Error)
                        .key_values(&kvs)
                        .build(),
                    cap,
                    record_cap,
                );
            }
        }
    }

    #[test]
    fn a_record_past_its_cap_keeps_its_first_key_values_and_counts_the_rest() {
        let value = "v".repeat(100);
        let err = Outer(Inner);
        let mut kvs: Vec<(String, Value<'_>)> = (0..10)
            .map(|i| (format!("k{i}"), Value::from(value.as_str())))
            .collect();
        // Small, and after the cut: left out too (the rule stops at the first key-value that does not
        // fit). The error's traceback stays although its key-value is cut.
        kvs.push(("small".into(), 1.into()));
        kvs.push(("error".into(), Value::from_dyn_error(&err)));
        let kvs: Vec<(&str, Value<'_>)> =
            kvs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let record = Record::builder()
            .args(format_args!("m"))
            .target("t")
            .level(Level::Info)
            .key_values(&kvs)
            .build();
        let record_cap = 400;
        let out = shipped(&record, 1024, record_cap).unwrap();
        assert_eq!(out, direct(&record, 1024, record_cap));
        assert!(counted_size(&out) <= record_cap);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let metadata = json["metadata"].as_object().unwrap();
        // 59 bytes of head, then 107 or 108 per key-value: three fit in 400.
        let kept: Vec<&str> = metadata.keys().map(String::as_str).collect();
        assert_eq!(kept, ["k0", "k1", "k2", "logiscout.truncated_keys"]);
        assert_eq!(metadata["logiscout.truncated_keys"], 9);
        assert_eq!(
            json["exception"]["traceback"],
            "payment failed\ncaused by: connection reset"
        );

        // A cap the message alone passes: the message stays whole (it is cut only at max_string_bytes),
        // every key-value goes.
        let long = "m".repeat(900);
        let check = |record: &Record<'_>| {
            let out = shipped(record, 1024, record_cap).unwrap();
            assert_eq!(out, direct(record, 1024, record_cap));
            out
        };
        let out = check(
            &Record::builder()
                .args(format_args!("{long}"))
                .target("t")
                .level(Level::Info)
                .key_values(&kvs)
                .build(),
        );
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["message"], long.as_str());
        assert_eq!(
            json["metadata"],
            serde_json::json!({"logiscout.truncated_keys": 12})
        );
    }

    #[test]
    fn a_capture_never_grows_much_past_the_record_cap() {
        // The record: 4,000 key-values borrowing one 1 MB string.
        let big = "x".repeat(1_000_000);
        let keys: Vec<String> = (0..4000).map(|i| format!("key_{i}")).collect();
        let kvs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), big.as_str())).collect();
        let record = Record::builder()
            .args(format_args!("m"))
            .level(Level::Info)
            .key_values(&kvs)
            .build();
        let record_cap = 1 << 20;
        let c = capture(Vec::new(), &record, WireLevel::Info, 32 * 1024, record_cap).unwrap();
        // Kept: 31 of 32 KiB each; framing 26 bytes per key-value, against 6 counted.
        assert!(c.buf.len() <= record_cap + 31 * 20 + 64, "{}", c.buf.len());
        assert!(c.buf.len() > record_cap - 33 * 1024);
        let mut out = Vec::new();
        render(&c, &mut out, 32 * 1024).unwrap();
        assert!(counted_size(&out) <= record_cap);
        assert_eq!(out, direct(&record, 32 * 1024, record_cap));

        // A `:serde` value of any size stops at the cap too (strings in it are cut at max_string_bytes,
        // but not their number).
        let many = vec![u64::MAX; 1_000_000];
        let kvs = [("many", Value::from_serde(&many))];
        let record = Record::builder()
            .args(format_args!("m"))
            .level(Level::Info)
            .key_values(&kvs)
            .build();
        let c = capture(Vec::new(), &record, WireLevel::Info, 32 * 1024, 4096).unwrap();
        assert!(c.buf.len() <= 64, "{}", c.buf.len());
        assert!(c.buf.capacity() <= 2 * 4096, "{}", c.buf.capacity());
        same(&record, 32 * 1024, 4096);
        let mut direct_out = Vec::new();
        encode_entry(
            &mut direct_out,
            &record,
            WireLevel::Info,
            None,
            32 * 1024,
            4096,
            None,
        )
        .unwrap();
        assert!(
            direct_out.capacity() <= 2 * 4096,
            "{}",
            direct_out.capacity()
        );

        // The cap costs a capture no room: it fits beside the level.
        assert!(std::mem::size_of::<Capture>() <= 64);
    }

    #[test]
    fn static_message_and_target_are_not_copied() {
        let kvs = [("user_id", 1u64)];
        let record = Record::builder()
            .args(format_args!("Order created okay!!"))
            .target("app")
            .module_path_static(Some("app"))
            .level(Level::Info)
            .key_values(&kvs)
            .build();
        let c = capture(Vec::new(), &record, WireLevel::Info, 1024, 1 << 20).expect("captured");
        assert_eq!(c.message, Some("Order created okay!!"));
        assert_eq!(c.target, Some("app"));
        // TAG_KV, key "user_id" (4 + 7 + 8), V_U64 + 8 bytes, TAG_END, NO_EXCEPTION.
        assert_eq!(c.buf.len(), 1 + 19 + 9 + 2);
    }

    #[test]
    fn send_false_keeps_the_record_local_wherever_it_is() {
        let long = "x".repeat(1000);
        for kvs in [
            vec![("send", Value::from(false)), ("a", 1.into())],
            vec![("a", 1.into()), ("send", "false".into())],
            // Past the record cap: still seen.
            vec![("a", long.as_str().into()), ("send", false.into())],
        ] {
            let record = Record::builder()
                .args(format_args!("m"))
                .level(Level::Info)
                .key_values(&kvs)
                .build();
            assert!(matches!(
                capture(Vec::new(), &record, WireLevel::Info, 2048, 200),
                Err((CaptureError::KeepLocal, _))
            ));
        }
    }

    #[test]
    fn a_serde_failure_is_an_encode_error() {
        struct Fails;
        impl serde::Serialize for Fails {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let kvs = [("x", Value::from_serde(&Fails))];
        let record = Record::builder()
            .args(format_args!("m"))
            .level(Level::Info)
            .key_values(&kvs)
            .build();
        assert!(matches!(
            capture(Vec::new(), &record, WireLevel::Info, 64, 1 << 20),
            Err((CaptureError::Encode(_), _))
        ));
    }

    /// Records of many call sites (literal messages and targets), levels and caps, in an order that makes
    /// them share and take each other's slots: [`render`]'s kept heads write what `render_line` writes.
    #[test]
    fn kept_heads_render_what_render_line_renders() {
        let text = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let levels = [Level::Error, Level::Warn, Level::Info, Level::Debug];
        // 150 call sites for 64 slots, some with heads too long to keep.
        let sites: Vec<(&'static str, &'static str, usize, Level)> = (0..150)
            .map(|i| {
                let message = if i % 23 == 0 {
                    text("x".repeat(300))
                } else {
                    text(format!("site {i} \"quoted\" {}", "é".repeat(i % 7)))
                };
                let target = text(format!("crate_{}::module", i % 11));
                (message, target, [8, 64, 1024][i % 3], levels[i % 4])
            })
            .collect();
        let mut hits = 0;
        let mut state = 0x2545_f491_u64;
        for n in 0..6_000u64 {
            // A few sites at a time, hot for a while, as a program's call sites are.
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let pick = if state >> 62 == 0 {
                (state >> 33) as usize
            } else {
                (n / 40) as usize * 3 + (state >> 60) as usize % 3
            };
            let (message, target, cap, level) = sites[pick % sites.len()];
            let kvs = [("n", n)];
            let record = Record::builder()
                .level(level)
                .args(format_args!("literal"))
                .module_path_static(Some("a::b"))
                .target("a::b")
                .key_values(&kvs)
                .build();
            let level = WireLevel::from_log(level, false);
            let mut capture = capture(Vec::new(), &record, level, cap, usize::MAX).unwrap();
            // Literals both, so neither is in the buffer: another call site's.
            assert_eq!(
                (capture.message, capture.target),
                (Some("literal"), Some("a::b"))
            );
            capture.message = Some(message);
            capture.target = Some(target);
            let key = HeadKey {
                level,
                message: (message.as_ptr() as usize, message.len()),
                target: (target.as_ptr() as usize, target.len()),
                cap,
            };
            hits += usize::from(
                HEADS.with(|h| h.borrow().get(key.slot()).is_some_and(|s| s.0 == Some(key))),
            );
            let mut kept = b"before".to_vec();
            render(&capture, &mut kept, cap).unwrap();
            let mut fresh = b"before".to_vec();
            render_line(&capture, &mut fresh, cap, None, None).unwrap();
            assert_eq!(
                String::from_utf8(kept).unwrap(),
                String::from_utf8(fresh).unwrap()
            );
        }
        assert!(hits > 3_000, "the kept heads were used: {hits} of 6,000");
    }

    #[test]
    fn a_malformed_capture_is_refused_not_panicked_on() {
        let kvs: [(&str, Value<'_>); 4] = [
            ("a", "aaaa".into()),
            ("b", u64::MAX.into()),
            ("c", Value::from_debug(&(1, 2))),
            ("d", "dddd".into()),
        ];
        let plain = Record::builder()
            .args(format_args!("m"))
            .level(Level::Info)
            .build();
        let with_kvs = Record::builder()
            .args(format_args!("m"))
            .level(Level::Info)
            .key_values(&kvs)
            .build();
        // No key-values; all of them; cut by the record cap: at 95, `c` and `d` are left out, `c` copied
        // (a lower bound of 87 bytes by then) but not rendered (106), `d` not copied (98); at 100 both
        // are copied, and neither is rendered.
        for (record, record_cap) in [
            (&plain, 1 << 20),
            (&with_kvs, 1 << 20),
            (&with_kvs, 95),
            (&with_kvs, 100),
        ] {
            let good =
                capture(Vec::new(), record, WireLevel::Info, 64, record_cap).expect("captured");
            let mut out = Vec::new();
            render(&good, &mut out, 64).expect("renders");
            assert_eq!(out, direct(record, 64, record_cap));
            for cut in 0..good.buf.len() {
                let broken = Capture {
                    buf: good.buf[..cut].to_vec(),
                    ..good
                };
                assert_eq!(render(&broken, &mut Vec::new(), 64), Err(Malformed));
            }
            let mut extra = good.buf.clone();
            extra.push(0);
            let broken = Capture { buf: extra, ..good };
            assert_eq!(render(&broken, &mut Vec::new(), 64), Err(Malformed));
        }
        // A cut that leaves nothing out is not one `capture` makes.
        let broken = Capture {
            level: WireLevel::Info,
            message: Some("m"),
            target: Some("t"),
            record_cap: 100,
            buf: [&[TAG_CUT][..], &0u64.to_le_bytes(), &[NO_EXCEPTION]].concat(),
        };
        assert_eq!(render(&broken, &mut Vec::new(), 64), Err(Malformed));
    }

    proptest::proptest! {
        /// For any strings, caps and record caps, the shipped bytes are the direct encoder's bytes, and a
        /// record cut by its cap is no larger than the cap up to the end of its key-values.
        #[test]
        fn capture_then_render_equals_direct_encoding(
            message in ".{0,120}",
            target in ".{0,40}",
            key in ".{1,40}",
            value in ".{0,120}",
            number in proptest::num::f64::ANY,
            int in proptest::num::i64::ANY,
            cap in 0usize..160,
            record_cap in proptest::prop_oneof![proptest::strategy::Just(usize::MAX), 0usize..700],
            formatted in proptest::bool::ANY,
        ) {
            proptest::prop_assume!(!["n", "i", "d", "j"].contains(&key.as_str()) && !is_reserved_key(&key));
            let kvs: [(&str, Value<'_>); 5] = [
                (&key, value.as_str().into()),
                ("n", number.into()),
                ("i", int.into()),
                ("d", Value::from_debug(&value)),
                ("j", int.into()),
            ];
            let args_static = format_args!("static");
            let args_formatted = format_args!("{message}");
            let record = Record::builder()
                .args(if formatted { args_formatted } else { args_static })
                .target(&target)
                .level(Level::Info)
                .key_values(&kvs)
                .build();
            let shipped = shipped(&record, cap, record_cap)
                .map_err(proptest::test_runner::TestCaseError::fail)?;
            proptest::prop_assert_eq!(&shipped, &direct(&record, cap, record_cap));
            // The console's JSON line (timestamp, extras, and `send = false` not refused) too.
            let extras = LineExtras { service: &target, correlation_id: formatted.then_some(message.as_str()) };
            let ts = Some(Timestamp(int / 1024));
            let mut line = Vec::new();
            let printed = capture_to_print(Vec::new(), &record, WireLevel::Info, cap, record_cap).map_err(|(e, _)| format!("{e:?}"))
                .map_err(proptest::test_runner::TestCaseError::fail)?;
            render_line(&printed, &mut line, cap, ts, Some(&extras)).unwrap();
            let mut expected = Vec::new();
            encode_entry(&mut expected, &record, WireLevel::Info, ts, cap, record_cap, Some(&extras)).unwrap();
            proptest::prop_assert_eq!(line, expected);
            let text = String::from_utf8_lossy(&shipped);
            // (With a string cap of 0 every key reads `…[truncated N bytes]`: the parsed object merges them.)
            if cap > 0 && text.contains("\"logiscout.truncated_keys\":") {
                let json: serde_json::Value = serde_json::from_slice(&shipped).unwrap();
                let kept = json["metadata"].as_object().unwrap().len() - 1;
                // The key-values kept fit (a message and target past the cap alone keep none).
                if kept > 0 {
                    proptest::prop_assert!(counted_size(&shipped) <= record_cap);
                }
                proptest::prop_assert_eq!(
                    json["metadata"]["logiscout.truncated_keys"].as_u64(),
                    Some(5 - kept as u64)
                );
            }
        }
    }
}
