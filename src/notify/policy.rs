//! When a notice falls due (SPEC §5), as a pure function of an item's deadline, the day and the
//! role of the recipient.
//!
//! Every stage is due "on or after" its day, and only the latest stage reached is sent: a daemon
//! that was down for three days sends one catch-up notice, not three, and a reminder whose day
//! has passed is not sent late once a later one applies.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone as _, Timelike as _, Utc};
use chrono_tz::Asia::Shanghai;

use crate::config::NotifyConfig;
use crate::domain::calendar::Calendar;

/// Who hears about an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The unit's contact (联络员): reminders, the overdue notice and its repeats.
    Contact,
    /// The unit's head (负责人): the first escalation and the repeats after it.
    Head,
    /// The liaison office (府检联动办公室): the second escalation.
    Liaison,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Contact => "联络员",
            Role::Head => "负责人",
            Role::Liaison => "府检联动办公室",
        }
    }
}

/// The stages of one rule or obligation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub reminder_days: Vec<u32>,
    pub escalate_after_days: Vec<u32>,
    pub repeat_every_days: u32,
    pub enabled: bool,
}

impl Policy {
    /// The policy of a rule (`R1` …) or obligation (`sampling`, `meeting`, `training`): its
    /// `[notify.stages.<kind>]` over the built-in defaults of the kind over `[notify]`.
    pub fn of(cfg: &NotifyConfig, kind: &str) -> Policy {
        let reminder_days = match kind {
            // A quarter's sampling needs notice weeks ahead, not days.
            "sampling" => vec![30, 14, 7],
            "meeting" | "training" => vec![30, 7],
            _ => cfg.reminder_days.clone(),
        };
        let mut p = Policy {
            reminder_days,
            escalate_after_days: cfg.escalate_after_days.clone(),
            repeat_every_days: cfg.repeat_every_days.max(1),
            enabled: true,
        };
        if let Some(s) = cfg.stages.get(kind) {
            if let Some(r) = &s.reminder_days {
                p.reminder_days = r.clone();
            }
            if let Some(e) = &s.escalate_after_days {
                p.escalate_after_days = e.clone();
            }
            if let Some(n) = s.repeat_every_days {
                p.repeat_every_days = n.max(1);
            }
            if let Some(e) = s.enabled {
                p.enabled = e;
            }
        }
        p
    }
}

/// What a stage is, for the text of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// Before the deadline, `days_left` calendar days before it (0: the deadline is today).
    Reminder {
        days_left: i64,
    },
    /// An early stage of its own (a yearly duty's reminder window).
    Early {
        days_left: i64,
    },
    /// After the deadline, overdue by `days` (1: the day after the deadline).
    Overdue {
        days: i64,
    },
    Escalation {
        level: u8,
        days: i64,
    },
}

/// The stage due for one recipient role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Part of the dedupe key: the same name on another day is the same notice.
    pub name: String,
    /// The day it fell due.
    pub day: NaiveDate,
    pub kind: StageKind,
}

/// The stage of an item due for `role` on `today`, if any.
///
/// * `deadline`: the item's last day (it is overdue from the next day);
/// * `early`: extra stages before the deadline, by name and day (for the contact);
/// * `repeats`: whether the overdue notice is repeated every `repeat_every_days`.
pub fn stage(
    policy: &Policy,
    deadline: NaiveDate,
    early: &[(String, NaiveDate)],
    repeats: bool,
    today: NaiveDate,
    role: Role,
) -> Option<Stage> {
    if !policy.enabled {
        return None;
    }
    let days_left = (deadline - today).num_days();
    if days_left >= 0 {
        if role != Role::Contact {
            return None;
        }
        let reminders = policy.reminder_days.iter().map(|r| {
            let day = deadline - chrono::Days::new(u64::from(*r));
            (
                format!("remind-{r}"),
                day,
                StageKind::Reminder { days_left },
            )
        });
        let early = early
            .iter()
            .map(|(n, d)| (n.clone(), *d, StageKind::Early { days_left }));
        return reminders
            .chain(early)
            .filter(|(_, day, _)| *day <= today)
            .max_by_key(|(_, day, _)| *day)
            .map(|(name, day, kind)| Stage { name, day, kind });
    }
    let days = -days_left;
    // Repeats fall on common days for every item — with the default 7, Mondays — so that a
    // recipient gets one digest a week however the deadlines spread; a repeat comes at least
    // half a period after the notice before it.
    let every = i64::from(policy.repeat_every_days.max(1));
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 3).unwrap_or(NaiveDate::MIN); // a Monday
    let boundary = epoch
        + chrono::Days::new(
            u64::try_from((today - epoch).num_days().div_euclid(every) * every).unwrap_or(0),
        );
    let min_gap = chrono::Days::new(u64::try_from((every + 1) / 2).unwrap_or(1));
    let first = deadline + chrono::Days::new(1);
    let repeat_after =
        |notice: NaiveDate| (repeats && boundary >= notice + min_gap).then_some(boundary);
    match role {
        Role::Contact => {
            let (name, day) = match repeat_after(first) {
                Some(b) => (format!("overdue-r{b}"), b),
                None => ("overdue".to_string(), first),
            };
            Some(Stage {
                name,
                day,
                kind: StageKind::Overdue { days },
            })
        }
        Role::Head => {
            let e1 = i64::from(*policy.escalate_after_days.first()?);
            if days < e1 {
                return None;
            }
            let escalated = deadline + chrono::Days::new(u64::try_from(e1).unwrap_or(0));
            let (name, day) = match repeat_after(escalated) {
                Some(b) => (format!("escalate-1-r{b}"), b),
                None => ("escalate-1".to_string(), escalated),
            };
            Some(Stage {
                name,
                day,
                kind: StageKind::Escalation { level: 1, days },
            })
        }
        Role::Liaison => {
            let e2 = i64::from(*policy.escalate_after_days.get(1)?);
            (days >= e2).then(|| Stage {
                name: "escalate-2".into(),
                day: deadline + chrono::Days::new(u64::try_from(e2).unwrap_or(0)),
                kind: StageKind::Escalation { level: 2, days },
            })
        }
    }
}

/// The first instant at or after `now` inside the SMS window: `hours` (minutes from midnight,
/// start inclusive, end exclusive) on a working day, Asia/Shanghai.
pub fn sms_window(calendar: &Calendar, hours: (u32, u32), now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&Shanghai);
    let minute = local.hour() * 60 + local.minute();
    let mut day = local.date_naive();
    if calendar.is_working_day(day) && minute >= hours.0 && minute < hours.1 {
        return now;
    }
    if !(calendar.is_working_day(day) && minute < hours.0) {
        day = day.succ_opt().unwrap_or(day);
        // A year holds at most a few weeks of days off in a row.
        for _ in 0..60 {
            if calendar.is_working_day(day) {
                break;
            }
            day = day.succ_opt().unwrap_or(day);
        }
    }
    let start = day
        .and_time(NaiveTime::from_hms_opt(hours.0 / 60, hours.0 % 60, 0).unwrap_or(NaiveTime::MIN));
    Shanghai
        .from_local_datetime(&start)
        .earliest()
        .map_or(now, |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sms_due_at_night_or_on_a_holiday_waits_for_the_next_working_window() {
        let cal = Calendar::china().unwrap();
        let hours = (8 * 60 + 30, 18 * 60);
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let table = [
            // Inside the window.
            ("2025-10-10T09:00:00+08:00", "2025-10-10T09:00:00+08:00"),
            // 23:00 on Friday 10-10; Saturday 10-11 is a working day of the 2025 National Day swap.
            ("2025-10-10T23:00:00+08:00", "2025-10-11T08:30:00+08:00"),
            // Before the window on a working day: the same morning.
            ("2025-10-13T07:00:00+08:00", "2025-10-13T08:30:00+08:00"),
            // 18:00 is outside.
            ("2025-10-13T18:00:00+08:00", "2025-10-14T08:30:00+08:00"),
            // During the National Day break: the first working day after it.
            ("2025-10-03T10:00:00+08:00", "2025-10-09T08:30:00+08:00"),
            // A plain weekend.
            ("2025-10-18T10:00:00+08:00", "2025-10-20T08:30:00+08:00"),
        ];
        for (now, want) in table {
            assert_eq!(sms_window(&cal, hours, t(now)), t(want), "{now}");
        }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn policy() -> Policy {
        Policy::of(&NotifyConfig::default(), "R1")
    }

    fn name(today: &str, role: Role) -> Option<String> {
        stage(&policy(), day("2025-10-20"), &[], true, day(today), role).map(|s| s.name)
    }

    #[test]
    fn the_latest_reminder_reached_is_the_one_due() {
        let table = [
            ("2025-10-12", None),
            ("2025-10-13", Some("remind-7")),
            ("2025-10-16", Some("remind-7")),
            ("2025-10-17", Some("remind-3")),
            ("2025-10-19", Some("remind-1")),
            ("2025-10-20", Some("remind-1")),
            ("2025-10-21", Some("overdue")),
            ("2025-10-26", Some("overdue")),
            // Repeats on Mondays.
            ("2025-10-27", Some("overdue-r2025-10-27")),
            ("2025-11-02", Some("overdue-r2025-10-27")),
            ("2025-11-03", Some("overdue-r2025-11-03")),
        ];
        for (today, want) in table {
            assert_eq!(name(today, Role::Contact).as_deref(), want, "{today}");
        }
    }

    #[test]
    fn escalation_reaches_the_head_then_the_liaison_office() {
        // Overdue from 10-21 (day 1); the head from day 3, the office from day 10.
        let table = [
            ("2025-10-20", None, None),
            ("2025-10-22", None, None),
            ("2025-10-23", Some("escalate-1"), None),
            ("2025-10-26", Some("escalate-1"), None),
            ("2025-10-27", Some("escalate-1-r2025-10-27"), None),
            (
                "2025-10-30",
                Some("escalate-1-r2025-10-27"),
                Some("escalate-2"),
            ),
            (
                "2025-11-03",
                Some("escalate-1-r2025-11-03"),
                Some("escalate-2"),
            ),
        ];
        for (today, head, office) in table {
            assert_eq!(name(today, Role::Head).as_deref(), head, "head {today}");
            assert_eq!(
                name(today, Role::Liaison).as_deref(),
                office,
                "office {today}"
            );
        }
    }

    #[test]
    fn a_repeat_waits_at_least_half_a_period_after_the_notice() {
        // Deadline Thursday 10-23: notice on Friday 10-24; Monday 10-27 is too close.
        let at = |t: &str| {
            stage(
                &policy(),
                day("2025-10-23"),
                &[],
                true,
                day(t),
                Role::Contact,
            )
            .map(|s| s.name)
        };
        assert_eq!(at("2025-10-27").as_deref(), Some("overdue"));
        assert_eq!(at("2025-11-03").as_deref(), Some("overdue-r2025-11-03"));
    }

    #[test]
    fn without_repeats_the_overdue_notice_is_sent_once() {
        let s = stage(
            &policy(),
            day("2025-10-20"),
            &[],
            false,
            day("2025-12-01"),
            Role::Contact,
        );
        assert_eq!(s.map(|s| s.name).as_deref(), Some("overdue"));
        let h = stage(
            &policy(),
            day("2025-10-20"),
            &[],
            false,
            day("2025-12-01"),
            Role::Head,
        );
        assert_eq!(h.map(|s| s.name).as_deref(), Some("escalate-1"));
    }

    #[test]
    fn early_stages_join_the_reminders() {
        let early = [
            ("annual-remind".to_string(), day("2025-10-01")),
            ("annual-slipping".to_string(), day("2025-12-01")),
        ];
        let p = Policy::of(&NotifyConfig::default(), "meeting");
        let at = |t: &str| {
            stage(&p, day("2025-12-31"), &early, false, day(t), Role::Contact).map(|s| s.name)
        };
        assert_eq!(at("2025-09-30"), None);
        assert_eq!(at("2025-10-01").as_deref(), Some("annual-remind"));
        // The slipping stage and the 30-day reminder fall on one day: one notice.
        assert_eq!(at("2025-12-01").as_deref(), Some("annual-slipping"));
        assert_eq!(at("2025-12-10").as_deref(), Some("annual-slipping"));
        assert_eq!(at("2025-12-24").as_deref(), Some("remind-7"));
        assert_eq!(at("2026-01-01").as_deref(), Some("overdue"));
    }

    #[test]
    fn a_disabled_kind_has_no_stage() {
        let mut cfg = NotifyConfig::default();
        cfg.stages.insert(
            "R6".into(),
            crate::config::StageConfig {
                enabled: Some(false),
                ..Default::default()
            },
        );
        let p = Policy::of(&cfg, "R6");
        assert_eq!(
            stage(
                &p,
                day("2025-10-20"),
                &[],
                true,
                day("2025-10-25"),
                Role::Contact
            ),
            None
        );
    }
}
