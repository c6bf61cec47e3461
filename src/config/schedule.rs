//! Cron schedules of a project: when a pipeline starts without a push, on which ref, with
//! which extra variables.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use indexmap::IndexMap;

use super::cron_hash;
use super::fields::{Fields, child, error_at, item, sequence};
use super::refs::ref_name_problem;
use crate::ci::node::Node;
use crate::diagnostic::Diagnostics;

/// One `schedules:` entry of a project, validated.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The expression as written (`H 2 * * 1-5`).
    pub written: String,
    /// The expression with every `H` replaced by its value for this project (`37 2 * * 1-5`).
    pub cron: String,
    /// The time zone the expression is read in.
    pub timezone: Tz,
    /// The branch or tag the pipeline runs for.
    pub git_ref: String,
    /// Extra CI/CD variables of the scheduled pipeline, in file order.
    pub variables: IndexMap<String, String>,
    parsed: Cron,
}

impl Schedule {
    /// The first time strictly after `after` at which the schedule fires, or `None` when it
    /// never fires again (a date such as 30 February, or beyond the year 9999).
    ///
    /// Local times skipped by a daylight-saving change fire at the first instant after the
    /// gap; repeated local times fire once (croner's rules, which are those of OCPS 1.4).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.timezone);
        self.parsed.find_next_occurrence(&local, false).ok().map(|next| next.with_timezone(&Utc))
    }

    /// The last time at or before `at` at which the schedule fires, or `None` when it never
    /// fired (before the year 1970 or a date that does not exist). Same rules as
    /// [`Schedule::next_after`].
    pub fn last_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.timezone);
        self.parsed.find_previous_occurrence(&local, true).ok().map(|last| last.with_timezone(&Utc))
    }
}

const KEYS: &[&str] = &["cron", "timezone", "ref", "variables"];

/// Reads `schedules:` of project `project` (its name, for `H`), whose default branch is
/// `default_branch`.
pub(super) fn read_schedules(
    node: &Node,
    path: &str,
    project: &str,
    default_branch: &str,
    diags: &mut Diagnostics,
) -> Vec<Schedule> {
    let Some(items) = sequence(node, path, diags) else {
        return Vec::new();
    };
    let mut schedules = Vec::new();
    for (i, entry) in items.iter().enumerate() {
        if let Some(schedule) = read_schedule(entry, &item(path, i), project, default_branch, diags) {
            schedules.push(schedule);
        }
    }
    schedules
}

fn read_schedule(
    node: &Node,
    path: &str,
    project: &str,
    default_branch: &str,
    diags: &mut Diagnostics,
) -> Option<Schedule> {
    let fields = Fields::open(node, path, KEYS, diags)?;
    let cron = fields.required("cron", diags);
    let cron = cron.and_then(|node| read_cron(node, &fields.path_of("cron"), project, diags));
    let timezone = match fields.string("timezone", diags) {
        Some((node, name)) => read_timezone(node, &fields.path_of("timezone"), name, diags),
        None => Some(Tz::UTC),
    };
    let git_ref = match fields.string("ref", diags) {
        Some((node, name)) => match ref_name_problem(name) {
            None => Some(name.to_owned()),
            Some(problem) => {
                diags.push(error_at(
                    node,
                    &fields.path_of("ref"),
                    format!("`{name}` is not a valid branch or tag name: {problem}"),
                ));
                None
            }
        },
        None => Some(default_branch.to_owned()),
    };
    let variables = match fields.get("variables") {
        Some(node) => read_variables(node, &fields.path_of("variables"), diags),
        None => Some(IndexMap::new()),
    };
    let ((written, cron, parsed), timezone, git_ref, variables) = (cron?, timezone?, git_ref?, variables?);
    Some(Schedule { written, cron, timezone, git_ref, variables, parsed })
}

fn read_cron(node: &Node, path: &str, project: &str, diags: &mut Diagnostics) -> Option<(String, String, Cron)> {
    let written = super::fields::string(node, path, diags)?;
    let hint = "five fields: minute hour day-of-month month day-of-week, as in `H 2 * * 1-5`; `H` picks a fixed value per project";
    let expanded = match cron_hash::expand(written, project) {
        Ok(expanded) => expanded,
        Err(reason) => {
            diags.push(
                error_at(node, path, format!("`{written}` is not a valid cron expression: {reason}")).with_hint(hint),
            );
            return None;
        }
    };
    let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
    match parser.parse(&expanded) {
        Ok(parsed) => Some((written.to_owned(), expanded, parsed)),
        Err(error) => {
            let reason = error.to_string();
            let reason = reason.trim_end_matches('.');
            diags.push(
                error_at(node, path, format!("`{written}` is not a valid cron expression: {reason}")).with_hint(hint),
            );
            None
        }
    }
}

pub(super) fn read_timezone(node: &Node, path: &str, name: &str, diags: &mut Diagnostics) -> Option<Tz> {
    match Tz::from_str(name) {
        Ok(tz) => Some(tz),
        Err(_) => {
            let mut diagnostic = error_at(node, path, format!("`{name}` is not a time zone of the IANA database"));
            let close = chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| tz.name())
                .find(|candidate| candidate.eq_ignore_ascii_case(name));
            let close = close
                .or_else(|| crate::diagnostic::did_you_mean(name, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())));
            diagnostic = match close {
                Some(close) => diagnostic.with_hint(format!("did you mean `{close}`?")),
                None => diagnostic.with_hint("use a name such as `Europe/Berlin`, `America/New_York` or `UTC`"),
            };
            diags.push(diagnostic);
            None
        }
    }
}

fn read_variables(node: &Node, path: &str, diags: &mut Diagnostics) -> Option<IndexMap<String, String>> {
    let Some(map) = node.as_map() else {
        diags.push(error_at(
            node,
            path,
            format!("must be a mapping of variable names to values, not {}", node.type_name()),
        ));
        return None;
    };
    let mut variables = IndexMap::new();
    let mut ok = true;
    for (key, value) in map.iter() {
        let key_path = child(path, &key.name);
        if key.name.is_empty() || !key.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            let diagnostic = crate::diagnostic::Diagnostic::error(
                Some(key.location.clone()),
                key_path,
                "is not a valid variable name",
            );
            diags.push(diagnostic.with_hint("use letters, digits and `_`"));
            ok = false;
            continue;
        }
        match value.scalar_to_string() {
            Some(text) => {
                variables.insert(key.name.clone(), text);
            }
            None => {
                diags.push(error_at(
                    value,
                    &key_path,
                    format!("must be a string, number or boolean, not {}", value.type_name()),
                ));
                ok = false;
            }
        }
    }
    ok.then_some(variables)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::yaml;

    fn read(text: &str) -> (Vec<Schedule>, Vec<String>) {
        let root = yaml::load("c.yaml", text).unwrap().config;
        let node = root.as_map().unwrap().get("schedules").unwrap();
        let mut diags = Diagnostics::new();
        let schedules = read_schedules(node, "schedules", "demo", "main", &mut diags);
        (schedules, diags.0.iter().map(ToString::to_string).collect())
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn defaults_and_all_fields() {
        let text = "schedules:\n  - cron: '0 3 * * *'\n  - cron: '30 8 * * 1-5'\n    timezone: Europe/Berlin\n    ref: release\n    variables: {NIGHTLY: true, LEVEL: 2}\n";
        let (schedules, diags) = read(text);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!((schedules[0].git_ref.as_str(), schedules[0].timezone), ("main", Tz::UTC));
        assert_eq!(schedules[1].git_ref, "release");
        assert_eq!(schedules[1].timezone, chrono_tz::Europe::Berlin);
        assert_eq!(
            schedules[1].variables.iter().collect::<Vec<_>>(),
            [(&"NIGHTLY".to_owned(), &"true".to_owned()), (&"LEVEL".to_owned(), &"2".to_owned())]
        );
    }

    #[test]
    fn next_after_follows_the_time_zone() {
        let text = "schedules:\n  - cron: '30 8 * * 1-5'\n    timezone: Europe/Berlin\n";
        let (schedules, _) = read(text);
        // Friday 2026-03-06 09:00 UTC is 10:00 in Berlin: the next run is Monday 08:30 CET.
        assert_eq!(schedules[0].next_after(utc("2026-03-06T09:00:00Z")), Some(utc("2026-03-09T07:30:00Z")));
        // In summer time (CEST, UTC+2).
        assert_eq!(schedules[0].next_after(utc("2026-07-01T00:00:00Z")), Some(utc("2026-07-01T06:30:00Z")));
    }

    #[test]
    fn h_is_resolved_with_the_project_name() {
        let (schedules, diags) = read("schedules:\n  - cron: 'H H(1-3) * * *'\n");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(schedules[0].written, "H H(1-3) * * *");
        assert_eq!(schedules[0].cron, cron_hash::expand("H H(1-3) * * *", "demo").unwrap());
        let next = schedules[0].next_after(utc("2026-01-01T00:00:00Z")).unwrap();
        let hour: u32 = schedules[0].cron.split(' ').nth(1).unwrap().parse().unwrap();
        assert!((1..=3).contains(&hour));
        assert_eq!(next.format("%H").to_string(), format!("{hour:02}"));
    }

    #[test]
    fn every_bad_field_is_located() {
        let text = "schedules:\n  - cron: '61 * * * *'\n    timezone: Europe/Berln\n    ref: 'a b'\n    variables: {bad-name: 1, OK: [1]}\n    when: daily\n  - timezone: utc\n  - cron: '* * * * * *'\n";
        let (schedules, diags) = read(text);
        assert!(schedules.is_empty());
        let expected = [
            "c.yaml:6:5: schedules[0].when: unknown key `when`\n\nhint: allowed keys here: `cron`, `timezone`, `ref`, `variables`",
            "c.yaml:2:11: schedules[0].cron: `61 * * * *` is not a valid cron expression: ",
            "c.yaml:3:15: schedules[0].timezone: `Europe/Berln` is not a time zone of the IANA database\n\nhint: did you mean `Europe/Berlin`?",
            "c.yaml:4:10: schedules[0].ref: `a b` is not a valid branch or tag name: it contains a space, a control character or one of `~^:?*[\\`",
            "c.yaml:5:17: schedules[0].variables.bad-name: is not a valid variable name\n\nhint: use letters, digits and `_`",
            "c.yaml:5:34: schedules[0].variables.OK: must be a string, number or boolean, not a sequence",
            "c.yaml:7:5: schedules[1]: missing required key `cron`",
            "c.yaml:7:15: schedules[1].timezone: `utc` is not a time zone of the IANA database\n\nhint: did you mean `UTC`?",
            "c.yaml:8:11: schedules[2].cron: `* * * * * *` is not a valid cron expression: must have five fields (minute, hour, day of month, month, day of week), not 6",
        ];
        assert_eq!(diags.len(), expected.len(), "{diags:#?}");
        for (diag, expected) in diags.iter().zip(expected) {
            assert!(diag.starts_with(expected), "\n{diag}\ndoes not start with\n{expected}");
        }
    }
}
