//! Jenkins' `H` in cron expressions: "some fixed value, picked by hashing the project name",
//! so that a hundred projects scheduled `H 2 * * *` do not all start at 02:00.
//!
//! Forms, in any field and in comma lists: `H` (anywhere in the field's range; days of the
//! month stay within 1–28 so every month has the day), `H(a-b)` (within `a`–`b`), `H/n` and
//! `H(a-b)/n` (every `n`, from a hashed start below `n`). Jenkins' nicknames are hashed too:
//! `@hourly` = `H * * * *`, `@daily` and `@midnight` = `H H * * *` and `H H(0-2) * * *`,
//! `@weekly` = `H H * * H`, `@monthly` = `H H H * *`, `@yearly`/`@annually` = `H H H H *`.
//!
//! The hash is FNV-1a over the project name and the field's position, mixed with SplitMix64's
//! finaliser: stable across Rust versions and machines (the standard library's hasher is not),
//! so a schedule fires at the same minute after every restart and upgrade.

/// The valid range of each of the five fields, and the range a bare `H` picks from.
const FIELDS: [(&str, u32, u32, u32); 5] = [
    // name, minimum, maximum, maximum for bare `H`
    ("minute", 0, 59, 59),
    ("hour", 0, 23, 23),
    ("day of month", 1, 31, 28),
    ("month", 1, 12, 12),
    ("day of week", 0, 7, 6),
];

/// Replaces every `H` of `expression` (five fields, or a nickname) with the values hashed from
/// `project`. Returns the reason when an `H` form is malformed; the result still needs checking
/// as a cron expression.
pub fn expand(expression: &str, project: &str) -> Result<String, String> {
    let expression = expression.trim();
    let expanded = match expression.to_ascii_lowercase().as_str() {
        "@hourly" => "H * * * *",
        "@daily" => "H H * * *",
        "@midnight" => "H H(0-2) * * *",
        "@weekly" => "H H * * H",
        "@monthly" => "H H H * *",
        "@yearly" | "@annually" => "H H H H *",
        _ if expression.starts_with('@') => return Err(format!("`{expression}` is not a known nickname")),
        _ => expression,
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "must have five fields (minute, hour, day of month, month, day of week), not {}",
            fields.len()
        ));
    }
    let mut out = Vec::with_capacity(5);
    for (index, field) in fields.iter().enumerate() {
        let items: Result<Vec<String>, String> =
            field.split(',').map(|part| expand_item(part, index, project)).collect();
        out.push(items?.join(","));
    }
    Ok(out.join(" "))
}

fn expand_item(item: &str, index: usize, project: &str) -> Result<String, String> {
    let Some(rest) = item.strip_prefix('H') else {
        return Ok(item.to_owned());
    };
    let (name, min, max, hash_max) = FIELDS[index];
    let (low, high, rest) = match rest.strip_prefix('(') {
        Some(inner) => {
            let (range, after) = inner.split_once(')').ok_or_else(|| format!("`{item}`: `H(` needs a closing `)`"))?;
            let (a, b) = range.split_once('-').ok_or_else(|| format!("`{item}`: write the range as `H(a-b)`"))?;
            let (a, b) = (number(a, item)?, number(b, item)?);
            if a > b || a < min || b > max {
                return Err(format!(
                    "`{item}`: the range must lie within {min}-{max} ({name}) and start at its low end"
                ));
            }
            (a, b, after)
        }
        None => (min, hash_max, rest),
    };
    let hash = hash(project, index);
    if rest.is_empty() {
        let span = u64::from(high - low + 1);
        return Ok((u64::from(low) + hash % span).to_string());
    }
    let step = rest.strip_prefix('/').ok_or_else(|| format!("`{item}`: expected `/step` after `H`"))?;
    let step = number(step, item)?;
    if step == 0 || step > high - low + 1 {
        return Err(format!("`{item}`: the step must be between 1 and {}", high - low + 1));
    }
    let start = u64::from(low) + hash % u64::from(step);
    Ok(format!("{start}-{high}/{step}"))
}

fn number(text: &str, item: &str) -> Result<u32, String> {
    text.parse().map_err(|_| format!("`{item}`: `{text}` is not a number"))
}

/// A stable 64-bit hash of the project name and field position.
fn hash(project: &str, field: usize) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in project.bytes().chain([0xff, field as u8]) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // SplitMix64's finaliser: FNV's low bits alone spread poorly over small ranges.
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn fields_without_h_are_kept() {
        assert_eq!(expand("*/5 1,2 * * MON-FRI", "demo").unwrap(), "*/5 1,2 * * MON-FRI");
    }

    #[test]
    fn h_is_stable_per_project_name() {
        let first = expand("H H * * *", "group/app").unwrap();
        assert_eq!(first, expand("H H * * *", "group/app").unwrap());
        // Pinned: changing the hash would move every user's schedule.
        assert_eq!(expand("H H H H H", "demo").unwrap(), EXPECTED_DEMO);
    }

    const EXPECTED_DEMO: &str = "13 10 17 12 6";

    #[test]
    fn h_stays_within_its_range() {
        for i in 0..500 {
            let project = format!("project-{i}");
            let fields: Vec<u32> =
                expand("H H H H H", &project).unwrap().split(' ').map(|f| f.parse().unwrap()).collect();
            assert!(
                fields[0] <= 59 && fields[1] <= 23 && fields[3] >= 1 && fields[3] <= 12 && fields[4] <= 6,
                "{fields:?}"
            );
            assert!((1..=28).contains(&fields[2]), "{fields:?}");
            let ranged: u32 = expand("H(10-14) * * * *", &project).unwrap().split(' ').next().unwrap().parse().unwrap();
            assert!((10..=14).contains(&ranged));
            let stepped = expand("H/15 * * * *", &project).unwrap();
            let start: u32 = stepped.split('-').next().unwrap().parse().unwrap();
            assert!(start < 15 && stepped.ends_with("-59/15 * * * *"), "{stepped}");
        }
    }

    #[test]
    fn different_names_spread_out() {
        let minutes: BTreeSet<String> = (0..100).map(|i| expand("H * * * *", &format!("app{i}")).unwrap()).collect();
        // 100 names over 60 minutes: a good spread uses most of them.
        assert!(minutes.len() > 40, "only {} distinct minutes", minutes.len());
        let hours: BTreeSet<String> = (0..100).map(|i| expand("0 H * * *", &format!("app{i}")).unwrap()).collect();
        assert!(hours.len() > 18, "only {} distinct hours", hours.len());
    }

    #[test]
    fn nicknames_are_hashed() {
        let daily = expand("@daily", "demo").unwrap();
        let fields: Vec<&str> = daily.split(' ').collect();
        assert_eq!(&fields[2..], ["*", "*", "*"]);
        let midnight = expand("@midnight", "demo").unwrap();
        assert!(["0", "1", "2"].contains(&midnight.split(' ').nth(1).unwrap()), "{midnight}");
        assert_eq!(expand("@every", "demo").unwrap_err(), "`@every` is not a known nickname");
    }

    #[test]
    fn malformed_h_forms_say_what_is_wrong() {
        assert_eq!(
            expand("H(5-70) * * * *", "x").unwrap_err(),
            "`H(5-70)`: the range must lie within 0-59 (minute) and start at its low end"
        );
        assert_eq!(expand("H(5 * * * *", "x").unwrap_err(), "`H(5`: `H(` needs a closing `)`");
        assert_eq!(expand("H/0 * * * *", "x").unwrap_err(), "`H/0`: the step must be between 1 and 60");
        assert_eq!(expand("Hx * * * *", "x").unwrap_err(), "`Hx`: expected `/step` after `H`");
        assert_eq!(
            expand("* * * *", "x").unwrap_err(),
            "must have five fields (minute, hour, day of month, month, day of week), not 4"
        );
    }
}
