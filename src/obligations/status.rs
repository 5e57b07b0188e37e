//! `liandong obligations`: every enforcement unit's review sampling for the quarter of the day
//! looked at, and the yearly meeting and training.

use chrono::{Datelike as _, NaiveDate};
use serde::Serialize;

use super::ObligationsConfig;
use super::annual::{AnnualState, TrainingScope, annual_state};
use super::sampling::{PopulationBasis, Quarter, Sampling, assess};
use crate::config::{UnitConfig, UnitKind};
use crate::domain::text;
use crate::records::Field;
use crate::records::{Feed, Value};
use crate::store::{Store, StoreResult};

/// One yearly duty's state with the events that count for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duty {
    pub state: AnnualState,
    /// The days it was held this year (on or before the day looked at).
    pub held_on: Vec<NaiveDate>,
}

/// One enforcement unit's obligations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitObligations {
    pub unit_id: String,
    pub unit: String,
    pub sampling: Sampling,
    /// Its training, when trainings are owed per unit.
    pub training: Option<Duty>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Obligations {
    pub as_of: NaiveDate,
    pub quarter: Quarter,
    pub units: Vec<UnitObligations>,
    pub meeting: Duty,
    /// The county's training, when one training serves everyone.
    pub training: Option<Duty>,
}

/// Whether an event's kind (as recorded or as a source wrote it) is `kind`.
fn is_kind(text: &str, kind: &str) -> bool {
    let t = text::squeeze(text).to_lowercase();
    match kind {
        "meeting" => t.contains("meeting") || t.contains("会议"),
        _ => t.contains("training") || t.contains("培训"),
    }
}

/// The obligations as of `today` for the configured enforcement units.
pub async fn obligations(
    store: &dyn Store,
    cfg: &ObligationsConfig,
    units: &[UnitConfig],
    today: NaiveDate,
) -> StoreResult<Obligations> {
    let quarter = Quarter::of(today);
    let counts = store
        .sampling_counts(
            quarter.first_day(),
            quarter.last_day(),
            cfg.population == PopulationBasis::YearToDate,
            today,
        )
        .await?;
    let events = store.records(Feed::Events, None).await?;
    let held = |kind: &str, unit: Option<&UnitConfig>| -> Vec<NaiveDate> {
        let mut days: Vec<NaiveDate> = events
            .iter()
            .filter(|e| matches!(e.record.get(Field::Kind), Value::Text(k) if is_kind(k, kind)))
            .filter(|e| match unit {
                None => true,
                Some(u) => {
                    e.record.unit_id == u.id
                        || matches!(e.record.get(Field::Units), Value::Text(t)
                            if t.contains(&u.name) || u.aliases.iter().any(|a| t.contains(a.as_str())))
                }
            })
            .filter_map(|e| {
                e.record
                    .date(Field::HeldOn)
                    .filter(|d| d.year() == today.year() && *d <= today)
            })
            .collect();
        days.sort();
        days
    };
    let duty = |kind: &str, unit: Option<&UnitConfig>, acfg: &super::annual::AnnualConfig| {
        let held_on = held(kind, unit);
        Duty {
            state: annual_state(&held_on, today.year(), today, acfg),
            held_on,
        }
    };
    let per_unit = cfg.training_scope == TrainingScope::PerUnit;
    let by_unit: std::collections::HashMap<&str, (i64, i64)> = counts
        .iter()
        .map(|(id, p, r)| (id.as_str(), (*p, *r)))
        .collect();
    let units: Vec<UnitObligations> = units
        .iter()
        .filter(|u| u.kind == UnitKind::Enforcement)
        .map(|u| {
            let (population, reviewed) = by_unit.get(u.id.as_str()).copied().unwrap_or((0, 0));
            UnitObligations {
                unit_id: u.id.clone(),
                unit: u.name.clone(),
                sampling: assess(
                    quarter,
                    today,
                    usize::try_from(population).unwrap_or(0),
                    usize::try_from(reviewed).unwrap_or(0),
                    cfg.review_ratio_percent,
                ),
                training: per_unit.then(|| duty("training", Some(u), &cfg.training)),
            }
        })
        .collect();
    Ok(Obligations {
        as_of: today,
        quarter,
        units,
        meeting: duty("meeting", None, &cfg.meeting),
        training: (!per_unit).then(|| duty("training", None, &cfg.training)),
    })
}
