//! The rules of SPEC §3 as pure functions: records in, [`Finding`]s out. No I/O and no clock —
//! `now` is an argument, so any past or future day can be replayed (`--as-of`).
//!
//! Each obligation a case creates becomes one finding with a due time (the end of the due day,
//! Asia/Shanghai), the time the data satisfied it (if it did) and the facts behind it. Its
//! [`State`] follows from those and `now`; `waived` is a stored override, not computed here.
//!
//! Findings have a stable [`Finding::key`] (`"R1|scjg|稻市监罚[2025]12号"`: rule, unit, case
//! key), unique per rule and subject, so the caller upserts them across evaluations. A violation
//! finding (R2, R3, R6) that a later evaluation no longer yields has been cured by the data: the
//! caller resolves it.
//!
//! **Replay.** An evaluation at `now` sees the data as it stood then, as far as the data tells:
//! platform records entered (or, lacking an entry time, transferred) after `now` are ignored, and
//! so are cases whose triggering date is after `now`'s day.
//!
//! **Deadlines** count working days on the [`Calendar`] from the day after the triggering date
//! (SPEC §3). A platform record entered at the due instant itself (24:00 of the due day) or later
//! is late. Facts name any year the deadline spans that has no holiday table
//! (`calendar_fallback_years`): its days were counted Monday–Friday.

mod documents;
pub mod matching;
mod penalties;
mod police;
pub use police::referral_key;
mod referrals;
mod replies;

use std::collections::HashSet;

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use serde::Serialize;
use serde_json::{Map, Value as Json, json};

pub use crate::config::{R6Threshold, RulesConfig};
pub use crate::domain::rule::{RuleId, State, UnknownRule};

use crate::domain::calendar::Calendar;
use crate::domain::values::format_fen;
use crate::records::{Feed, Field, FieldKind, Record, Value};
use matching::{Matcher, Platform, shanghai_day};

/// A rule's verdict about one obligation: what is due when, and whether the data satisfies it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: RuleId,
    /// Stable identity across evaluations: `"R1|<unit_id>|<case_key>"`, unique per rule and
    /// subject.
    pub key: String,
    /// The unit responsible: the case's unit.
    pub unit_id: String,
    /// As written, for display.
    pub case_no: Option<String>,
    pub case_key: Option<String>,
    /// When the obligation arose, as the data tells: the first instant of the triggering day
    /// (the decision, the receipt), or for a violation when it happened (a late entry's time).
    /// A report as of an earlier instant does not count the finding.
    pub arose_at: DateTime<Utc>,
    /// End of the due day, Asia/Shanghai.
    pub due: DateTime<Utc>,
    /// When the data satisfied the rule (`None`: not yet, or a violation).
    pub satisfied_at: Option<DateTime<Utc>>,
    /// A violation (R2, R3) is overdue as soon as it exists.
    pub violated: bool,
    /// What triggered it. Never personal ID numbers; amounts as yuan strings.
    pub facts: Json,
}

impl Finding {
    /// Recorded for a violation nothing can mend (R2, [`RuleId::records_only`]); resolved once
    /// satisfied (at or before `now`); a violation, or anything at or past its
    /// due instant, is overdue; due soon within `cfg.due_soon_days` days of the due instant;
    /// upcoming before that.
    pub fn state(&self, now: DateTime<Utc>, cfg: &RulesConfig) -> State {
        if self.rule.records_only() {
            return State::Recorded;
        }
        if self.satisfied_at.is_some_and(|t| t <= now) {
            return State::Resolved;
        }
        State::open(
            self.violated,
            self.due,
            now,
            crate::domain::rule::due_soon_window(cfg.due_soon_days),
        )
    }
}

/// The records an evaluation reads, one slice per feed; feeds a county has no source for stay
/// empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Data<'a> {
    pub cases: &'a [Record],
    pub referrals: &'a [Record],
    /// Platform case entries; read only when `r4_enabled`.
    pub entries: &'a [Record],
    /// Read only when `r5_enabled`.
    pub copies: &'a [Record],
    /// Read only when `r9_enabled`.
    pub filings: &'a [Record],
    pub recommendations: &'a [Record],
    pub opinions: &'a [Record],
    /// Case-file reviews: one that found a file should have been transferred feeds R6.
    pub reviews: &'a [Record],
    /// The (unit, case key) of every stored case whose key a platform row carries, when
    /// `cases` holds only the subjects of the rules (see [`Matcher::new`]); `None` when `cases`
    /// are all the cases.
    pub claims: Option<&'a [(String, String)]>,
    /// Whether the platform carries police decisions (R10 applies only then), when `referrals`
    /// are only some of them; `None`: whether any of `referrals` carries one.
    pub police_decisions: Option<bool>,
}

/// Evaluates R1–R10 over the given records at `now`.
///
/// Cost: one pass to index each platform feed and one pass over the cases per feed, with hash
/// lookups per case.
pub fn evaluate(
    data: &Data<'_>,
    cal: &Calendar,
    cfg: &RulesConfig,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    evaluate_each(data, cal, cfg, now, |f| out.push(f));
    out
}

/// [`evaluate`], handing each finding to `emit` as it is made instead of collecting them, so a
/// caller can stream a large evaluation into the store.
pub fn evaluate_each<'a>(
    data: &Data<'a>,
    cal: &Calendar,
    cfg: &RulesConfig,
    now: DateTime<Utc>,
    mut emit: impl FnMut(Finding),
) {
    let ctx = Ctx {
        cal,
        cfg,
        today: shanghai_day(now),
    };
    let cases = data.cases;
    // A platform feed's rows that existed at `now`, indexed against the cases.
    let matcher = |platform: Platform, rows: &'a [Record]| {
        let visible = rows.iter().filter(move |r| existed_at(r, now));
        Matcher::new(platform, cases, data.claims, visible, cfg.match_window_days)
    };
    let referrals = matcher(Platform::Referrals, data.referrals);
    referrals::evaluate(&referrals, &ctx, &mut emit);
    if cfg.r4_enabled {
        documents::evaluate_entries(&matcher(Platform::Entries, data.entries), &ctx, &mut emit);
    }
    if cfg.r5_enabled {
        documents::evaluate_copies(&matcher(Platform::Copies, data.copies), &ctx, &mut emit);
    }
    penalties::evaluate(cases, data.reviews, &ctx, &mut emit);
    replies::evaluate(RuleId::R7, data.recommendations, &ctx, &mut emit);
    replies::evaluate(RuleId::R8, data.opinions, &ctx, &mut emit);
    if cfg.r9_enabled {
        documents::evaluate_filings(&matcher(Platform::Filings, data.filings), &ctx, &mut emit);
    }
    police::evaluate(
        &referrals,
        data.referrals,
        data.police_decisions,
        now,
        &ctx,
        &mut emit,
    );
}

/// What every rule needs besides the records.
struct Ctx<'c> {
    cal: &'c Calendar,
    cfg: &'c RulesConfig,
    /// `now`'s Asia/Shanghai day.
    today: NaiveDate,
}

/// Whether a platform record existed at `now`: entered (or, lacking an entry time,
/// transferred) at or before it. A record with neither time is taken as existing.
fn existed_at(r: &Record, now: DateTime<Utc>) -> bool {
    match platform_time(r) {
        Some((t, _)) => t <= now,
        None => true,
    }
}

/// When a record came into being, with the field it came from: for platform records when they
/// were put on the platform (`entered_at`, else `transferred_at`); for copies and filings the day
/// they were sent (its first instant, Asia/Shanghai); for recommendations and opinions the day
/// they were received (else issued).
fn platform_time(r: &Record) -> Option<(DateTime<Utc>, &'static str)> {
    let fields: &[Field] = match r.feed {
        Feed::Copies => &[Field::CopiedOn],
        Feed::Filings => &[Field::FiledOn],
        Feed::Recommendations | Feed::Opinions => &[Field::ReceivedOn, Field::IssuedOn],
        _ => &[Field::EnteredAt, Field::TransferredAt],
    };
    fields.iter().find_map(|&field| match r.get(field) {
        Value::DateTime(t) => Some((*t, field.name())),
        Value::Date(d) => Some((start_of_day_utc(*d), field.name())),
        _ => None,
    })
}

/// The first instant of day `d` (00:00 Asia/Shanghai) as UTC.
fn start_of_day_utc(d: NaiveDate) -> DateTime<Utc> {
    d.pred_opt()
        .map_or(DateTime::<Utc>::MIN_UTC, Calendar::end_of_day_utc)
}

/// The stable key of a rule's finding about a case.
fn finding_key(rule: RuleId, case: &Record) -> String {
    format!("{rule}|{}|{}", case.unit_id, case.case_no.key())
}

/// A finding about `case` with the case's identity filled in, arisen on `arose` and due at
/// `due`.
fn case_finding(
    rule: RuleId,
    case: &Record,
    arose: NaiveDate,
    due: DateTime<Utc>,
    facts: Json,
) -> Finding {
    Finding {
        rule,
        key: finding_key(rule, case),
        unit_id: case.unit_id.clone(),
        case_no: Some(case.case_no.as_written().to_owned()),
        case_key: Some(case.case_no.key().to_owned()),
        arose_at: start_of_day_utc(arose),
        due,
        satisfied_at: None,
        violated: false,
        facts,
    }
}

/// Skips a second case with the same unit and case key (the store holds one per key), so that
/// finding keys stay unique.
#[derive(Default)]
struct Seen<'a>(HashSet<(&'a str, &'a str)>);

impl<'a> Seen<'a> {
    fn first(&mut self, case: &'a Record) -> bool {
        self.0.insert((case.unit_id.as_str(), case.case_no.key()))
    }
}

/// A deadline: the due day and the end of it, and the first day whose place in the calendar
/// it depended on.
struct Deadline {
    day: NaiveDate,
    due: DateTime<Utc>,
    /// Working days count every day after the start; calendar days and months consult the
    /// calendar only from the day they land on (to move off a day off).
    consulted_from: NaiveDate,
}

impl Deadline {
    /// `n` working days after `from`.
    fn working_days(cal: &Calendar, from: NaiveDate, n: u32) -> Deadline {
        Deadline::on(
            cal.add_working_days(from, n),
            from.succ_opt().unwrap_or(from),
        )
    }

    /// `n` calendar days after `from`, moved to the next working day when it lands on a day off.
    fn calendar_days(cal: &Calendar, from: NaiveDate, n: u32) -> Deadline {
        let lands = from
            .checked_add_days(chrono::Days::new(u64::from(n)))
            .unwrap_or(NaiveDate::MAX);
        Deadline::on(cal.add_calendar_days(from, n), lands)
    }

    /// `n` months after `from` (same day of the month or the month's last day), moved to the
    /// next working day when it lands on a day off.
    fn months(cal: &Calendar, from: NaiveDate, n: u32) -> Deadline {
        let lands = from
            .checked_add_months(chrono::Months::new(n))
            .unwrap_or(NaiveDate::MAX);
        Deadline::on(cal.add_months(from, n), lands)
    }

    fn on(day: NaiveDate, consulted_from: NaiveDate) -> Deadline {
        Deadline {
            day,
            due: Calendar::end_of_day_utc(day),
            consulted_from: consulted_from.min(day),
        }
    }

    /// Adds `due_date` and, when a year the deadline consulted has no holiday table (its days
    /// were counted Monday–Friday), `calendar_fallback_years` to `facts`.
    fn describe(&self, cal: &Calendar, facts: &mut Map<String, Json>) {
        facts.insert("due_date".into(), json!(ymd(self.day)));
        let missing: Vec<i32> = (self.consulted_from.year()..=self.day.year())
            .filter(|y| !cal.has_table(*y))
            .collect();
        if !missing.is_empty() {
            facts.insert("calendar_fallback_years".into(), json!(missing));
        }
    }

    /// Whole calendar days from the due day to the day of `t` (≥ 1 for a late record).
    fn days_late(&self, t: DateTime<Utc>) -> i64 {
        (shanghai_day(t) - self.day).num_days()
    }
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// An instant as RFC 3339 in Asia/Shanghai.
fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// A value for facts: amounts as yuan strings, dates and times as text.
fn fact_value(v: &Value) -> Json {
    match v {
        Value::Fen(f) => json!(format_fen(*f)),
        other => other.to_json(),
    }
}

/// A record for facts: unit, case number as written, and every non-empty field except personal
/// data and the source's change time.
fn record_facts(r: &Record) -> Json {
    let mut m = Map::new();
    m.insert("unit".into(), json!(r.unit_id));
    if !r.unit_known {
        m.insert("unit_known".into(), json!(false));
    }
    m.insert("case_no".into(), json!(r.case_no.as_written()));
    for (spec, v) in r.feed.fields().iter().zip(&r.values) {
        if spec.kind == FieldKind::Pii || spec.name == "updated_at" || v.is_null() {
            continue;
        }
        m.insert(spec.name.into(), fact_value(v));
    }
    Json::Object(m)
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Records for the rules' tests.
    use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone as _, Utc};
    use chrono_tz::Asia::Shanghai;

    use crate::domain::case_no::CaseNo;
    use crate::records::{Feed, Record, Value};

    pub fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("YYYY-MM-DD")
    }

    /// `"YYYY-MM-DD HH:MM[:SS]"` in Asia/Shanghai.
    pub fn at(s: &str) -> DateTime<Utc> {
        let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
            .expect("YYYY-MM-DD HH:MM[:SS]");
        Shanghai
            .from_local_datetime(&t)
            .single()
            .expect("unambiguous")
            .with_timezone(&Utc)
    }

    fn record(feed: Feed, unit: &str, no: &str, party: &str) -> Record {
        let mut r = Record {
            feed,
            unit_id: unit.to_owned(),
            unit_known: unit.is_ascii(),
            case_no: CaseNo::parse(no).expect("case number"),
            values: vec![Value::Null; feed.fields().len()],
        };
        if !party.is_empty() {
            r = set(r, "party", Value::Text(party.to_owned()));
        }
        r
    }

    pub fn set(mut r: Record, field: &str, v: Value) -> Record {
        let i = r.feed.field_index(field).expect("field of the feed");
        r.values[i] = v;
        r
    }

    pub fn plain_case(unit: &str, no: &str, party: &str) -> Record {
        record(Feed::Cases, unit, no, party)
    }

    /// A case with `suspected_crime` and a transfer decided on `decided`.
    pub fn transfer(unit: &str, no: &str, party: &str, decided: &str) -> Record {
        let r = set(
            plain_case(unit, no, party),
            "suspected_crime",
            Value::Bool(true),
        );
        set(r, "transfer_decided_on", Value::Date(day(decided)))
    }

    /// A case with a penalty decided on `decided`.
    pub fn decided(unit: &str, no: &str, party: &str, decided: &str) -> Record {
        set(
            plain_case(unit, no, party),
            "decided_on",
            Value::Date(day(decided)),
        )
    }

    pub fn referral(unit: &str, no: &str, party: &str, entered: &str) -> Record {
        set(
            record(Feed::Referrals, unit, no, party),
            "entered_at",
            Value::DateTime(at(entered)),
        )
    }

    pub fn entry(unit: &str, no: &str, party: &str, entered: &str) -> Record {
        set(
            record(Feed::Entries, unit, no, party),
            "entered_at",
            Value::DateTime(at(entered)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;

    fn finding(due: &str, satisfied: Option<&str>, violated: bool) -> Finding {
        Finding {
            rule: RuleId::R1,
            key: "R1|scjg|x".into(),
            unit_id: "scjg".into(),
            case_no: None,
            case_key: None,
            arose_at: DateTime::<Utc>::MIN_UTC,
            due: Calendar::end_of_day_utc(day(due)),
            satisfied_at: satisfied.map(at),
            violated,
            facts: Json::Null,
        }
    }

    #[test]
    fn the_state_follows_the_due_instant_and_the_due_soon_window() {
        let cfg = RulesConfig::default();
        // Due 2025-10-11, i.e. before 2025-10-12 00:00 Asia/Shanghai.
        let table = [
            ("2025-10-08 23:59:59", None, false, State::Upcoming),
            ("2025-10-09 00:00:00", None, false, State::DueSoon),
            ("2025-10-11 23:59:59", None, false, State::DueSoon),
            ("2025-10-12 00:00:00", None, false, State::Overdue),
            (
                "2025-10-12 00:00:00",
                Some("2025-10-12 00:00:00"),
                false,
                State::Resolved,
            ),
            (
                "2025-10-09 00:00:00",
                Some("2025-10-10 08:00:00"),
                false,
                State::DueSoon,
            ),
            (
                "2025-10-10 08:00:00",
                Some("2025-10-10 08:00:00"),
                false,
                State::Resolved,
            ),
            ("2025-10-01 00:00:00", None, true, State::Overdue),
        ];
        for (now, satisfied, violated, want) in table {
            let f = finding("2025-10-11", satisfied, violated);
            assert_eq!(
                f.state(at(now), &cfg),
                want,
                "now {now}, satisfied {satisfied:?}"
            );
        }
    }

    #[test]
    fn rule_ids_and_states_print_and_parse_as_the_contract_says() {
        for r in RuleId::ALL {
            assert_eq!(r.as_str().parse::<RuleId>(), Ok(r));
            assert_eq!(serde_json::to_value(r).ok(), Some(json!(r.to_string())));
            assert!(!r.source().is_empty());
        }
        assert_eq!("r3".parse::<RuleId>(), Ok(RuleId::R3));
        assert!("R11".parse::<RuleId>().is_err());
        assert_eq!(
            serde_json::to_value(State::DueSoon).ok(),
            Some(json!("due_soon"))
        );
    }

    #[test]
    fn evaluating_one_data_set_at_two_instants_gives_the_states_each_implies() {
        let cal = Calendar::china().expect("shipped calendar");
        let cfg = RulesConfig::default();
        let cases = [
            transfer("scjg", "稻市监罚〔2025〕12号", "张三", "2025-09-30"),
            transfer("scjg", "稻市监罚〔2025〕13号", "李四", "2025-09-30"),
        ];
        let referrals = [referral(
            "scjg",
            "稻市监罚〔2025〕12号",
            "张三",
            "2025-10-10 09:00",
        )];
        let states = |now: &str| {
            let now = at(now);
            let mut got: Vec<(String, State)> = evaluate(
                &Data {
                    cases: &cases,
                    referrals: &referrals,
                    ..Data::default()
                },
                &cal,
                &cfg,
                now,
            )
            .into_iter()
            .map(|f| (f.key.clone(), f.state(now, &cfg)))
            .collect();
            got.sort();
            got
        };
        let k12 = "R1|scjg|稻市监罚[2025]12号".to_string();
        let k13 = "R1|scjg|稻市监罚[2025]13号".to_string();
        assert_eq!(
            states("2025-10-05 12:00"),
            [
                (k12.clone(), State::Upcoming),
                (k13.clone(), State::Upcoming)
            ]
        );
        assert_eq!(
            states("2025-10-10 12:00"),
            [
                (k12.clone(), State::Resolved),
                (k13.clone(), State::DueSoon)
            ]
        );
        assert_eq!(
            states("2025-10-13 00:00"),
            [(k12, State::Resolved), (k13, State::Overdue)]
        );
        assert!(
            states("2025-09-29 12:00").is_empty(),
            "no case before its decision"
        );
    }
}
