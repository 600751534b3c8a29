//! The sink's memory does not grow with the number of distinct requests (correlation IDs) or batch IDs
//! it has seen: measured with a counting global allocator, the sink running in this process.
//!
//! In a file of its own, with a single test: the allocator counts every thread of the process.

// A counting global allocator implements the unsafe `GlobalAlloc` trait; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use logiscout_sink::{Sink, SinkConfig, SinkHandle};
use serde_json::{json, Value};

/// The system allocator, keeping a count of the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const WINDOW: usize = 256;
const REQUESTS_PER_BATCH: usize = 20;

/// Batch `n`: a batch ID and REQUESTS_PER_BATCH completed requests, all never seen before.
fn batch(n: usize) -> (String, String) {
    let batch_id = format!("batch-{n:08}-0000-4000-8000-000000000000");
    let payloads: Vec<Value> = (0..REQUESTS_PER_BATCH)
        .map(|r| {
            json!({
                "correlationId": format!("{n:08}-{r:04}-4000-8000-000000000000"),
                "startedAt": "2026-11-25T11:42:47.630157Z",
                "endedAt": "2026-11-25T11:42:47.638316Z",
                "durationMS": 8.1,
                "request": { "method": "GET", "path": "/users/7", "statusCode": 200 },
                "logs": [{
                    "timestamp": "2026-11-25T11:42:47.636304Z",
                    "level": "info",
                    "message": "served",
                    "loggerName": "api",
                    "metadata": { "r": r }
                }]
            })
        })
        .collect();
    let body = json!({
        "payloads": payloads,
        "batch_metadata": {
            "batch_id": batch_id,
            "service_name": "sink-tests",
            "total_requests": REQUESTS_PER_BATCH,
            "total_logs": REQUESTS_PER_BATCH,
            "flushed_at": "2026-11-25T11:42:48.001Z"
        }
    });
    (batch_id, body.to_string())
}

async fn send(client: &reqwest::Client, sink: &SinkHandle, range: std::ops::Range<usize>) {
    for n in range {
        let (id, body) = batch(n);
        let resp = client
            .post(sink.url())
            .header("content-type", "application/json")
            .header("x-logiscout-batch-id", id)
            .body(body)
            .send()
            .await
            .expect("an answer");
        assert_eq!(resp.status().as_u16(), 200);
        drop(resp.bytes().await);
    }
}

#[tokio::test]
async fn memory_does_not_grow_with_distinct_requests_or_batch_ids() {
    let sink = Sink::start(SinkConfig {
        quiet: true,
        keep_batches: false,
        dedup_window: WINDOW,
        ..SinkConfig::default()
    })
    .expect("sink starts");
    let client = reqwest::Client::new();

    // Warm up: fill the window several times over (and let its set settle at its final capacity), the
    // connection, the buffers.
    const WARM_UP: usize = 1_500;
    send(&client, &sink, 0..WARM_UP).await;
    assert_eq!(sink.remembered_batch_ids(), WINDOW);
    let before = LIVE.load(Ordering::Relaxed);

    // 3,000 more batches: 60,000 distinct correlation IDs and 3,000 batch IDs never seen before. Kept
    // per ID, they would take megabytes (about 100 bytes each).
    const MORE: usize = 3_000;
    send(&client, &sink, WARM_UP..WARM_UP + MORE).await;
    let after = LIVE.load(Ordering::Relaxed);

    let stats = sink.stats();
    assert_eq!(stats.batches, (WARM_UP + MORE) as u64);
    assert_eq!(
        stats.requests,
        ((WARM_UP + MORE) * REQUESTS_PER_BATCH) as u64
    );
    assert_eq!(sink.remembered_batch_ids(), WINDOW);
    let growth = after - before;
    eprintln!("live heap: {before} bytes after the warm-up, {after} after {MORE} more batches ({growth:+})");
    // Flat: within the noise of one request in flight, far below the 6 MB that 60,000 IDs would take.
    assert!(
        growth < 64 * 1024,
        "the heap grew by {growth} bytes over {MORE} batches of new IDs"
    );
}
