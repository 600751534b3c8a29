//! W3C trace context (`traceparent`): the trace a request belongs to and the span that serving it is.
//!
//! The correlation middleware reads an incoming `traceparent` header (validated as the
//! [W3C Trace Context](https://www.w3.org/TR/trace-context/#traceparent-header) spec says: version `00`,
//! a 32-hex trace-id and a 16-hex parent-id, lowercase, neither all zeros, two hex flags; anything else is
//! ignored, as the spec asks), continues that trace with a new span-id for the request, or starts a new
//! trace when there is none. Every record logged while serving the request carries the trace-id and the
//! request's span-id: `traceId`/`spanId` on each log entry of the LogiScout format (additive fields), and
//! the `traceId`/`spanId`/`flags` of each OTLP log record. The tower `PropagateCorrelationLayer` sends a
//! `traceparent` with the same trace-id (and the request's span as the parent) on outgoing calls.
//!
//! ```
//! use logiscout_core::correlation::TraceContext;
//!
//! let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
//! let parent = TraceContext::parse_traceparent(incoming.as_bytes()).unwrap();
//! let request = parent.child();
//! assert_eq!(request.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert_ne!(request.span_id(), parent.span_id());
//! assert!(request.sampled());
//! // What an outgoing call made while serving the request sends on:
//! assert!(request.traceparent().starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
//!
//! for bad in ["01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // unknown version
//!             "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // all-zero trace-id
//!             "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"] { // uppercase
//!     assert!(TraceContext::parse_traceparent(bad.as_bytes()).is_none());
//! }
//! ```

use std::fmt;

/// The name of the W3C header: `traceparent`.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// A position in a distributed trace: the trace-id, the current span-id and the trace flags.
///
/// `Copy` and 25 bytes: records carry it by value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

impl TraceContext {
    /// Parses a `traceparent` header value, or `None` when it is not a valid version-`00` value (the
    /// spec's rule for a receiver: ignore it). Surrounding spaces and tabs are allowed.
    pub fn parse_traceparent(value: &[u8]) -> Option<TraceContext> {
        let value = value.trim_ascii();
        // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2.
        if value.len() != 55 || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        if &value[..2] != b"00" {
            return None;
        }
        let trace_id: [u8; 16] = hex(&value[3..35])?;
        let span_id: [u8; 8] = hex(&value[36..52])?;
        let [flags] = hex::<1>(&value[53..55])?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            span_id,
            flags,
        })
    }

    /// A new trace (random trace-id and span-id), sampled: what a service at the edge of the system
    /// starts for a request that came without a `traceparent`.
    pub fn new_root() -> TraceContext {
        TraceContext {
            trace_id: nonzero_random(),
            span_id: nonzero_random(),
            flags: SAMPLED,
        }
    }

    /// A trace context from its parts; `None` when the trace-id or the span-id is all zeros (invalid
    /// in W3C and OTLP alike).
    pub fn from_parts(trace_id: [u8; 16], span_id: [u8; 8], sampled: bool) -> Option<TraceContext> {
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(TraceContext {
            trace_id,
            span_id,
            flags: if sampled { SAMPLED } else { 0 },
        })
    }

    /// The same trace and flags with a new random span-id: the span of work done for this parent.
    pub fn child(&self) -> TraceContext {
        TraceContext {
            span_id: nonzero_random(),
            ..*self
        }
    }

    /// The trace-id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The span-id.
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// The trace flags byte (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the trace is sampled (flag bit 0).
    pub fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// The trace-id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        let mut out = String::with_capacity(32);
        push_hex(&mut out, &self.trace_id);
        out
    }

    /// The span-id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        let mut out = String::with_capacity(16);
        push_hex(&mut out, &self.span_id);
        out
    }

    /// The `traceparent` header value naming this span as the parent: `00-{trace}-{span}-{flags}`.
    pub fn traceparent(&self) -> String {
        self.to_string()
    }

    /// Writes `"traceId":"…","spanId":"…",` (the LogiScout format's additive fields).
    pub(crate) fn write_json_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"traceId\":\"");
        extend_hex(out, &self.trace_id);
        out.extend_from_slice(b"\",\"spanId\":\"");
        extend_hex(out, &self.span_id);
        out.extend_from_slice(b"\",");
    }
}

/// Bytes [`TraceContext::write_json_fields`] writes.
pub(crate) const JSON_FIELDS_LEN: usize = 11 + 32 + 12 + 16 + 2;

const SAMPLED: u8 = 0x01;

impl fmt::Display for TraceContext {
    /// The `traceparent` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        push_hex(&mut out, &self.trace_id);
        out.push('-');
        push_hex(&mut out, &self.span_id);
        out.push('-');
        push_hex(&mut out, &[self.flags]);
        f.write_str(&out)
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({self})")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
}

fn extend_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
    }
}

/// Lowercase hex only, as the spec demands (an uppercase digit makes the header invalid).
fn hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    fn nibble(d: u8) -> Option<u8> {
        match d {
            b'0'..=b'9' => Some(d - b'0'),
            b'a'..=b'f' => Some(d - b'a' + 10),
            _ => None,
        }
    }
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Random bytes, never all zeros. `fastrand`'s per-thread generator: ids must be unique, not secret.
fn nonzero_random<const N: usize>() -> [u8; N] {
    loop {
        let mut out = [0u8; N];
        fastrand::fill(&mut out);
        if out != [0; N] {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TraceContext;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_parses_and_prints_back() {
        let t = TraceContext::parse_traceparent(VALID.as_bytes()).unwrap();
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.span_id_hex(), "00f067aa0ba902b7");
        assert!(t.sampled());
        assert_eq!(t.traceparent(), VALID);
        let padded = format!(" \t{VALID} ");
        assert_eq!(TraceContext::parse_traceparent(padded.as_bytes()), Some(t));
        let unsampled = VALID.replace("-01", "-00");
        assert!(!TraceContext::parse_traceparent(unsampled.as_bytes())
            .unwrap()
            .sampled());
    }

    #[test]
    fn every_invalid_form_is_ignored() {
        let cases = [
            "",
            "00",
            // other versions (a future version may be longer; the spec's `ff` is invalid)
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // all-zero ids
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // uppercase, non-hex, wrong lengths, wrong separators
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0G",
        ];
        for bad in cases {
            assert_eq!(
                TraceContext::parse_traceparent(bad.as_bytes()),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn children_keep_the_trace_and_roots_are_new() {
        let parent = TraceContext::parse_traceparent(VALID.as_bytes()).unwrap();
        let child = parent.child();
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_eq!(child.flags(), parent.flags());
        assert_ne!(child.span_id(), parent.span_id());
        let (a, b) = (TraceContext::new_root(), TraceContext::new_root());
        assert_ne!(a.trace_id(), b.trace_id());
        assert!(a.sampled());
        let printed = a.traceparent();
        assert_eq!(TraceContext::parse_traceparent(printed.as_bytes()), Some(a));
        assert_eq!(TraceContext::from_parts([0; 16], [1; 8], true), None);
        assert_eq!(TraceContext::from_parts([1; 16], [0; 8], true), None);
    }

    #[test]
    fn the_json_fields_have_their_announced_length() {
        let t = TraceContext::parse_traceparent(VALID.as_bytes()).unwrap();
        let mut out = Vec::new();
        t.write_json_fields(&mut out);
        assert_eq!(out.len(), super::JSON_FIELDS_LEN);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b7\","
        );
    }
}
