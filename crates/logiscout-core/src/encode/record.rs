//! Turning a `log::Record` into the wire format's log entry: JSON written straight into one buffer.
//!
//! No intermediate `String`s or maps: the message, key-values and error chain stream through `serde_json`
//! with [`CappedFormatter`], which escapes every string correctly and cuts long ones with a
//! `…[truncated N bytes]` marker.

use std::fmt;
use std::io::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use log::kv::{self, Key, Source, Value, VisitSource, VisitValue};
use log::{Level, Record};
use serde::ser::{Error as _, Serializer};
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter as _};

/// The key that keeps a record on the host (`send = false`).
pub(crate) const SEND_KEY: &str = "send";
/// Reserved: the correlation ID lives at payload level, never in metadata.
pub(crate) const CORRELATION_KEY: &str = "correlation_id";

/// Default cap for the message and each string value, in bytes.
pub(crate) const DEFAULT_MAX_STRING_BYTES: usize = 32 * 1024;

/// Default cap for one record's JSON up to the end of its key-values, in bytes (see
/// [`Config::max_record_bytes`](crate::Config::max_record_bytes)).
pub(crate) const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// The key that says how many key-values a record lost to `max_record_bytes`.
pub(crate) const TRUNCATED_KEYS_KEY: &str = "logiscout.truncated_keys";

/// Ends the `metadata` members of a record cut by `max_record_bytes`: `"logiscout.truncated_keys":N`,
/// after a comma unless no key-value was kept. Both encoders end a cut record with it.
pub(crate) fn write_truncated_keys(out: &mut Vec<u8>, first: bool, left_out: u64) {
    if !first {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(TRUNCATED_KEYS_KEY.as_bytes());
    out.extend_from_slice(b"\":");
    let _ = CompactFormatter.write_u64(out, left_out);
}

/// A writer for `:serde`, `:?` and `:%` values that refuses to grow past `room` bytes (the rest of the
/// record's budget), so a value of any size never takes more memory than the record may. A refused
/// write sets `over` and fails the serialization; the caller then cuts the record at this key-value.
pub(crate) struct Limited<'a> {
    pub out: &'a mut Vec<u8>,
    pub room: usize,
    pub over: bool,
}

impl io::Write for Limited<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.room {
            self.over = true;
            return Err(io::Error::other("past max_record_bytes"));
        }
        self.room -= buf.len();
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The error in `value` when it was captured with `:err` (looked at for key-values cut by
/// `max_record_bytes`: a record keeps its traceback even when the error's key-value is cut).
pub(crate) fn borrowed_error<'v>(
    value: &Value<'v>,
) -> Option<&'v (dyn std::error::Error + 'static)> {
    struct Find<'v>(Option<&'v (dyn std::error::Error + 'static)>);
    impl<'v> VisitValue<'v> for Find<'v> {
        fn visit_any(&mut self, _value: Value<'_>) -> Result<(), kv::Error> {
            Ok(())
        }
        fn visit_borrowed_error(
            &mut self,
            err: &'v (dyn std::error::Error + 'static),
        ) -> Result<(), kv::Error> {
            self.0 = Some(err);
            Ok(())
        }
    }
    let mut find = Find(None);
    let _ = value.visit(&mut find);
    find.0
}

/// A record's level as the wire names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WireLevel {
    /// `debug` (also `log::Level::Trace`).
    Debug,
    /// `info`.
    Info,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
    /// `critical` (an error-level record made with [`critical!`](crate::critical)).
    Critical,
}

impl WireLevel {
    /// Maps a `log` level; `critical` marks an error-level record made by `critical!`.
    pub fn from_log(level: Level, critical: bool) -> Self {
        match level {
            Level::Error if critical => WireLevel::Critical,
            Level::Error => WireLevel::Error,
            Level::Warn => WireLevel::Warning,
            Level::Info => WireLevel::Info,
            Level::Debug | Level::Trace => WireLevel::Debug,
        }
    }

    /// The wire name: `debug`, `info`, `warning`, `error` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            WireLevel::Debug => "debug",
            WireLevel::Info => "info",
            WireLevel::Warning => "warning",
            WireLevel::Error => "error",
            WireLevel::Critical => "critical",
        }
    }
}

/// Microseconds since the Unix epoch (negative before it; never panics).
pub(crate) fn unix_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// An RFC 3339 UTC timestamp with microseconds and `Z`, e.g. `2026-11-25T11:42:47.630157Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(pub(crate) i64);

impl Timestamp {
    /// Now, from the system clock.
    pub(crate) fn now() -> Self {
        Timestamp(unix_micros(SystemTime::now()))
    }
}

impl Timestamp {
    /// The RFC 3339 text, written without `fmt` machinery: years 1–9999 (every clock this runs on) by
    /// the civil-from-days algorithm (Howard Hinnant's), anything else through jiff. The same text as
    /// jiff's `{:.6}` (a proptest checks it); it is the worker's most frequent piece of formatting.
    pub(crate) fn write_rfc3339(self, out: &mut Vec<u8>) {
        match self.civil() {
            Some(text) => out.extend_from_slice(&text),
            None => {
                let _ = write!(out, "{}", JiffText(self));
            }
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for years 1–9999, else `None`.
    fn civil(self) -> Option<[u8; 27]> {
        let micros = self.0;
        if micros > JIFF_MAX_MICROS {
            // jiff clamps here (its range ends at 9999-12-30T22:00:00Z): print what it prints.
            return None;
        }
        let secs = micros.div_euclid(1_000_000);
        let frac = micros.rem_euclid(1_000_000);
        // Records of a batch are mostly of one second: its `YYYY-MM-DDTHH:MM:SS` is kept from the last
        // call on this thread, and only the fraction is written again.
        let head = LAST_SECOND
            .try_with(|last| match last.get() {
                (s, text) if s == secs => Some(text),
                _ => {
                    let text = second_text(secs)?;
                    last.set((secs, text));
                    Some(text)
                }
            })
            .unwrap_or_else(|_| second_text(secs))?;
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        b[..19].copy_from_slice(&head);
        // Two digits at a time; every value here is in 0..100 once split.
        let mut two = |at: usize, v: i64| {
            let v = v as usize * 2;
            b[at..at + 2].copy_from_slice(&DIGIT_PAIRS[v..v + 2]);
        };
        two(20, frac / 10_000);
        two(22, frac / 100 % 100);
        two(24, frac % 100);
        Some(b)
    }
}

thread_local! {
    /// The last second [`Timestamp::civil`] wrote on this thread (seconds since the epoch), and its
    /// `YYYY-MM-DDTHH:MM:SS`.
    static LAST_SECOND: std::cell::Cell<(i64, [u8; 19])> = const { std::cell::Cell::new((i64::MIN, [0; 19])) };
}

/// `YYYY-MM-DDTHH:MM:SS` of the second `secs` after the epoch, for years 1–9999; else `None`.
fn second_text(secs: i64) -> Option<[u8; 19]> {
    let date = date_text(secs.div_euclid(86_400))?;
    let sod = secs.rem_euclid(86_400);
    let mut b = *b"0000-00-00T00:00:00";
    b[..10].copy_from_slice(&date);
    let mut two = |at: usize, v: i64| {
        let v = v as usize * 2;
        b[at..at + 2].copy_from_slice(&DIGIT_PAIRS[v..v + 2]);
    };
    two(11, sod / 3_600);
    two(14, sod / 60 % 60);
    two(17, sod % 60);
    Some(b)
}

/// `YYYY-MM-DD` of the day `days` after 1970-01-01, by the civil-from-days algorithm (Howard
/// Hinnant's), for years 1–9999; else `None`.
fn date_text(days: i64) -> Option<[u8; 10]> {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(1..=9999).contains(&year) {
        return None;
    }
    let mut b = *b"0000-00-00";
    let mut two = |at: usize, v: i64| {
        let v = v as usize * 2;
        b[at..at + 2].copy_from_slice(&DIGIT_PAIRS[v..v + 2]);
    };
    two(0, year / 100);
    two(2, year % 100);
    two(5, month);
    two(8, day);
    Some(b)
}

/// "00" to "99".
static DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// `jiff::Timestamp::MAX` in microseconds (checked by a test).
const JIFF_MAX_MICROS: i64 = 253_402_207_200_999_999;

/// A timestamp as jiff prints it (clamped to jiff's range).
struct JiffText(Timestamp);

impl fmt::Display for JiffText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_microsecond(self.0 .0) {
            Ok(ts) => write!(f, "{ts:.6}"),
            // Outside jiff's range (years beyond ±9999): clamp rather than fail.
            Err(_) if self.0 .0 < 0 => write!(f, "{:.6}", jiff::Timestamp::MIN),
            Err(_) => write!(f, "{:.6}", jiff::Timestamp::MAX),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.civil() {
            // Only ASCII digits and separators: always UTF-8.
            Some(text) => f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?),
            None => JiffText(*self).fmt(f),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A `serde_json` formatter that writes compact JSON and cuts every string longer than `cap` bytes, keeping
/// a valid UTF-8 prefix and appending `…[truncated N bytes]`.
pub(crate) struct CappedFormatter {
    cap: usize,
    written: usize,
    truncated: usize,
}

impl CappedFormatter {
    pub(crate) fn new(cap: usize) -> Self {
        CappedFormatter {
            cap,
            written: 0,
            truncated: 0,
        }
    }
}

impl serde_json::ser::Formatter for CappedFormatter {
    fn begin_string<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.written = 0;
        self.truncated = 0;
        w.write_all(b"\"")
    }

    fn end_string<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.truncated > 0 {
            write!(w, "…[truncated {} bytes]", self.truncated)?;
        }
        w.write_all(b"\"")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if self.truncated > 0 {
            self.truncated += fragment.len();
            return Ok(());
        }
        let room = self.cap - self.written;
        if fragment.len() <= room {
            self.written += fragment.len();
            return w.write_all(fragment.as_bytes());
        }
        let (kept, cut) = cut_str(fragment, room);
        self.written = self.cap;
        self.truncated = cut;
        w.write_all(kept.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        if self.truncated > 0 || self.written >= self.cap {
            self.truncated += 1;
            return Ok(());
        }
        self.written += 1;
        serde_json::ser::CompactFormatter.write_char_escape(w, char_escape)
    }
}

/// Extra fields of a console JSON line (the wire puts these at payload or batch level instead).
pub(crate) struct LineExtras<'a> {
    pub service: &'a str,
    pub correlation_id: Option<&'a str>,
}

/// What each ASCII byte becomes in a JSON string: 0 = itself, `u` = `\u00XX`, else `\` + that byte.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends `s` with JSON escaping (no quotes), as [`escape_bytes`] does.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    escape_bytes(out, s.as_bytes());
}

/// The word test of [`escape_bytes`]: non-zero exactly when some byte of the eight in `x` is a control
/// byte, `"` or `\\`. The classic tests: borrows only run on past a byte that already matched, so the
/// answer as a whole is exact.
#[inline(always)]
fn dirty_word(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    below_space | zero_byte(x ^ (ONES * u64::from(b'"'))) | zero_byte(x ^ (ONES * u64::from(b'\\')))
}

/// [`escape_into`] for bytes that are UTF-8 by construction (a capture's strings): not checked again;
/// bytes from 0x80 up are copied as they are either way.
///
/// Most strings need no escape, and most are short. Eight bytes at a time, each word is checked and
/// stored in one go (a fixed-size copy, no `memcpy` call); the last few bytes go as the last eight,
/// overlapping what was already written. Only a string shorter than eight bytes is copied byte-wise,
/// and only a string that needs an escape takes the table.
#[inline]
pub(crate) fn escape_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len();
    if len < 8 {
        if bytes.iter().all(|&b| ESCAPE[b as usize] == 0) {
            out.extend_from_slice(bytes);
        } else {
            escape_slow(out, bytes);
        }
        return;
    }
    let mark = out.len();
    out.reserve(len);
    let word = |at: usize| -> [u8; 8] {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        w
    };
    let mut at = 0;
    while at + 8 <= len {
        let w = word(at);
        if dirty_word(u64::from_le_bytes(w)) != 0 {
            out.truncate(mark);
            return escape_slow(out, bytes);
        }
        out.extend_from_slice(&w);
        at += 8;
    }
    if at < len {
        let w = word(len - 8);
        if dirty_word(u64::from_le_bytes(w)) != 0 {
            out.truncate(mark);
            return escape_slow(out, bytes);
        }
        // The last eight bytes: those already written again, then the rest.
        out.truncate(mark + len - 8);
        out.extend_from_slice(&w);
    }
}

/// The escaping copy, through the table: for the strings that need an escape.
#[cold]
fn escape_slow(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if esc == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A JSON string being written: escapes, and cuts at `cap` source bytes (on a character boundary) with
/// a `…[truncated N bytes]` marker. Implements `fmt::Write`, so formatted messages stream straight in.
pub(crate) struct JsonStr<'a> {
    out: &'a mut Vec<u8>,
    cap: usize,
    written: usize,
    truncated: usize,
}

impl<'a> JsonStr<'a> {
    pub(crate) fn begin(out: &'a mut Vec<u8>, cap: usize) -> Self {
        out.push(b'"');
        JsonStr {
            out,
            cap,
            written: 0,
            truncated: 0,
        }
    }

    pub(crate) fn push(&mut self, s: &str) {
        if self.truncated > 0 {
            self.truncated += s.len();
            return;
        }
        let room = self.cap - self.written;
        if s.len() <= room {
            escape_into(self.out, s);
            self.written += s.len();
            return;
        }
        let (kept, cut) = cut_str(s, room);
        escape_into(self.out, kept);
        self.written = self.cap;
        self.truncated = cut;
    }

    pub(crate) fn end(self) {
        if self.truncated > 0 {
            let _ = write!(self.out, "…[truncated {} bytes]", self.truncated);
        }
        self.out.push(b'"');
    }
}

impl fmt::Write for JsonStr<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s);
        Ok(())
    }
}

pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str, cap: usize) {
    let mut js = JsonStr::begin(out, cap);
    js.push(s);
    js.end();
}

/// Writes a string that was already cut (`kept`, with `truncated` bytes left out) as a JSON string, with
/// the same `…[truncated N bytes]` marker as [`JsonStr`].
pub(crate) fn write_json_str_cut(out: &mut Vec<u8>, kept: &str, truncated: u64) {
    write_json_bytes_cut(out, kept.as_bytes(), truncated);
}

/// [`write_json_str_cut`] for a capture's bytes (UTF-8 by construction, see [`escape_bytes`]).
pub(crate) fn write_json_bytes_cut(out: &mut Vec<u8>, kept: &[u8], truncated: u64) {
    out.push(b'"');
    escape_bytes(out, kept);
    if truncated > 0 {
        let _ = write!(out, "…[truncated {truncated} bytes]");
    }
    out.push(b'"');
}

/// True for keys that never appear in metadata.
pub(crate) fn is_reserved_key(key: &str) -> bool {
    key == SEND_KEY || key == CORRELATION_KEY
}

/// Whether the record asks to stay on the host (`send = false`, or `send = "false"`).
/// `s` cut to at most `max` bytes on a character boundary: the kept prefix and how many bytes were cut.
/// The one cut every writer uses (capture, JSON, console), so they all keep the same bytes.
pub(crate) fn cut_str(s: &str, max: usize) -> (&str, usize) {
    if s.len() <= max {
        return (s, 0);
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    (&s[..cut], s.len() - cut)
}

pub(crate) fn keeps_local(record: &Record<'_>) -> bool {
    record
        .key_values()
        .get(Key::from_str(SEND_KEY))
        .is_some_and(|v| sends_false(&v))
}

/// The one rule for a `send` value: `false`, or the string `"false"` (what `%`/`?` formatting and
/// other sources give), keeps the record on the host. The capture applies it to the value it visits,
/// [`keeps_local`] to a record's `send` key.
pub(crate) fn sends_false(value: &Value<'_>) -> bool {
    match value.to_bool() {
        Some(b) => !b,
        None => value.to_borrowed_str() == Some("false"),
    }
}

/// A key-value's value with its JSON type: numbers, bools and strings as themselves, `:serde` values as
/// nested JSON, `:?`/`:%` as strings, errors as their message, non-finite floats as `"NaN"`/`"inf"`/`"-inf"`.
pub(crate) struct JsonValue<'a, 'v>(pub &'a Value<'v>);

impl Serialize for JsonValue<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut visitor = ValueVisitor {
            ser: Some(s),
            out: None,
        };
        let visited = self.0.visit(&mut visitor);
        match (visitor.out, visited) {
            (Some(out), _) => out,
            (None, Err(e)) => Err(S::Error::custom(e)),
            (None, Ok(())) => Err(S::Error::custom("value produced no output")),
        }
    }
}

struct ValueVisitor<S: Serializer> {
    ser: Option<S>,
    out: Option<Result<S::Ok, S::Error>>,
}

impl<S: Serializer> ValueVisitor<S> {
    fn emit(&mut self, f: impl FnOnce(S) -> Result<S::Ok, S::Error>) -> Result<(), kv::Error> {
        if let Some(ser) = self.ser.take() {
            self.out = Some(f(ser));
        }
        Ok(())
    }
}

pub(crate) fn non_finite_name(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v.is_infinite() {
        Some(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        None
    }
}

impl<'v, S: Serializer> VisitValue<'v> for ValueVisitor<S> {
    fn visit_any(&mut self, value: Value<'_>) -> Result<(), kv::Error> {
        self.emit(|s| value.serialize(s))
    }
    fn visit_null(&mut self) -> Result<(), kv::Error> {
        self.emit(|s| s.serialize_unit())
    }
    fn visit_u64(&mut self, v: u64) -> Result<(), kv::Error> {
        self.emit(|s| s.serialize_u64(v))
    }
    fn visit_i64(&mut self, v: i64) -> Result<(), kv::Error> {
        self.emit(|s| s.serialize_i64(v))
    }
    fn visit_u128(&mut self, v: u128) -> Result<(), kv::Error> {
        self.emit(|s| s.serialize_u128(v))
    }
    fn visit_i128(&mut self, v: i128) -> Result<(), kv::Error> {
        self.emit(|s| s.serialize_i128(v))
    }
    fn visit_f64(&mut self, v: f64) -> Result<(), kv::Error> {
        match non_finite_name(v) {
            Some(name) => self.emit(|s| s.serialize_str(name)),
            None => self.emit(|s| s.serialize_f64(v)),
        }
    }
    fn visit_bool(&mut self, v: bool) -> Result<(), kv::Error> {
        self.emit(|s| s.serialize_bool(v))
    }
    fn visit_str(&mut self, v: &str) -> Result<(), kv::Error> {
        self.emit(|s| s.serialize_str(v))
    }
    fn visit_char(&mut self, v: char) -> Result<(), kv::Error> {
        self.emit(|s| s.serialize_char(v))
    }
    fn visit_error(&mut self, err: &(dyn std::error::Error + 'static)) -> Result<(), kv::Error> {
        self.emit(|s| s.collect_str(err))
    }
    fn visit_borrowed_error(
        &mut self,
        err: &'v (dyn std::error::Error + 'static),
    ) -> Result<(), kv::Error> {
        self.emit(|s| s.collect_str(err))
    }
}

/// The first value captured with `:err` in a record.
pub(crate) fn find_error<'kvs>(
    source: &'kvs dyn Source,
) -> Option<&'kvs (dyn std::error::Error + 'static)> {
    struct Finder<'kvs>(Option<&'kvs (dyn std::error::Error + 'static)>);
    impl<'kvs> VisitSource<'kvs> for Finder<'kvs> {
        fn visit_pair(&mut self, _key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
            self.0 = borrowed_error(&value);
            match self.0 {
                Some(_) => Err(kv::Error::msg("found")),
                None => Ok(()),
            }
        }
    }
    let mut finder = Finder(None);
    let _ = source.visit(&mut finder);
    finder.0
}

/// An error and its `source()` chain, one per line: the payload's `traceback`.
pub(crate) struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        // Bounded, in case of a cyclic chain.
        let mut depth = 0;
        while let Some(err) = next {
            if depth == 64 {
                return f.write_str("\ncaused by: …");
            }
            write!(f, "\ncaused by: {err}")?;
            next = err.source();
            depth += 1;
        }
        Ok(())
    }
}

/// An owned key-value value, for fields bound with [`bind!`](crate::bind) that outlive the call site.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldValue {
    /// JSON `null`.
    Null,
    /// A bool.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float (non-finite ones are sent as strings).
    F64(f64),
    /// A string.
    Str(String),
    /// Any JSON value (from a `:serde` capture).
    Json(serde_json::Value),
}

impl FieldValue {
    /// Captures a borrowed `log` value into an owned one, keeping its JSON type.
    pub fn from_value(value: &Value<'_>) -> Self {
        struct Capture(Option<FieldValue>);
        impl<'v> VisitValue<'v> for Capture {
            fn visit_any(&mut self, value: Value<'_>) -> Result<(), kv::Error> {
                self.0 = Some(match serde_json::to_value(JsonValue(&value)) {
                    Ok(serde_json::Value::String(s)) => FieldValue::Str(s),
                    Ok(v) => FieldValue::Json(v),
                    Err(_) => FieldValue::Str(value.to_string()),
                });
                Ok(())
            }
            fn visit_null(&mut self) -> Result<(), kv::Error> {
                self.0 = Some(FieldValue::Null);
                Ok(())
            }
            fn visit_u64(&mut self, v: u64) -> Result<(), kv::Error> {
                self.0 = Some(FieldValue::U64(v));
                Ok(())
            }
            fn visit_i64(&mut self, v: i64) -> Result<(), kv::Error> {
                self.0 = Some(FieldValue::I64(v));
                Ok(())
            }
            fn visit_f64(&mut self, v: f64) -> Result<(), kv::Error> {
                self.0 = Some(FieldValue::F64(v));
                Ok(())
            }
            fn visit_bool(&mut self, v: bool) -> Result<(), kv::Error> {
                self.0 = Some(FieldValue::Bool(v));
                Ok(())
            }
            fn visit_str(&mut self, v: &str) -> Result<(), kv::Error> {
                self.0 = Some(FieldValue::Str(v.to_owned()));
                Ok(())
            }
            fn visit_error(
                &mut self,
                err: &(dyn std::error::Error + 'static),
            ) -> Result<(), kv::Error> {
                self.0 = Some(FieldValue::Str(err.to_string()));
                Ok(())
            }
        }
        let mut capture = Capture(None);
        let _ = value.visit(&mut capture);
        capture
            .0
            .unwrap_or_else(|| FieldValue::Str(value.to_string()))
    }

    /// Captures a value as nested JSON through `serde` (`:serde` in [`bind!`](crate::bind)).
    pub fn from_serde<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_value(value) {
            Ok(serde_json::Value::String(s)) => FieldValue::Str(s),
            Ok(v) => FieldValue::Json(v),
            Err(e) => FieldValue::Str(format!("<serialization failed: {e}>")),
        }
    }
}

impl kv::ToValue for FieldValue {
    fn to_value(&self) -> Value<'_> {
        match self {
            FieldValue::Null => Value::null(),
            FieldValue::Bool(v) => Value::from(*v),
            FieldValue::I64(v) => Value::from(*v),
            FieldValue::U64(v) => Value::from(*v),
            FieldValue::F64(v) => Value::from(*v),
            FieldValue::Str(v) => Value::from(v.as_str()),
            FieldValue::Json(v) => Value::from_serde(v),
        }
    }
}

macro_rules! field_from {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {$(
        impl From<$t> for FieldValue {
            fn from(v: $t) -> Self {
                FieldValue::$variant(<$as>::from(v))
            }
        }
    )*};
}

field_from!(
    bool => Bool as bool,
    i8 => I64 as i64, i16 => I64 as i64, i32 => I64 as i64, i64 => I64 as i64,
    u8 => U64 as u64, u16 => U64 as u64, u32 => U64 as u64, u64 => U64 as u64,
    f32 => F64 as f64, f64 => F64 as f64,
    String => Str as String, &str => Str as String,
);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::encode::oracle::encode_entry;
    use log::kv::ToValue;

    /// Every length around the word size, with each escapable byte (and a multi-byte character) at
    /// every position, into a buffer that already holds something: what serde_json writes.
    #[test]
    fn escape_bytes_matches_serde_json_at_every_length_and_position() {
        let specials = ["\"", "\\", "\n", "\u{1}", "\u{1f}", "\u{7f}", "é"];
        for len in 0..=40usize {
            let plain = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"[..len].to_owned();
            let mut cases = vec![plain.clone()];
            for at in 0..len {
                for special in specials {
                    let mut s = plain[..at].to_owned();
                    s.push_str(special);
                    s.push_str(&plain[at + 1..]);
                    cases.push(s);
                }
            }
            for case in cases {
                let mut out = b"prefix:".to_vec();
                escape_bytes(&mut out, case.as_bytes());
                let want = serde_json::to_string(&case).unwrap();
                assert_eq!(
                    std::str::from_utf8(&out[7..]).unwrap(),
                    &want[1..want.len() - 1],
                    "{case:?}"
                );
                assert_eq!(&out[..7], b"prefix:");
            }
        }
    }

    fn encode(record: &Record<'_>, cap: usize) -> serde_json::Value {
        let mut buf = Vec::new();
        encode_entry(
            &mut buf,
            record,
            WireLevel::Info,
            None,
            cap,
            usize::MAX,
            None,
        )
        .unwrap();
        serde_json::from_slice(&buf)
            .unwrap_or_else(|e| panic!("invalid JSON {e}: {}", String::from_utf8_lossy(&buf)))
    }

    fn with_kvs(kvs: &[(&str, Value<'_>)], check: impl FnOnce(serde_json::Value)) {
        let kvs: Vec<(&str, Value<'_>)> = kvs.to_vec();
        let record = Record::builder()
            .args(format_args!("msg"))
            .target("t")
            .level(Level::Info)
            .key_values(&kvs)
            .build();
        check(encode(&record, DEFAULT_MAX_STRING_BYTES));
    }

    #[derive(serde::Serialize)]
    struct Order {
        id: u32,
        items: Vec<&'static str>,
    }

    /// An error with a source, for traceback tests (here and in `capture`).
    #[derive(Debug)]
    pub(crate) struct Outer(pub(crate) Inner);
    #[derive(Debug)]
    pub(crate) struct Inner;
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("payment failed")
        }
    }
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection reset")
        }
    }
    impl std::error::Error for Inner {}
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn key_values_keep_their_json_types() {
        let order = Order {
            id: 7,
            items: vec!["a", "b"],
        };
        let point = (1, 2);
        let table: Vec<(&str, Value<'_>, serde_json::Value)> = vec![
            ("i", 42i64.to_value(), serde_json::json!(42)),
            ("neg", (-3i32).to_value(), serde_json::json!(-3)),
            ("u", u64::MAX.to_value(), serde_json::json!(u64::MAX)),
            ("f", 0.5f64.to_value(), serde_json::json!(0.5)),
            ("b", true.to_value(), serde_json::json!(true)),
            ("s", "text".to_value(), serde_json::json!("text")),
            ("c", 'x'.to_value(), serde_json::json!("x")),
            ("nan", f64::NAN.to_value(), serde_json::json!("NaN")),
            ("inf", f64::INFINITY.to_value(), serde_json::json!("inf")),
            (
                "ninf",
                f64::NEG_INFINITY.to_value(),
                serde_json::json!("-inf"),
            ),
            (
                "dbg",
                Value::from_debug(&point),
                serde_json::json!("(1, 2)"),
            ),
            (
                "disp",
                Value::from_display(&"shown"),
                serde_json::json!("shown"),
            ),
            (
                "serde",
                Value::from_serde(&order),
                serde_json::json!({"id": 7, "items": ["a", "b"]}),
            ),
            ("none", Value::null(), serde_json::Value::Null),
        ];
        let kvs: Vec<(&str, Value<'_>)> = table.iter().map(|(k, v, _)| (*k, v.clone())).collect();
        with_kvs(&kvs, |json| {
            for (k, _, want) in &table {
                assert_eq!(&json["metadata"][*k], want, "key {k}");
            }
            assert_eq!(json["exception"], serde_json::Value::Null);
        });
    }

    #[test]
    fn send_and_correlation_id_never_reach_metadata() {
        with_kvs(
            &[
                ("send", true.to_value()),
                ("correlation_id", "x".to_value()),
                ("k", 1.to_value()),
            ],
            |json| {
                assert_eq!(json["metadata"], serde_json::json!({"k": 1}));
            },
        );
    }

    #[test]
    fn errors_become_a_traceback_with_their_source_chain() {
        let err = Outer(Inner);
        with_kvs(&[("error", Value::from_dyn_error(&err))], |json| {
            assert_eq!(
                json["exception"]["traceback"],
                "payment failed\ncaused by: connection reset"
            );
            assert_eq!(json["metadata"]["error"], "payment failed");
        });
    }

    #[test]
    fn any_string_encodes_to_valid_json() {
        let nasty = [
            "quote\" backslash\\ slash/",
            "control \u{0}\u{1}\u{1f}\u{7f} tab\t newline\n cr\r",
            "unicode é 漢字 🎉 \u{2028}\u{2029}",
            "\u{feff}bom",
            "",
        ];
        for s in nasty {
            let kvs = [(s, s)];
            let json = encode(
                &Record::builder()
                    .args(format_args!("{s}"))
                    .target(s)
                    .level(Level::Info)
                    .key_values(&kvs)
                    .build(),
                DEFAULT_MAX_STRING_BYTES,
            );
            assert_eq!(json["message"], s);
            assert_eq!(json["loggerName"], s);
            assert_eq!(json["metadata"][s], s);
        }
    }

    #[test]
    fn long_strings_are_cut_with_a_marker_on_a_char_boundary() {
        let long = "é".repeat(20); // 40 bytes
        let kvs = [("v", long.as_str())];
        let json = encode(
            &Record::builder()
                .args(format_args!("{long}"))
                .level(Level::Info)
                .key_values(&kvs)
                .build(),
            11,
        );
        assert_eq!(json["message"], "ééééé…[truncated 30 bytes]");
        assert_eq!(json["metadata"]["v"], "ééééé…[truncated 30 bytes]");
        let short = Record::builder()
            .args(format_args!("0123456789a"))
            .level(Level::Info)
            .build();
        assert_eq!(encode(&short, 11)["message"], "0123456789a");
        // Escapes count one byte each; the cap also applies to keys, which is why it is never below 64.
        let newlines = "\n".repeat(70);
        let want = format!("{}…[truncated 6 bytes]", "\n".repeat(64));
        let got = encode(
            &Record::builder()
                .args(format_args!("{newlines}"))
                .level(Level::Info)
                .build(),
            64,
        );
        assert_eq!(got["message"], want.as_str());
    }

    #[test]
    fn key_values_past_max_record_bytes_are_left_out_and_counted() {
        let value = "v".repeat(100);
        let many = vec![1u8; 100_000];
        let kvs: [(&str, Value<'_>); 4] = [
            ("a", value.as_str().into()),
            ("b", value.as_str().into()),
            ("many", Value::from_serde(&many)),
            ("c", 1.into()),
        ];
        let record = Record::builder()
            .args(format_args!("m"))
            .target("t")
            .level(Level::Info)
            .key_values(&kvs)
            .build();
        let encode_with = |ts: Option<Timestamp>, extras: Option<&LineExtras<'_>>| {
            let mut buf = Vec::new();
            encode_entry(&mut buf, &record, WireLevel::Info, ts, 1024, 300, extras).unwrap();
            buf
        };
        // `{"level":"info","message":"m","loggerName":"t","metadata":{` is 59 bytes and `"a":"v…"` 107
        // (108 with its comma): `a` and `b` end at 274; the 100,000 numbers would pass 300, so they and
        // `c` are left out.
        let plain = encode_with(None, None);
        let json: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(json["metadata"]["a"], value.as_str());
        assert_eq!(json["metadata"]["b"], value.as_str());
        assert_eq!(json["metadata"]["logiscout.truncated_keys"], 2);
        assert_eq!(json["metadata"].as_object().unwrap().len(), 3);
        // The `:serde` value stopped at the cap: it never took its 200 KB.
        assert!(plain.capacity() < 1024, "{}", plain.capacity());
        // Neither the timestamp nor the console's extras count: the same key-values are kept.
        let extras = LineExtras {
            service: "svc",
            correlation_id: Some("req-1"),
        };
        let line = encode_with(Some(Timestamp(0)), Some(&extras));
        let line: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(line["metadata"], json["metadata"]);
        assert_eq!(line["service"], "svc");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        for micros in [
            0,
            -1,
            1,
            951_782_400_000_000,     // 2000-02-29
            -62_135_596_800_000_000, // 0001-01-01
            -62_135_596_800_000_001, // just before: through jiff
            JIFF_MAX_MICROS,
            JIFF_MAX_MICROS + 1,     // jiff clamps from here on
            253_402_300_800_000_000, // 10000
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(
                Timestamp(micros).to_string(),
                JiffText(Timestamp(micros)).to_string(),
                "{micros}"
            );
        }
        assert_eq!(jiff::Timestamp::MAX.as_microsecond(), JIFF_MAX_MICROS);
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            Timestamp(1_795_000_000_123_456).to_string(),
            "2026-11-18T11:06:40.123456Z"
        );
        let mut buf = Vec::new();
        let record = Record::builder()
            .args(format_args!("m"))
            .level(Level::Warn)
            .build();
        encode_entry(
            &mut buf,
            &record,
            WireLevel::from_log(Level::Warn, false),
            Some(Timestamp(1)),
            100,
            usize::MAX,
            None,
        )
        .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(json["timestamp"], "1970-01-01T00:00:00.000001Z");
        assert_eq!(json["level"], "warning");
    }

    #[test]
    fn levels_map_to_wire_names() {
        assert_eq!(WireLevel::from_log(Level::Trace, false).as_str(), "debug");
        assert_eq!(WireLevel::from_log(Level::Debug, false).as_str(), "debug");
        assert_eq!(WireLevel::from_log(Level::Info, true).as_str(), "info");
        assert_eq!(WireLevel::from_log(Level::Error, false).as_str(), "error");
        assert_eq!(WireLevel::from_log(Level::Error, true).as_str(), "critical");
    }

    #[test]
    fn send_false_is_recognised_in_its_forms() {
        let check = |v: Value<'_>| {
            let kvs = [("send", v)];
            let r = Record::builder()
                .args(format_args!("m"))
                .key_values(&kvs)
                .build();
            keeps_local(&r)
        };
        assert!(check(false.to_value()));
        assert!(check("false".to_value()));
        assert!(!check(true.to_value()));
        assert!(!check(1.to_value()));
    }

    #[test]
    fn field_values_capture_types() {
        assert_eq!(FieldValue::from_value(&7i32.to_value()), FieldValue::I64(7));
        assert_eq!(
            FieldValue::from_value(&"x".to_value()),
            FieldValue::Str("x".into())
        );
        assert_eq!(
            FieldValue::from_value(&Value::from_debug(&(1, 2))),
            FieldValue::Str("(1, 2)".into())
        );
        assert_eq!(
            FieldValue::from_serde(&[1, 2]),
            FieldValue::Json(serde_json::json!([1, 2]))
        );
    }

    proptest::proptest! {
        /// The word-at-a-time escaper writes what serde_json writes, for any string.
        #[test]
        fn escaping_matches_serde_json(chars in proptest::collection::vec(proptest::prop_oneof![
            proptest::char::any(),
            proptest::sample::select(vec!['"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', 'a', ' ']),
        ], 0..80)) {
            let s: String = chars.into_iter().collect();
            let mut ours = vec![b'"'];
            escape_into(&mut ours, &s);
            ours.push(b'"');
            proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&s).unwrap());
        }

        /// Instants close together (the same day or the same second, mostly, and across midnight and
        /// the epoch) print as jiff prints them too: the second's text kept from the last call is only
        /// reused for the same second.
        #[test]
        fn nearby_timestamps_print_as_jiff_prints_them(start in proptest::prop_oneof![0i64..300_000_000_000_000_000, -3_000_000i64..3_000_000, proptest::strategy::Strategy::prop_map(0i64..20_000, |d: i64| d * 86_400_000_000 - 1_000_000)], steps in proptest::collection::vec(proptest::prop_oneof![-90_000_000_000i64..90_000_000_000, -2_000_000i64..2_000_000], 1..40)) {
            let mut micros = start;
            for step in steps {
                micros += step;
                let mut fast = Vec::new();
                Timestamp(micros).write_rfc3339(&mut fast);
                proptest::prop_assert_eq!(String::from_utf8(fast).unwrap(), JiffText(Timestamp(micros)).to_string());
            }
        }

        /// The hand-written RFC 3339 text is jiff's, for any instant jiff can print.
        #[test]
        fn timestamps_print_as_jiff_prints_them(micros in -400_000_000_000_000_000i64..400_000_000_000_000_000) {
            let mut fast = Vec::new();
            Timestamp(micros).write_rfc3339(&mut fast);
            let jiff = JiffText(Timestamp(micros)).to_string();
            proptest::prop_assert_eq!(String::from_utf8(fast).unwrap(), jiff.clone());
            proptest::prop_assert_eq!(Timestamp(micros).to_string(), jiff);
        }

        /// Any message, target, key and value encodes to JSON that parses back to the same strings
        /// (within the cap, which is exact for short strings).
        #[test]
        fn any_strings_round_trip_through_the_encoder(
            message in ".{0,200}",
            target in ".{0,40}",
            key in ".{1,40}",
            value in ".{0,200}",
            number in proptest::num::f64::ANY,
        ) {
            proptest::prop_assume!(!is_reserved_key(&key) && key != "n");
            let kvs: [(&str, Value<'_>); 2] = [(&key, value.as_str().into()), ("n", number.into())];
            let json = encode(
                &Record::builder()
                    .args(format_args!("{message}"))
                    .target(&target)
                    .level(Level::Info)
                    .key_values(&kvs)
                    .build(),
                DEFAULT_MAX_STRING_BYTES,
            );
            proptest::prop_assert_eq!(json["message"].as_str(), Some(message.as_str()));
            proptest::prop_assert_eq!(json["loggerName"].as_str(), Some(target.as_str()));
            proptest::prop_assert_eq!(json["metadata"][&key].as_str(), Some(value.as_str()));
            match non_finite_name(number) {
                Some(name) => proptest::prop_assert_eq!(json["metadata"]["n"].as_str(), Some(name)),
                None => proptest::prop_assert_eq!(json["metadata"]["n"].as_f64(), Some(number)),
            }
        }

        /// Cutting never breaks UTF-8 or JSON, and keeps exactly the bytes below the cap.
        #[test]
        fn cut_strings_stay_valid(value in ".{0,300}", cap in 64usize..200) {
            let kvs = [("v", value.as_str())];
            let record = Record::builder()
                .args(format_args!("m"))
                .level(Level::Info)
                .key_values(&kvs)
                .build();
            let json = encode(&record, cap);
            let got = json["metadata"]["v"].as_str().unwrap();
            if value.len() <= cap {
                proptest::prop_assert_eq!(got, value.as_str());
            } else {
                proptest::prop_assert!(got.contains("…[truncated "));
                let kept = &got[..got.find("…[truncated ").unwrap()];
                proptest::prop_assert!(value.starts_with(kept));
                proptest::prop_assert!(kept.len() <= cap && kept.len() + 4 > cap.min(value.len()));
            }
        }
    }
}
