//! Small formatting shared by commands that print store or API data.

use crate::store::Timestamp;

/// A time as `2026-11-29 15:04:05Z` (UTC), or the raw milliseconds when out of range.
pub(crate) fn format_time(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(at.as_unix_millis()).map_or_else(
        || at.as_unix_millis().to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
    )
}
