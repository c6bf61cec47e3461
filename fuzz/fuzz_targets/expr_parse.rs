//! Fuzzes the CI/CD expression language: any input must parse or fail with an error whose
//! offset lies inside the input, and evaluation must terminate without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::ci::expr::Expression;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    match Expression::parse(source) {
        Ok(expression) => {
            // Every variable holds the same value, itself a pattern, so `=~ $VAR` compiles it.
            let _ = expression.evaluate(&|_| Some("/^a.*b$/i".to_owned()));
            let _ = expression.evaluate(&|_| None);
        }
        Err(error) => assert!(error.offset <= source.len().max(super_max()), "offset out of range"),
    }
});

/// Errors for over-long input point at the length limit.
fn super_max() -> usize {
    sluice::ci::expr::MAX_EXPRESSION_LEN
}
