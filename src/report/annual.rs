//! The annual scorecard per enforcement unit for the county's rule-of-law assessment
//! (依法治县考核): the year's findings by rule with their on-time rate, the review sampling of
//! each quarter, and whether the joint meeting and the training were held.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use serde::Serialize;

use super::render::yes;
use crate::config::{Config, UnitKind};
use crate::domain::calendar::Calendar;
use crate::obligations::annual::AnnualState;
use crate::obligations::sampling::Quarter;
use crate::obligations::status::obligations;
use crate::store::Store;

/// One rule's year for a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleYear {
    /// Deadlines that fell in the year.
    pub due: i64,
    pub on_time: i64,
    pub late: i64,
    pub waived: i64,
    /// On time among those not waived, in percent (none without any).
    pub on_time_percent: Option<u32>,
}

/// One quarter's sampling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarterRow {
    pub quarter: String,
    pub target: usize,
    pub reviewed: usize,
    /// `met`, `on_track`, `behind`, `missed`, or `not_yet` for a quarter that has not begun.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitYear {
    pub unit: String,
    pub unit_id: String,
    pub rules: BTreeMap<String, RuleYear>,
    pub due: i64,
    pub on_time: i64,
    pub late: i64,
    pub on_time_percent: Option<u32>,
    pub sampling: Vec<QuarterRow>,
    /// Quarters whose target was met.
    pub quarters_met: usize,
    pub meeting_held: bool,
    pub training_held: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annual {
    pub year: i32,
    /// The day it was taken as of (the year's last day, or today within the year).
    pub as_of: NaiveDate,
    pub units: Vec<UnitYear>,
}

fn percent(part: i64, whole: i64) -> Option<u32> {
    (whole > 0).then(|| u32::try_from(part * 100 / whole).unwrap_or(0))
}

/// The scorecard of `year` as of `now` (a year still running is counted up to today).
pub async fn annual(
    store: &dyn Store,
    cfg: &Config,
    year: i32,
    now: DateTime<Utc>,
) -> anyhow::Result<Annual> {
    let today = now.with_timezone(&Shanghai).date_naive();
    let last =
        NaiveDate::from_ymd_opt(year, 12, 31).ok_or_else(|| anyhow::anyhow!("no year {year}"))?;
    let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(last);
    let as_of = last.min(today);
    let from = Calendar::end_of_day_utc(first.pred_opt().unwrap_or(first));
    let to = Calendar::end_of_day_utc(as_of);
    let counts = store.year_counts(from, to).await?;
    // Each quarter as of its last day (or today, for the one running).
    let mut quarters = Vec::new();
    let mut q = Quarter::of(first);
    for _ in 0..4 {
        if q.first_day() > as_of {
            quarters.push((q, None));
        } else {
            let day = q.last_day().min(as_of);
            quarters.push((
                q,
                Some(obligations(store, &cfg.obligations, &cfg.units, day).await?),
            ));
        }
        q = q.next();
    }
    let year_end = obligations(store, &cfg.obligations, &cfg.units, as_of).await?;
    let mut units = Vec::new();
    for u in cfg.units.iter().filter(|u| u.kind == UnitKind::Enforcement) {
        let rules: BTreeMap<String, RuleYear> = counts
            .iter()
            .filter(|c| c.unit_id == u.id)
            .map(|c| {
                (
                    c.rule.clone(),
                    RuleYear {
                        due: c.due,
                        on_time: c.on_time,
                        late: c.late,
                        waived: c.waived,
                        on_time_percent: percent(c.on_time, c.due - c.waived),
                    },
                )
            })
            .collect();
        let due: i64 = rules.values().map(|r| r.due - r.waived).sum();
        let on_time: i64 = rules.values().map(|r| r.on_time).sum();
        let late: i64 = rules.values().map(|r| r.late).sum();
        let sampling: Vec<QuarterRow> = quarters
            .iter()
            .map(|(q, ob)| {
                let s = ob
                    .as_ref()
                    .and_then(|o| o.units.iter().find(|x| x.unit_id == u.id))
                    .map(|x| &x.sampling);
                let state = match s {
                    None => "not_yet".to_string(),
                    // A quarter that is over met its target or missed it.
                    Some(s) if q.last_day() <= as_of && s.reviewed < s.target => "missed".into(),
                    Some(s) => s.state.as_str().into(),
                };
                QuarterRow {
                    quarter: q.to_string(),
                    target: s.map_or(0, |s| s.target),
                    reviewed: s.map_or(0, |s| s.reviewed),
                    state,
                }
            })
            .collect();
        let own_training = year_end
            .units
            .iter()
            .find(|x| x.unit_id == u.id)
            .and_then(|x| x.training.as_ref())
            .or(year_end.training.as_ref())
            .map(|t| t.state);
        units.push(UnitYear {
            unit: u.name.clone(),
            unit_id: u.id.clone(),
            on_time_percent: percent(on_time, due),
            quarters_met: sampling.iter().filter(|q| q.state == "met").count(),
            rules,
            due,
            on_time,
            late,
            sampling,
            meeting_held: year_end.meeting.state == AnnualState::Held,
            training_held: own_training == Some(AnnualState::Held),
        });
    }
    Ok(Annual { year, as_of, units })
}

/// The columns of the text table and CSV, and each unit's cells.
pub fn table(a: &Annual) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rules: Vec<String> = a
        .units
        .iter()
        .flat_map(|u| u.rules.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    rules.sort_by_key(|r| super::rule_order(r));
    let mut h: Vec<String> = ["单位", "到期事项", "按期", "逾期", "按期率"]
        .map(String::from)
        .to_vec();
    h.extend(rules.iter().map(|r| format!("{r}按期/到期")));
    h.extend(
        [
            "Q1评查",
            "Q2评查",
            "Q3评查",
            "Q4评查",
            "达标季度",
            "联席会议",
            "专题培训",
        ]
        .map(String::from),
    );
    let rows = a
        .units
        .iter()
        .map(|u| {
            let mut c = vec![
                u.unit.clone(),
                u.due.to_string(),
                u.on_time.to_string(),
                u.late.to_string(),
                u.on_time_percent
                    .map_or_else(|| "—".into(), |p| format!("{p}%")),
            ];
            c.extend(rules.iter().map(|r| {
                u.rules.get(r).map_or_else(
                    || "—".into(),
                    |x| format!("{}/{}", x.on_time, x.due - x.waived),
                )
            }));
            c.extend(u.sampling.iter().map(|q| match q.state.as_str() {
                "not_yet" => "—".to_string(),
                s => format!("{}/{} {}", q.reviewed, q.target, state_zh(s)),
            }));
            c.extend([
                format!("{}/4", u.quarters_met),
                yes(u.meeting_held),
                yes(u.training_held),
            ]);
            c
        })
        .collect();
    (h, rows)
}

fn state_zh(s: &str) -> &'static str {
    match s {
        "met" => "达标",
        "on_track" => "进行中",
        "behind" => "滞后",
        _ => "未达标",
    }
}

pub fn text(a: &Annual) -> String {
    let (h, rows) = table(a);
    let h: Vec<&str> = h.iter().map(String::as_str).collect();
    format!(
        "府检联动年度考核情况 {}年（截至 {}）\n{}",
        a.year,
        a.as_of,
        crate::output::table(&h, &rows)
    )
}

pub fn csv(a: &Annual, w: impl std::io::Write) -> anyhow::Result<()> {
    let (h, rows) = table(a);
    let h: Vec<&str> = h.iter().map(String::as_str).collect();
    crate::output::csv(w, &h, &rows)
}
