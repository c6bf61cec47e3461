//! The time promotion decisions are made at: the system clock, or for tests a file holding
//! an RFC 3339 time (`sluice serve --clock-file`, honoured only with `SLUICE_TEST_CLOCK=1`).

use std::path::PathBuf;

use chrono::{DateTime, Utc};

/// Where the time comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system clock.
    System,
    /// The time written in this file, read at each call; the system clock when the file is
    /// missing or does not hold an RFC 3339 time.
    File(PathBuf),
}

impl Clock {
    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => system_now(),
            Clock::File(path) => std::fs::read_to_string(path)
                .ok()
                .and_then(|text| DateTime::parse_from_rfc3339(text.trim()).ok())
                .map_or_else(system_now, |t| t.with_timezone(&Utc)),
        }
    }

    /// The time now as the store records it.
    pub fn timestamp(&self) -> crate::store::Timestamp {
        crate::store::Timestamp::from_unix_millis(self.now().timestamp_millis())
    }
}

fn system_now() -> DateTime<Utc> {
    DateTime::<Utc>::from(std::time::SystemTime::now())
}
