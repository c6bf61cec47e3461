//! Human durations (`1h 30m`, `3 hours`, `90 minutes`, `1:30:00`) to seconds, the way GitLab
//! reads `timeout`, `start_in`, `expire_in` and `auto_stop_in` with its `ChronicDuration` fork
//! (exceptions on: an unknown word makes the whole duration invalid).
//!
//! Rules, as in `ChronicDuration.parse`: lower-case; a string of `number(:number)+` is read
//! right to left as seconds, minutes, hours, days, months, years; otherwise numbers are cut
//! out of words (`10m` is `10 m`), each number is multiplied by the unit word after it
//! (seconds when none follows, 0 when another number follows), `and`/`with`/`plus` and commas
//! are ignored, and any other word is an error. A total of 0 is not a duration. Months are
//! 30 days and years 365.25 days. Not implemented: the `Numerizer` step that reads number
//! words (`one hour`); such inputs are rejected.

/// Seconds per unit, by the unit's canonical name.
const UNITS: &[(&str, f64)] = &[
    ("seconds", 1.0),
    ("minutes", 60.0),
    ("hours", 3_600.0),
    ("days", 86_400.0),
    ("weeks", 604_800.0),
    ("months", 2_592_000.0),
    ("years", 31_557_600.0),
];

/// The words `ChronicDuration` knows, with their canonical unit.
const WORDS: &[(&str, &str)] = &[
    ("seconds", "seconds"), ("second", "seconds"), ("secs", "seconds"), ("sec", "seconds"), ("s", "seconds"),
    ("minutes", "minutes"), ("minute", "minutes"), ("mins", "minutes"), ("min", "minutes"), ("m", "minutes"),
    ("hours", "hours"), ("hour", "hours"), ("hrs", "hours"), ("hr", "hours"), ("h", "hours"),
    ("days", "days"), ("day", "days"), ("dy", "days"), ("d", "days"),
    ("weeks", "weeks"), ("week", "weeks"), ("wks", "weeks"), ("wk", "weeks"), ("w", "weeks"),
    ("months", "months"), ("month", "months"), ("mos", "months"), ("mo", "months"),
    ("years", "years"), ("year", "years"), ("yrs", "years"), ("yr", "years"), ("y", "years"),
];

/// Words that are skipped.
const JOIN_WORDS: &[&str] = &["and", "with", "plus"];

/// Units of the colon form, right to left (weeks are skipped, as in `ChronicDuration`).
const COLON_UNITS: &[&str] = &["seconds", "minutes", "hours", "days", "months", "years"];

/// A human duration in whole seconds (fractions are dropped), or `None` when GitLab would
/// reject it (unknown word, nothing but zero, empty).
pub fn parse_duration(text: &str) -> Option<u64> {
    if let Some(seconds) = simple(text) {
        return (seconds >= 1).then_some(seconds);
    }
    let lower = text.to_lowercase();
    let compact: String = lower.chars().filter(|c| *c != ' ').collect();
    let tokens = if is_colon_form(&compact) { colon_tokens(&compact)? } else { word_tokens(&lower)? };
    let mut total = 0.0;
    for (k, token) in tokens.iter().enumerate() {
        if let Ok(number) = token.parse::<f64>() {
            let unit = tokens.get(k + 1).map_or("seconds", String::as_str);
            total += number * UNITS.iter().find(|(u, _)| *u == unit).map_or(0.0, |(_, m)| *m);
        }
    }
    (total.is_finite() && total >= 1.0).then_some(total as u64)
}

/// The common form `<digits>[ ]<unit word>` (`10m`, `30 minutes`, `3600`) read without the
/// general tokenizer, which costs thousands of instructions per call; `None` sends any
/// other text to it. Agrees with the general path on every text it accepts (a test checks).
fn simple(text: &str) -> Option<u64> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    let number: u64 = text[..digits].parse().ok()?;
    let word = text[digits..].trim_start_matches(' ');
    if word.is_empty() {
        return Some(number);
    }
    if !word.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let word = word.to_ascii_lowercase();
    let unit = WORDS.iter().find(|(w, _)| *w == word)?.1;
    let seconds = UNITS.iter().find(|(u, _)| *u == unit)?.1;
    // Every unit is a whole number of seconds, so this is the general path's float product.
    Some(number * seconds as u64)
}

/// `number(:number)+`, numbers being `[0-9]*\.?[0-9]+`.
fn is_colon_form(compact: &str) -> bool {
    let parts: Vec<&str> = compact.split(':').collect();
    parts.len() > 1 && parts.iter().all(|p| is_number(p))
}

fn colon_tokens(compact: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = compact.split(':').collect();
    let mut tokens = Vec::with_capacity(parts.len() * 2);
    for (k, part) in parts.iter().rev().enumerate() {
        let unit = COLON_UNITS.get(k)?;
        tokens.push(unit.to_string());
        tokens.push(part.to_string());
    }
    tokens.reverse();
    Some(tokens)
}

/// Splits numbers out of words and maps words to units; `None` on an unknown word.
fn word_tokens(lower: &str) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    for raw in spaced_numbers(lower).split_whitespace() {
        if is_number(raw) {
            tokens.push(raw.to_string());
            continue;
        }
        let word = raw.trim_start_matches(',').trim_end_matches(',');
        if let Some((_, unit)) = WORDS.iter().find(|(w, _)| *w == word) {
            tokens.push(unit.to_string());
        } else if !JOIN_WORDS.contains(&word) && !word.is_empty() {
            return None;
        }
    }
    Some(tokens)
}

/// Surrounds every number (`[0-9]*\.?[0-9]+`) with spaces.
fn spaced_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let len = number_len(&chars[i..]);
        if len > 0 {
            out.push(' ');
            out.extend(&chars[i..i + len]);
            out.push(' ');
            i += len;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Length of the number at the start of `chars` (greedy `[0-9]*\.?[0-9]+`), 0 if none.
fn number_len(chars: &[char]) -> usize {
    let digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
    if chars.get(digits) == Some(&'.') {
        let fraction = chars[digits + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if fraction > 0 {
            return digits + 1 + fraction;
        }
    }
    digits
}

fn is_number(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    !chars.is_empty() && number_len(&chars) == chars.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gitlab_duration_forms() {
        let table: &[(&str, Option<u64>)] = &[
            ("1h 30m", Some(5_400)),
            ("3 hours", Some(10_800)),
            ("90 minutes", Some(5_400)),
            ("10m", Some(600)),
            ("1h30m", Some(5_400)),
            ("2 days", Some(172_800)),
            ("1 week", Some(604_800)),
            ("1 month", Some(2_592_000)),
            ("1 year", Some(31_557_600)),
            ("30", Some(30)),
            ("1.5 hours", Some(5_400)),
            ("1 hour and 10 minutes", Some(4_200)),
            ("1 day, 2 hours", Some(93_600)),
            ("1:30", Some(90)),
            ("1:00:00", Some(3_600)),
            ("2 HOURS", Some(7_200)),
            ("30 secs", Some(30)),
            ("10 20", Some(20)),
            ("0 minutes", None),
            ("", None),
            ("soon", None),
            ("1 fortnight", None),
            ("3 hourz", None),
            ("one hour", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_duration(text), *want, "{text:?}");
        }
    }

    #[test]
    fn the_simple_form_agrees_with_the_general_path() {
        let general = |text: &str| {
            let lower = text.to_lowercase();
            let tokens = word_tokens(&lower)?;
            let mut total = 0.0;
            for (k, token) in tokens.iter().enumerate() {
                if let Ok(number) = token.parse::<f64>() {
                    let unit = tokens.get(k + 1).map_or("seconds", String::as_str);
                    total += number * UNITS.iter().find(|(u, _)| *u == unit).map_or(0.0, |(_, m)| *m);
                }
            }
            Some(total as u64)
        };
        for number in ["0", "1", "10", "007", "3600", "999999999"] {
            assert_eq!(simple(number), general(number), "{number:?}");
            for (word, _) in WORDS {
                for text in [format!("{number}{word}"), format!("{number} {word}"), format!("{number}  {}", word.to_uppercase())] {
                    assert_eq!(simple(&text), general(&text), "{text:?}");
                }
            }
        }
        for other in ["1h 30m", "1.5h", "1:30", " 10m", "10m ", "10 fortnights", "10 and"] {
            assert_eq!(simple(other), None, "{other:?}");
        }
    }
}
