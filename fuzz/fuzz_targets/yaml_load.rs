//! Fuzzes `sluice::ci::yaml::load`: it must never panic, whatever the bytes, and every
//! error it returns must be located.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(errors) = sluice::ci::yaml::load(".gitlab-ci.yml", text) {
        assert!(errors.has_errors());
        assert!(errors.errors().all(|e| e.location.is_some()));
    }
});
