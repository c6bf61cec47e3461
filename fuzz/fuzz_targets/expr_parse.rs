//! Fuzzes the CI/CD expression language: any input must parse or fail with an error whose
//! offset lies inside the input, and evaluation must terminate without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::ci::expr::{Expression, MAX_EXPRESSION_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    match Expression::parse(source) {
        Ok(expression) => {
            // Every variable holds the same value, itself a pattern, so `=~ $VAR` compiles it.
            let _ = expression.evaluate(&|_| Some("/^a.*b$/i".to_owned()));
            let _ = expression.evaluate(&|_| None);
        }
        // Over-long input is reported at the length limit, everything else inside the input.
        Err(error) => assert!(error.offset <= source.len().max(MAX_EXPRESSION_LEN), "offset out of range"),
    }
});
