//! The buffer pools that let the hot path and the worker reuse their allocations: capture buffers go back
//! from the worker to the logging threads in bundles, JSON bodies go back from finished deliveries to the
//! worker's next renders. Every pool has a cap. Imports nothing of `ship/`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crossbeam_channel::{Receiver, Sender};

use crate::ship::batch::{BatchContent, LogEntry, SPARE_PART_LOGS, SPARE_PART_LOGS_CAPACITY};

/// How many spare JSON bodies the worker keeps, and the largest one kept: at most 2 MiB held in spares.
const SPARE_BUFFERS: usize = 1024;
const SPARE_MAX_CAPACITY: usize = 2048;
/// Capture buffers go back to the logging threads in bundles of this many; the pool holds at most
/// `SPARE_BUNDLES` bundles, and keeps only buffers up to `SPARE_CAPTURE_CAPACITY`: at most 512 KiB in the
/// pool, and 16 KiB in each logging thread's local cache.
const BUNDLE: usize = 32;
const SPARE_BUNDLES: usize = 32;
const SPARE_CAPTURE_CAPACITY: usize = 512;

thread_local! {
    /// On a logging thread: spare capture buffers, taken from the pool a bundle at a time. On the
    /// worker: spent capture buffers, gathered into the next bundle.
    static LOCAL_SPARES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}
/// The capacity of a new capture buffer (most captures are well under 100 bytes), and of the first new
/// body (later ones follow the last body's size).
const NEW_CAPTURE_CAPACITY: usize = 128;
pub(super) const NEW_BODY_CAPACITY: usize = 256;

/// The pools of one pipeline.
pub(super) struct Pools {
    /// Spent capture buffers, handed back by the worker as soon as it rendered them, in bundles of
    /// [`BUNDLE`], so the hot path rarely allocates and touches this shared pool once per bundle, not once
    /// per record (see [`LOCAL_SPARES`]).
    spare_tx: Sender<Vec<Vec<u8>>>,
    spare_rx: Receiver<Vec<Vec<u8>>>,
    /// Spent JSON bodies, reused by the worker for the next renders (only the worker touches it).
    json_spare: Mutex<Vec<Vec<u8>>>,
    /// Emptied part-log `Vec`s of delivered batches, for the batcher's next parts (only the worker
    /// touches it).
    part_logs_spare: Mutex<Vec<Vec<LogEntry>>>,
    /// The capacity of a new body: a little more than the last body rendered (records of one program
    /// are alike), so a burst that outruns the pool holds bodies about their size, not a fixed 256
    /// bytes. Only the worker reads and writes it.
    body_hint: AtomicUsize,
}

impl Pools {
    pub(super) fn new() -> Self {
        let (spare_tx, spare_rx) = crossbeam_channel::bounded(SPARE_BUNDLES);
        Pools {
            spare_tx,
            spare_rx,
            json_spare: Mutex::new(Vec::new()),
            part_logs_spare: Mutex::new(Vec::new()),
            body_hint: AtomicUsize::new(NEW_BODY_CAPACITY),
        }
    }

    /// A capture buffer for the hot path: from this thread's cache, refilled from the pool a bundle at a
    /// time, or a new one.
    #[inline]
    pub(super) fn take_buffer(&self) -> Vec<u8> {
        LOCAL_SPARES
            .try_with(|local| {
                let mut local = local.try_borrow_mut().ok()?;
                if local.is_empty() {
                    *local = self.spare_rx.try_recv().ok()?;
                }
                local.pop()
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| Vec::with_capacity(NEW_CAPTURE_CAPACITY))
    }

    /// Keeps a spent capture buffer for reuse: in this thread's cache, which goes to the pool as a
    /// bundle once full (a full pool frees it).
    #[inline]
    pub(super) fn give_back(&self, mut buf: Vec<u8>) {
        if buf.capacity() > SPARE_CAPTURE_CAPACITY {
            return;
        }
        buf.clear();
        let _ = LOCAL_SPARES.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return;
            };
            if local.len() < BUNDLE {
                local.push(buf);
            }
            if local.len() >= BUNDLE {
                let bundle = std::mem::replace(&mut *local, Vec::with_capacity(BUNDLE));
                let _ = self.spare_tx.try_send(bundle);
            }
        });
    }

    /// An empty JSON body for the worker's next render: a spent one, or a new one.
    #[inline]
    pub(super) fn take_body(&self) -> Vec<u8> {
        self.json_spare
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_else(|| Vec::with_capacity(self.body_hint.load(Ordering::Relaxed)))
    }

    /// Notes the size of a body just rendered, for the next new one.
    #[inline]
    pub(super) fn note_body_len(&self, len: usize) {
        let hint = (len + len / 8 + 15) & !15;
        self.body_hint
            .store(hint.clamp(64, SPARE_MAX_CAPACITY), Ordering::Relaxed);
    }

    /// Returns the logs' JSON bodies to the worker's pool, and the parts' emptied log `Vec`s to theirs
    /// (what does not fit is freed).
    pub(super) fn recycle(&self, content: BatchContent) {
        let Ok(mut pool) = self.json_spare.lock() else {
            return;
        };
        let mut part_logs = self.part_logs_spare.lock().ok();
        for part in content.parts {
            let mut logs = part.logs;
            for log in logs.drain(..) {
                let mut body = log.body;
                if pool.len() < SPARE_BUFFERS && body.capacity() <= SPARE_MAX_CAPACITY {
                    body.clear();
                    pool.push(body);
                }
            }
            if let Some(spares) = part_logs.as_mut() {
                if spares.len() < SPARE_PART_LOGS && logs.capacity() <= SPARE_PART_LOGS_CAPACITY {
                    spares.push(logs);
                }
            }
        }
    }

    /// Lends `f` the emptied part-log `Vec`s gathered so far (for
    /// [`Batcher::give_part_logs`](crate::ship::batch::Batcher::give_part_logs)).
    pub(super) fn with_part_logs(&self, f: impl FnOnce(&mut Vec<Vec<LogEntry>>)) {
        if let Ok(mut spares) = self.part_logs_spare.lock() {
            f(&mut spares);
        }
    }
}
