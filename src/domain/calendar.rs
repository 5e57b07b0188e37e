//! The working-day calendar and the deadline arithmetic built on it (SPEC §3): which days are
//! working days (工作日) in mainland China, "N working days after", "N calendar days after",
//! "N months after", and the end of a deadline day as an instant.
//!
//! It owns the shipped State Council holiday tables (`data/holidays.toml`, embedded at build
//! time) and the parsing of local overlays in the same TOML form (藏历新年 in 甘孜, years not yet
//! shipped). It reads no clock and no file: callers pass the overlay text and the dates.
//!
//! A day listed as off (放假) is never a working day, a day listed as a make-up working day
//! (调休上班) always is, and every other day follows Monday–Friday. A year with no table therefore
//! falls back to Monday–Friday; [`Calendar::has_table`] tells the caller to raise the operator
//! alert SPEC §3 asks for. All days are Asia/Shanghai days.

use std::collections::BTreeMap;

use chrono::{
    DateTime, Datelike as _, Days, Months, NaiveDate, NaiveTime, TimeDelta, TimeZone as _, Utc,
    Weekday,
};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;

/// The shipped tables, transcribed from the State Council's yearly holiday notices
/// (国务院办公厅关于部分节假日安排的通知) as SPEC §3 lists them.
const SHIPPED: &str = include_str!("../../data/holidays.toml");

/// Working days per the State Council holiday notices plus any local overlay.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// The days the tables name: `true` for a make-up working day, `false` for a day off.
    days: BTreeMap<NaiveDate, bool>,
    /// The years that have a table, each with the sources behind it (shipped notice first,
    /// then overlays, in the order given).
    years: BTreeMap<i32, Vec<String>>,
}

/// What is wrong with a holiday table, naming the section (year key) and the value as written,
/// so the operator can fix the overlay file.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("holiday table is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("holiday table section [{0}] is not a year; expected a four-digit year such as [2025]")]
    NotAYear(String),
    #[error(
        "holiday table [{year}]: {value:?} is not a date; expected YYYY-MM-DD or an inclusive range YYYY-MM-DD..YYYY-MM-DD"
    )]
    BadDate { year: i32, value: String },
    #[error("holiday table [{year}]: range {value:?} ends before it starts")]
    ReversedRange { year: i32, value: String },
    #[error(
        "holiday table [{year}]: {value:?} lies outside {year} and its neighbouring years; check the year"
    )]
    OutsideYear { year: i32, value: String },
    #[error("holiday table [{year}]: {value:?} makes {day} both a day off and a working day")]
    OffAndWork {
        year: i32,
        value: String,
        day: NaiveDate,
    },
}

/// One `[YYYY]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    /// The notice (or local decision) the section transcribes.
    source: Option<String>,
    #[serde(default)]
    off: Vec<String>,
    #[serde(default)]
    work: Vec<String>,
}

impl Calendar {
    /// The shipped tables: the State Council holiday notices for the years SPEC §3 lists
    /// (2024: 国办发明电〔2023〕7号; 2025: 国办发明电〔2024〕12号; 2026: the notice of 2025-11-04).
    pub fn china() -> Result<Calendar, CalendarError> {
        parse(SHIPPED)
    }

    /// The shipped tables plus an overlay in the same TOML form (local holidays such as 藏历新年,
    /// or the notice for a year not shipped yet). Where the overlay names a day, the overlay wins.
    ///
    /// Any section in the overlay makes its year count as having a table
    /// ([`Calendar::has_table`]), so an overlay for a year without a shipped table should
    /// transcribe that year's whole State Council notice, not only the local days.
    pub fn with_overlay(overlay_toml: &str) -> Result<Calendar, CalendarError> {
        Calendar::china()?.overlay(overlay_toml)
    }

    /// This calendar with an overlay applied on top (see [`Calendar::with_overlay`]).
    pub fn overlay(mut self, overlay_toml: &str) -> Result<Calendar, CalendarError> {
        let overlay = parse(overlay_toml)?;
        self.days.extend(overlay.days);
        for (year, sources) in overlay.years {
            self.years.entry(year).or_default().extend(sources);
        }
        Ok(self)
    }

    /// Whether `d` is a working day: a day off in the tables is not, a make-up working day
    /// (调休上班) is, and any other day is one when it falls Monday to Friday.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        self.days
            .get(&d)
            .copied()
            .unwrap_or_else(|| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
    }

    /// Whether `year` has a table. `false` means the answers for that year are the Monday–Friday
    /// fallback and the caller raises an operator alert (SPEC §3).
    pub fn has_table(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// Operator warnings for `today` (SPEC §3): the current year without a table, and — within
    /// `lookahead_days` of the year's end, when deadlines start running into it — the next year
    /// without one. Empty when both are covered.
    pub fn warnings(&self, today: NaiveDate, lookahead_days: u32) -> Vec<String> {
        let mut years = vec![today.year()];
        let ahead = today
            .checked_add_days(Days::new(u64::from(lookahead_days)))
            .unwrap_or(today);
        if ahead.year() != today.year() {
            years.push(ahead.year());
        }
        years
            .into_iter()
            .filter(|y| !self.has_table(*y))
            .map(|y| {
                format!(
                    "no holiday table for {y}: its deadlines count Monday to Friday as working days; \
                     add the State Council's {y} holiday notice under [calendar] in the configuration"
                )
            })
            .collect()
    }

    /// The years that have a table, ascending.
    pub fn years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    /// The sources (notices, local decisions) behind `year`'s table, shipped first; empty when
    /// the year has no table or its sections name no source.
    pub fn sources(&self, year: i32) -> &[String] {
        self.years.get(&year).map_or(&[], Vec::as_slice)
    }

    /// The `n`-th working day after `d`: "N working days after D" counts from the day after D
    /// (SPEC §3), so `d` itself never counts, whatever it is. `n == 0` gives `d` unchanged.
    /// Saturates at the last date chrono can represent.
    pub fn add_working_days(&self, d: NaiveDate, n: u32) -> NaiveDate {
        let mut day = d;
        let mut left = n;
        while left > 0 {
            let Some(next) = day.succ_opt() else {
                return day;
            };
            day = next;
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// `d` if it is a working day, otherwise the next working day: a deadline counted in
    /// calendar days whose last day is a holiday ends on the day after the holiday
    /// (民法典 art. 203: 期间的最后一日是法定休假日的，以法定休假日结束的次日为期间的最后一日).
    pub fn roll_forward(&self, d: NaiveDate) -> NaiveDate {
        let mut day = d;
        while !self.is_working_day(day) {
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        day
    }

    /// The deadline `n` calendar days after `d`, rolled forward to a working day
    /// (民法典 art. 203). Saturates at the last date chrono can represent.
    pub fn add_calendar_days(&self, d: NaiveDate, n: u32) -> NaiveDate {
        let due = d
            .checked_add_days(Days::new(u64::from(n)))
            .unwrap_or(NaiveDate::MAX);
        self.roll_forward(due)
    }

    /// The deadline `n` months after `d`: the same day of the month, or that month's last day
    /// when it has no such day (民法典 art. 202), then rolled forward to a working day
    /// (民法典 art. 203). Saturates at the last date chrono can represent.
    pub fn add_months(&self, d: NaiveDate, n: u32) -> NaiveDate {
        // `checked_add_months` clamps to the month's last day: 01-31 + 1 month = 02-28/29.
        let due = d
            .checked_add_months(Months::new(n))
            .unwrap_or(NaiveDate::MAX);
        self.roll_forward(due)
    }

    /// The end of day `d` (24:00 Asia/Shanghai, i.e. the next day's 00:00) as a UTC instant:
    /// a deadline day ends with its last moment (民法典 art. 203: 期间的最后一日的截止时间为二十四时).
    pub fn end_of_day_utc(d: NaiveDate) -> DateTime<Utc> {
        let Some(next) = d.succ_opt() else {
            return DateTime::<Utc>::MAX_UTC;
        };
        let midnight = next.and_time(NaiveTime::MIN);
        match Shanghai.from_local_datetime(&midnight).earliest() {
            Some(t) => t.with_timezone(&Utc),
            // Midnight skipped by a 1940s summer-time change: the instant of the change, which
            // is midnight at standard time (UTC+8).
            None => midnight
                .checked_sub_signed(TimeDelta::hours(8))
                .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc()),
        }
    }
}

/// Parses one table file (shipped or overlay). A day may appear more than once with the same
/// meaning; a day both off and work anywhere in the file is an error.
fn parse(text: &str) -> Result<Calendar, CalendarError> {
    let sections: BTreeMap<String, Section> = toml::from_str(text)?;
    let mut cal = Calendar {
        days: BTreeMap::new(),
        years: BTreeMap::new(),
    };
    for (key, section) in sections {
        let year = year_key(&key)?;
        for (values, working) in [(&section.off, false), (&section.work, true)] {
            for value in values {
                let (first, last) = date_or_range(year, value)?;
                for day in first.iter_days().take_while(|day| *day <= last) {
                    if cal.days.insert(day, working) == Some(!working) {
                        return Err(CalendarError::OffAndWork {
                            year,
                            value: value.clone(),
                            day,
                        });
                    }
                }
            }
        }
        let sources = cal.years.entry(year).or_default();
        sources.extend(section.source);
    }
    Ok(cal)
}

/// A section key must be a plain four-digit year.
fn year_key(key: &str) -> Result<i32, CalendarError> {
    if key.len() == 4 && key.bytes().all(|b| b.is_ascii_digit()) {
        key.parse()
            .map_err(|_| CalendarError::NotAYear(key.to_owned()))
    } else {
        Err(CalendarError::NotAYear(key.to_owned()))
    }
}

/// `YYYY-MM-DD` or the inclusive range `YYYY-MM-DD..YYYY-MM-DD`, within the section's year or
/// a neighbouring one (a notice may name a make-up day in the previous December, as the 2012
/// notice did with 2011-12-31); anything further away is a typo.
fn date_or_range(year: i32, value: &str) -> Result<(NaiveDate, NaiveDate), CalendarError> {
    let bad = || CalendarError::BadDate {
        year,
        value: value.to_owned(),
    };
    let date = |s: &str| s.trim().parse::<NaiveDate>().map_err(|_| bad());
    let (first, last) = match value.split_once("..") {
        Some((a, b)) => (date(a)?, date(b)?),
        None => {
            let d = date(value)?;
            (d, d)
        }
    };
    let near = (year - 1)..=(year + 1);
    if !near.contains(&first.year()) || !near.contains(&last.year()) {
        return Err(CalendarError::OutsideYear {
            year,
            value: value.to_owned(),
        });
    }
    if last < first {
        return Err(CalendarError::ReversedRange {
            year,
            value: value.to_owned(),
        });
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    fn china() -> Calendar {
        Calendar::china().expect("the shipped holiday table parses")
    }

    /// Expands SPEC §3's `MM-DD` / `MM-DD..MM-DD` notation for one year.
    fn spec_days(year: i32, items: &[&str]) -> Vec<NaiveDate> {
        let md = |s: &str| {
            let (m, day) = s.split_once('-').expect("MM-DD");
            d(year, m.parse().expect("month"), day.parse().expect("day"))
        };
        let mut out = Vec::new();
        for &item in items {
            let (a, b) = item.split_once("..").unwrap_or((item, item));
            let (a, b) = (md(a), md(b));
            out.extend(a.iter_days().take_while(|x| *x <= b));
        }
        out
    }

    #[test]
    fn the_shipped_table_parses_and_covers_2024_to_2026() {
        let cal = china();
        assert_eq!(cal.years(), vec![2024, 2025, 2026]);
        for year in [2024, 2025, 2026] {
            assert!(cal.has_table(year), "{year}");
            assert_eq!(cal.sources(year).len(), 1, "{year}");
        }
        assert_eq!(cal.sources(2025), ["国办发明电〔2024〕12号"]);
        assert!(!cal.has_table(2023));
        assert!(!cal.has_table(2027));
        assert!(cal.sources(2027).is_empty());
    }

    #[test]
    fn the_shipped_table_is_exactly_the_one_spec_lists() {
        let spec: [(i32, &[&str], &[&str]); 3] = [
            (
                2024,
                &[
                    "01-01",
                    "02-10..02-17",
                    "04-04..04-06",
                    "05-01..05-05",
                    "06-10",
                    "09-15..09-17",
                    "10-01..10-07",
                ],
                &[
                    "02-04", "02-18", "04-07", "04-28", "05-11", "09-14", "09-29", "10-12",
                ],
            ),
            (
                2025,
                &[
                    "01-01",
                    "01-28..02-04",
                    "04-04..04-06",
                    "05-01..05-05",
                    "05-31..06-02",
                    "10-01..10-08",
                ],
                &["01-26", "02-08", "04-27", "09-28", "10-11"],
            ),
            (
                2026,
                &[
                    "01-01..01-03",
                    "02-15..02-23",
                    "04-04..04-06",
                    "05-01..05-05",
                    "06-19..06-21",
                    "09-25..09-27",
                    "10-01..10-07",
                ],
                &["01-04", "02-14", "02-28", "05-09", "09-20", "10-10"],
            ),
        ];
        let cal = china();
        let mut want = BTreeMap::new();
        for (year, off, work) in spec {
            for day in spec_days(year, off) {
                want.insert(day, false);
            }
            for day in spec_days(year, work) {
                want.insert(day, true);
            }
        }
        assert_eq!(cal.days, want);
        let count = |year: i32, working: bool| {
            cal.days
                .iter()
                .filter(|(day, w)| day.year() == year && **w == working)
                .count()
        };
        assert_eq!((count(2024, false), count(2024, true)), (28, 8));
        assert_eq!((count(2025, false), count(2025, true)), (28, 5));
        assert_eq!((count(2026, false), count(2026, true)), (33, 6));
    }

    #[test]
    fn every_shipped_make_up_day_falls_on_a_weekend() {
        let cal = china();
        for (day, working) in &cal.days {
            if *working {
                assert!(
                    matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
                    "{day} is a make-up day on a {:?}",
                    day.weekday()
                );
            }
        }
    }

    #[test]
    fn working_days_follow_the_tables_and_otherwise_monday_to_friday() {
        let cal = china();
        let cases = [
            // 2024 spot checks.
            (d(2024, 1, 1), false),  // 元旦, Monday
            (d(2024, 2, 4), true),   // Sunday, make-up day
            (d(2024, 2, 9), true),   // Friday before 春节
            (d(2024, 2, 10), false), // 春节, Saturday
            (d(2024, 2, 17), false), // 春节 last day
            (d(2024, 2, 18), true),  // Sunday, make-up day
            (d(2024, 4, 4), false),  // 清明, Thursday
            (d(2024, 4, 7), true),   // Sunday, make-up day
            (d(2024, 5, 11), true),  // Saturday, make-up day
            (d(2024, 5, 18), false), // ordinary Saturday
            (d(2024, 5, 19), false), // ordinary Sunday
            (d(2024, 6, 10), false), // 端午, Monday
            (d(2024, 9, 14), true),  // Saturday, make-up day
            (d(2024, 10, 7), false), // 国庆 last day, Monday
            (d(2024, 10, 12), true), // Saturday, make-up day
            (d(2024, 10, 8), true),  // Tuesday after 国庆
            // 2025 National Day and Mid-Autumn.
            (d(2025, 9, 27), false), // ordinary Saturday
            (d(2025, 9, 28), true),  // Sunday, make-up day
            (d(2025, 9, 30), true),  // Tuesday
            (d(2025, 10, 1), false),
            (d(2025, 10, 8), false),  // Wednesday, last day off
            (d(2025, 10, 9), true),   // Thursday
            (d(2025, 10, 11), true),  // Saturday, make-up day
            (d(2025, 10, 12), false), // ordinary Sunday
            // 2026 Spring Festival.
            (d(2026, 2, 13), true),  // Friday
            (d(2026, 2, 14), true),  // Saturday, make-up day
            (d(2026, 2, 15), false), // Sunday, first day off
            (d(2026, 2, 23), false), // Monday, last day off
            (d(2026, 2, 24), true),  // Tuesday
            (d(2026, 2, 28), true),  // Saturday, make-up day
            (d(2026, 3, 1), false),  // ordinary Sunday
            // No table: Monday–Friday.
            (d(2027, 1, 1), true),  // Friday (元旦, but 2027 has no table)
            (d(2027, 1, 2), false), // Saturday
            (d(2023, 10, 2), true), // Monday (国庆 2023, no table shipped)
        ];
        for (day, want) in cases {
            assert_eq!(cal.is_working_day(day), want, "{day} ({:?})", day.weekday());
        }
    }

    #[test]
    fn working_day_deadlines_count_from_the_day_after() {
        let cal = china();
        let cases = [
            // 2025 National Day: 09-27 Sat off, 09-28 Sun worked, 10-01..08 off, 10-11 Sat worked.
            (d(2025, 9, 26), 1, d(2025, 9, 28)),
            (d(2025, 9, 26), 2, d(2025, 9, 29)),
            (d(2025, 9, 26), 3, d(2025, 9, 30)),
            (d(2025, 9, 26), 4, d(2025, 10, 9)),
            (d(2025, 9, 30), 1, d(2025, 10, 9)),
            (d(2025, 9, 30), 3, d(2025, 10, 11)),
            (d(2025, 9, 30), 4, d(2025, 10, 13)),
            (d(2025, 10, 3), 1, d(2025, 10, 9)),
            (d(2025, 10, 3), 0, d(2025, 10, 3)),
            // 2026 Spring Festival: 02-14 Sat worked, 02-15..23 off, 02-28 Sat worked.
            (d(2026, 2, 13), 1, d(2026, 2, 14)),
            (d(2026, 2, 13), 2, d(2026, 2, 24)),
            (d(2026, 2, 24), 4, d(2026, 2, 28)),
            (d(2026, 2, 24), 5, d(2026, 3, 2)),
            (d(2026, 2, 12), 7, d(2026, 2, 28)),
            // 2024: after the Friday before 春节, 02-18 (Sunday) is worked.
            (d(2024, 2, 9), 1, d(2024, 2, 18)),
            (d(2024, 2, 9), 3, d(2024, 2, 20)),
            // Into a year without a table: Monday–Friday.
            (d(2026, 12, 31), 1, d(2027, 1, 1)),
            (d(2026, 12, 31), 2, d(2027, 1, 4)),
        ];
        for (from, n, want) in cases {
            assert_eq!(
                cal.add_working_days(from, n),
                want,
                "{n} working days after {from}"
            );
        }
    }

    #[test]
    fn calendar_day_deadlines_on_a_holiday_roll_to_the_next_working_day() {
        let cal = china();
        let rolls = [
            (d(2025, 10, 3), d(2025, 10, 9)),
            (d(2025, 10, 8), d(2025, 10, 9)),
            (d(2025, 10, 11), d(2025, 10, 11)),
            (d(2025, 9, 27), d(2025, 9, 28)),
            (d(2026, 2, 15), d(2026, 2, 24)),
            (d(2026, 1, 1), d(2026, 1, 4)),
            (d(2024, 5, 18), d(2024, 5, 20)),
            (d(2027, 1, 2), d(2027, 1, 4)),
        ];
        for (day, want) in rolls {
            assert_eq!(cal.roll_forward(day), want, "roll {day}");
        }
        let adds = [
            (d(2025, 9, 26), 7, d(2025, 10, 9)),
            (d(2025, 9, 27), 0, d(2025, 9, 28)),
            (d(2025, 9, 21), 10, d(2025, 10, 9)),
            (d(2025, 10, 1), 10, d(2025, 10, 11)),
            (d(2026, 2, 5), 10, d(2026, 2, 24)),
            (d(2024, 6, 1), 15, d(2024, 6, 17)),
        ];
        for (from, n, want) in adds {
            assert_eq!(
                cal.add_calendar_days(from, n),
                want,
                "{n} days after {from}"
            );
        }
    }

    #[test]
    fn month_deadlines_keep_the_day_or_take_the_last_day_then_roll() {
        let cal = china();
        let cases = [
            (d(2025, 1, 31), 1, d(2025, 2, 28)),  // Friday
            (d(2024, 1, 31), 1, d(2024, 2, 29)),  // leap year, Thursday
            (d(2026, 1, 31), 1, d(2026, 2, 28)),  // Saturday, but a make-up day
            (d(2025, 3, 31), 1, d(2025, 4, 30)),  // Wednesday
            (d(2025, 5, 31), 1, d(2025, 6, 30)),  // Monday
            (d(2025, 8, 1), 2, d(2025, 10, 9)),   // 10-01 is 国庆
            (d(2025, 8, 3), 2, d(2025, 10, 9)),   // 10-03
            (d(2025, 8, 11), 2, d(2025, 10, 11)), // 10-11, make-up Saturday
            (d(2025, 12, 21), 2, d(2026, 2, 24)), // 02-21, 春节
            (d(2025, 12, 31), 2, d(2026, 2, 28)), // clamped, make-up Saturday
            (d(2024, 12, 31), 2, d(2025, 2, 28)), // clamped, not leap
            (d(2025, 6, 14), 0, d(2025, 6, 16)),  // 0 months: just rolled
        ];
        for (from, n, want) in cases {
            assert_eq!(cal.add_months(from, n), want, "{n} months after {from}");
        }
    }

    #[test]
    fn end_of_day_is_midnight_shanghai_in_utc() {
        let cases = [
            (d(2025, 10, 9), "2025-10-09T16:00:00+00:00"),
            (d(2024, 2, 29), "2024-02-29T16:00:00+00:00"),
            (d(2025, 12, 31), "2025-12-31T16:00:00+00:00"),
        ];
        for (day, want) in cases {
            assert_eq!(Calendar::end_of_day_utc(day).to_rfc3339(), want, "{day}");
        }
        assert_eq!(
            Calendar::end_of_day_utc(NaiveDate::MAX),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn a_year_without_a_table_falls_back_until_an_overlay_supplies_one() {
        let base = china();
        assert!(!base.has_table(2027));
        assert!(base.is_working_day(d(2027, 1, 1)));
        let overlay = r#"
            [2027]
            source = "国务院办公厅关于2027年部分节假日安排的通知"
            off = ["2027-01-01..2027-01-03"]
            work = ["2026-12-27"]
        "#;
        let cal = Calendar::with_overlay(overlay).expect("overlay parses");
        assert!(cal.has_table(2027));
        assert_eq!(cal.years(), vec![2024, 2025, 2026, 2027]);
        assert!(!cal.is_working_day(d(2027, 1, 1)));
        assert!(
            cal.is_working_day(d(2026, 12, 27)),
            "make-up day from the 2027 notice"
        );
        assert_eq!(base.add_working_days(d(2026, 12, 31), 1), d(2027, 1, 1));
        assert_eq!(cal.add_working_days(d(2026, 12, 31), 1), d(2027, 1, 4));
        assert_eq!(cal.add_calendar_days(d(2026, 12, 31), 1), d(2027, 1, 4));
        // The shipped tables are still there.
        assert!(!cal.is_working_day(d(2025, 10, 1)));
    }

    #[test]
    fn a_local_overlay_adds_days_and_its_days_win() {
        let overlay = r#"
            [2025]
            source = "甘孜州 藏历新年"
            off = ["2025-02-28"]
            work = ["2025-10-08"]
        "#;
        let base = china();
        let cal = Calendar::with_overlay(overlay).expect("overlay parses");
        assert!(base.is_working_day(d(2025, 2, 28)));
        assert!(!cal.is_working_day(d(2025, 2, 28)));
        assert_eq!(base.add_months(d(2025, 1, 31), 1), d(2025, 2, 28));
        assert_eq!(cal.add_months(d(2025, 1, 31), 1), d(2025, 3, 3));
        assert_eq!(cal.add_working_days(d(2025, 2, 27), 1), d(2025, 3, 3));
        // An overlay working day overrides a shipped day off.
        assert!(!base.is_working_day(d(2025, 10, 8)));
        assert!(cal.is_working_day(d(2025, 10, 8)));
        assert_eq!(cal.roll_forward(d(2025, 10, 3)), d(2025, 10, 8));
        assert_eq!(
            cal.sources(2025),
            ["国办发明电〔2024〕12号", "甘孜州 藏历新年"]
        );
        // An empty overlay changes nothing.
        let same = Calendar::with_overlay("").expect("empty overlay");
        assert_eq!(same.days, base.days);
        assert_eq!(same.years(), base.years());
    }

    #[test]
    fn bad_tables_are_rejected_naming_the_year_and_the_value() {
        let cases: [(&str, &str); 11] = [
            (
                "[2025]\noff = [\"2025-02-30\"]",
                "[2025]: \"2025-02-30\" is not a date",
            ),
            (
                "[2025]\noff = [\"2025-13-01\"]",
                "[2025]: \"2025-13-01\" is not a date",
            ),
            (
                "[2025]\nwork = [\"next monday\"]",
                "[2025]: \"next monday\" is not a date",
            ),
            (
                "[2025]\noff = [\"2025-10-01..\"]",
                "[2025]: \"2025-10-01..\" is not a date",
            ),
            (
                "[2025]\noff = [\"2025-10-08..2025-10-01\"]",
                "[2025]: range \"2025-10-08..2025-10-01\" ends before it starts",
            ),
            (
                "[2025]\noff = [\"2025-10-01..2025-10-08\"]\nwork = [\"2025-10-03\"]",
                "[2025]: \"2025-10-03\" makes 2025-10-03 both a day off and a working day",
            ),
            (
                "[2025]\noff = [\"2052-10-01\"]",
                "[2025]: \"2052-10-01\" lies outside 2025",
            ),
            ("[twenty]\noff = []", "section [twenty] is not a year"),
            ("[25]\noff = []", "section [25] is not a year"),
            ("[2025]\nof = [\"2025-10-01\"]", "not valid TOML"),
            ("[2025\noff = [", "not valid TOML"),
        ];
        for (toml, want) in cases {
            let err = Calendar::with_overlay(toml).expect_err(toml);
            let msg = err.to_string();
            assert!(msg.contains(want), "{toml:?}: {msg}");
        }
    }

    #[test]
    fn a_day_both_off_and_work_across_sections_of_one_file_is_rejected() {
        let toml = "[2011]\noff = [\"2011-12-31\"]\n[2012]\nwork = [\"2011-12-31\"]";
        let err = Calendar::with_overlay(toml).expect_err("conflict");
        assert!(
            matches!(err, CalendarError::OffAndWork { year: 2012, day, .. } if day == d(2011, 12, 31)),
            "{err}"
        );
        // A neighbouring-year make-up day alone is fine (the 2012 notice named 2011-12-31).
        let ok = Calendar::with_overlay("[2012]\nwork = [\"2011-12-31\"]").expect("valid");
        assert!(ok.is_working_day(d(2011, 12, 31)));
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        // 2023..=2028: the shipped years, fallback years on both sides.
        (0u64..6 * 366).prop_map(|k| d(2023, 1, 1) + Days::new(k))
    }

    proptest! {
        #[test]
        fn the_nth_working_day_after_is_a_later_working_day(day in any_date(), n in 1u32..60) {
            let cal = china();
            let due = cal.add_working_days(day, n);
            prop_assert!(cal.is_working_day(due));
            prop_assert!(due > day);
            let counted = day
                .iter_days()
                .skip(1)
                .take_while(|x| *x <= due)
                .filter(|x| cal.is_working_day(*x))
                .count();
            prop_assert_eq!(counted, n as usize);
        }

        #[test]
        fn working_days_add_up(day in any_date(), a in 0u32..40, b in 0u32..40) {
            let cal = china();
            prop_assert_eq!(
                cal.add_working_days(day, a + b),
                cal.add_working_days(cal.add_working_days(day, a), b)
            );
        }

        #[test]
        fn roll_forward_is_idempotent_and_never_earlier(day in any_date()) {
            let cal = china();
            let rolled = cal.roll_forward(day);
            prop_assert!(rolled >= day);
            prop_assert!(cal.is_working_day(rolled));
            prop_assert_eq!(cal.roll_forward(rolled), rolled);
            prop_assert_eq!(rolled == day, cal.is_working_day(day));
        }

        #[test]
        fn calendar_and_month_deadlines_land_on_working_days(day in any_date(), n in 0u32..400) {
            let cal = china();
            let by_days = cal.add_calendar_days(day, n);
            prop_assert!(cal.is_working_day(by_days));
            prop_assert!(by_days >= day + Days::new(u64::from(n)));
            let by_months = cal.add_months(day, n % 25);
            prop_assert!(cal.is_working_day(by_months));
            prop_assert!(by_months >= day);
        }
    }
}
