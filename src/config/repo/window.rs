//! Time windows of the `window` gate: `allow` and `deny` rules read in one time zone.
//!
//! A rule is either weekday/hour syntax, `Mon-Fri 09:00-17:00` (days: `Mon`…`Sun`, ranges
//! and lists as in `Mon-Wed,Fri`; hours `HH:MM-HH:MM`, end exclusive, `24:00` the end of
//! the day; either part may be left out, meaning every day or the whole day; a range that
//! ends before it starts runs past midnight into the next day), or `cron: <5 fields>`,
//! meaning the minutes the expression matches (`cron: * 9-16 * * 1-5`).

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The `window:` of an environment's gates.
#[derive(Debug, Clone)]
pub struct Window {
    /// The time zone the rules are read in.
    pub timezone: Tz,
    /// Promotion is allowed only in these (none: always, unless denied).
    pub allow: Vec<WindowRule>,
    /// Promotion is never allowed in these.
    pub deny: Vec<WindowRule>,
}

impl Window {
    /// Whether promotion is allowed at `now`: inside an `allow` rule (or there are none) and
    /// inside no `deny` rule. When not, the rule that closes it, as written.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), String> {
        let local = now.with_timezone(&self.timezone);
        if let Some(rule) = self.deny.iter().find(|rule| rule.matches(&local)) {
            return Err(format!("inside deny `{}`", rule.written()));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|rule| rule.matches(&local)) {
            let list: Vec<String> = self.allow.iter().map(|r| format!("`{}`", r.written())).collect();
            return Err(format!("outside allow {}", list.join(", ")));
        }
        Ok(())
    }

    /// The first whole minute after `now` (within 8 days) at which the window is open.
    pub fn next_open(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = now.with_second(0)?.with_nanosecond(0)?;
        (1..=8 * 24 * 60)
            .map(|minutes| start + chrono::Duration::minutes(minutes))
            .find(|t| self.check(*t).is_ok())
    }
}

/// One `allow` or `deny` entry.
#[derive(Debug, Clone)]
pub enum WindowRule {
    /// Weekday/hour syntax.
    Weekly {
        /// As written.
        written: String,
        /// Monday first.
        days: [bool; 7],
        /// Minutes after midnight, inclusive.
        start: u32,
        /// Minutes after midnight, exclusive (1440 = end of day); below `start` when the
        /// range runs past midnight.
        end: u32,
    },
    /// `cron: <5 fields>`.
    Cron {
        /// As written.
        written: String,
        /// The parsed expression.
        cron: Box<Cron>,
    },
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl WindowRule {
    /// The rule as written.
    pub fn written(&self) -> &str {
        match self {
            Self::Weekly { written, .. } | Self::Cron { written, .. } => written,
        }
    }

    /// Whether local time `t` is inside the rule.
    pub fn matches(&self, t: &DateTime<Tz>) -> bool {
        match self {
            Self::Weekly { days, start, end, .. } => {
                let day = t.weekday().num_days_from_monday() as usize;
                let minute = t.hour() * 60 + t.minute();
                if start < end {
                    days[day] && (*start..*end).contains(&minute)
                } else {
                    (days[day] && minute >= *start) || (days[(day + 6) % 7] && minute < *end)
                }
            }
            Self::Cron { cron, .. } => {
                let minute = t.with_second(0).and_then(|t| t.with_nanosecond(0));
                minute.is_some_and(|t| cron.is_time_matching(&t).unwrap_or(false))
            }
        }
    }

    /// Parses a rule, or says why it is not one.
    ///
    /// # Errors
    /// The reason, one sentence.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(expression) = text.trim().strip_prefix("cron:") {
            let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
            return match parser.parse(expression.trim()) {
                Ok(cron) => Ok(Self::Cron { written: text.to_owned(), cron: Box::new(cron) }),
                Err(error) => Err(format!("`{}` is not a valid cron expression: {error}", expression.trim())),
            };
        }
        let mut days = [true; 7];
        let (mut start, mut end) = (0, 24 * 60);
        let parts: Vec<&str> = text.split_whitespace().collect();
        let (day_part, hour_part) = match parts.as_slice() {
            [one] if one.contains(':') => (None, Some(*one)),
            [one] => (Some(*one), None),
            [d, h] => (Some(*d), Some(*h)),
            _ => return Err("must be days, hours or both, as in `Mon-Fri 09:00-17:00`".into()),
        };
        if let Some(day_part) = day_part {
            days = parse_days(day_part)?;
        }
        if let Some(hour_part) = hour_part {
            let (a, b) = hour_part.split_once('-').ok_or_else(|| format!("`{hour_part}` must be a range `HH:MM-HH:MM`"))?;
            (start, end) = (parse_time(a)?, parse_time(b)?);
            if start == end {
                return Err(format!("`{hour_part}` is an empty range"));
            }
        }
        Ok(Self::Weekly { written: text.to_owned(), days, start, end })
    }
}

fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    let day = |name: &str| {
        DAYS.iter()
            .position(|d| name.eq_ignore_ascii_case(d))
            .ok_or_else(|| format!("`{name}` is not a day: use `Mon`, `Tue`, `Wed`, `Thu`, `Fri`, `Sat` or `Sun`"))
    };
    for item in text.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut i = a;
                loop {
                    days[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
            None => days[day(item)?] = true,
        }
    }
    Ok(days)
}

fn parse_time(text: &str) -> Result<u32, String> {
    let bad = || format!("`{text}` is not a time `HH:MM` from `00:00` to `24:00`");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m != 0) || text.len() != 5 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn berlin(rules: &[&str], deny: &[&str]) -> Window {
        Window {
            timezone: chrono_tz::Europe::Berlin,
            allow: rules.iter().map(|r| WindowRule::parse(r).unwrap()).collect(),
            deny: deny.iter().map(|r| WindowRule::parse(r).unwrap()).collect(),
        }
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Berlin.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn office_hours_but_not_friday_afternoon() {
        let window = berlin(&["Mon-Fri 09:00-17:00"], &["Fri 16:00-24:00"]);
        // 2026-12-04 is a Friday.
        assert!(window.check(at(2026, 12, 4, 15, 59)).is_ok());
        assert_eq!(window.check(at(2026, 12, 4, 16, 0)).unwrap_err(), "inside deny `Fri 16:00-24:00`");
        assert!(window.check(at(2026, 12, 5, 10, 0)).unwrap_err().starts_with("outside allow"));
        assert!(window.check(at(2026, 12, 7, 8, 59)).is_err());
        assert_eq!(window.next_open(at(2026, 12, 4, 16, 30)), Some(at(2026, 12, 7, 9, 0)));
    }

    #[test]
    fn ranges_past_midnight_and_cron_rules() {
        let night = berlin(&["Sat 22:00-06:00"], &[]);
        assert!(night.check(at(2026, 12, 5, 23, 0)).is_ok());
        assert!(night.check(at(2026, 12, 6, 5, 59)).is_ok());
        assert!(night.check(at(2026, 12, 6, 6, 0)).is_err());
        let cron = berlin(&["cron: * 9-16 * * 1-5"], &[]);
        assert!(cron.check(at(2026, 12, 4, 16, 59)).is_ok());
        assert!(cron.check(at(2026, 12, 4, 17, 0)).is_err());
    }

    #[test]
    fn bad_rules_say_why() {
        assert!(WindowRule::parse("Mon-Fry 09:00-17:00").unwrap_err().contains("`Fry` is not a day"));
        assert!(WindowRule::parse("Mon 9:00-17:00").unwrap_err().contains("`9:00`"));
        assert!(WindowRule::parse("Mon 09:00-25:00").is_err());
        assert!(WindowRule::parse("cron: 61 * * * *").unwrap_err().contains("not a valid cron"));
        assert!(WindowRule::parse("Mon 09:00 extra").is_err());
    }
}
