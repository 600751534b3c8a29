//! Where the inputs are.

use std::path::PathBuf;

/// The default target directory: `$CARGO_TARGET_DIR` or `<workspace>/target`.
pub fn default_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}
