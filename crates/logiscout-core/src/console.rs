//! Console output: a readable line (structlog's dev renderer is the model) or one JSON object per line.
//!
//! Each record is rendered into a thread-local buffer first and written with one `write_all`, so lines from
//! different threads never interleave.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};

use log::kv::{self, Key, Value, VisitSource, VisitValue};
use log::Record;

use crate::config::{Console, SharedWriter};
use crate::context::CorrelationId;
use crate::record::{
    encode_entry, find_error, is_reserved_key, non_finite_name, ErrorChain, LineExtras, Timestamp,
    WireLevel,
};

pub(crate) struct ConsoleSink {
    format: Console,
    color: bool,
    writer: Option<SharedWriter>,
    max_string_bytes: usize,
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Buffers above this size are not kept between records.
const KEEP_BUFFER_BYTES: usize = 64 * 1024;

impl ConsoleSink {
    pub(crate) fn new(
        format: Console,
        writer: Option<SharedWriter>,
        max_string_bytes: usize,
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
                if encode_entry(
                    buf,
                    record,
                    level,
                    Some(ts),
                    self.max_string_bytes,
                    Some(&extras),
                )
                .is_err()
                {
                    buf.clear();
                    buf.extend_from_slice(br#"{"level":"error","message":"logiscout: a record could not be encoded"}"#);
                }
            }
            Console::Pretty => {
                let mut line = String::new();
                let _ = render_pretty(&mut line, record, level, ts, correlation, self.color);
                buf.extend_from_slice(line.as_bytes());
            }
        }
        buf.push(b'\n');
        // Console errors (closed stderr, full disk) cannot be reported anywhere better; they are ignored.
        match &self.writer {
            None => {
                let _ = std::io::stderr().lock().write_all(buf);
            }
            Some(w) => {
                if let Ok(mut w) = w.lock() {
                    let _ = w.write_all(buf);
                }
            }
        }
    }

    pub(crate) fn flush(&self) {
        match &self.writer {
            None => {
                let _ = std::io::stderr().flush();
            }
            Some(w) => {
                if let Ok(mut w) = w.lock() {
                    let _ = w.flush();
                }
            }
        }
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

/// `2026-11-25T11:42:47.636304Z [info     ] Fetching user                  [api] user_id=7 correlation_id=…`
pub(crate) fn render_pretty(
    out: &mut String,
    record: &Record<'_>,
    level: WireLevel,
    ts: Timestamp,
    correlation: Option<&CorrelationId>,
    color: bool,
) -> fmt::Result {
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
    write!(out, "{}", record.args())?;
    let width = out[before..].chars().count();
    p.end(out);
    for _ in width..30 {
        out.push(' ');
    }
    out.push_str(" [");
    p.start(out, BLUE);
    out.push_str(record.target());
    p.end(out);
    out.push(']');
    let mut pairs = Pairs { out, paint: &p };
    let _ = record.key_values().visit(&mut pairs);
    if let Some(id) = correlation {
        pairs.pair("correlation_id", |out| {
            out.push_str(id.as_str());
            Ok(())
        })?;
    }
    if let Some(err) = find_error(record.key_values()) {
        for line in ErrorChain(err).to_string().lines() {
            out.push_str("\n    ");
            out.push_str(line);
        }
    }
    Ok(())
}

struct Pairs<'a> {
    out: &'a mut String,
    paint: &'a Paint,
}

impl Pairs<'_> {
    fn pair(&mut self, key: &str, value: impl FnOnce(&mut String) -> fmt::Result) -> fmt::Result {
        self.out.push(' ');
        self.paint.start(self.out, CYAN);
        self.out.push_str(key);
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
        self.pair(key.as_str(), |out| {
            let _ = value.visit(PlainValue { out: &mut *out });
            Ok(())
        })
        .map_err(|_| kv::Error::msg("console formatting failed"))
    }
}

/// A value as a person reads it: strings bare unless they need quotes, everything else as displayed.
struct PlainValue<'a> {
    out: &'a mut String,
}

impl PlainValue<'_> {
    fn string(&mut self, s: &str) {
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
        let mut s = String::new();
        let _ = write!(s, "{value}");
        self.string(&s);
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
        self.out.push_str(if v { "True" } else { "False" });
        Ok(())
    }
    fn visit_str(&mut self, v: &str) -> Result<(), kv::Error> {
        self.string(v);
        Ok(())
    }
    fn visit_error(&mut self, err: &(dyn std::error::Error + 'static)) -> Result<(), kv::Error> {
        self.string(&err.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;

    fn pretty(record: &Record<'_>, corr: Option<&CorrelationId>, color: bool) -> String {
        let mut out = String::new();
        render_pretty(&mut out, record, WireLevel::Info, Timestamp(0), corr, color).unwrap();
        out
    }

    #[test]
    fn pretty_line_has_time_level_message_logger_pairs_and_id() {
        let kvs: [(&str, Value<'_>); 5] = [
            ("user_id", 123.into()),
            ("name", "Ada Lovelace".into()),
            ("ok", true.into()),
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
             user_id=123 name=\"Ada Lovelace\" ok=True ratio=NaN correlation_id=req-1"
        );
        assert!(!line.contains('\x1b'));
        assert!(pretty(&record, None, true).contains("\x1b[36muser_id"));
    }
}
