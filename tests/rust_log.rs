//! `RUST_LOG` with a level-like word that is not a level (`verbose`, `warning`, …) is refused by `init`,
//! naming the levels, instead of being read as a module name that turns every other log off; a bare
//! module path keeps env_logger's meaning. One test: it sets `RUST_LOG` for this whole process.

use logiscout::{Config, Console, Error};

#[test]
fn rust_log_with_a_word_that_is_not_a_level_is_refused_and_module_paths_are_kept() {
    for word in ["verbose", "Warning", "info,fatal", "NONE"] {
        std::env::set_var("RUST_LOG", word);
        let err = logiscout::init(Config::new("rust-log").console(Console::Off)).unwrap_err();
        let Error::InvalidFilter { origin, reason } = &err else {
            panic!("{word}: {err:?}");
        };
        assert_eq!(*origin, "RUST_LOG", "{word}");
        let shown = err.to_string();
        assert!(shown.contains("RUST_LOG"), "{shown}");
        assert!(
            reason.contains("off, error, warn, info, debug and trace"),
            "{shown}"
        );
    }
    // A bare module path is env_logger's "everything from this module": accepted.
    std::env::set_var("RUST_LOG", "rust_log");
    let guard = logiscout::init(Config::new("rust-log").console(Console::Off)).unwrap();
    assert_eq!(log::max_level(), log::LevelFilter::Trace);
    assert!(log::log_enabled!(log::Level::Trace));
    assert!(!log::log_enabled!(target: "other_crate", log::Level::Error));
    std::env::remove_var("RUST_LOG");
    drop(guard);
}
