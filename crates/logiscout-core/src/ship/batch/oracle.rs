//! The first batcher, kept as the test oracle of the new one: `IndexMap` in arrival order, a linear walk per
//! `take`, `shift_remove` per finished group. Correct but O(groups) per operation; a property test in
//! `super::tests` feeds it and [`Batcher`](super::Batcher) the same events and compares every answer.
//! Also the first encoder (serde_json maps), the oracle of the hand-written one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use indexmap::IndexMap;

use std::io::Write;

use serde::ser::SerializeMap;
use serde::Serializer;

use super::{
    accounted_size, part_overhead, BatchContent, BatchMeta, LogEntry, Oversized, Part, RequestMeta,
    ENVELOPE_OVERHEAD, LOG_OVERHEAD,
};
use crate::context::CorrelationId;
use crate::encode::record::Timestamp;

#[derive(Debug)]
struct Group {
    request: Option<RequestMeta>,
    logs: VecDeque<LogEntry>,
    /// A payload of this group already went out (so its end must be sent too).
    shipped_any: bool,
    /// The request ended and its closing payload has not gone out yet.
    needs_close: bool,
    /// The worker's receive index of the request's end, while its closing payload is pending.
    close_seq: Option<u64>,
}

impl Group {
    fn new(request: Option<RequestMeta>) -> Self {
        Group {
            request,
            logs: VecDeque::new(),
            shipped_any: false,
            needs_close: false,
            close_seq: None,
        }
    }

    fn has_work(&self) -> bool {
        !self.logs.is_empty() || self.needs_close
    }

    fn finished(&self) -> bool {
        self.request.as_ref().is_none_or(|r| r.ended_at.is_some())
    }
}

/// Groups pending records by correlation ID and cuts them into batches.
#[derive(Debug)]
pub(crate) struct OracleBatcher {
    groups: IndexMap<CorrelationId, Group, foldhash::fast::RandomState>,
    default_id: CorrelationId,
    max_logs: usize,
    max_bytes: usize,
    max_wait: Duration,
    pending_logs: usize,
    /// When the oldest unsent thing arrived.
    oldest: Option<Instant>,
}

impl OracleBatcher {
    pub(crate) fn new(
        default_id: CorrelationId,
        max_logs: usize,
        max_bytes: usize,
        max_wait: Duration,
    ) -> Self {
        OracleBatcher {
            groups: IndexMap::default(),
            default_id,
            max_logs: max_logs.max(1),
            max_bytes,
            max_wait,
            pending_logs: 0,
            oldest: None,
        }
    }

    pub(crate) fn pending_logs(&self) -> usize {
        self.pending_logs
    }

    pub(crate) fn is_idle(&self) -> bool {
        !self.groups.values().any(Group::has_work)
    }

    pub(crate) fn log(&mut self, id: Option<CorrelationId>, entry: LogEntry, now: Instant) {
        let id = id.unwrap_or_else(|| self.default_id.clone());
        self.groups
            .entry(id)
            .or_insert_with(|| Group::new(None))
            .logs
            .push_back(entry);
        self.pending_logs += 1;
        self.oldest.get_or_insert(now);
    }

    pub(crate) fn request_started(&mut self, id: CorrelationId, meta: RequestMeta) {
        let group = self.groups.entry(id).or_insert_with(|| Group::new(None));
        group.request = Some(meta);
    }

    pub(crate) fn request_finished(
        &mut self,
        id: &CorrelationId,
        status: Option<u16>,
        ended_at: Timestamp,
        duration_ms: f64,
        now: Instant,
    ) -> bool {
        let Some(group) = self.groups.get_mut(id) else {
            return false;
        };
        let Some(request) = group.request.as_mut() else {
            return false;
        };
        request.status = status;
        request.ended_at = Some(ended_at);
        request.duration_ms = Some(duration_ms);
        if group.shipped_any || request.record_always || !group.logs.is_empty() {
            group.needs_close = true;
            self.oldest.get_or_insert(now);
            true
        } else {
            // No logs, no payload (the Python client's rule), unless asked to record every request.
            self.groups.shift_remove(id);
            false
        }
    }

    /// Records the worker's receive index of a request end whose closing payload is now pending (after
    /// `request_finished` returned true).
    pub(crate) fn set_close_seq(&mut self, id: &CorrelationId, seq: u64) {
        if let Some(group) = self.groups.get_mut(id) {
            if group.needs_close {
                group.close_seq = Some(seq);
            }
        }
    }

    /// The lowest receive index of anything still waiting here (a log, or a request end whose closing
    /// payload has not gone out): everything received before it has been taken into a batch or dropped.
    /// Each group's logs are in receive order, so its front is its lowest.
    pub(crate) fn min_pending_seq(&self) -> Option<u64> {
        self.groups
            .values()
            .flat_map(|g| {
                let close = if g.needs_close { g.close_seq } else { None };
                g.logs.front().map(|l| l.seq).into_iter().chain(close)
            })
            .min()
    }

    /// Whether a batch should go out now: enough logs, or the oldest waited long enough.
    pub(crate) fn ready(&self, now: Instant) -> bool {
        if self.pending_logs >= self.max_logs {
            return true;
        }
        match self.oldest {
            Some(t) => now.saturating_duration_since(t) >= self.max_wait && !self.is_idle(),
            None => false,
        }
    }

    /// When `ready` will turn true by time alone.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.oldest.map(|t| t + self.max_wait)
    }

    /// Takes the next batch (regardless of triggers; call `ready` first unless flushing).
    pub(crate) fn take(&mut self) -> (Option<BatchContent>, Oversized) {
        let mut parts = Vec::new();
        let mut oversized = Oversized::default();
        let mut logs_left = self.max_logs;
        let mut bytes_left = self.max_bytes.saturating_sub(ENVELOPE_OVERHEAD);
        let mut done = Vec::new();
        for (id, group) in self.groups.iter_mut() {
            if logs_left == 0 {
                break;
            }
            if !group.has_work() {
                continue;
            }
            let overhead = part_overhead(id, group.request.as_ref());
            if overhead > bytes_left {
                break;
            }
            let mut budget = bytes_left - overhead;
            let mut logs = Vec::new();
            while logs_left > 0 {
                let Some(front) = group.logs.front() else {
                    break;
                };
                let size = front.body.len() + LOG_OVERHEAD;
                if size > budget {
                    if size + overhead + ENVELOPE_OVERHEAD > self.max_bytes {
                        // Never fits in any batch: drop it and say so.
                        if let Some(entry) = group.logs.pop_front() {
                            oversized.logs += 1;
                            oversized.accounted_bytes += accounted_size(entry.body.capacity());
                            self.pending_logs -= 1;
                        }
                        continue;
                    }
                    break;
                }
                budget -= size;
                logs_left -= 1;
                self.pending_logs -= 1;
                if let Some(entry) = group.logs.pop_front() {
                    logs.push(entry);
                }
            }
            let drained = group.logs.is_empty();
            let finished = group.finished();
            if logs.is_empty() && !(drained && group.needs_close) {
                if drained && finished {
                    done.push(id.clone());
                }
                break;
            }
            let mut request = group.request.clone();
            if !drained {
                // More of this request follows in a later batch: this piece is still open.
                if let Some(r) = request.as_mut() {
                    r.ended_at = None;
                    r.duration_ms = None;
                    r.status = None;
                }
            }
            bytes_left = budget;
            group.shipped_any = true;
            let closes = drained && group.needs_close;
            if drained {
                group.needs_close = false;
                group.close_seq = None;
                if finished {
                    done.push(id.clone());
                }
            }
            parts.push(Part {
                id: id.clone(),
                request,
                logs,
                closes,
            });
            if !drained {
                break;
            }
        }
        for id in done {
            self.groups.shift_remove(&id);
        }
        if self.is_idle() {
            self.oldest = None;
        }
        let batch = if parts.is_empty() {
            None
        } else {
            Some(BatchContent { parts })
        };
        (batch, oversized)
    }
}

/// The first encoder of a batch (serde_json maps), kept as the oracle of the hand-written one.
pub(crate) fn encode_with_serde(batch: &BatchContent, meta: &BatchMeta<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.parts.iter().map(Part::bytes).sum::<usize>() + 512);
    out.extend_from_slice(b"{\"payloads\":[");
    for (i, part) in batch.parts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        encode_part_serde(&mut out, part, meta.flushed_at);
    }
    out.extend_from_slice(b"],\"batch_metadata\":");
    let mut ser = serde_json::Serializer::new(&mut out);
    let encoded = (|| {
        let mut map = (&mut ser).serialize_map(None)?;
        map.serialize_entry("batch_id", meta.batch_id)?;
        map.serialize_entry("service_name", meta.service_name)?;
        map.serialize_entry("environment", meta.environment)?;
        map.serialize_entry("sdk", meta.sdk)?;
        map.serialize_entry("total_requests", &batch.parts.len())?;
        map.serialize_entry("total_logs", &batch.log_count())?;
        map.serialize_entry("dropped_logs", &meta.dropped_logs)?;
        map.serialize_entry("flushed_at", &meta.flushed_at)?;
        SerializeMap::end(map)
    })();
    debug_assert!(encoded.is_ok());
    out.push(b'}');
    out
}

fn encode_part_serde(out: &mut Vec<u8>, part: &Part, now: Timestamp) {
    let (started, ended, duration) = match &part.request {
        Some(r) => (r.started_at, r.ended_at, r.duration_ms),
        None => {
            let first = part.logs.first().map(|l| l.ts);
            let last = part.logs.last().map(|l| l.ts);
            match (first, last) {
                (Some(f), Some(l)) => (f, Some(l), None),
                _ => (now, None, None),
            }
        }
    };
    let mut ser = serde_json::Serializer::new(&mut *out);
    // Writing into a Vec cannot fail; serialization of these plain types cannot either.
    let _ = (|| {
        let mut map = (&mut ser).serialize_map(None)?;
        map.serialize_entry("correlationId", part.id.as_str())?;
        map.serialize_entry("startedAt", &started)?;
        map.serialize_entry("endedAt", &ended)?;
        map.serialize_entry("durationMS", &duration)?;
        if let Some(r) = &part.request {
            map.serialize_entry(
                "request",
                &RequestJson {
                    method: &r.method,
                    path: &r.path,
                    status: r.status,
                },
            )?;
        }
        // The map is closed by hand below, after the pre-encoded logs.
        Ok::<_, serde_json::Error>(())
    })();
    out.extend_from_slice(b",\"logs\":[");
    for (i, log) in part.logs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = write!(out, "{{\"timestamp\":\"{}\"", log.ts);
        match log.body.split_first() {
            Some((b'{', rest)) if rest.first() != Some(&b'}') => {
                out.push(b',');
                out.extend_from_slice(rest);
            }
            _ => out.push(b'}'),
        }
    }
    out.extend_from_slice(b"]}");
}

struct RequestJson<'a> {
    method: &'a str,
    path: &'a str,
    status: Option<u16>,
}

impl serde::Serialize for RequestJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("method", self.method)?;
        map.serialize_entry("path", self.path)?;
        if let Some(status) = self.status {
            map.serialize_entry("statusCode", &status)?;
        }
        map.end()
    }
}
