//! The weekly lagging-unit report (落后单位周报, SPEC §6): per enforcement unit the open findings
//! by rule, the review sampling of the quarter, the yearly meeting and training, what is new and
//! what was resolved in the week, a rank, and whether the unit lags — the lagging ones first.
//!
//! A unit lags (`[report]`, documented in the example configuration) when it has at least
//! `lagging_overdue` overdue findings, or its sampling of the quarter is behind the pro-rata line
//! or missed (`lagging_sampling`), or a yearly duty it owes is slipping or missed
//! (`lagging_annual`). Units rank by: lagging first, then more overdue findings, more open
//! findings, a smaller share of the sampling target reviewed, and the unit's name.

pub mod annual;
pub mod chart;
pub mod deliver;
pub mod render;
pub mod xlsx;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike as _, TimeDelta, Utc};
use chrono_tz::Asia::Shanghai;
use serde::{Deserialize, Serialize};

pub use crate::config::ReportConfig;

use crate::config::{Config, UnitKind};
use crate::obligations::annual::AnnualState;
use crate::obligations::sampling::SamplingState;
use crate::obligations::status::{Obligations, UnitObligations};
use crate::store::{FindingRow, Store};

/// A unit's review sampling in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplingRow {
    pub quarter: String,
    pub population: usize,
    pub target: usize,
    pub reviewed: usize,
    /// Reviewed as a share of the target, in percent (none without a target).
    pub percent_of_target: Option<u32>,
    /// `met`, `on_track`, `behind` or `missed`.
    pub state: String,
}

/// One unit's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRow {
    /// The unit's name.
    pub unit: String,
    pub unit_id: String,
    pub rank: usize,
    pub lagging: bool,
    /// Why it lags, as the report says it (Chinese).
    pub reasons: Vec<String>,
    /// Open findings by rule.
    pub findings: BTreeMap<String, i64>,
    pub open: i64,
    pub overdue: i64,
    /// Findings that arose in the week and are a matter for someone (see
    /// [`FindingRow::is_new_in`]).
    pub new: i64,
    /// Findings resolved in the week.
    pub resolved: i64,
    /// Violations nothing can mend (late platform entries) recorded in the week.
    #[serde(default)]
    pub recorded: i64,
    pub sampling: SamplingRow,
    pub meeting_held: bool,
    pub training_held: bool,
    /// Last week's rank and open findings, from its snapshot.
    pub previous_rank: Option<usize>,
    pub previous_open: Option<i64>,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Weekly {
    /// RFC 3339, Asia/Shanghai.
    pub as_of: String,
    /// ISO week of the day, `2025-W42` (the snapshot's key).
    pub week: String,
    /// The week as people read it: `2026年第1周（2025年12月29日—2026年1月4日）`.
    pub week_label: String,
    /// The report's time as people read it: `2025年12月31日 09:00` (Asia/Shanghai).
    pub as_of_label: String,
    /// The week looked back on: from (exclusive) … to (inclusive), RFC 3339.
    pub since: String,
    pub units: Vec<UnitRow>,
    /// The rules that have any open finding, in order (the columns of the tables).
    pub rules: Vec<String>,
    pub lagging: usize,
}

/// `weekly:2025-W42`.
pub fn period(week: &str) -> String {
    format!("weekly:{week}")
}

/// The ISO week of an instant's Asia/Shanghai day.
pub fn week_of(t: DateTime<Utc>) -> String {
    let d = t.with_timezone(&Shanghai).date_naive();
    let w = d.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// [`Weekly::week_label`] of the ISO week holding an instant's Asia/Shanghai day.
pub fn week_label(t: DateTime<Utc>) -> String {
    let d = t.with_timezone(&Shanghai).date_naive();
    let w = d.iso_week();
    let monday = d - TimeDelta::days(i64::from(d.weekday().num_days_from_monday()));
    let sunday = monday + TimeDelta::days(6);
    format!(
        "{}年第{}周（{}—{}）",
        w.year(),
        w.week(),
        crate::domain::values::zh_date(monday),
        crate::domain::values::zh_date(sunday)
    )
}

/// Rules in their order: R1, R2, …, R10.
pub(crate) fn rule_order(r: &str) -> (u32, String) {
    (
        r.trim_start_matches('R').parse().unwrap_or(u32::MAX),
        r.to_string(),
    )
}

/// What the weekly report is computed from besides the week's findings.
pub struct Context {
    obligations: Obligations,
    /// Last week's rows by unit id, from its snapshot.
    previous: HashMap<String, UnitRow>,
}

/// The week a report as of `now` looks back on begins seven days before (exclusive).
pub fn since(now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::days(7)
}

/// Reads the obligations as of the day of `now` and last week's snapshot.
pub async fn context(
    store: &dyn Store,
    cfg: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<Context> {
    let today = now.with_timezone(&Shanghai).date_naive();
    let last_week = period(&week_of(since(now)));
    let (obligations, previous) = tokio::try_join!(
        crate::obligations::status::obligations(store, &cfg.obligations, &cfg.units, today),
        store.snapshot(&last_week),
    )?;
    let previous = previous
        .into_iter()
        .filter_map(|(u, data)| serde_json::from_str::<UnitRow>(&data).ok().map(|r| (u, r)))
        .collect();
    Ok(Context {
        obligations,
        previous,
    })
}

/// Computes the weekly report as of `now`: the week's findings (read while the context is)
/// counted per unit and rule, obligations as of the day, last week's snapshot for the rank it
/// had.
pub async fn weekly(store: &dyn Store, cfg: &Config, now: DateTime<Utc>) -> anyhow::Result<Weekly> {
    let (findings, context) = tokio::try_join!(
        async { anyhow::Ok(store.finding_rows(since(now), now).await?) },
        context(store, cfg, now),
    )?;
    Ok(compute(&findings, &context, cfg, now))
}

/// Open, overdue, new and resolved findings of one unit and rule.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    open: i64,
    overdue: i64,
    new: i64,
    resolved: i64,
    recorded: i64,
}

/// The weekly report as of `now` from the week's `findings` (see [`Store::finding_rows`]) and
/// the [`context`].
pub fn compute(
    findings: &[FindingRow],
    context: &Context,
    cfg: &Config,
    now: DateTime<Utc>,
) -> Weekly {
    let since = since(now);
    let ob = &context.obligations;
    let county_training = ob.training.as_ref().map(|t| t.state);
    let rc = &cfg.report;
    let mut by_unit: HashMap<&str, BTreeMap<&str, Counts>> = HashMap::new();
    for f in findings {
        let c = by_unit
            .entry(f.unit_id.as_str())
            .or_default()
            .entry(f.rule.as_str())
            .or_default();
        c.open += i64::from(f.is_open_at(now));
        c.overdue += i64::from(f.is_overdue_at(now));
        c.new += i64::from(f.is_new_in(since, now));
        c.resolved += i64::from(f.is_resolved_in(since, now));
        c.recorded += i64::from(f.is_recorded_in(since, now));
    }
    let obligations_of: HashMap<&str, &UnitObligations> =
        ob.units.iter().map(|x| (x.unit_id.as_str(), x)).collect();
    let mut rows: Vec<UnitRow> = Vec::new();
    for u in cfg.units.iter().filter(|u| u.kind == UnitKind::Enforcement) {
        let mine = by_unit.remove(u.id.as_str()).unwrap_or_default();
        let findings: BTreeMap<String, i64> = mine
            .iter()
            .filter(|(_, c)| c.open > 0)
            .map(|(rule, c)| ((*rule).to_string(), c.open))
            .collect();
        let sum = |f: fn(&Counts) -> i64| mine.values().map(f).sum::<i64>();
        let (open, overdue) = (sum(|c| c.open), sum(|c| c.overdue));
        let (new, resolved) = (sum(|c| c.new), sum(|c| c.resolved));
        let recorded = sum(|c| c.recorded);
        let uo = obligations_of.get(u.id.as_str()).copied();
        let sampling = uo.map_or_else(
            || SamplingRow {
                quarter: ob.quarter.to_string(),
                population: 0,
                target: 0,
                reviewed: 0,
                percent_of_target: None,
                state: SamplingState::Met.as_str().into(),
            },
            |x| {
                let s = &x.sampling;
                SamplingRow {
                    quarter: s.quarter.to_string(),
                    population: s.population,
                    target: s.target,
                    reviewed: s.reviewed,
                    percent_of_target: (s.target > 0)
                        .then(|| u32::try_from(s.reviewed * 100 / s.target).unwrap_or(u32::MAX)),
                    state: s.state.as_str().into(),
                }
            },
        );
        let training = uo
            .and_then(|x| x.training.as_ref().map(|t| t.state))
            .or(county_training);
        let mut reasons = Vec::new();
        if rc.lagging_overdue > 0 && overdue >= i64::from(rc.lagging_overdue) {
            reasons.push(format!("逾期事项{overdue}项"));
        }
        if rc.lagging_sampling && matches!(sampling.state.as_str(), "behind" | "missed") {
            reasons.push(format!(
                "案卷评查{}/{}件，进度滞后",
                sampling.reviewed, sampling.target
            ));
        }
        // A unit owes its own training when trainings are per unit; the meeting is the county's.
        let own_training = uo.and_then(|x| x.training.as_ref()).map(|t| t.state);
        if rc.lagging_annual
            && matches!(
                own_training,
                Some(AnnualState::Slipping | AnnualState::Missed)
            )
        {
            reasons.push("年度专题培训未开展".into());
        }
        let prev = context.previous.get(&u.id);
        rows.push(UnitRow {
            unit: u.name.clone(),
            unit_id: u.id.clone(),
            rank: 0,
            lagging: !reasons.is_empty(),
            reasons,
            findings,
            open,
            overdue,
            new,
            resolved,
            recorded,
            sampling,
            meeting_held: ob.meeting.state == AnnualState::Held,
            training_held: training == Some(AnnualState::Held),
            previous_rank: prev.map(|p| p.rank),
            previous_open: prev.map(|p| p.open),
        });
    }
    rows.sort_by(|a, b| {
        let pct = |r: &UnitRow| r.sampling.percent_of_target.unwrap_or(u32::MAX);
        b.lagging
            .cmp(&a.lagging)
            .then(b.overdue.cmp(&a.overdue))
            .then(b.open.cmp(&a.open))
            .then(pct(a).cmp(&pct(b)))
            .then(a.unit.cmp(&b.unit))
    });
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    let mut rules: Vec<String> = rows
        .iter()
        .flat_map(|r| r.findings.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    rules.sort_by_key(|r| rule_order(r));
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&Shanghai)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    };
    Weekly {
        as_of: local(now),
        week: week_of(now),
        week_label: week_label(now),
        as_of_label: format!(
            "{} {}",
            crate::domain::values::zh_date(now.with_timezone(&Shanghai).date_naive()),
            now.with_timezone(&Shanghai).format("%H:%M")
        ),
        since: local(since),
        lagging: rows.iter().filter(|r| r.lagging).count(),
        units: rows,
        rules,
    }
}

/// Saves the report's rows as its week's snapshot (what the next week compares with).
pub async fn save_snapshot(
    store: &dyn Store,
    report: &Weekly,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let rows: Vec<(String, String)> = report
        .units
        .iter()
        .map(|r| Ok((r.unit_id.clone(), serde_json::to_string(r)?)))
        .collect::<anyhow::Result<_>>()?;
    store
        .save_snapshot(&period(&report.week), &rows, at)
        .await?;
    Ok(())
}
