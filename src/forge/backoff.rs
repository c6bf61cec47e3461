//! When to try a failed report again: capped exponential backoff, the forge's `Retry-After`
//! when it gives one, and a bound after which the report is given up.

use std::time::{Duration, SystemTime};

/// The delay after the first failure.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest delay between two attempts (unless the forge asks for more with
/// `Retry-After`, up to [`GIVE_UP_AFTER`]).
pub const MAX_DELAY: Duration = Duration::from_secs(5 * 60);
/// How long a report may keep failing before it is given up with a warning.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(60 * 60);

/// The delay before the next attempt after `failures` failed ones (1 for the first):
/// [`FIRST_DELAY`] doubled each time up to [`MAX_DELAY`], or the forge's `retry_after`.
pub fn delay(failures: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(asked) = retry_after {
        return asked.min(GIVE_UP_AFTER);
    }
    let doublings = failures.saturating_sub(1).min(20);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

/// Whether a report failing since `failing_for` should be given up rather than tried at
/// `next` from now.
pub fn gives_up(failing_for: Duration, next: Duration) -> bool {
    failing_for.saturating_add(next) > GIVE_UP_AFTER
}

/// A `Retry-After` header's value: delay-seconds or an HTTP date (RFC 9110), read at `now`.
/// A date in the past means "now"; anything else unreadable is `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_retry_after_wins() {
        let delays: Vec<u64> = (1..=11).map(|n| delay(n, None).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(delay(u32::MAX, None), MAX_DELAY);
        assert_eq!(delay(1, Some(Duration::from_secs(30))), Duration::from_secs(30));
        assert_eq!(delay(9, Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(delay(1, Some(Duration::from_secs(86_400))), GIVE_UP_AFTER);
    }

    #[test]
    fn reports_are_given_up_once_the_next_attempt_would_pass_the_bound() {
        assert!(!gives_up(Duration::ZERO, FIRST_DELAY));
        assert!(!gives_up(GIVE_UP_AFTER - MAX_DELAY, MAX_DELAY));
        assert!(gives_up(GIVE_UP_AFTER - MAX_DELAY, MAX_DELAY + Duration::from_secs(1)));
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = httpdate::parse_http_date("Sun, 29 Nov 2026 19:00:00 GMT").expect("date");
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Sun, 29 Nov 2026 19:01:30 GMT", now), Some(Duration::from_secs(90)));
        assert_eq!(parse_retry_after("Sun, 29 Nov 2026 18:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
