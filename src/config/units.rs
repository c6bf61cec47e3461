//! Quantities written with a unit: durations (`poll: 2s`) and byte sizes
//! (`max_body_bytes: 25MB`).

use std::time::Duration;

/// Parses a duration: one or more `<integer><unit>` parts with units `s`, `m`, `h` and `d`
/// (`30s`, `1m`, `1h30m`). Returns the reason when `text` is not one.
pub fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty");
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err("must be a number followed by a unit");
        }
        let number: u64 = rest[..digits].parse().map_err(|_| "is too large")?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let seconds_per_unit = match &rest[..unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "" if rest.is_empty() => return Err("needs a unit"),
            _ => return Err("has an unknown unit"),
        };
        rest = &rest[unit_len..];
        total = number.checked_mul(seconds_per_unit).and_then(|s| total.checked_add(s)).ok_or("is too large")?;
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration as [`parse_duration`] reads it (`90s` → `1m30s`).
pub fn format_duration(duration: Duration) -> String {
    let mut seconds = duration.as_secs();
    if seconds == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if seconds >= size {
            out.push_str(&format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    out
}

/// Parses a byte size: an integer with an optional unit `B`, `KB`, `MB`, `GB` (powers of
/// 1024, as are `KiB`, `MiB`, `GiB`), case-insensitive, space allowed (`25MB`, `512 KiB`).
pub fn parse_size(text: &str) -> Result<u64, &'static str> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err("must be a number of bytes, optionally with a unit");
    }
    let number: u64 = text[..digits].parse().map_err(|_| "is too large")?;
    let multiplier: u64 = match text[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "kib" | "k" => 1 << 10,
        "mb" | "mib" | "m" => 1 << 20,
        "gb" | "gib" | "g" => 1 << 30,
        _ => return Err("has an unknown unit"),
    };
    number.checked_mul(multiplier).ok_or("is too large")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("10"), Err("needs a unit"));
        assert_eq!(parse_duration("5x"), Err("has an unknown unit"));
        assert_eq!(parse_duration("2 minutes"), Err("has an unknown unit"));
        assert_eq!(parse_duration("ms"), Err("must be a number followed by a unit"));
        assert_eq!(parse_duration("99999999999999999999s"), Err("is too large"));
        assert_eq!(format_duration(Duration::from_secs(5430)), "1h30m30s");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("25MB"), Ok(25 * 1024 * 1024));
        assert_eq!(parse_size("512 KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("1 tb"), Err("has an unknown unit"));
        assert_eq!(parse_size("MB"), Err("must be a number of bytes, optionally with a unit"));
    }
}
