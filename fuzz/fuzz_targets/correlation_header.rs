//! Parsing an incoming correlation header never panics and accepts exactly the documented IDs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logiscout_core::correlation::{CorrelationId, MAX_CORRELATION_ID_LEN};

fuzz_target!(|data: &[u8]| {
    let valid = !data.is_empty()
        && data.len() <= MAX_CORRELATION_ID_LEN
        && data
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(b));
    match CorrelationId::parse_bytes(data) {
        Ok(id) => {
            assert!(valid);
            assert_eq!(id.as_str().as_bytes(), data);
        }
        Err(e) => {
            assert!(!valid);
            // The error never repeats the value.
            let shown = e.to_string();
            assert!(!shown.contains('\r') && !shown.contains('\n'));
        }
    }
});
