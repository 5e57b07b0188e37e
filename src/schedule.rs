//! Cron schedules (six fields, seconds first, Asia/Shanghai) and durations such as `90m`.
//!
//! Only what is due is computed here, always from a `now` the caller passes; the daemon's
//! scheduler (a later piece) fires jobs, this module answers "when next" and "how often".

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Asia::Shanghai;
use croner::Cron;

/// A parsed six-field cron expression evaluated in Asia/Shanghai.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    text: String,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "not a six-field cron expression (seconds minutes hours day-of-month month day-of-week) such as \"0 */30 * * * *\": {text:?} ({reason})"
)]
pub struct ScheduleError {
    text: String,
    reason: String,
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let err = |reason: String| ScheduleError {
            text: text.to_string(),
            reason,
        };
        if text.split_whitespace().count() != 6 {
            return Err(err(format!("{} fields", text.split_whitespace().count())));
        }
        let cron = Cron::new(text)
            .with_seconds_required()
            .with_dom_and_dow()
            .parse()
            .map_err(|e| err(e.to_string()))?;
        let schedule = Schedule {
            cron,
            text: text.to_string(),
        };
        // A day that no month has (`0 0 0 31 2 *`) parses and never fires: the job would never
        // run, silently. A schedule must fire within eight years of 2024 (leap days do).
        let since = DateTime::<Utc>::from_timestamp(1_704_067_200, 0).unwrap_or_default();
        match schedule.next_after(since) {
            Some(t) if t - since <= Duration::days(8 * 366) => Ok(schedule),
            _ => Err(err("it never fires: no date matches it".into())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first firing strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&Shanghai), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The latest firing at or before `now`, if there was one in the last four years.
    pub fn last_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // croner only looks forward: look forward from ever further back until a window holds
        // a firing, then walk to the last one not after `now`.
        let windows = [
            Duration::minutes(1),
            Duration::hours(1),
            Duration::days(1),
            Duration::days(8),
            Duration::days(32),
            Duration::days(367),
            Duration::days(4 * 366),
        ];
        for w in windows {
            let Some(mut t) = self.next_after(now - w) else {
                continue;
            };
            if t > now {
                continue;
            }
            while let Some(n) = self.next_after(t) {
                if n > now {
                    break;
                }
                t = n;
            }
            return Some(t);
        }
        None
    }

    /// The gap between the next two firings after `now`: the schedule's interval there.
    pub fn interval_at(&self, now: DateTime<Utc>) -> Option<Duration> {
        let a = self.next_after(now)?;
        let b = self.next_after(a)?;
        Some(b - a)
    }
}

/// `30s`, `90m`, `2h`, `1d`, `1w`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "m" | "min" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        "w" => n.checked_mul(7 * 86_400)?,
        _ => return None,
    };
    (secs > 0).then(|| Duration::seconds(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Issue 22: a schedule that parses but never fires is refused (the job would silently
    /// never run); one that fires rarely (29 February) is taken.
    #[test]
    fn a_schedule_that_never_fires_is_refused() {
        for never in ["0 0 0 31 2 *", "0 0 0 30 2 *", "0 0 0 31 4 *"] {
            let e = Schedule::parse(never).expect_err(never).to_string();
            assert!(e.contains("never fires"), "{never}: {e}");
        }
        assert!(Schedule::parse("0 0 0 29 2 *").is_ok());
        assert!(Schedule::parse("0 0 9 * * Mon").is_ok());
    }

    #[test]
    fn half_hourly_schedule_fires_on_the_half_hour_in_shanghai() {
        let s = Schedule::parse("0 */30 * * * *").unwrap();
        let now = Utc.with_ymd_and_hms(2025, 3, 1, 1, 10, 0).unwrap();
        assert_eq!(
            s.next_after(now),
            Some(Utc.with_ymd_and_hms(2025, 3, 1, 1, 30, 0).unwrap())
        );
        assert_eq!(s.interval_at(now), Some(Duration::minutes(30)));
    }

    #[test]
    fn monday_nine_is_shanghai_time() {
        let s = Schedule::parse("0 0 9 * * Mon").unwrap();
        // 2025-03-02 is a Sunday; Monday 09:00 +08:00 is 01:00 UTC.
        let now = Utc.with_ymd_and_hms(2025, 3, 2, 12, 0, 0).unwrap();
        assert_eq!(
            s.next_after(now),
            Some(Utc.with_ymd_and_hms(2025, 3, 3, 1, 0, 0).unwrap())
        );
    }

    #[test]
    fn the_last_firing_at_or_before_now() {
        let monday = Schedule::parse("0 0 9 * * Mon").unwrap();
        // Tuesday 2025-10-14 10:00 +08:00 → Monday 2025-10-13 09:00 +08:00.
        let tue = Utc.with_ymd_and_hms(2025, 10, 14, 2, 0, 0).unwrap();
        let mon = Utc.with_ymd_and_hms(2025, 10, 13, 1, 0, 0).unwrap();
        assert_eq!(monday.last_at_or_before(tue), Some(mon));
        // At the firing itself: that firing.
        assert_eq!(monday.last_at_or_before(mon), Some(mon));
        // A second before it: the week before.
        assert_eq!(
            monday.last_at_or_before(mon - Duration::seconds(1)),
            Some(mon - Duration::days(7))
        );
        let every2s = Schedule::parse("*/2 * * * * *").unwrap();
        let t = Utc.with_ymd_and_hms(2025, 10, 14, 2, 0, 5).unwrap();
        assert_eq!(
            every2s.last_at_or_before(t),
            Some(Utc.with_ymd_and_hms(2025, 10, 14, 2, 0, 4).unwrap())
        );
        let yearly = Schedule::parse("0 0 0 1 1 *").unwrap();
        assert_eq!(
            yearly.last_at_or_before(tue),
            Some(Utc.with_ymd_and_hms(2024, 12, 31, 16, 0, 0).unwrap())
        );
    }

    #[test]
    fn five_field_and_garbage_expressions_are_rejected() {
        assert!(Schedule::parse("*/30 * * * *").is_err());
        assert!(Schedule::parse("every hour").is_err());
        assert!(Schedule::parse("0 99 * * * *").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90m"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("2h"), Some(Duration::hours(2)));
        assert_eq!(parse_duration("1d"), Some(Duration::days(1)));
        assert_eq!(parse_duration("45"), Some(Duration::seconds(45)));
        assert_eq!(parse_duration("0m"), None);
        assert_eq!(parse_duration("2 hours"), None);
    }
}
