//! `set_filter` at run time: it changes what is printed and what is shipped from the next record, moves
//! `log::max_level` with it, and a refused directive changes nothing. One logger per process, so one test.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::LevelFilter;
use logiscout_core::{set_filter, Console, Error};
use logiscout_testkit::IngestServer;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    /// `metadata.n` of every JSON line printed.
    fn numbers(&self) -> Vec<u64> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["metadata"]["n"].as_u64().unwrap()
            })
            .collect()
    }
}

#[test]
fn set_filter_changes_what_is_printed_and_shipped_and_a_refused_one_changes_nothing() {
    // Before `init` there is no filter to change (the directives are still checked first).
    assert!(matches!(set_filter("warn"), Err(Error::NotInitialized)));
    assert!(matches!(
        set_filter("verbose"),
        Err(Error::InvalidFilter { .. })
    ));

    let server = IngestServer::start();
    let printed = Lines::default();
    let guard = logiscout_core::init(
        common::prod_to("set-filter-test", "lgs_set_filter", &server.url())
            .console(Console::Json)
            .console_writer(printed.clone()),
    )
    .unwrap();
    assert_eq!(log::max_level(), LevelFilter::Info);

    log::info!(n = 1; "info under info");
    set_filter("warn").unwrap();
    assert_eq!(log::max_level(), LevelFilter::Warn);
    log::info!(n = 2; "info under warn");
    log::warn!(n = 3; "warn under warn");

    // Refused, with `Config::filter`'s checks: the filter in force stays.
    for bad in ["verbose", "info,hyper=loud", "warning"] {
        let err = set_filter(bad).unwrap_err();
        let Error::InvalidFilter { origin, .. } = &err else {
            panic!("{bad}: {err}");
        };
        assert_eq!(*origin, "logiscout::set_filter", "{err}");
    }
    assert_eq!(log::max_level(), LevelFilter::Warn);
    log::info!(n = 4; "info still under warn");

    set_filter("info").unwrap();
    assert_eq!(log::max_level(), LevelFilter::Info);
    log::info!(n = 5; "info under info again");
    log::debug!(n = 6; "debug under info");

    // Module directives: the maximum level follows the most verbose one.
    set_filter("warn,set_filter=debug").unwrap();
    assert_eq!(log::max_level(), LevelFilter::Debug);
    log::debug!(n = 7; "debug for this module");
    log::debug!(target: "elsewhere", n = 8; "debug elsewhere");

    assert!(logiscout_core::flush(Duration::from_secs(5)).complete);
    assert_eq!(printed.numbers(), [1, 3, 5, 7]);
    let mut shipped: Vec<u64> = server
        .accepted_logs()
        .iter()
        .map(|(_, l)| l["metadata"]["n"].as_u64().unwrap())
        .collect();
    shipped.sort_unstable();
    assert_eq!(shipped, [1, 3, 5, 7]);
    guard.shutdown(Duration::from_secs(2));
}
