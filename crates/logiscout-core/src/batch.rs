//! Pure batching: grouping by correlation ID, keeping order, attaching request info, splitting at the log
//! and byte caps, partial payloads for requests still running. No clocks and no I/O: time is passed in.

use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde::ser::SerializeMap;
use serde::Serializer;

use crate::context::CorrelationId;
use crate::record::Timestamp;

/// One queued log: its time and its JSON object without the `timestamp` field (added here).
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub ts: Timestamp,
    pub body: Vec<u8>,
    /// The worker's receive index of this record (its position in the queue), for `flush`.
    pub seq: u64,
}

/// Bytes a log adds to a batch beyond its body: `"timestamp":"…Z",`, a comma, slack for long years.
const LOG_OVERHEAD: usize = 48;
/// Room kept for `{"payloads":[` … `],"batch_metadata":{…}}`.
const ENVELOPE_OVERHEAD: usize = 512;

/// Memory a held log takes, for the byte cap: its buffer's whole allocation (`capacity`, not `len`: a
/// buffer reused from the pool is often larger than what it holds), the allocator's header, and its slot
/// in the batcher's queue (which grows by doubling). The queue's own slots are allocated once, up front,
/// and are part of the constant outside the cap.
pub(crate) const fn accounted_size(capacity: usize) -> usize {
    capacity + 96
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestMeta {
    pub method: String,
    pub path: String,
    pub started_at: Timestamp,
    pub status: Option<u16>,
    pub ended_at: Option<Timestamp>,
    pub duration_ms: Option<f64>,
    pub record_always: bool,
}

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

/// One payload of a batch.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub id: CorrelationId,
    pub request: Option<RequestMeta>,
    pub logs: Vec<LogEntry>,
    /// This part carries the end of a finished request (the last of its payloads).
    pub closes: bool,
}

impl Part {
    fn bytes(&self) -> usize {
        self.logs
            .iter()
            .map(|l| l.body.len() + LOG_OVERHEAD)
            .sum::<usize>()
            + part_overhead(&self.id, self.request.as_ref())
    }
}

fn part_overhead(id: &CorrelationId, request: Option<&RequestMeta>) -> usize {
    // Keys, three timestamps, duration, status, braces; strings may grow 6x when escaped.
    256 + id.as_str().len() + request.map_or(0, |r| 6 * (r.method.len() + r.path.len()))
}

/// What a batch carries before it is encoded; kept so that a batch refused with 413 can be split.
#[derive(Debug, Clone)]
pub(crate) struct BatchContent {
    pub parts: Vec<Part>,
}

impl BatchContent {
    /// How many requests this batch closes (their final payload is in it).
    pub(crate) fn closed_requests(&self) -> usize {
        self.parts.iter().filter(|p| p.closes).count()
    }

    pub(crate) fn log_count(&self) -> usize {
        self.parts.iter().map(|p| p.logs.len()).sum()
    }

    /// Bytes of the logs' bodies, as the byte cap counts them.
    pub(crate) fn accounted_bytes(&self) -> usize {
        self.parts
            .iter()
            .flat_map(|p| &p.logs)
            .map(|l| accounted_size(l.body.capacity()))
            .sum()
    }

    /// Splits in two halves by log count (payload-level pieces keep their request info); gives the batch
    /// back when it cannot be split.
    pub(crate) fn split(self) -> Result<(BatchContent, BatchContent), BatchContent> {
        let total = self.log_count();
        if total < 2 && self.parts.len() < 2 {
            return Err(self);
        }
        let mut first = Vec::new();
        let mut second = Vec::new();
        if total < 2 {
            let mut parts = self.parts;
            let half = parts.len() / 2;
            second.extend(parts.drain(half..));
            first.extend(parts);
        } else {
            let mut budget = total / 2;
            for mut part in self.parts {
                if budget == 0 {
                    second.push(part);
                } else if part.logs.len() <= budget {
                    budget -= part.logs.len();
                    first.push(part);
                } else {
                    let rest = part.logs.split_off(budget);
                    budget = 0;
                    let tail = Part {
                        id: part.id.clone(),
                        request: part.request.clone(),
                        logs: rest,
                        closes: part.closes,
                    };
                    // The first piece of a request split here is still open on the wire: only the last
                    // piece carries the end.
                    let mut head = part;
                    head.closes = false;
                    if let Some(r) = head.request.as_mut() {
                        r.ended_at = None;
                        r.duration_ms = None;
                        r.status = None;
                    }
                    first.push(head);
                    second.push(tail);
                }
            }
        }
        Ok((
            BatchContent { parts: first },
            BatchContent { parts: second },
        ))
    }

    /// Encodes the request body.
    pub(crate) fn encode(&self, meta: &BatchMeta<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.parts.iter().map(Part::bytes).sum::<usize>() + 512);
        out.extend_from_slice(b"{\"payloads\":[");
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            encode_part(&mut out, part);
        }
        out.extend_from_slice(b"],\"batch_metadata\":");
        let mut ser = serde_json::Serializer::new(&mut out);
        let encoded = (|| {
            let mut map = (&mut ser).serialize_map(None)?;
            map.serialize_entry("batch_id", meta.batch_id)?;
            map.serialize_entry("service_name", meta.service_name)?;
            map.serialize_entry("environment", meta.environment)?;
            map.serialize_entry("sdk", meta.sdk)?;
            map.serialize_entry("total_requests", &self.parts.len())?;
            map.serialize_entry("total_logs", &self.log_count())?;
            map.serialize_entry("dropped_logs", &meta.dropped_logs)?;
            map.serialize_entry("flushed_at", &meta.flushed_at)?;
            SerializeMap::end(map)
        })();
        debug_assert!(encoded.is_ok());
        out.push(b'}');
        out
    }
}

/// The batch-level fields.
pub(crate) struct BatchMeta<'a> {
    pub batch_id: &'a str,
    pub service_name: &'a str,
    pub environment: &'a str,
    pub sdk: &'a str,
    pub dropped_logs: u64,
    pub flushed_at: Timestamp,
}

fn encode_part(out: &mut Vec<u8>, part: &Part) {
    let (started, ended, duration) = match &part.request {
        Some(r) => (r.started_at, r.ended_at, r.duration_ms),
        None => {
            let first = part.logs.first().map(|l| l.ts);
            let last = part.logs.last().map(|l| l.ts);
            match (first, last) {
                (Some(f), Some(l)) => (f, Some(l), None),
                _ => (Timestamp::now(), None, None),
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

/// What `take` could not fit anywhere: single logs larger than a whole batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Oversized {
    pub logs: u64,
    pub accounted_bytes: usize,
}

/// Groups pending records by correlation ID and cuts them into batches.
#[derive(Debug)]
pub(crate) struct Batcher {
    groups: IndexMap<CorrelationId, Group, foldhash::fast::RandomState>,
    default_id: CorrelationId,
    max_logs: usize,
    max_bytes: usize,
    max_wait: Duration,
    pending_logs: usize,
    /// When the oldest unsent thing arrived.
    oldest: Option<Instant>,
}

impl Batcher {
    pub(crate) fn new(
        default_id: CorrelationId,
        max_logs: usize,
        max_bytes: usize,
        max_wait: Duration,
    ) -> Self {
        Batcher {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(ts: i64, msg: &str) -> LogEntry {
        LogEntry {
            ts: Timestamp(ts),
            body: format!(r#"{{"level":"info","message":"{msg}","loggerName":"t","metadata":{{}},"exception":null}}"#)
                .into_bytes(),
            seq: ts.unsigned_abs(),
        }
    }

    #[test]
    fn the_lowest_pending_receive_index_covers_logs_and_pending_ends() {
        let t = Instant::now();
        let mut b = Batcher::new(id("default"), 200, 1 << 20, Duration::from_secs(30));
        assert_eq!(b.min_pending_seq(), None);
        b.request_started(id("r"), meta("/r"));
        b.log(Some(id("r")), entry(5, "a"), t);
        b.log(None, entry(7, "b"), t);
        assert_eq!(b.min_pending_seq(), Some(5));
        // Everything taken: nothing pending but the end of `r`, once it arrives.
        let _ = b.take();
        assert_eq!(b.min_pending_seq(), None);
        assert!(b.request_finished(&id("r"), Some(200), Timestamp(9), 1.0, t));
        b.set_close_seq(&id("r"), 9);
        assert_eq!(b.min_pending_seq(), Some(9));
        let _ = b.take();
        assert_eq!(b.min_pending_seq(), None, "the closing payload went out");
    }

    fn meta(path: &str) -> RequestMeta {
        RequestMeta {
            method: "GET".into(),
            path: path.into(),
            started_at: Timestamp(1_000),
            status: None,
            ended_at: None,
            duration_ms: None,
            record_always: false,
        }
    }

    fn encode(batch: &BatchContent) -> serde_json::Value {
        let body = batch.encode(&BatchMeta {
            batch_id: "b",
            service_name: "svc",
            environment: "production",
            sdk: "logiscout-rust/test",
            dropped_logs: 0,
            flushed_at: Timestamp(5_000),
        });
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
    }

    fn id(s: &str) -> CorrelationId {
        CorrelationId::new(s)
    }

    #[test]
    fn groups_by_correlation_id_in_order_with_request_info() {
        let t = Instant::now();
        let mut b = Batcher::new(id("proc"), 200, 4 << 20, Duration::from_secs(30));
        b.request_started(id("r1"), meta("/users/7"));
        b.log(Some(id("r1")), entry(2_000, "a"), t);
        b.log(None, entry(2_500, "bg"), t);
        b.log(Some(id("r1")), entry(3_000, "b"), t);
        b.request_finished(&id("r1"), Some(200), Timestamp(4_000), 3.0, t);
        assert!(!b.ready(t));
        assert!(b.ready(t + Duration::from_secs(30)));
        let (batch, over) = b.take();
        assert_eq!(over, Oversized::default());
        let json = encode(&batch.unwrap());
        let p = &json["payloads"];
        assert_eq!(p[0]["correlationId"], "r1");
        assert_eq!(p[0]["request"]["path"], "/users/7");
        assert_eq!(p[0]["request"]["statusCode"], 200);
        assert_eq!(p[0]["durationMS"], 3.0);
        assert_eq!(p[0]["logs"][0]["message"], "a");
        assert_eq!(p[0]["logs"][1]["message"], "b");
        assert_eq!(p[0]["logs"][1]["timestamp"], "1970-01-01T00:00:00.003000Z");
        assert_eq!(p[1]["correlationId"], "proc");
        assert!(p[1].get("request").is_none());
        assert_eq!(p[1]["startedAt"], "1970-01-01T00:00:00.002500Z");
        assert_eq!(json["batch_metadata"]["total_logs"], 3);
        assert_eq!(json["batch_metadata"]["total_requests"], 2);
        assert!(b.is_idle());
        assert_eq!(b.pending_logs(), 0);
    }

    #[test]
    fn a_request_without_logs_sends_nothing_unless_asked() {
        let t = Instant::now();
        let mut b = Batcher::new(id("proc"), 200, 4 << 20, Duration::from_secs(1));
        b.request_started(id("quiet"), meta("/"));
        b.request_finished(&id("quiet"), Some(204), Timestamp(2), 1.0, t);
        assert!(b.is_idle());
        assert!(b.take().0.is_none());
        let mut m = meta("/health");
        m.record_always = true;
        b.request_started(id("access"), m);
        b.request_finished(&id("access"), Some(200), Timestamp(2), 1.0, t);
        let json = encode(&b.take().0.unwrap());
        assert_eq!(json["payloads"][0]["logs"], serde_json::json!([]));
        assert_eq!(json["payloads"][0]["request"]["statusCode"], 200);
    }

    #[test]
    fn a_running_request_goes_out_partial_and_is_completed_later() {
        let t = Instant::now();
        let mut b = Batcher::new(id("proc"), 200, 4 << 20, Duration::from_secs(1));
        b.request_started(id("slow"), meta("/report"));
        b.log(Some(id("slow")), entry(2, "step 1"), t);
        let first = encode(&b.take().0.unwrap());
        assert_eq!(first["payloads"][0]["endedAt"], serde_json::Value::Null);
        assert!(first["payloads"][0]["request"].get("statusCode").is_none());
        b.request_finished(&id("slow"), Some(500), Timestamp(9), 7.0, t);
        assert!(b.ready(t + Duration::from_secs(1)));
        let second = encode(&b.take().0.unwrap());
        assert_eq!(second["payloads"][0]["correlationId"], "slow");
        assert_eq!(second["payloads"][0]["logs"], serde_json::json!([]));
        assert_eq!(second["payloads"][0]["request"]["statusCode"], 500);
        assert!(b.is_idle());
    }

    #[test]
    fn a_thousand_log_request_splits_into_five_batches_of_200() {
        let t = Instant::now();
        let mut b = Batcher::new(id("proc"), 200, 4 << 20, Duration::from_secs(30));
        b.request_started(id("big"), meta("/import"));
        for i in 0..1000 {
            b.log(Some(id("big")), entry(i, &format!("m{i}")), t);
        }
        b.request_finished(&id("big"), Some(201), Timestamp(2_000), 2.0, t);
        let mut seen = Vec::new();
        let mut batches = 0;
        while b.ready(t) {
            let json = encode(&b.take().0.unwrap());
            batches += 1;
            let payload = &json["payloads"][0];
            assert_eq!(payload["correlationId"], "big");
            assert_eq!(payload["request"]["path"], "/import");
            for log in payload["logs"].as_array().unwrap() {
                seen.push(log["message"].as_str().unwrap().to_owned());
            }
            let last = batches == 5;
            assert_eq!(payload["request"].get("statusCode").is_some(), last);
        }
        assert_eq!(batches, 5);
        let want: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn batches_respect_the_byte_cap_and_oversized_logs_are_dropped() {
        let t = Instant::now();
        let cap = 4096;
        let mut b = Batcher::new(id("proc"), 1000, cap, Duration::from_secs(1));
        for i in 0..100 {
            b.log(None, entry(i, &"x".repeat(200)), t);
        }
        b.log(None, entry(100, &"y".repeat(5000)), t);
        b.log(None, entry(101, "after"), t);
        let mut total = 0;
        let mut dropped = 0;
        loop {
            let (batch, over) = b.take();
            dropped += over.logs;
            let Some(batch) = batch else { break };
            let body = batch.encode(&BatchMeta {
                batch_id: "6f1c0000-0000-4000-8000-000000000000",
                service_name: "svc",
                environment: "production",
                sdk: "logiscout-rust/0.1.0",
                dropped_logs: 12345,
                flushed_at: Timestamp(1),
            });
            assert!(body.len() <= cap, "{} > {cap}", body.len());
            total += batch.log_count();
        }
        assert_eq!(total, 101);
        assert_eq!(dropped, 1);
        assert_eq!(b.pending_logs(), 0);
    }

    #[test]
    fn split_halves_keep_every_log_once() {
        let t = Instant::now();
        let mut b = Batcher::new(id("proc"), 200, 4 << 20, Duration::from_secs(1));
        b.request_started(id("a"), meta("/a"));
        for i in 0..5 {
            b.log(Some(id("a")), entry(i, &format!("a{i}")), t);
        }
        for i in 0..4 {
            b.log(None, entry(i, &format!("p{i}")), t);
        }
        b.request_finished(&id("a"), Some(200), Timestamp(9), 1.0, t);
        let batch = b.take().0.unwrap();
        let (x, y) = batch.split().ok().unwrap();
        assert_eq!(x.log_count() + y.log_count(), 9);
        assert!(x.log_count() == 4 || x.log_count() == 5);
        let xs = encode(&x);
        // The first half of request "a" is open; the second half carries its end.
        assert_eq!(xs["payloads"][0]["endedAt"], serde_json::Value::Null);
        let ys = encode(&y);
        assert_eq!(ys["payloads"][0]["request"]["statusCode"], 200);
        let single = BatchContent {
            parts: vec![Part {
                id: id("s"),
                request: None,
                logs: vec![entry(1, "only")],
                closes: false,
            }],
        };
        assert!(single.split().is_err());
    }

    proptest! {
        #[test]
        fn every_log_is_shipped_exactly_once_in_order(
            ops in proptest::collection::vec((0u8..4, 0usize..5), 1..300),
            max_logs in 1usize..50,
        ) {
            let t = Instant::now();
            let mut b = Batcher::new(id("proc"), max_logs, 64 << 10, Duration::from_millis(10));
            let mut started = [false; 5];
            let mut expected: Vec<Vec<u64>> = vec![Vec::new(); 6];
            let mut got: Vec<Vec<u64>> = vec![Vec::new(); 6];
            let mut n = 0u64;
            let drain = |b: &mut Batcher, got: &mut Vec<Vec<u64>>| {
                let (batch, over) = b.take();
                prop_assert_eq!(over.logs, 0);
                if let Some(batch) = batch {
                    prop_assert!(batch.log_count() <= max_logs);
                    let json = encode(&batch);
                    for p in json["payloads"].as_array().unwrap() {
                        let cid = p["correlationId"].as_str().unwrap();
                        let slot = if cid == "proc" { 5 } else { cid[1..].parse::<usize>().unwrap() };
                        for l in p["logs"].as_array().unwrap() {
                            got[slot].push(l["message"].as_str().unwrap().parse().unwrap());
                        }
                    }
                }
                Ok(())
            };
            for (op, r) in ops {
                let rid = id(&format!("r{r}"));
                match op {
                    0 => { b.request_started(rid, meta("/p")); started[r] = true; }
                    1 => {
                        let slot = if started[r] { r } else { 5 };
                        b.log(started[r].then_some(rid), entry(n as i64, &n.to_string()), t);
                        expected[slot].push(n);
                        n += 1;
                    }
                    2 => { if started[r] { b.request_finished(&rid, Some(200), Timestamp(1), 1.0, t); started[r] = false; } }
                    _ => { if b.ready(t + Duration::from_millis(10)) { drain(&mut b, &mut got)?; } }
                }
            }
            while !b.is_idle() { drain(&mut b, &mut got)?; }
            prop_assert_eq!(b.pending_logs(), 0);
            prop_assert_eq!(got, expected);
        }
    }
}
