//! The obligations on the calendar (SPEC §4): the quarterly case-file review sampling, the
//! annual joint meeting and the annual training.

pub mod annual;
pub mod draws;
pub mod sampling;
pub mod status;

use serde::{Deserialize, Serialize};

/// The `[obligations]` section: how the review sampling and the yearly duties are counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObligationsConfig {
    /// Share of the population to review each quarter, in percent (每季度不低于10%).
    pub review_ratio_percent: u32,
    /// Which closed files form a quarter's population.
    pub population: sampling::PopulationBasis,
    /// Major penalties are focused picks (重点检查).
    pub focus_major: bool,
    /// Cases with an open finding of these rules are focused picks (default: the referral
    /// rules R1–R3 and R6).
    pub focus_open_rules: Vec<String>,
    /// Cases whose cause contains one of these (after squeezing) are focused picks too.
    pub focus_causes: Vec<String>,
    /// Scores from which a review is graded 优秀 and 合格; any veto item makes it 不合格.
    pub grade_excellent_from: u32,
    pub grade_pass_from: u32,
    /// The yearly joint meeting.
    pub meeting: annual::AnnualConfig,
    /// The yearly training.
    pub training: annual::AnnualConfig,
    pub training_scope: annual::TrainingScope,
}

impl Default for ObligationsConfig {
    fn default() -> ObligationsConfig {
        ObligationsConfig {
            review_ratio_percent: 10,
            population: sampling::PopulationBasis::YearToDate,
            focus_major: true,
            focus_open_rules: ["R1", "R2", "R3", "R6"].map(String::from).to_vec(),
            focus_causes: Vec::new(),
            grade_excellent_from: 90,
            grade_pass_from: 60,
            meeting: annual::AnnualConfig::default(),
            training: annual::AnnualConfig::default(),
            training_scope: annual::TrainingScope::County,
        }
    }
}

impl ObligationsConfig {
    /// Gives a review record without a grade (等次) the one its score and veto items earn.
    pub fn fill_grade(&self, r: &mut crate::records::Record) {
        use crate::records::{Feed, Value};
        if r.feed != Feed::Reviews || !r.get("grade").is_null() {
            return;
        }
        let score = match r.get("score") {
            Value::Fen(f) => Some(*f),
            _ => None,
        };
        let veto = matches!(r.get("veto"), Value::Text(t) if !t.trim().is_empty());
        if let Some(g) = self.grade(score, veto) {
            r.set("grade", Value::Text(g.to_owned()));
        }
    }

    /// The grade (等次) a review's score earns: any veto item makes it 不合格; otherwise 优秀 from
    /// `grade_excellent_from`, 合格 from `grade_pass_from`, else 不合格. `None` without a score
    /// and without a veto item. The score is in hundredths (92.5 → 9250), as stored.
    pub fn grade(&self, score_hundredths: Option<i64>, has_veto: bool) -> Option<&'static str> {
        if has_veto {
            return Some("不合格");
        }
        let score = score_hundredths?;
        Some(if score >= i64::from(self.grade_excellent_from) * 100 {
            "优秀"
        } else if score >= i64::from(self.grade_pass_from) * 100 {
            "合格"
        } else {
            "不合格"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_map_to_grades_and_a_veto_fails_the_file() {
        let cfg = ObligationsConfig::default();
        let table = [
            (Some(9000), false, Some("优秀")),
            (Some(8999), false, Some("合格")),
            (Some(6000), false, Some("合格")),
            (Some(5999), false, Some("不合格")),
            (Some(9900), true, Some("不合格")),
            (None, true, Some("不合格")),
            (None, false, None),
        ];
        for (score, veto, want) in table {
            assert_eq!(cfg.grade(score, veto), want, "{score:?} {veto}");
        }
        let strict = ObligationsConfig {
            grade_excellent_from: 95,
            ..ObligationsConfig::default()
        };
        assert_eq!(strict.grade(Some(9400), false), Some("合格"));
    }
}
