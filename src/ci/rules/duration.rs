//! Durations of `rules:start_in`, read as GitLab's `ChronicDuration.parse` reads the common
//! forms: `30`, `30 seconds`, `10 min`, `1h 30m`, `1 hour and 30 minutes`, `1.5 days`,
//! `2 weeks`, `01:30` (minutes:seconds), `1:00:00` (hours:minutes:seconds).
//!
//! Only what `start_in` needs: a number of seconds, to check GitLab's one-week limit.

/// Seconds in a week, GitLab's `start_in` limit.
pub const ONE_WEEK: f64 = 7.0 * 24.0 * 3600.0;

/// The duration in seconds, or `None` if the text is not a duration we understand.
pub fn parse_seconds(text: &str) -> Option<f64> {
    let text = text.trim().to_ascii_lowercase();
    if text.is_empty() {
        return None;
    }
    if text.contains(':') {
        return parse_clock(&text);
    }
    let mut total = 0.0;
    let mut rest = text.as_str();
    let mut parts = 0;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if let Some(after) = rest.strip_prefix("and ") {
            rest = after;
            continue;
        }
        if rest.is_empty() {
            break;
        }
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = rest[number_len..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        total += number * unit_seconds(&rest[..unit_len])?;
        rest = &rest[unit_len..];
        parts += 1;
    }
    (parts > 0).then_some(total)
}

fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "wk" | "wks" | "week" | "weeks" => ONE_WEEK,
        "mo" | "mos" | "month" | "months" => 30.0 * 86_400.0,
        "y" | "yr" | "yrs" | "year" | "years" => 365.25 * 86_400.0,
        _ => return None,
    })
}

/// `mm:ss` or `hh:mm:ss`.
fn parse_clock(text: &str) -> Option<f64> {
    let fields: Vec<f64> = text.split(':').map(|f| f.trim().parse::<f64>().ok()).collect::<Option<_>>()?;
    match fields.as_slice() {
        [m, s] => Some(m * 60.0 + s),
        [h, m, s] => Some(h * 3600.0 + m * 60.0 + s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_forms() {
        assert_eq!(parse_seconds("30"), Some(30.0));
        assert_eq!(parse_seconds("30 seconds"), Some(30.0));
        assert_eq!(parse_seconds("10 min"), Some(600.0));
        assert_eq!(parse_seconds("1h 30m"), Some(5400.0));
        assert_eq!(parse_seconds("1 hour and 30 minutes"), Some(5400.0));
        assert_eq!(parse_seconds("1.5 days"), Some(129_600.0));
        assert_eq!(parse_seconds("1 week"), Some(ONE_WEEK));
        assert_eq!(parse_seconds("01:30"), Some(90.0));
        assert_eq!(parse_seconds("1:00:00"), Some(3600.0));
    }

    #[test]
    fn rejects_nonsense() {
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("soon"), None);
        assert_eq!(parse_seconds("5 fortnights"), None);
        assert_eq!(parse_seconds("1:2:3:4"), None);
    }
}
