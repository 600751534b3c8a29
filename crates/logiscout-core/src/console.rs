//! Console output: a readable line (structlog's dev renderer is the model) or one JSON object per line.
//!
//! Each record is rendered into a thread-local buffer first and written with one `write_all`, so lines from
//! different threads never interleave.
//!
//! A custom writer (`Config::console_writer`) is user code run under our lock, so two things are guarded:
//! a writer that logs (re-entrant records are kept aside and written after the line being written, never
//! under the lock they would wait for) and a writer that panics (caught; reported once on stderr; the next
//! record is printed as usual).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use log::kv::{self, Key, Value, VisitSource, VisitValue};
use log::Record;

use crate::config::{Console, SharedWriter};
use crate::context::CorrelationId;
use crate::encode::capture::{capture_to_print, render_line};
use crate::encode::record::{
    find_error, is_reserved_key, non_finite_name, ErrorChain, LineExtras, Timestamp, WireLevel,
    TRUNCATED_KEYS_KEY,
};

pub(crate) struct ConsoleSink {
    format: Console,
    color: bool,
    writer: Option<SharedWriter>,
    max_string_bytes: usize,
    max_record_bytes: usize,
    /// Whether a panic of the custom writer has been reported on stderr (once per logger).
    panic_reported: AtomicBool,
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Set while this thread runs the custom writer (`write_all` or `flush`) under its lock: a record it
    /// logs must not take that lock again (the same thread would wait for itself).
    static IN_WRITER: Cell<bool> = const { Cell::new(false) };
    /// Lines of records logged from inside the custom writer, written once it has returned.
    static DEFERRED: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Buffers above this size are not kept between records.
const KEEP_BUFFER_BYTES: usize = 64 * 1024;

/// At most this many lines logged from inside one call of the custom writer are printed after it; the
/// rest are left off the console (they are still shipped).
const MAX_DEFERRED_LINES: usize = 16;

/// Clears [`IN_WRITER`] when the outermost writer call ends, even by unwinding.
struct InWriter;

impl InWriter {
    /// `None` when this thread is already inside the writer.
    fn enter() -> Option<InWriter> {
        match IN_WRITER.try_with(|f| f.replace(true)) {
            Ok(false) => Some(InWriter),
            _ => None,
        }
    }
}

impl Drop for InWriter {
    fn drop(&mut self) {
        let _ = IN_WRITER.try_with(|f| f.set(false));
    }
}

impl ConsoleSink {
    pub(crate) fn new(
        format: Console,
        writer: Option<SharedWriter>,
        max_string_bytes: usize,
        max_record_bytes: usize,
    ) -> Self {
        let color = writer.is_none()
            && format == Console::Pretty
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stderr().is_terminal();
        ConsoleSink {
            format,
            color,
            writer,
            max_string_bytes,
            max_record_bytes,
            panic_reported: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.format != Console::Off
    }

    pub(crate) fn write(
        &self,
        record: &Record<'_>,
        level: WireLevel,
        ts: Timestamp,
        correlation: Option<&CorrelationId>,
        service: &str,
    ) {
        if !self.is_on() {
            return;
        }
        // A record logged while this thread is already rendering one (from a `Display` impl) gets a buffer
        // of its own rather than a panic.
        let rendered = LINE.try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                self.render_and_write(&mut buf, record, level, ts, correlation, service);
                if buf.capacity() > KEEP_BUFFER_BYTES {
                    *buf = Vec::new();
                }
                true
            }
            Err(_) => false,
        });
        if rendered != Ok(true) {
            let mut buf = Vec::new();
            self.render_and_write(&mut buf, record, level, ts, correlation, service);
        }
    }

    fn render_and_write(
        &self,
        buf: &mut Vec<u8>,
        record: &Record<'_>,
        level: WireLevel,
        ts: Timestamp,
        correlation: Option<&CorrelationId>,
        service: &str,
    ) {
        buf.clear();
        match self.format {
            Console::Off => return,
            Console::Json => {
                let extras = LineExtras {
                    service,
                    correlation_id: correlation.map(CorrelationId::as_str),
                };
                if json_line(
                    buf,
                    record,
                    level,
                    ts,
                    &extras,
                    self.max_string_bytes,
                    self.max_record_bytes,
                )
                .is_err()
                {
                    buf.clear();
                    buf.extend_from_slice(br#"{"level":"error","message":"logiscout: a record could not be encoded"}"#);
                }
            }
            Console::Pretty => {
                // Straight into the line buffer (empty here, so valid UTF-8): a long line is not copied.
                let mut line = String::from_utf8(std::mem::take(buf)).unwrap_or_default();
                let caps = Caps {
                    string: self.max_string_bytes,
                    record: self.max_record_bytes,
                };
                let _ = render_pretty(&mut line, record, level, ts, correlation, self.color, caps);
                *buf = line.into_bytes();
            }
        }
        buf.push(b'\n');
        // Console errors (closed stderr, full disk) cannot be reported anywhere better; they are ignored.
        match &self.writer {
            None => {
                let _ = std::io::stderr().lock().write_all(buf);
            }
            Some(w) => self.write_custom(w, buf),
        }
    }

    /// One line to the custom writer. A record logged from inside the writer (this thread already holds
    /// its lock) is kept aside and written right after the line that caused it; what those deferred
    /// writes log in turn is left off the console, so a writer that logs on every write cannot loop.
    fn write_custom(&self, w: &SharedWriter, line: &[u8]) {
        let Some(_inside) = InWriter::enter() else {
            let _ = DEFERRED.try_with(|d| {
                if let Ok(mut d) = d.try_borrow_mut() {
                    if d.len() < MAX_DEFERRED_LINES {
                        d.push(line.to_vec());
                    }
                }
            });
            return;
        };
        self.run_writer(w, |w| w.write_all(line));
    }

    /// Runs `op` on the custom writer under its lock (a lock poisoned by an earlier panic is taken back),
    /// then writes the lines of records logged from inside it. Records logged while those are written are
    /// not printed.
    fn run_writer(
        &self,
        w: &SharedWriter,
        op: impl FnOnce(&mut (dyn Write + Send)) -> std::io::Result<()>,
    ) {
        let mut guard = w.lock().unwrap_or_else(|poisoned| {
            w.clear_poison();
            poisoned.into_inner()
        });
        let w = &mut **guard;
        self.call_writer(|| op(&mut *w));
        for line in take_deferred() {
            self.call_writer(|| w.write_all(&line));
        }
        drop(take_deferred());
    }

    /// Calls the user's writer; a panic in it is caught (the line is lost, the writer stays usable) and
    /// reported once on stderr.
    fn call_writer(&self, f: impl FnOnce() -> std::io::Result<()>) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
            self.report_panic(payload.as_ref());
        }
    }

    fn report_panic(&self, payload: &(dyn Any + Send)) {
        if self.panic_reported.swap(true, Ordering::Relaxed) {
            return;
        }
        let _ = writeln!(
            std::io::stderr().lock(),
            "logiscout: the console writer panicked ({}); that line is lost, the next ones are written \
             to it as usual (reported once)",
            panic_message(payload)
        );
    }

    pub(crate) fn flush(&self) {
        match &self.writer {
            None => {
                let _ = std::io::stderr().flush();
            }
            Some(w) => {
                // A writer whose `flush` logs: those records are printed after the flush, as for `write`.
                let Some(_inside) = InWriter::enter() else {
                    return;
                };
                self.run_writer(w, |w| w.flush());
            }
        }
    }
}

fn take_deferred() -> Vec<Vec<u8>> {
    DEFERRED
        .try_with(|d| d.try_borrow_mut().map(|mut d| std::mem::take(&mut *d)))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// A panic's message, when it is a string (it nearly always is).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a non-string payload"
    }
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const CYAN: &str = "\x1b[36m";
const MAGENTA: &str = "\x1b[35m";
const BLUE: &str = "\x1b[34m";

fn level_color(level: WireLevel) -> &'static str {
    match level {
        WireLevel::Debug => "\x1b[32m",
        WireLevel::Info => "\x1b[32;1m",
        WireLevel::Warning => "\x1b[33;1m",
        WireLevel::Error => "\x1b[31;1m",
        WireLevel::Critical => "\x1b[41;97;1m",
    }
}

struct Paint {
    on: bool,
}

impl Paint {
    fn start(&self, out: &mut String, code: &str) {
        if self.on {
            out.push_str(code);
        }
    }
    fn end(&self, out: &mut String) {
        if self.on {
            out.push_str(RESET);
        }
    }
}

/// What a pretty line keeps to: the message, target, each key and value, and the traceback at `string`
/// bytes (`max_string_bytes`, with the `…[truncated N bytes]` marker); the line, up to the end of its
/// key-values, at `record` bytes (`max_record_bytes`): the key-value that would pass it and every later
/// one are left out, and `logiscout.truncated_keys=N` says how many, as in the JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub(crate) string: usize,
    pub(crate) record: usize,
}

/// A `fmt::Write` into a `String` that keeps the first `left` bytes (cut on a character boundary; once
/// cut, later pieces are counted whole, as the JSON writer does) and counts the rest.
struct Cut<'a> {
    out: &'a mut String,
    left: usize,
    truncated: usize,
}

impl<'a> Cut<'a> {
    fn new(out: &'a mut String, cap: usize) -> Self {
        Cut {
            out,
            left: cap,
            truncated: 0,
        }
    }

    /// Adds the `…[truncated N bytes]` marker if anything was cut.
    fn end(self) {
        if self.truncated > 0 {
            let _ = write!(self.out, "…[truncated {} bytes]", self.truncated);
        }
    }
}

impl fmt::Write for Cut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.truncated > 0 {
            self.truncated += s.len();
            return Ok(());
        }
        if s.len() <= self.left {
            self.out.push_str(s);
            self.left -= s.len();
            return Ok(());
        }
        let (kept, cut) = crate::encode::record::cut_str(s, self.left);
        self.out.push_str(kept);
        self.truncated = cut;
        self.left = 0;
        Ok(())
    }
}

/// `s` cut at `cap` bytes with the marker, into `out`.
fn push_cut(out: &mut String, s: &str, cap: usize) {
    let mut c = Cut::new(out, cap);
    let _ = c.write_str(s);
    c.end();
}

/// `2026-11-25T11:42:47.636304Z [info     ] Fetching user                  [api] user_id=7 correlation_id=…`
pub(crate) fn render_pretty(
    out: &mut String,
    record: &Record<'_>,
    level: WireLevel,
    ts: Timestamp,
    correlation: Option<&CorrelationId>,
    color: bool,
    caps: Caps,
) -> fmt::Result {
    let base = out.len();
    let p = Paint { on: color };
    p.start(out, DIM);
    write!(out, "{ts}")?;
    p.end(out);
    out.push_str(" [");
    p.start(out, level_color(level));
    write!(out, "{:<9}", level.as_str())?;
    p.end(out);
    out.push_str("] ");
    p.start(out, BOLD);
    let before = out.len();
    let mut message = Cut::new(out, caps.string);
    write!(message, "{}", record.args())?;
    message.end();
    let width = out[before..].chars().count();
    p.end(out);
    for _ in width..30 {
        out.push(' ');
    }
    out.push_str(" [");
    p.start(out, BLUE);
    push_cut(out, record.target(), caps.string);
    p.end(out);
    out.push(']');
    let mut pairs = Pairs {
        out,
        paint: &p,
        base,
        caps,
        left_out: 0,
    };
    let _ = record.key_values().visit(&mut pairs);
    let left_out = pairs.left_out;
    if left_out > 0 {
        pairs.pair(TRUNCATED_KEYS_KEY, |out| write!(out, "{left_out}"))?;
    }
    if let Some(id) = correlation {
        pairs.pair("correlation_id", |out| {
            out.push_str(id.as_str());
            Ok(())
        })?;
    }
    if let Some(err) = find_error(record.key_values()) {
        let mut traceback = String::new();
        let mut c = Cut::new(&mut traceback, caps.string);
        let _ = write!(c, "{}", ErrorChain(err));
        c.end();
        for line in traceback.lines() {
            out.push_str("\n    ");
            out.push_str(line);
        }
    }
    Ok(())
}

struct Pairs<'a> {
    out: &'a mut String,
    paint: &'a Paint,
    /// Where the line starts in `out`.
    base: usize,
    caps: Caps,
    /// Key-values left out for `caps.record`; once one is, all later ones are.
    left_out: u64,
}

impl Pairs<'_> {
    fn pair(&mut self, key: &str, value: impl FnOnce(&mut String) -> fmt::Result) -> fmt::Result {
        self.out.push(' ');
        self.paint.start(self.out, CYAN);
        push_cut(self.out, key, self.caps.string);
        self.paint.end(self.out);
        self.out.push('=');
        self.paint.start(self.out, MAGENTA);
        value(self.out)?;
        self.paint.end(self.out);
        Ok(())
    }
}

impl<'kvs> VisitSource<'kvs> for Pairs<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        if is_reserved_key(key.as_str()) {
            return Ok(());
        }
        if self.left_out > 0 {
            self.left_out += 1;
            return Ok(());
        }
        let mark = self.out.len();
        let cap = self.caps.string;
        self.pair(key.as_str(), |out| {
            let _ = value.visit(PlainValue {
                out: &mut *out,
                cap,
            });
            Ok(())
        })
        .map_err(|_| kv::Error::msg("console formatting failed"))?;
        if self.out.len() - self.base > self.caps.record {
            self.out.truncate(mark);
            self.left_out = 1;
        }
        Ok(())
    }
}

/// A value as a person reads it: strings bare unless they need quotes, everything else as displayed; cut
/// at `cap` bytes with the marker.
struct PlainValue<'a> {
    out: &'a mut String,
    cap: usize,
}

impl PlainValue<'_> {
    fn string(&mut self, s: &str) {
        if s.len() <= self.cap {
            return self.shown(s);
        }
        let mut cut = String::new();
        push_cut(&mut cut, s, self.cap);
        self.shown(&cut);
    }

    /// Formatted text (`Display`, `Debug`, an error), cut as it is written.
    fn formatted(&mut self, args: fmt::Arguments<'_>) {
        let mut text = String::new();
        let mut c = Cut::new(&mut text, self.cap);
        let _ = c.write_fmt(args);
        c.end();
        self.shown(&text);
    }

    fn shown(&mut self, s: &str) {
        let needs_quotes = s.is_empty()
            || s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=');
        if needs_quotes {
            let _ = write!(self.out, "{s:?}");
        } else {
            self.out.push_str(s);
        }
    }
}

impl<'v> VisitValue<'v> for PlainValue<'_> {
    fn visit_any(&mut self, value: Value<'_>) -> Result<(), kv::Error> {
        self.formatted(format_args!("{value}"));
        Ok(())
    }
    fn visit_null(&mut self) -> Result<(), kv::Error> {
        self.out.push_str("None");
        Ok(())
    }
    fn visit_f64(&mut self, v: f64) -> Result<(), kv::Error> {
        match non_finite_name(v) {
            Some(name) => self.out.push_str(name),
            None => {
                let _ = write!(self.out, "{v}");
            }
        }
        Ok(())
    }
    fn visit_u64(&mut self, v: u64) -> Result<(), kv::Error> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }
    fn visit_i64(&mut self, v: i64) -> Result<(), kv::Error> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }
    fn visit_bool(&mut self, v: bool) -> Result<(), kv::Error> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn visit_str(&mut self, v: &str) -> Result<(), kv::Error> {
        self.string(v);
        Ok(())
    }
    fn visit_error(&mut self, err: &(dyn std::error::Error + 'static)) -> Result<(), kv::Error> {
        self.formatted(format_args!("{err}"));
        Ok(())
    }
}

thread_local! {
    /// The capture a JSON console line is rendered from (one per thread, reused).
    static LINE_CAPTURE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A JSON console line: the record captured and rendered as the worker renders a shipped entry (the one
/// encoder of a wire entry), with the timestamp and the line's extras. A re-entrant call (a value's
/// `Debug` that logs) gets a buffer of its own.
fn json_line(
    out: &mut Vec<u8>,
    record: &Record<'_>,
    level: WireLevel,
    ts: Timestamp,
    extras: &LineExtras<'_>,
    cap: usize,
    record_cap: usize,
) -> Result<(), ()> {
    let line = |buf: Vec<u8>, out: &mut Vec<u8>| -> (Result<(), ()>, Vec<u8>) {
        match capture_to_print(buf, record, level, cap, record_cap) {
            Ok(capture) => {
                let rendered =
                    render_line(&capture, out, cap, Some(ts), Some(extras)).map_err(|_| ());
                (rendered, capture.buf)
            }
            Err((_, buf)) => (Err(()), buf),
        }
    };
    LINE_CAPTURE
        .try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut kept) => {
                let (result, buf) = line(std::mem::take(&mut *kept), out);
                // A line's capture is kept for the next one unless it grew large.
                if buf.capacity() <= 64 * 1024 {
                    *kept = buf;
                }
                result
            }
            Err(_) => line(Vec::new(), out).0,
        })
        .unwrap_or_else(|_| line(Vec::new(), out).0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;

    fn pretty(record: &Record<'_>, corr: Option<&CorrelationId>, color: bool) -> String {
        let mut out = String::new();
        let caps = Caps {
            string: 32 * 1024,
            record: 1 << 20,
        };
        render_pretty(
            &mut out,
            record,
            WireLevel::Info,
            Timestamp(0),
            corr,
            color,
            caps,
        )
        .unwrap();
        out
    }

    #[test]
    fn pretty_line_has_time_level_message_logger_pairs_and_id() {
        let kvs: [(&str, Value<'_>); 6] = [
            ("user_id", 123.into()),
            ("name", "Ada Lovelace".into()),
            ("ok", true.into()),
            ("flag", false.into()),
            ("ratio", f64::NAN.into()),
            ("send", false.into()),
        ];
        let record = Record::builder()
            .args(format_args!("User logged in"))
            .target("api")
            .level(Level::Info)
            .key_values(&kvs)
            .build();
        let id = CorrelationId::new("req-1");
        let line = pretty(&record, Some(&id), false);
        assert_eq!(
            line,
            "1970-01-01T00:00:00.000000Z [info     ] User logged in                 [api] \
             user_id=123 name=\"Ada Lovelace\" ok=true flag=false ratio=NaN correlation_id=req-1"
        );
        assert!(!line.contains('\x1b'));
        assert!(pretty(&record, None, true).contains("\x1b[36muser_id"));
    }

    #[test]
    fn a_pretty_line_keeps_to_the_string_and_record_caps() {
        let value = "v".repeat(100);
        let list = vec![7u8; 100_000];
        let mut kvs: Vec<(String, Value<'_>)> = (0..10)
            .map(|i| (format!("k{i}"), Value::from(value.as_str())))
            .collect();
        kvs.insert(1, ("list".into(), Value::from_debug(&list)));
        let kvs: Vec<(&str, Value<'_>)> =
            kvs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let long = "m".repeat(1000);
        let caps = Caps {
            string: 64,
            record: 600,
        };
        let mut line = String::new();
        render_pretty(
            &mut line,
            &Record::builder()
                .args(format_args!("{long}"))
                .target("api")
                .level(Level::Info)
                .key_values(&kvs)
                .build(),
            WireLevel::Info,
            Timestamp(0),
            None,
            false,
            caps,
        )
        .unwrap();
        let m64 = "m".repeat(64);
        let v64 = "v".repeat(64);
        assert!(
            line.contains(&format!(" {m64}…[truncated 936 bytes] [api] k0=\"{v64}…[truncated 36 bytes]\" list=\"[7, 7,")),
            "{line}"
        );
        // 40 + 88 + 6 = 134 bytes up to the pairs, 93 for each `k` and 99 for `list` (quoted, as the marker
        // has spaces): up to `k2` (512) within 600, `k3` would end at 605; the seven from it are left out.
        let (kept, marker) = line.split_at(line.find(" logiscout.truncated_keys=").unwrap());
        assert!(kept.len() <= 600, "{}", kept.len());
        assert!(
            kept.ends_with(&format!(" k2=\"{v64}…[truncated 36 bytes]\"")),
            "{kept}"
        );
        assert_eq!(marker, " logiscout.truncated_keys=7");
    }
}
