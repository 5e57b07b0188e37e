//! The yearly duties (SPEC §4): at least one joint work meeting (府检联动工作会议) and at least one
//! special training (专题培训) a year. Before a configured day nothing is asked; from it the
//! liaison office is reminded; from a later day the year is slipping; after the year it was
//! missed. A training may be county-wide (one for everyone) or owed by every unit.

use chrono::{Datelike as _, NaiveDate};
use serde::{Deserialize, Serialize};

pub use crate::config::{AnnualConfig, MonthDay, TrainingScope};

/// Where a yearly duty stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnualState {
    /// Held this year (on or before the day looked at).
    Held,
    /// Not held yet, and nothing is asked yet.
    Pending,
    /// Not held yet, inside the reminder window.
    Remind,
    /// Not held yet, and the year nears its end.
    Slipping,
    /// The year ended without one.
    Missed,
}

impl AnnualState {
    pub fn as_str(self) -> &'static str {
        match self {
            AnnualState::Held => "held",
            AnnualState::Pending => "pending",
            AnnualState::Remind => "remind",
            AnnualState::Slipping => "slipping",
            AnnualState::Missed => "missed",
        }
    }
}

/// The state in `year`, as of `today`, of a duty held on `held` days (any year; those of other
/// years and after `today` do not count).
pub fn annual_state(
    held: &[NaiveDate],
    year: i32,
    today: NaiveDate,
    cfg: &AnnualConfig,
) -> AnnualState {
    if held.iter().any(|d| d.year() == year && *d <= today) {
        return AnnualState::Held;
    }
    if today.year() > year {
        AnnualState::Missed
    } else if today.year() < year || today < cfg.remind_from.in_year(year) {
        AnnualState::Pending
    } else if today < cfg.slipping_from.in_year(year) {
        AnnualState::Remind
    } else {
        AnnualState::Slipping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_state_before_inside_and_after_the_reminder_window() {
        let cfg = AnnualConfig::default();
        let none: [NaiveDate; 0] = [];
        let table = [
            ("2025-09-30", AnnualState::Pending),
            ("2025-10-01", AnnualState::Remind),
            ("2025-11-30", AnnualState::Remind),
            ("2025-12-01", AnnualState::Slipping),
            ("2025-12-31", AnnualState::Slipping),
            ("2026-01-01", AnnualState::Missed),
            ("2024-12-31", AnnualState::Pending),
        ];
        for (today, want) in table {
            assert_eq!(annual_state(&none, 2025, day(today), &cfg), want, "{today}");
        }
    }

    #[test]
    fn a_meeting_counts_from_its_day_and_only_for_its_year() {
        let cfg = AnnualConfig::default();
        let held = [day("2025-10-20"), day("2024-03-01")];
        assert_eq!(
            annual_state(&held, 2025, day("2025-10-19"), &cfg),
            AnnualState::Remind
        );
        assert_eq!(
            annual_state(&held, 2025, day("2025-10-20"), &cfg),
            AnnualState::Held
        );
        assert_eq!(
            annual_state(&held, 2025, day("2026-03-01"), &cfg),
            AnnualState::Held
        );
        assert_eq!(
            annual_state(&held, 2024, day("2024-12-31"), &cfg),
            AnnualState::Held
        );
        assert_eq!(
            annual_state(&held, 2026, day("2026-12-05"), &cfg),
            AnnualState::Slipping
        );
    }

    #[test]
    fn reminder_days_come_from_configuration() {
        let cfg: AnnualConfig =
            toml::from_str("remind_from = \"09-15\"\nslipping_from = \"11-15\"").unwrap();
        let none: [NaiveDate; 0] = [];
        assert_eq!(
            annual_state(&none, 2025, day("2025-09-15"), &cfg),
            AnnualState::Remind
        );
        assert_eq!(
            annual_state(&none, 2025, day("2025-11-15"), &cfg),
            AnnualState::Slipping
        );
        assert!(toml::from_str::<AnnualConfig>("remind_from = \"13-01\"").is_err());
        assert!(toml::from_str::<AnnualConfig>("remind_from = \"1001\"").is_err());
        let leap = MonthDay { month: 2, day: 29 };
        assert_eq!(leap.in_year(2025), day("2025-02-28"));
        assert_eq!(leap.in_year(2024), day("2024-02-29"));
    }
}
