//! Pure batching: grouping by correlation ID, keeping order, attaching request info, splitting at the log
//! and byte caps, partial payloads for requests still running. No clocks and no I/O: time is passed in.

use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher as _;
use std::time::{Duration, Instant};

use serde_json::ser::{CompactFormatter, Formatter as _};

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use std::borrow::Cow;

use crate::context::{Context, CorrelationId};
use crate::encode::record::{write_json_str_cut, Timestamp};
use crate::trace::{TraceContext, JSON_FIELDS_LEN as TRACE_FIELDS_LEN};

/// One queued log: its time and its JSON object without the `timestamp` field (added here).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogEntry {
    pub ts: Timestamp,
    /// The W3C trace and span the record was made in (`traceId`/`spanId` on the wire).
    pub trace: Option<TraceContext>,
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
    /// The standard methods are `'static` (not copied).
    pub method: Cow<'static, str>,
    pub path: RequestPath,
    pub started_at: Timestamp,
    pub status: Option<u16>,
    pub ended_at: Option<Timestamp>,
    pub duration_ms: Option<f64>,
    pub record_always: bool,
}

/// A request's path as the worker holds it: read in the request's own context, so a request that logs
/// costs the logging thread no copy of its method and path (a reference-count increment instead).
#[derive(Clone)]
pub(crate) struct RequestPath(Context);

impl RequestPath {
    /// The path of the request in `ctx` (empty when `ctx` serves none, which the callers rule out).
    pub(crate) fn of(ctx: &Context) -> Self {
        RequestPath(ctx.clone())
    }

    pub(crate) fn as_str(&self) -> &str {
        self.0.request().map_or("", |r| r.path.as_str())
    }

    /// The request's context.
    pub(crate) fn context(&self) -> &Context {
        &self.0
    }
}

impl std::ops::Deref for RequestPath {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// A path as given, in a context of its own (tests, and the oracle's inputs).
impl From<&str> for RequestPath {
    fn from(path: &str) -> Self {
        let mut info = crate::context::RequestInfo::new("GET", "/");
        info.path = path.to_owned();
        RequestPath(Context::for_request(
            CorrelationId::new("request-path"),
            None,
            info,
        ))
    }
}

impl PartialEq for RequestPath {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for RequestPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// One payload of a batch.
#[derive(Debug, Clone, PartialEq)]
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
            .map(|l| l.body.len() + LOG_OVERHEAD + l.trace.map_or(0, |_| TRACE_FIELDS_LEN))
            .sum::<usize>()
            + part_overhead(&self.id, self.request.as_ref())
    }
}

fn part_overhead(id: &CorrelationId, request: Option<&RequestMeta>) -> usize {
    // Keys, three timestamps, duration, status, braces; strings may grow 6x when escaped.
    256 + id.as_str().len() + request.map_or(0, |r| 6 * (r.method.len() + r.path.len()))
}

/// What a batch carries before it is encoded; kept so that a batch refused with 413 can be split.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BatchContent {
    pub parts: Vec<Part>,
}

impl BatchContent {
    /// How many requests this batch closes (their final payload is in it).
    #[cfg(test)]
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
    /// back when it holds fewer than two logs. Both halves hold at least one log, so a batch of n ≥ 1
    /// logs refused with 413 at every size takes at most 2n − 1 POSTs: a piece of one log is never split
    /// to separate the payloads without logs (request starts and ends) that travel with it, and is
    /// dropped with them.
    pub(crate) fn split(self) -> Result<(BatchContent, BatchContent), BatchContent> {
        let total = self.log_count();
        if total < 2 {
            return Err(self);
        }
        let mut first = Vec::new();
        let mut second = Vec::new();
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
        Ok((
            BatchContent { parts: first },
            BatchContent { parts: second },
        ))
    }

    /// Encodes the request body: JSON written straight into one buffer (the logs' bodies are already
    /// JSON; the rest is a few fixed keys, strings escaped as everywhere else, timestamps and numbers).
    pub(crate) fn encode(&self, meta: &BatchMeta<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.parts.iter().map(Part::bytes).sum::<usize>() + 512);
        out.extend_from_slice(b"{\"payloads\":[");
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            encode_part(&mut out, part, meta.flushed_at);
        }
        out.extend_from_slice(b"],\"batch_metadata\":{\"batch_id\":");
        json_str(&mut out, meta.batch_id);
        out.extend_from_slice(b",\"service_name\":");
        json_str(&mut out, meta.service_name);
        out.extend_from_slice(b",\"environment\":");
        json_str(&mut out, meta.environment);
        out.extend_from_slice(b",\"sdk\":");
        json_str(&mut out, meta.sdk);
        out.extend_from_slice(b",\"total_requests\":");
        json_number(&mut out, self.parts.len() as u64);
        out.extend_from_slice(b",\"total_logs\":");
        json_number(&mut out, self.log_count() as u64);
        out.extend_from_slice(b",\"dropped_logs\":");
        json_number(&mut out, meta.dropped_logs);
        out.extend_from_slice(b",\"flushed_at\":");
        json_timestamp(&mut out, meta.flushed_at);
        out.extend_from_slice(b"}}");
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
    /// When the batch was encoded (also `startedAt` of the rare part that has neither request nor logs).
    pub flushed_at: Timestamp,
}

/// A JSON string, escaped (never cut: these are IDs, names and paths the batcher already bounded).
fn json_str(out: &mut Vec<u8>, s: &str) {
    write_json_str_cut(out, s, 0);
}

fn json_number(out: &mut Vec<u8>, n: u64) {
    let _ = CompactFormatter.write_u64(out, n);
}

fn json_timestamp(out: &mut Vec<u8>, ts: Timestamp) {
    out.push(b'"');
    ts.write_rfc3339(out);
    out.push(b'"');
}

fn encode_part(out: &mut Vec<u8>, part: &Part, now: Timestamp) {
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
    out.extend_from_slice(b"{\"correlationId\":");
    json_str(out, part.id.as_str());
    out.extend_from_slice(b",\"startedAt\":");
    json_timestamp(out, started);
    out.extend_from_slice(b",\"endedAt\":");
    match ended {
        Some(ts) => json_timestamp(out, ts),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"durationMS\":");
    match duration {
        // What serde_json writes for an f64: the shortest exact form, `null` when not finite.
        Some(d) if d.is_finite() => {
            let _ = CompactFormatter.write_f64(out, d);
        }
        _ => out.extend_from_slice(b"null"),
    }
    if let Some(r) = &part.request {
        out.extend_from_slice(b",\"request\":{\"method\":");
        json_str(out, &r.method);
        out.extend_from_slice(b",\"path\":");
        json_str(out, &r.path);
        if let Some(status) = r.status {
            out.extend_from_slice(b",\"statusCode\":");
            json_number(out, u64::from(status));
        }
        out.push(b'}');
    }
    out.extend_from_slice(b",\"logs\":[");
    for (i, log) in part.logs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        if let Some(trace) = &log.trace {
            trace.write_json_fields(out);
        }
        out.extend_from_slice(b"\"timestamp\":\"");
        log.ts.write_rfc3339(out);
        out.push(b'"');
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

/// What `take` could not fit anywhere: single logs larger than a whole batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Oversized {
    pub logs: u64,
    pub accounted_bytes: usize,
}

/// How many emptied log queues the batcher keeps for new groups, and the largest kept (at most
/// 1,024 × 32 slots of 40 bytes: 1.3 MiB, outside the byte cap like the rest of the batcher's own
/// structures).
const SPARE_LOG_QUEUES: usize = 1024;
const SPARE_LOGS_CAPACITY: usize = 32;

/// How many emptied part-log `Vec`s (handed back by finished deliveries, see
/// [`Batcher::give_part_logs`]) the batcher keeps for the next batches' parts, and the largest kept: a
/// part takes one instead of allocating (one allocation and one free fewer per request in a batch). At
/// most 128 × 16 entries (about 150 KB), outside the byte cap like the spare queues.
pub(crate) const SPARE_PART_LOGS: usize = 128;
pub(crate) const SPARE_PART_LOGS_CAPACITY: usize = 16;

/// A group's place in the batcher: its slot in `Batcher::slots`.
type Slot = usize;

/// The pending records of one correlation ID.
#[derive(Debug)]
struct Group {
    id: CorrelationId,
    /// `id`'s hash in `Batcher::index`, kept so that removing or rehashing never hashes the ID again.
    hash: u64,
    /// When the group was created, relative to the others: batches take groups in this order (the order
    /// of arrival), and `Batcher::work` is keyed by it.
    order: u64,
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
    fn has_work(&self) -> bool {
        !self.logs.is_empty() || self.needs_close
    }

    fn finished(&self) -> bool {
        self.request.as_ref().is_none_or(|r| r.ended_at.is_some())
    }
}

/// Groups pending records by correlation ID and cuts them into batches.
///
/// Every operation costs O(log n) at most in the number of groups held, so a backlog of tens of thousands
/// of requests (after an outage, under load) drains as fast as one request's logs do:
/// - `index` finds a group by its ID (a hash lookup). It holds only slot numbers (4 bytes each, the IDs
///   stay in the groups): with 100,000 requests pending it is about 640 KB and stays in the cache, where a
///   map holding the IDs took 7 MB and a new request's insertion missed it;
/// - `slots` holds the groups, reused through `free`, so removing one moves nothing;
/// - `work` holds only the groups that have something to send, in arrival order: `take` never walks
///   groups that wait for their request to end;
/// - `fences` counts, for each flush waiting, how many records received before it are still held: a
///   flush costs nothing until one is waiting, then a comparison per record that leaves.
///
/// What it sends, and in which order, is exactly what the first batcher sent (`oracle.rs`, compared by a
/// property test).
#[derive(Debug)]
pub(crate) struct Batcher {
    /// Slots as `u32` (4 bytes each: half the cache a `usize` takes; no batcher holds 4 billion groups).
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    slots: Vec<Option<Group>>,
    free: Vec<Slot>,
    work: BTreeMap<u64, Slot>,
    fences: Vec<Fence>,
    /// Request ends held, whose closing payload has not gone out (with their receive index).
    pending_closes: usize,
    /// Log queues of forgotten groups, kept for new ones (most requests log a few times, so a new group
    /// rarely allocates).
    spare_logs: Vec<VecDeque<LogEntry>>,
    /// Emptied `Vec`s for parts' logs (see [`SPARE_PART_LOGS`]).
    spare_part_logs: Vec<Vec<LogEntry>>,
    next_order: u64,
    default_id: CorrelationId,
    max_logs: usize,
    max_bytes: usize,
    max_wait: Duration,
    pending_logs: usize,
    /// When the oldest unsent thing arrived.
    oldest: Option<Instant>,
}

/// Whether `slot` holds the group of `id`.
fn holds(slots: &[Option<Group>], slot: Slot, id: &CorrelationId) -> bool {
    slots
        .get(slot)
        .and_then(Option::as_ref)
        .is_some_and(|g| g.id == *id)
}

impl Batcher {
    pub(crate) fn new(
        default_id: CorrelationId,
        max_logs: usize,
        max_bytes: usize,
        max_wait: Duration,
    ) -> Self {
        Batcher {
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            slots: Vec::new(),
            free: Vec::new(),
            work: BTreeMap::new(),
            fences: Vec::new(),
            pending_closes: 0,
            spare_logs: Vec::new(),
            spare_part_logs: Vec::new(),
            next_order: 0,
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

    /// Nothing to send: no group holds a log or a pending end.
    pub(crate) fn is_idle(&self) -> bool {
        self.work.is_empty()
    }

    fn group(&mut self, slot: Slot) -> &mut Group {
        match self.slots.get_mut(slot).and_then(Option::as_mut) {
            Some(g) => g,
            // Slots in `index` and `work` always hold a group; a miss is a bug in this module.
            None => unreachable!("batcher slot {slot} is empty"),
        }
    }

    /// The slot of the group of `id`, if there is one.
    fn find(&self, id: &CorrelationId) -> Option<Slot> {
        let slots = &self.slots;
        self.index
            .find(self.hasher.hash_one(id), |&slot| {
                holds(slots, slot as Slot, id)
            })
            .map(|&slot| slot as Slot)
    }

    /// The group of `id`, made (at the end of the arrival order) if there is none. One probe of the
    /// index either way; a new ID compares no group (only the index's tag bytes).
    fn slot_for(&mut self, id: CorrelationId) -> Slot {
        let Batcher {
            index,
            slots,
            hasher,
            ..
        } = self;
        let hash = hasher.hash_one(&id);
        let vacant = match index.entry(
            hash,
            |&slot| holds(slots, slot as Slot, &id),
            |&slot| slots[slot as Slot].as_ref().map_or(0, |g| g.hash),
        ) {
            Entry::Occupied(e) => return *e.get() as Slot,
            Entry::Vacant(v) => v,
        };
        let group = Group {
            id,
            hash,
            order: self.next_order,
            request: None,
            logs: self.spare_logs.pop().unwrap_or_default(),
            shipped_any: false,
            needs_close: false,
            close_seq: None,
        };
        self.next_order += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(group);
                slot
            }
            None => {
                self.slots.push(Some(group));
                self.slots.len() - 1
            }
        };
        vacant.insert(slot as u32);
        slot
    }

    /// Runs `f` on a group and then brings `work` up to date with what it changed.
    fn update<R>(&mut self, slot: Slot, f: impl FnOnce(&mut Group) -> R) -> R {
        let group = self.group(slot);
        let had_work = group.has_work();
        let out = f(group);
        let (has_work, order) = (group.has_work(), group.order);
        match (had_work, has_work) {
            (false, true) => {
                self.work.insert(order, slot);
            }
            (true, false) => {
                self.work.remove(&order);
            }
            _ => {}
        }
        out
    }

    /// Forgets a group (which has nothing left to send).
    fn remove(&mut self, slot: Slot) {
        if let Some(group) = self.slots.get_mut(slot).and_then(Option::take) {
            // A pending end forgotten with its group (a request restarted and ended again without a
            // payload) leaves the batcher: fences stop waiting for it.
            if let Some(seq) = group.close_seq.filter(|_| group.needs_close) {
                self.pending_closes = self.pending_closes.saturating_sub(1);
                self.close_left(seq);
            }
            self.work.remove(&group.order);
            if let Ok(entry) = self.index.find_entry(group.hash, |&s| s as Slot == slot) {
                entry.remove();
            }
            self.free.push(slot);
            if group.logs.is_empty()
                && group.logs.capacity() <= SPARE_LOGS_CAPACITY
                && self.spare_logs.len() < SPARE_LOG_QUEUES
            {
                self.spare_logs.push(group.logs);
            }
        }
    }

    pub(crate) fn log(&mut self, id: Option<CorrelationId>, entry: LogEntry, now: Instant) {
        let id = id.unwrap_or_else(|| self.default_id.clone());
        let slot = self.slot_for(id);
        self.update(slot, |g| g.logs.push_back(entry));
        self.pending_logs += 1;
        self.oldest.get_or_insert(now);
    }

    pub(crate) fn request_started(&mut self, id: CorrelationId, meta: RequestMeta) {
        let slot = self.slot_for(id);
        self.group(slot).request = Some(meta);
    }

    /// Records the end of the request `id`, received at the worker's receive index `seq`; true when its
    /// closing payload is now pending (flushes wait for it), false when it needs none (it never logged)
    /// or is unknown. One lookup of the group either way.
    pub(crate) fn request_finished(
        &mut self,
        id: &CorrelationId,
        status: Option<u16>,
        ended_at: Timestamp,
        duration_ms: f64,
        seq: u64,
        now: Instant,
    ) -> bool {
        let Some(slot) = self.find(id) else {
            return false;
        };
        let group = self.group(slot);
        let Some(request) = group.request.as_mut() else {
            return false;
        };
        request.status = status;
        request.ended_at = Some(ended_at);
        request.duration_ms = Some(duration_ms);
        let close = group.shipped_any || request.record_always || !group.logs.is_empty();
        if close {
            let old = self.update(slot, |g| {
                g.needs_close = true;
                g.close_seq.replace(seq)
            });
            match old {
                None => self.pending_closes += 1,
                // A second end for the same request: the first one's index leaves, this one arrives.
                Some(old) => self.close_left(old),
            }
            self.oldest.get_or_insert(now);
        } else {
            // No logs, no payload (the Python client's rule), unless asked to record every request.
            self.remove(slot);
        }
        close
    }

    /// A pending end received at `seq` is no longer held (outside `take`, which counts its own).
    fn close_left(&mut self, seq: u64) {
        for f in &mut self.fences {
            if seq < f.seq {
                f.held = f.held.saturating_sub(1);
            }
        }
        self.fences.retain(|f| f.held > 0);
    }

    /// A flush's fence at receive index `seq`: it is drained once everything received before it (logs,
    /// request ends) has left the batcher, taken into a batch or dropped.
    pub(crate) fn add_fence(&mut self, seq: u64) {
        let held = self.pending_logs + self.pending_closes;
        if held > 0 {
            self.fences.push(Fence { seq, held });
        }
    }

    /// Whether the fence at `seq` (see [`add_fence`](Self::add_fence)) is drained.
    pub(crate) fn fence_drained(&self, seq: u64) -> bool {
        !self.fences.iter().any(|f| f.seq == seq)
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

    /// Takes emptied part-log `Vec`s (of batches delivered) out of `spares` for the next batches'
    /// parts, until it holds [`SPARE_PART_LOGS`]; what it does not need stays in `spares`, and one
    /// larger than [`SPARE_PART_LOGS_CAPACITY`] entries is freed.
    pub(crate) fn give_part_logs(&mut self, spares: &mut Vec<Vec<LogEntry>>) {
        while self.spare_part_logs.len() < SPARE_PART_LOGS {
            let Some(mut logs) = spares.pop() else {
                break;
            };
            if logs.capacity() <= SPARE_PART_LOGS_CAPACITY {
                logs.clear();
                self.spare_part_logs.push(logs);
            }
        }
    }

    /// Takes the next batch (regardless of triggers; call `ready` first unless flushing).
    ///
    /// Walks the groups that have work, in arrival order, and stops at the first that does not fit whole:
    /// its cost is the size of the batch it returns, whatever else is held.
    pub(crate) fn take(&mut self) -> (Option<BatchContent>, Oversized) {
        let mut cut = Cut {
            parts: Vec::with_capacity(self.work.len().min(self.max_logs)),
            oversized: Oversized::default(),
            logs_left: self.max_logs,
            bytes_left: self.max_bytes.saturating_sub(ENVELOPE_OVERHEAD),
            max_bytes: self.max_bytes,
            fences: std::mem::take(&mut self.fences),
            closes: 0,
            spare_logs: std::mem::take(&mut self.spare_part_logs),
        };
        let mut from = 0;
        while cut.logs_left > 0 {
            let Some((&order, &slot)) = self.work.range(from..).next() else {
                break;
            };
            from = order + 1;
            let (step, taken) = self.update(slot, |g| cut.take_from(g));
            self.pending_logs -= taken;
            match step {
                Step::Next => {}
                Step::NextAndForget => self.remove(slot),
                Step::Stop => break,
                Step::StopAndForget => {
                    self.remove(slot);
                    break;
                }
            }
        }
        self.pending_closes = self.pending_closes.saturating_sub(cut.closes);
        cut.fences.retain(|f| f.held > 0);
        self.fences = cut.fences;
        self.spare_part_logs = cut.spare_logs;
        if self.is_idle() {
            self.oldest = None;
        }
        let batch = if cut.parts.is_empty() {
            None
        } else {
            Some(BatchContent { parts: cut.parts })
        };
        (batch, cut.oversized)
    }
}

/// What `take` does after one group.
enum Step {
    Next,
    NextAndForget,
    Stop,
    StopAndForget,
}

/// A flush waiting for the records received before its receive index `seq`: `held` of them are still in
/// the batcher.
#[derive(Debug)]
struct Fence {
    seq: u64,
    held: usize,
}

/// A batch being cut: its parts so far and the room left.
struct Cut {
    parts: Vec<Part>,
    oversized: Oversized,
    logs_left: usize,
    bytes_left: usize,
    max_bytes: usize,
    /// The batcher's fences while the batch is cut.
    fences: Vec<Fence>,
    /// Request ends that went out with their closing payload.
    closes: usize,
    /// The batcher's spare part-log `Vec`s while the batch is cut.
    spare_logs: Vec<Vec<LogEntry>>,
}

impl Cut {
    /// A record received at `seq` left the batcher.
    fn left(&mut self, seq: u64) {
        for f in &mut self.fences {
            if seq < f.seq {
                f.held = f.held.saturating_sub(1);
            }
        }
    }

    /// Takes what fits of one group; returns what to do next and how many logs left the group.
    fn take_from(&mut self, group: &mut Group) -> (Step, usize) {
        let overhead = part_overhead(&group.id, group.request.as_ref());
        if overhead > self.bytes_left {
            return (Step::Stop, 0);
        }
        let mut budget = self.bytes_left - overhead;
        let want = group.logs.len().min(self.logs_left);
        let mut logs = match self.spare_logs.pop() {
            Some(mut spare) => {
                spare.reserve(want);
                spare
            }
            None => Vec::with_capacity(want),
        };
        let mut gone = 0;
        while self.logs_left > 0 {
            let Some(front) = group.logs.front() else {
                break;
            };
            let size = front.body.len() + LOG_OVERHEAD;
            if size > budget {
                if size + overhead + ENVELOPE_OVERHEAD > self.max_bytes {
                    // Never fits in any batch: drop it and say so.
                    if let Some(entry) = group.logs.pop_front() {
                        self.left(entry.seq);
                        self.oversized.logs += 1;
                        self.oversized.accounted_bytes += accounted_size(entry.body.capacity());
                        gone += 1;
                    }
                    continue;
                }
                break;
            }
            budget -= size;
            self.logs_left -= 1;
            gone += 1;
            if let Some(entry) = group.logs.pop_front() {
                self.left(entry.seq);
                logs.push(entry);
            }
        }
        let drained = group.logs.is_empty();
        let finished = group.finished();
        if logs.is_empty() && !(drained && group.needs_close) {
            self.spare_logs.push(logs);
            let step = if drained && finished {
                Step::StopAndForget
            } else {
                Step::Stop
            };
            return (step, gone);
        }
        // A finished request's last piece: the group is forgotten next, its request info moves out.
        let mut request = if drained && finished {
            group.request.take()
        } else {
            group.request.clone()
        };
        if !drained {
            // More of this request follows in a later batch: this piece is still open.
            if let Some(r) = request.as_mut() {
                r.ended_at = None;
                r.duration_ms = None;
                r.status = None;
            }
        }
        self.bytes_left = budget;
        group.shipped_any = true;
        let closes = drained && group.needs_close;
        if drained {
            group.needs_close = false;
            if let Some(seq) = group.close_seq.take().filter(|_| closes) {
                self.left(seq);
                self.closes += 1;
            }
        }
        self.parts.push(Part {
            id: group.id.clone(),
            request,
            logs,
            closes,
        });
        let step = match (drained, finished) {
            (false, _) => Step::Stop,
            (true, true) => Step::NextAndForget,
            (true, false) => Step::Next,
        };
        (step, gone)
    }
}

#[cfg(test)]
mod oracle;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(ts: i64, msg: &str) -> LogEntry {
        LogEntry {
            trace: None,
            ts: Timestamp(ts),
            body: format!(r#"{{"level":"info","message":"{msg}","loggerName":"t","metadata":{{}},"exception":null}}"#)
                .into_bytes(),
            seq: ts.unsigned_abs(),
        }
    }

    #[test]
    fn a_fence_waits_for_the_logs_and_pending_ends_received_before_it() {
        let t = Instant::now();
        let mut b = Batcher::new(id("default"), 200, 1 << 20, Duration::from_secs(30));
        b.add_fence(0);
        assert!(b.fence_drained(0), "nothing held: drained at once");
        b.request_started(id("r"), meta("/r"));
        b.log(Some(id("r")), entry(5, "a"), t);
        b.log(None, entry(7, "b"), t);
        b.add_fence(8);
        assert!(!b.fence_drained(8));
        // Everything taken: nothing pending but the end of `r`, once it arrives.
        let _ = b.take();
        assert!(b.fence_drained(8));
        assert!(b.request_finished(&id("r"), Some(200), Timestamp(9), 1.0, 9, t));
        b.add_fence(10);
        assert!(!b.fence_drained(10), "the end of `r` is held");
        b.log(None, entry(11, "after the fence"), t);
        let _ = b.take();
        assert!(b.fence_drained(10), "the closing payload went out");
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
    fn parts_reuse_the_log_vecs_given_back() {
        let mut b = Batcher::new(id("default"), 200, 1 << 20, Duration::from_secs(30));
        let mut kept = Vec::with_capacity(8);
        kept.push(entry(0, "stale"));
        let kept_at = kept.as_ptr();
        let mut spares = vec![Vec::with_capacity(SPARE_PART_LOGS_CAPACITY + 1), kept];
        b.give_part_logs(&mut spares);
        assert!(
            spares.is_empty(),
            "both taken: one kept, the oversized one freed"
        );
        b.log(Some(id("r")), entry(1, "a"), Instant::now());
        let batch = b.take().0.unwrap();
        assert_eq!(batch.parts[0].logs.as_ptr(), kept_at, "the given-back Vec");
        assert_eq!(batch.parts[0].logs, [entry(1, "a")], "cleared before reuse");
        // The next part has no spare left: a new Vec.
        b.log(Some(id("s")), entry(2, "b"), Instant::now());
        assert_eq!(b.take().0.unwrap().parts[0].logs, [entry(2, "b")]);
        // Once the batcher holds its share, the rest stays with the caller.
        let mut many: Vec<Vec<LogEntry>> = (0..SPARE_PART_LOGS + 3).map(|_| Vec::new()).collect();
        b.give_part_logs(&mut many);
        assert_eq!(many.len(), 3);
    }

    #[test]
    fn groups_by_correlation_id_in_order_with_request_info() {
        let t = Instant::now();
        let mut b = Batcher::new(id("proc"), 200, 4 << 20, Duration::from_secs(30));
        b.request_started(id("r1"), meta("/users/7"));
        b.log(Some(id("r1")), entry(2_000, "a"), t);
        b.log(None, entry(2_500, "bg"), t);
        b.log(Some(id("r1")), entry(3_000, "b"), t);
        b.request_finished(&id("r1"), Some(200), Timestamp(4_000), 3.0, 0, t);
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
        b.request_finished(&id("quiet"), Some(204), Timestamp(2), 1.0, 0, t);
        assert!(b.is_idle());
        assert!(b.take().0.is_none());
        let mut m = meta("/health");
        m.record_always = true;
        b.request_started(id("access"), m);
        b.request_finished(&id("access"), Some(200), Timestamp(2), 1.0, 0, t);
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
        b.request_finished(&id("slow"), Some(500), Timestamp(9), 7.0, 0, t);
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
        b.request_finished(&id("big"), Some(201), Timestamp(2_000), 2.0, 0, t);
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
        b.request_finished(&id("a"), Some(200), Timestamp(9), 1.0, 0, t);
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

    /// Every piece answered 413 until it cannot be split: POSTs made, and the pieces left (each then
    /// dropped).
    fn split_to_the_end(batch: BatchContent) -> (usize, Vec<BatchContent>) {
        match batch.split() {
            Err(piece) => (1, vec![piece]),
            Ok((a, b)) => {
                let (pa, mut la) = split_to_the_end(a);
                let (pb, lb) = split_to_the_end(b);
                la.extend(lb);
                (1 + pa + pb, la)
            }
        }
    }

    #[test]
    fn splits_only_separate_logs_so_n_logs_take_at_most_2n_minus_1_posts() {
        let part = |name: &str, logs: usize| Part {
            id: id(name),
            request: Some(meta(&format!("/{name}"))),
            logs: (0..logs).map(|i| entry(i as i64, name)).collect(),
            closes: logs == 0,
        };
        // Payloads without logs (request ends whose logs went earlier) between and around the logs.
        let parts = vec![
            part("e1", 0),
            part("a", 3),
            part("e2", 0),
            part("e3", 0),
            part("b", 1),
            part("e4", 0),
            part("c", 3),
            part("e5", 0),
        ];
        let batch = BatchContent { parts };
        let n = batch.log_count();
        let (posts, pieces) = split_to_the_end(batch);
        assert_eq!(posts, 2 * n - 1);
        assert_eq!(pieces.len(), n);
        assert!(pieces.iter().all(|p| p.log_count() == 1));
        // No payload is lost or doubled: each ends up in the piece of a neighbouring log.
        let names: Vec<String> = pieces
            .iter()
            .flat_map(|p| &p.parts)
            .map(|p| p.id.as_str().to_owned())
            .collect();
        for name in ["e1", "e2", "e3", "e4", "e5"] {
            assert_eq!(names.iter().filter(|n| *n == name).count(), 1, "{names:?}");
        }
        // One log with payloads beside it is not split further.
        let one = BatchContent {
            parts: vec![part("e1", 0), part("b", 1), part("e2", 0)],
        };
        assert!(one.split().is_err());
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
                    2 => { if started[r] { b.request_finished(&rid, Some(200), Timestamp(1), 1.0, 0, t); started[r] = false; } }
                    _ => { if b.ready(t + Duration::from_millis(10)) { drain(&mut b, &mut got)?; } }
                }
            }
            while !b.is_idle() { drain(&mut b, &mut got)?; }
            prop_assert_eq!(b.pending_logs(), 0);
            prop_assert_eq!(got, expected);
        }
    }

    #[derive(Debug, Clone)]
    enum Ev {
        /// A log for request `r` (`r == 8`: no correlation ID), of one of four sizes.
        Log(usize, u8),
        Start(usize, bool),
        End(usize),
        /// A batch when the triggers say so.
        Take,
        /// A flush: batches until idle.
        Flush,
        /// Time passes, in milliseconds.
        Wait(u64),
        /// A flush's fence arrives.
        Fence,
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            8 => (0usize..9, 0u8..4).prop_map(|(r, s)| Ev::Log(r, s)),
            2 => (0usize..8, proptest::bool::weighted(0.2)).prop_map(|(r, a)| Ev::Start(r, a)),
            2 => (0usize..8).prop_map(Ev::End),
            3 => Just(Ev::Take),
            1 => Just(Ev::Flush),
            1 => (0u64..40).prop_map(Ev::Wait),
            1 => Just(Ev::Fence),
        ]
    }

    proptest! {
        /// The batcher answers every call exactly as the first one (the oracle) does: the same batches,
        /// parts in the same order with the same logs, request info and closing marks, the same oversized
        /// drops, triggers, deadlines, pending counts and flush fences.
        #[test]
        fn the_batcher_answers_exactly_as_the_oracle(
            events in proptest::collection::vec(ev(), 1..400),
            max_logs in 1usize..30,
            max_bytes in prop_oneof![Just(4096usize), Just(16 << 10), Just(1 << 20)],
        ) {
            let t0 = Instant::now();
            let wait = Duration::from_millis(25);
            let mut new = Batcher::new(id("proc"), max_logs, max_bytes, wait);
            let mut old = oracle::OracleBatcher::new(id("proc"), max_logs, max_bytes, wait);
            let mut now = t0;
            let mut seq = 0u64;
            let mut fences = Vec::new();
            let sizes = [10usize, 200, 1500, 5000];
            for e in events {
                match e {
                    Ev::Log(r, size) => {
                        let cid = (r < 8).then(|| id(&format!("r{r}")));
                        let body = format!(r#"{{"message":"{}"}}"#, "x".repeat(sizes[size as usize])).into_bytes();
                        // A clone's capacity is its length: make the original's the same.
                        let body = body.into_boxed_slice().into_vec();
                        let entry = LogEntry { trace: None, ts: Timestamp(seq as i64), body, seq };
                        seq += 1;
                        new.log(cid.clone(), entry.clone(), now);
                        old.log(cid, entry, now);
                    }
                    Ev::Start(r, always) => {
                        let mut m = meta(&format!("/r{r}"));
                        m.record_always = always;
                        new.request_started(id(&format!("r{r}")), m.clone());
                        old.request_started(id(&format!("r{r}")), m);
                    }
                    Ev::End(r) => {
                        let cid = id(&format!("r{r}"));
                        let a = new.request_finished(&cid, Some(200), Timestamp(seq as i64), 1.5, seq, now);
                        let b = old.request_finished(&cid, Some(200), Timestamp(seq as i64), 1.5, now);
                        prop_assert_eq!(a, b);
                        if b {
                            old.set_close_seq(&cid, seq);
                        }
                        seq += 1;
                    }
                    Ev::Take => {
                        prop_assert_eq!(new.ready(now), old.ready(now));
                        if new.ready(now) {
                            let taken = new.take();
                            prop_assert_eq!(&taken, &old.take());
                            if let Some(batch) = &taken.0 {
                                let meta = BatchMeta {
                                    batch_id: "b",
                                    service_name: "svc",
                                    environment: "production",
                                    sdk: "logiscout-rust/test",
                                    dropped_logs: seq,
                                    flushed_at: Timestamp(seq as i64),
                                };
                                prop_assert_eq!(batch.encode(&meta), oracle::encode_with_serde(batch, &meta));
                            }
                        }
                    }
                    Ev::Flush => {
                        while !old.is_idle() {
                            prop_assert!(!new.is_idle());
                            prop_assert_eq!(new.take(), old.take());
                        }
                    }
                    Ev::Wait(ms) => now += Duration::from_millis(ms),
                    Ev::Fence => {
                        new.add_fence(seq);
                        fences.push(seq);
                    }
                }
                for &f in &fences {
                    // The oracle's rule: drained once nothing received before the fence is held.
                    let drained = old.min_pending_seq().is_none_or(|m| m >= f);
                    prop_assert_eq!(new.fence_drained(f), drained, "fence {}", f);
                }
                prop_assert_eq!(new.is_idle(), old.is_idle());
                prop_assert_eq!(new.pending_logs(), old.pending_logs());
                prop_assert_eq!(new.deadline(), old.deadline());
            }
        }
    }

    fn arb_part() -> impl Strategy<Value = Part> {
        let request = (
            ".{0,12}",
            ".{0,24}",
            proptest::num::i64::ANY,
            proptest::option::of(proptest::num::u16::ANY),
            proptest::option::of(proptest::num::i64::ANY),
            proptest::option::of(proptest::num::f64::ANY),
        )
            .prop_map(
                |(method, path, started, status, ended, duration)| RequestMeta {
                    method: method.into(),
                    // Read in a request's context, as the worker does.
                    path: path.as_str().into(),
                    started_at: Timestamp(started),
                    status,
                    ended_at: ended.map(Timestamp),
                    duration_ms: duration,
                    record_always: false,
                },
            );
        (
            "[ -~]{1,20}",
            proptest::option::of(request),
            proptest::collection::vec((proptest::num::i64::ANY, ".{0,20}"), 0..4),
        )
            .prop_map(|(cid, request, logs)| Part {
                id: CorrelationId::new(cid),
                request,
                logs: logs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (ts, msg))| LogEntry {
                        trace: None,
                        ts: Timestamp(ts),
                        body: serde_json::to_vec(&serde_json::json!({ "message": msg })).unwrap(),
                        seq: i as u64,
                    })
                    .collect(),
                closes: false,
            })
    }

    proptest! {
        /// The hand-written encoder writes the bytes the serde_json one wrote, for any strings (escaping),
        /// timestamps, durations (NaN and infinities are `null`), statuses and counters.
        #[test]
        fn the_encoder_writes_what_serde_json_wrote(
            parts in proptest::collection::vec(arb_part(), 0..5),
            id in ".{0,40}",
            service in ".{0,20}",
            dropped in proptest::num::u64::ANY,
            flushed in proptest::num::i64::ANY,
        ) {
            let batch = BatchContent { parts };
            let meta = BatchMeta {
                batch_id: &id,
                service_name: &service,
                environment: "production",
                sdk: "logiscout-rust/0.1.0",
                dropped_logs: dropped,
                flushed_at: Timestamp(flushed),
            };
            let new = batch.encode(&meta);
            let old = oracle::encode_with_serde(&batch, &meta);
            prop_assert_eq!(String::from_utf8_lossy(&new), String::from_utf8_lossy(&old));
        }
    }

    #[test]
    fn groups_waiting_for_their_end_cost_take_nothing() {
        // 50,000 requests that logged once and are still running; then one more log. Taking it must not
        // walk the 50,000 (with the old batcher this loop took minutes).
        let t = Instant::now();
        let mut b = Batcher::new(id("proc"), 200, 4 << 20, Duration::from_secs(30));
        for r in 0..50_000 {
            let rid = id(&format!("r{r}"));
            b.request_started(rid.clone(), meta("/"));
            b.log(Some(rid), entry(r, "a"), t);
        }
        while !b.is_idle() {
            let _ = b.take();
        }
        assert_eq!(b.work.len(), 0);
        assert_eq!(b.index.len(), 50_000, "running requests are remembered");
        for r in 0..50_000 {
            b.log(None, entry(r, "bg"), t);
            let (batch, _) = b.take();
            assert_eq!(batch.unwrap().log_count(), 1);
        }
        for r in 0..50_000 {
            let rid = id(&format!("r{r}"));
            assert!(b.request_finished(&rid, Some(200), Timestamp(1), 1.0, r as u64, t));
        }
        b.add_fence(50_000);
        assert!(!b.fence_drained(50_000));
        let mut closed = 0;
        while !b.is_idle() {
            closed += b.take().0.unwrap().closed_requests();
        }
        assert_eq!(closed, 50_000);
        assert!(b.fence_drained(50_000));
        assert!(b.index.is_empty() && b.fences.is_empty() && b.work.is_empty());
        assert_eq!(b.pending_closes, 0);
        assert_eq!(b.free.len(), b.slots.len(), "every slot is free for reuse");
    }
}
