//! Assert on what the code under test logged (feature `testing`), without a server and without a hand-made
//! writer.
//!
//! [`capture`] starts collecting the records made on the calling thread, and the records made on any thread
//! inside the correlation scope that is current at the call (if any), until the returned [`Logs`] is
//! dropped. Tests that run in parallel in one process each see only their own records: the harness runs
//! each test on its own thread.
//!
//! ```
//! # use logiscout_core as logiscout;
//! fn place_order(id: u64) {
//!     log::info!(order_id = id; "Order placed");
//! }
//!
//! let logs = logiscout::testing::capture();
//! place_order(7);
//! assert!(logs.contains("Order placed"));
//! let records = logs.records();
//! assert_eq!(records[0].level, logiscout::WireLevel::Info);
//! assert_eq!(records[0].fields["order_id"], 7);
//! ```
//!
//! The first `capture` in a process installs logiscout as the `log` backend if nothing is installed yet:
//! console off, every level (`trace` and up, `RUST_LOG` ignored), no shipping. When [`init`](crate::init)
//! installed logiscout first, `capture` uses that logger, with its filter (and its console and shipping).
//! So a test binary should either let `capture` install the logger or call `init` before any `capture`:
//! an `init` after it returns [`Error::AlreadyInitialized`](crate::Error::AlreadyInitialized).
//!
//! What is captured:
//! - records that pass the logger's filter, including `send = false` ones (they are logged, only not
//!   shipped);
//! - made on the thread that called `capture`, while its [`Logs`] lives, in any correlation scope: an axum
//!   or tower service driven with `oneshot` on a `#[tokio::test]` (a current-thread runtime) is captured
//!   whole;
//! - made on other threads (a multi-thread runtime's workers, `spawn_blocking`, plain threads) only inside
//!   the correlation scope that was current when `capture` was called: call it inside
//!   `correlation::scope(CorrelationId::new("my-test"), async { ... })` and carry the scope to the work
//!   (`.in_current_scope()`, `sync_scope`). Give each test its own ID: two live captures under one ID both
//!   see that ID's records.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::thread::ThreadId;

use log::Record;

use crate::config::{Config, Console};
use crate::context::{self, CorrelationId};
use crate::encode::record::{WireLevel, DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_STRING_BYTES};

/// One captured record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CapturedRecord {
    /// Its level (`critical!` records are [`WireLevel::Critical`]).
    pub level: WireLevel,
    /// The message, as shipped.
    pub message: String,
    /// The target (`loggerName`): the module path unless the call named one.
    pub target: String,
    /// The key-values, as the JSON they are shipped as (`metadata`; `send` and `correlation_id` are not
    /// in it).
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The correlation ID the record was made under, if any.
    pub correlation_id: Option<CorrelationId>,
}

/// The records captured since [`capture`]; capturing stops when it is dropped.
#[derive(Debug)]
#[must_use = "capturing stops when `Logs` is dropped"]
pub struct Logs {
    id: u64,
    records: Arc<Mutex<Vec<CapturedRecord>>>,
}

impl Logs {
    /// A copy of the records captured so far, in the order they were logged.
    pub fn records(&self) -> Vec<CapturedRecord> {
        lock(&self.records).clone()
    }

    /// Whether a captured record's message contains `text`.
    pub fn contains(&self, text: &str) -> bool {
        lock(&self.records).iter().any(|r| r.message.contains(text))
    }

    /// Forgets the records captured so far (capturing goes on).
    pub fn clear(&self) {
        lock(&self.records).clear();
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        let mut captures = lock(&CAPTURES);
        captures.retain(|c| c.id != self.id);
        ACTIVE.store(captures.len(), Ordering::Release);
    }
}

/// Starts capturing the records made on this thread, and on any thread in the current correlation scope;
/// see the [module docs](self).
///
/// # Panics
/// When another `log` backend (not logiscout) is installed in the process.
pub fn capture() -> Logs {
    install_once();
    let records = Arc::new(Mutex::new(Vec::new()));
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut captures = lock(&CAPTURES);
    captures.push(Capture {
        id,
        thread: std::thread::current().id(),
        scope: context::current(),
        records: records.clone(),
    });
    ACTIVE.store(captures.len(), Ordering::Release);
    Logs { id, records }
}

struct Capture {
    id: u64,
    thread: ThreadId,
    scope: Option<CorrelationId>,
    records: Arc<Mutex<Vec<CapturedRecord>>>,
}

static CAPTURES: Mutex<Vec<Capture>> = Mutex::new(Vec::new());
/// How many captures are live: the logger's only cost while none is (one relaxed load per record).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn install_once() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if crate::logger::installed().is_some() {
            return;
        }
        let config = Config::new("logiscout-testing")
            .console(Console::Off)
            .filter("trace")
            .read_rust_log(false);
        if let Ok(logger) = crate::logger::Logger::new(&config) {
            // Fails when `init` won the race (then that logger is used) or another backend is installed.
            let _ = crate::logger::install(logger);
        }
    });
    assert!(
        crate::logger::installed().is_some(),
        "logiscout::testing::capture: another `log` backend is installed in this process, so logiscout \
         cannot see the records; remove it from the tests that capture"
    );
}

/// Whether any capture is live (checked by the logger for every record that passes its filter).
#[inline]
pub(crate) fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed) != 0
}

/// Hands `record` to the captures it belongs to.
pub(crate) fn offer(record: &Record<'_>, level: WireLevel, correlation: Option<&CorrelationId>) {
    let thread = std::thread::current().id();
    let targets: Vec<_> = lock(&CAPTURES)
        .iter()
        .filter(|c| c.thread == thread || (c.scope.is_some() && c.scope.as_ref() == correlation))
        .map(|c| c.records.clone())
        .collect();
    if targets.is_empty() {
        return;
    }
    // Encoded with no lock held: a value's `Display` may log.
    let Some(captured) = encode(record, level, correlation) else {
        return;
    };
    for records in targets {
        lock(&records).push(captured.clone());
    }
}

fn encode(
    record: &Record<'_>,
    level: WireLevel,
    correlation: Option<&CorrelationId>,
) -> Option<CapturedRecord> {
    let mut json = Vec::new();
    let capture = crate::encode::capture::capture_to_print(
        Vec::new(),
        record,
        level,
        DEFAULT_MAX_STRING_BYTES,
        DEFAULT_MAX_RECORD_BYTES,
    )
    .ok()?;
    crate::encode::capture::render(&capture, &mut json, DEFAULT_MAX_STRING_BYTES).ok()?;
    let serde_json::Value::Object(mut entry) = serde_json::from_slice(&json).ok()? else {
        return None;
    };
    let mut text = |key: &str| match entry.remove(key) {
        Some(serde_json::Value::String(s)) => s,
        _ => String::new(),
    };
    let (message, target) = (text("message"), text("loggerName"));
    let fields = match entry.remove("metadata") {
        Some(serde_json::Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    Some(CapturedRecord {
        level,
        message,
        target,
        fields,
        correlation_id: correlation.cloned(),
    })
}
