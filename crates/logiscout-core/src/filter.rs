//! The level filter that [`set_filter`](crate::set_filter) replaces while the program runs, read by every
//! log call for the cost of one atomic load and a thread-local look-up.
//!
//! The filter in force lives behind a mutex, with a generation number that every replacement changes.
//! Each thread keeps the filter it last used with its generation; a log call compares that with the
//! current generation (a plain load of a cache line that only `set_filter` writes) and takes the mutex
//! only when they differ, once per thread after a change. No lock, no shared reference count and no
//! write to shared memory on the hot path. (Measured with callgrind, `examples/profile_hot_path.rs`:
//! about 5 instructions per `log::info!` over a plain `env_filter::Filter` field, 16 when re-measured at
//! `4287404`; an `arc-swap` load in its place added 62. See docs/benchmarks.md, "The runtime filter".)

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Generation numbers, unique across every [`SwapFilter`] of the process, so a thread's cache can never
/// mistake one filter for another.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The filter this thread last used, with its generation.
    static CACHE: RefCell<Option<(u64, Arc<env_filter::Filter>)>> = const { RefCell::new(None) };
}

pub(crate) struct SwapFilter {
    current: Mutex<Arc<env_filter::Filter>>,
    generation: AtomicU64,
}

impl SwapFilter {
    pub(crate) fn new(filter: env_filter::Filter) -> SwapFilter {
        SwapFilter {
            current: Mutex::new(Arc::new(filter)),
            generation: AtomicU64::new(NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)),
        }
    }

    fn current(&self) -> Arc<env_filter::Filter> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `f` with the filter in force.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&env_filter::Filter) -> R) -> R {
        let generation = self.generation.load(Ordering::Acquire);
        let mut f = Some(f);
        let cached = CACHE.try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            if !matches!(&*cache, Some((g, _)) if *g == generation) {
                *cache = Some((generation, self.current()));
            }
            let (_, filter) = cache.as_ref()?;
            f.take().map(|f| f(filter))
        });
        match (cached, f) {
            (Ok(Some(out)), _) => out,
            // The thread is exiting (its cache is gone), or `f` re-entered this (it does not): no cache.
            (_, Some(f)) => f(&self.current()),
            (_, None) => unreachable!("the filter's closure ran but gave no result"),
        }
    }

    /// Puts `filter` in force, then runs `then` with it while still holding the change, so that calls
    /// that race apply in one order (the caller moves `log::max_level` there).
    pub(crate) fn replace(
        &self,
        filter: env_filter::Filter,
        then: impl FnOnce(&env_filter::Filter),
    ) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        *current = Arc::new(filter);
        self.generation.store(
            NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            Ordering::Release,
        );
        then(&current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(directives: &str) -> env_filter::Filter {
        let mut b = env_filter::Builder::new();
        b.try_parse(directives).unwrap();
        b.build()
    }

    #[test]
    fn a_replaced_filter_is_seen_by_this_thread_and_others() {
        let f = Arc::new(SwapFilter::new(parse("info")));
        assert_eq!(f.with(|f| f.filter()), log::LevelFilter::Info);
        let other = f.clone();
        let seen_before = std::thread::spawn(move || other.with(|f| f.filter()))
            .join()
            .unwrap();
        assert_eq!(seen_before, log::LevelFilter::Info);
        f.replace(parse("warn"), |_| {});
        assert_eq!(f.with(|f| f.filter()), log::LevelFilter::Warn);
        let other = f.clone();
        let seen_after = std::thread::spawn(move || other.with(|f| f.filter()))
            .join()
            .unwrap();
        assert_eq!(seen_after, log::LevelFilter::Warn);
    }

    #[test]
    fn two_filters_never_share_a_cached_entry() {
        let a = SwapFilter::new(parse("error"));
        let b = SwapFilter::new(parse("trace"));
        for _ in 0..3 {
            assert_eq!(a.with(|f| f.filter()), log::LevelFilter::Error);
            assert_eq!(b.with(|f| f.filter()), log::LevelFilter::Trace);
        }
    }
}
