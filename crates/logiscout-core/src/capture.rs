//! Deferred encoding: the application's thread copies a record into a compact capture; the shipping
//! worker renders it as JSON.
//!
//! Escaping strings and formatting numbers was most of the cost of a `log::info!` call (see
//! `docs/benchmarks.md`). The hot path now only copies: the message and target are kept as
//! `&'static str` when the macros give them so (no copy at all), keys and string values are copied as
//! raw bytes, numbers as their 8 or 16 bytes. The worker turns the capture into exactly the bytes
//! [`encode_entry`](crate::record::encode_entry) would have written (a proptest checks that).
//!
//! Values that borrow from the caller and have no primitive form (`:serde`, `:?`, `:%`) and errors are
//! still formatted on the calling thread, since they cannot outlive the call: `:serde`/`:?`/`:%` as a JSON
//! fragment, errors as their message and, for the first `:err`, the traceback.
//!
//! Strings are cut at `max_string_bytes` here, so a capture never holds more than the cap per string.
//!
//! Layout of `Capture::buf` (lengths little-endian):
//! `[message string if not static] [target string if not static] (TAG_KV key value)* TAG_END [exception string if HAS_EXCEPTION]`
//! where a string is `u32 kept length, kept bytes, u64 truncated length`.

use std::fmt;
use std::io::Write as _;

use log::kv::{self, Key, Value, VisitSource, VisitValue};
use log::Record;
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};

use crate::record::{
    is_reserved_key, non_finite_name, write_json_str, write_json_str_cut, CappedFormatter,
    ErrorChain, WireLevel, SEND_KEY,
};

/// A record as the hot path hands it to the worker.
#[derive(Debug)]
pub(crate) struct Capture {
    pub level: WireLevel,
    /// The message when it is a literal with no arguments (the common case): nothing to copy.
    pub message: Option<&'static str>,
    /// The target when it is the module path (the macros' default): nothing to copy.
    pub target: Option<&'static str>,
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

/// Captures `record` into `buf` (cleared first). Strings are cut at `cap` bytes.
pub(crate) fn capture(
    mut buf: Vec<u8>,
    record: &Record<'_>,
    level: WireLevel,
    cap: usize,
) -> Result<Capture, (CaptureError, Vec<u8>)> {
    buf.clear();
    let message = record.args().as_str();
    if message.is_none() {
        let mut s = RawStr::begin(&mut buf, cap);
        // Writing to a Vec cannot fail; a `Display` impl that errors just ends the message early.
        let _ = fmt::Write::write_fmt(&mut s, *record.args());
        s.end();
    }
    let target = record
        .module_path_static()
        .filter(|path| *path == record.target());
    if target.is_none() {
        put_str(&mut buf, record.target(), cap);
    }
    let mut visitor = KvCapture {
        buf,
        cap,
        error: None,
        outcome: None,
    };
    let _ = record.key_values().visit(&mut visitor);
    let KvCapture {
        mut buf,
        error,
        outcome,
        ..
    } = visitor;
    if let Some(e) = outcome {
        return Err((e, buf));
    }
    buf.push(TAG_END);
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
        buf,
    })
}

/// Writes the JSON object [`encode_entry`](crate::record::encode_entry) writes for the same record
/// (without timestamp and console extras) into `out`. `cap` is the cap the capture was made with.
///
/// Fails only on a malformed capture, which `capture` never produces.
pub(crate) fn render(capture: &Capture, out: &mut Vec<u8>, cap: usize) -> Result<(), Malformed> {
    let mut r = Reader {
        buf: &capture.buf,
        pos: 0,
    };
    out.extend_from_slice(b"{\"level\":\"");
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
    let mut first = true;
    loop {
        match r.byte()? {
            TAG_END => break,
            TAG_KV => {
                if !first {
                    out.push(b',');
                }
                first = false;
                r.json_str(out)?;
                out.push(b':');
                r.value(out, cap)?;
            }
            _ => return Err(Malformed),
        }
    }
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
    out.push(b'}');
    if r.pos != r.buf.len() {
        return Err(Malformed);
    }
    Ok(())
}

/// A capture that does not follow the layout (a bug, never user input).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Copies `s` as a capture string, cut at `cap` bytes on a character boundary.
fn put_str(buf: &mut Vec<u8>, s: &str, cap: usize) {
    let cap = cap.min(u32::MAX as usize);
    let (kept, truncated) = if s.len() <= cap {
        (s, 0)
    } else {
        let mut cut = cap;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        (&s[..cut], (s.len() - cut) as u64)
    };
    buf.reserve(kept.len() + 12);
    buf.extend_from_slice(&(kept.len() as u32).to_le_bytes());
    buf.extend_from_slice(kept.as_bytes());
    buf.extend_from_slice(&truncated.to_le_bytes());
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
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.buf.extend_from_slice(&s.as_bytes()[..cut]);
        // Later pieces are cut whole, even ones that would fit what is left of the cap: the same rule as
        // the JSON writer, so both give the same output.
        self.truncated = (s.len() - cut) as u64;
        self.written = self.cap;
    }

    fn end(self) {
        let kept = (self.buf.len() - self.len_at - 4) as u32;
        self.buf[self.len_at..self.len_at + 4].copy_from_slice(&kept.to_le_bytes());
        self.buf.extend_from_slice(&self.truncated.to_le_bytes());
    }
}

impl fmt::Write for RawStr<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s);
        Ok(())
    }
}

/// Copies the key-values, skipping reserved keys and noticing `send = false`.
struct KvCapture<'kvs> {
    buf: Vec<u8>,
    cap: usize,
    error: Option<&'kvs (dyn std::error::Error + 'static)>,
    outcome: Option<CaptureError>,
}

impl<'kvs> VisitSource<'kvs> for KvCapture<'kvs> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        let key = key.as_str();
        if is_reserved_key(key) {
            if key == SEND_KEY && sends_false(&value) {
                self.outcome = Some(CaptureError::KeepLocal);
                return Err(kv::Error::msg("kept local"));
            }
            return Ok(());
        }
        self.buf.push(TAG_KV);
        put_str(&mut self.buf, key, self.cap);
        let mut writer = ValueCapture {
            buf: &mut self.buf,
            cap: self.cap,
            error: None,
            failed: None,
        };
        let _ = value.visit(&mut writer);
        let ValueCapture { error, failed, .. } = writer;
        if let Some(e) = failed {
            // The key-values after this one are not visited: the caller checks the record for a later
            // `send = false` before counting it as an encoding failure.
            self.outcome = Some(CaptureError::Encode(e));
            return Err(kv::Error::msg("metadata encoding failed"));
        }
        if self.error.is_none() {
            self.error = error;
        }
        Ok(())
    }
}

/// `send = false` or `send = "false"`.
fn sends_false(value: &Value<'_>) -> bool {
    match value.to_bool() {
        Some(b) => !b,
        None => value.to_borrowed_str() == Some("false"),
    }
}

struct ValueCapture<'b, 'v> {
    buf: &'b mut Vec<u8>,
    cap: usize,
    error: Option<&'v (dyn std::error::Error + 'static)>,
    failed: Option<serde_json::Error>,
}

impl ValueCapture<'_, '_> {
    /// A number: its tag and its little-endian bytes (formatted by the worker).
    fn number(&mut self, tag: u8, bytes: &[u8]) -> Result<(), kv::Error> {
        self.buf.push(tag);
        self.buf.extend_from_slice(bytes);
        Ok(())
    }
}

impl<'v> VisitValue<'v> for ValueCapture<'_, 'v> {
    fn visit_any(&mut self, value: Value<'_>) -> Result<(), kv::Error> {
        // `:serde`, `:?` and `:%` borrow from the caller: rendered now, with the same string cap.
        self.buf.push(V_JSON);
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let mut ser =
            serde_json::Serializer::with_formatter(&mut *self.buf, CappedFormatter::new(self.cap));
        if let Err(e) = value.serialize(&mut ser) {
            self.failed = Some(e);
            return Ok(());
        }
        match u32::try_from(self.buf.len() - len_at - 4) {
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
        Ok(())
    }
    fn visit_str(&mut self, v: &str) -> Result<(), kv::Error> {
        self.buf.push(V_STR);
        put_str(self.buf, v, self.cap);
        Ok(())
    }
    fn visit_char(&mut self, v: char) -> Result<(), kv::Error> {
        self.visit_str(v.encode_utf8(&mut [0; 4]))
    }
    fn visit_error(&mut self, err: &(dyn std::error::Error + 'static)) -> Result<(), kv::Error> {
        self.buf.push(V_STR);
        let mut s = RawStr::begin(self.buf, self.cap);
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

/// Reads a capture back.
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

    /// A capture string, written out as a JSON string with the truncation marker if it was cut.
    fn json_str(&mut self, out: &mut Vec<u8>) -> Result<(), Malformed> {
        let len = self.u32()?;
        let kept = std::str::from_utf8(self.take(len)?).map_err(|_| Malformed)?;
        let truncated = u64::from_le_bytes(self.array()?);
        write_json_str_cut(out, kept, truncated);
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
    use crate::record::encode_entry;
    use crate::record::tests::{Inner, Outer};
    use log::Level;

    /// What the worker ships for `record`: capture on the caller's side, render on the worker's.
    fn shipped(record: &Record<'_>, cap: usize) -> Result<Vec<u8>, String> {
        let level = WireLevel::from_log(record.level(), false);
        let capture = capture(Vec::new(), record, level, cap).map_err(|(e, _)| format!("{e:?}"))?;
        let mut out = Vec::new();
        render(&capture, &mut out, cap).map_err(|e| format!("{e:?}"))?;
        Ok(out)
    }

    /// What the direct encoder (console JSON, and the shipping path before captures) writes.
    fn direct(record: &Record<'_>, cap: usize) -> Vec<u8> {
        let level = WireLevel::from_log(record.level(), false);
        let mut out = Vec::new();
        encode_entry(&mut out, record, level, None, cap, None).expect("encodes");
        out
    }

    fn same(record: &Record<'_>, cap: usize) {
        let shipped = shipped(record, cap).expect("captured");
        let direct = direct(record, cap);
        assert_eq!(
            String::from_utf8_lossy(&shipped),
            String::from_utf8_lossy(&direct)
        );
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
            same(
                &Record::builder()
                    .args(format_args!("static message"))
                    .target("app::orders")
                    .module_path_static(Some("app::orders"))
                    .level(Level::Warn)
                    .key_values(&kvs)
                    .build(),
                cap,
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
            );
        }
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
        let c = capture(Vec::new(), &record, WireLevel::Info, 1024).expect("captured");
        assert_eq!(c.message, Some("Order created okay!!"));
        assert_eq!(c.target, Some("app"));
        // TAG_KV, key "user_id" (4 + 7 + 8), V_U64 + 8 bytes, TAG_END, NO_EXCEPTION.
        assert_eq!(c.buf.len(), 1 + 19 + 9 + 2);
    }

    #[test]
    fn send_false_keeps_the_record_local_wherever_it_is() {
        for kvs in [
            vec![("send", Value::from(false)), ("a", 1.into())],
            vec![("a", 1.into()), ("send", "false".into())],
        ] {
            let record = Record::builder()
                .args(format_args!("m"))
                .level(Level::Info)
                .key_values(&kvs)
                .build();
            assert!(matches!(
                capture(Vec::new(), &record, WireLevel::Info, 64),
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
            capture(Vec::new(), &record, WireLevel::Info, 64),
            Err((CaptureError::Encode(_), _))
        ));
    }

    #[test]
    fn a_malformed_capture_is_refused_not_panicked_on() {
        let record = Record::builder()
            .args(format_args!("m"))
            .level(Level::Info)
            .build();
        let good = capture(Vec::new(), &record, WireLevel::Info, 64).expect("captured");
        for cut in 0..good.buf.len() {
            let broken = Capture {
                level: good.level,
                message: good.message,
                target: good.target,
                buf: good.buf[..cut].to_vec(),
            };
            assert_eq!(render(&broken, &mut Vec::new(), 64), Err(Malformed));
        }
        let mut extra = good.buf.clone();
        extra.push(0);
        let broken = Capture { buf: extra, ..good };
        assert_eq!(render(&broken, &mut Vec::new(), 64), Err(Malformed));
    }

    proptest::proptest! {
        /// For any strings and caps, the shipped bytes are the direct encoder's bytes.
        #[test]
        fn capture_then_render_equals_direct_encoding(
            message in ".{0,120}",
            target in ".{0,40}",
            key in ".{1,40}",
            value in ".{0,120}",
            number in proptest::num::f64::ANY,
            int in proptest::num::i64::ANY,
            cap in 0usize..160,
            formatted in proptest::bool::ANY,
        ) {
            proptest::prop_assume!(!is_reserved_key(&key) && key != "n" && key != "i");
            let kvs: [(&str, Value<'_>); 3] =
                [(&key, value.as_str().into()), ("n", number.into()), ("i", int.into())];
            let args_static = format_args!("static");
            let args_formatted = format_args!("{message}");
            let record = Record::builder()
                .args(if formatted { args_formatted } else { args_static })
                .target(&target)
                .level(Level::Info)
                .key_values(&kvs)
                .build();
            let shipped = shipped(&record, cap).map_err(proptest::test_runner::TestCaseError::fail)?;
            proptest::prop_assert_eq!(shipped, direct(&record, cap));
        }
    }
}
