//! The sections the features read: `[rules]` (`crate::rules`), `[obligations]`
//! (`crate::obligations`) and `[report]` (`crate::report`), with their defaults. They are here,
//! below the features, so that loading and checking the configuration needs none of them; each
//! feature re-exports its own section under its old name.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::values::parse_amount_fen;
use crate::records::Field;
use crate::records::{Feed, Value};

/// `[rules]`: the numbers of the rules (SPEC §3 defaults), read by `crate::rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RulesConfig {
    /// R1: working days after `transfer_decided_on` to enter the referral on the platform.
    pub r1_entry_working_days: u32,
    /// R3: largest difference, in fen, between the case's and the platform's amount that is not
    /// a mismatch. Default 0: amounts must agree to the fen.
    pub r3_amount_tolerance_fen: i64,
    /// R3: compare the party (after removing spaces and folding full-width characters).
    pub r3_compare_party: bool,
    /// R4: working days after `decided_on` to enter the case on the platform.
    pub r4_entry_working_days: u32,
    /// R4 applies only where a source feeds platform case entries; the caller decides.
    pub r4_enabled: bool,
    /// R5: calendar days after `decided_on` to copy a penalty decision without transfer to the
    /// police and the procuratorate.
    pub r5_days: u32,
    /// R5 applies only where a source feeds such copies; the caller decides.
    pub r5_enabled: bool,
    /// R5: only cases flagged `suspected_crime` but not transferred need a copy. Default true,
    /// as the source has it: 高检会〔2006〕2号 §一 asks the copy of the penalty decision for
    /// 涉嫌犯罪 cases that were not transferred in time and were penalised. False widens R5 to
    /// every penalty decision without a transfer (a county's own, stricter choice).
    pub r5_suspected_only: bool,
    /// R7: months after receipt to reply to a procuratorial recommendation.
    pub r7_months: u32,
    /// R8: months after receipt to reply to a procuratorial opinion.
    pub r8_months: u32,
    /// R9: calendar days after `decided_on` to file a major penalty for review.
    pub r9_days: u32,
    /// R9 applies only where a source feeds filings; the caller decides.
    pub r9_enabled: bool,
    /// Fallback match window, in calendar days either side of the case's date, used when a
    /// case number is missing or matches nothing.
    pub match_window_days: i64,
    /// A finding is due soon from this many days before its due time.
    pub due_soon_days: i64,
    /// R6: the prosecution thresholds (立案追诉标准) per cause. Default none: R6 is silent until
    /// the thresholds that matter locally are configured (the example configuration ships some).
    pub r6_thresholds: Vec<R6Threshold>,
    /// R10: calendar days after the police's receipt of a transfer to decide on filing.
    pub r10_days: u32,
    /// R10: the same for economic crimes.
    pub r10_economic_days: u32,
    /// R10: causes counted as economic crimes, matched as substrings of the case's cause after
    /// [`crate::domain::text::squeeze`].
    pub r10_economic_causes: Vec<String>,
}

/// One R6 threshold: a case whose cause contains `cause` and whose amount reaches
/// `amount_yuan` should have been transferred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct R6Threshold {
    /// Matched as a substring of the case's 案由, both after [`crate::domain::text::squeeze`]
    /// (widths folded, spaces removed).
    pub cause: String,
    /// The amount in yuan, as [`parse_amount_fen`] reads it (`"50000"`, `"5万"`); checked when
    /// the configuration is loaded.
    #[serde(deserialize_with = "yuan")]
    pub amount_yuan: String,
    /// The standard's article, shown in the finding's facts (`"立案追诉标准（一）第16条"`).
    pub article: String,
}

/// Deserializes an amount in yuan as text, rejecting what [`parse_amount_fen`] cannot read.
fn yuan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    parse_amount_fen(&s).map_err(serde::de::Error::custom)?;
    Ok(s)
}

impl Default for RulesConfig {
    fn default() -> RulesConfig {
        RulesConfig {
            r1_entry_working_days: 3,
            r3_amount_tolerance_fen: 0,
            r3_compare_party: true,
            r4_entry_working_days: 7,
            r4_enabled: false,
            r5_days: 10,
            r5_enabled: false,
            r5_suspected_only: true,
            r7_months: 2,
            r8_months: 2,
            r9_days: 15,
            r9_enabled: false,
            match_window_days: 30,
            due_soon_days: 3,
            r6_thresholds: Vec::new(),
            r10_days: 3,
            r10_economic_days: 10,
            r10_economic_causes: ["非法经营", "合同诈骗", "虚开", "走私", "集资", "传销"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// The `[obligations]` section: how the review sampling and the yearly duties are counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObligationsConfig {
    /// Share of the population to review each quarter, in percent (每季度不低于10%).
    pub review_ratio_percent: u32,
    /// Which closed files form a quarter's population.
    pub population: PopulationBasis,
    /// Major penalties are focused picks (重点检查).
    pub focus_major: bool,
    /// Cases with an open finding of these rules are focused picks (default: the referral
    /// rules R1–R3 and R6).
    pub focus_open_rules: Vec<String>,
    /// Cases whose cause contains one of these (after squeezing) are focused picks too.
    pub focus_causes: Vec<String>,
    /// The most of a sample's target that focused picks may take, in percent (0 to 100, rounded
    /// down); the rest is drawn at random, and at least one file is whenever the population has
    /// a file that is not focused. The founding notice (稻府发〔2024〕5号 二(一)3) asks for
    /// 以"随机抽查"和"重点检查"相结合的方式: both kinds in every sample. See
    /// `obligations::sampling::draw` for the exact rule.
    pub focus_max_percent: u32,
    /// Scores from which a review is graded 优秀 and 合格; any veto item makes it 不合格.
    pub grade_excellent_from: u32,
    pub grade_pass_from: u32,
    /// The yearly joint meeting.
    pub meeting: AnnualConfig,
    /// The yearly training.
    pub training: AnnualConfig,
    pub training_scope: TrainingScope,
}

impl Default for ObligationsConfig {
    fn default() -> ObligationsConfig {
        ObligationsConfig {
            review_ratio_percent: 10,
            population: PopulationBasis::YearToDate,
            focus_major: true,
            focus_open_rules: ["R1", "R2", "R3", "R6"].map(String::from).to_vec(),
            focus_causes: Vec::new(),
            focus_max_percent: 50,
            grade_excellent_from: 90,
            grade_pass_from: 60,
            meeting: AnnualConfig::default(),
            training: AnnualConfig::default(),
            training_scope: TrainingScope::County,
        }
    }
}

impl ObligationsConfig {
    /// Gives a review record without a grade (等次) the one its score and veto items earn.
    pub fn fill_grade(&self, r: &mut crate::records::Record) {
        if r.feed != Feed::Reviews || !r.get(Field::Grade).is_null() {
            return;
        }
        let score = r.fen(Field::Score);
        let veto = matches!(r.get(Field::Veto), Value::Text(t) if !t.trim().is_empty());
        if let Some(g) = self.grade(score, veto) {
            r.set(Field::Grade, Value::Text(g.to_owned()));
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

/// Which closed files form a quarter's population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PopulationBasis {
    /// Files closed this year up to the quarter's end, less those reviewed in an earlier
    /// quarter (the default: "当年已办结的行政执法案卷").
    #[default]
    YearToDate,
    /// Files closed in the quarter.
    Quarter,
}

/// A day of the year, written `MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MonthDay {
    pub month: u32,
    pub day: u32,
}

impl MonthDay {
    /// This day in `year` (29 February becomes 28 February in a common year).
    pub fn in_year(self, year: i32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, self.month, self.day)
            .or_else(|| NaiveDate::from_ymd_opt(year, self.month, self.day - 1))
            .unwrap_or(NaiveDate::MAX)
    }
}

impl TryFrom<String> for MonthDay {
    type Error = String;

    fn try_from(s: String) -> Result<MonthDay, String> {
        let bad = || format!("{s:?} is not a day of the year: expected MM-DD such as 10-01");
        let (m, d) = s.trim().split_once('-').ok_or_else(bad)?;
        let (month, day): (u32, u32) =
            (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
        NaiveDate::from_ymd_opt(2024, month, day).ok_or_else(bad)?;
        Ok(MonthDay { month, day })
    }
}

impl From<MonthDay> for String {
    fn from(d: MonthDay) -> String {
        format!("{:02}-{:02}", d.month, d.day)
    }
}

/// Whether the training is owed once by the county or by every enforcement unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainingScope {
    #[default]
    County,
    PerUnit,
}

/// When to remind and when a year without the event is slipping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnnualConfig {
    /// From this day, with none held yet, the liaison office is reminded (default 10-01).
    pub remind_from: MonthDay,
    /// From this day, with none held yet, the year is slipping (default 12-01).
    pub slipping_from: MonthDay,
}

impl Default for AnnualConfig {
    fn default() -> AnnualConfig {
        AnnualConfig {
            remind_from: MonthDay { month: 10, day: 1 },
            slipping_from: MonthDay { month: 12, day: 1 },
        }
    }
}

/// `[report]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// When the daemon sends the weekly report (six-field cron, Asia/Shanghai).
    pub schedule: String,
    /// A unit lags with at least this many overdue findings (0: never for this reason).
    pub lagging_overdue: u32,
    /// A unit lags when its review sampling is behind the pro-rata line or missed.
    pub lagging_sampling: bool,
    /// A unit lags when a yearly duty it owes is slipping or missed.
    pub lagging_annual: bool,
    /// Who gets the report besides the liaison office's contacts (e-mail addresses).
    pub recipients: Vec<String>,
    /// A font with Chinese glyphs for the chart (default: the first found of the usual Debian
    /// CJK fonts).
    pub font_file: Option<std::path::PathBuf>,
}

impl Default for ReportConfig {
    fn default() -> ReportConfig {
        ReportConfig {
            schedule: "0 0 9 * * Mon".into(),
            lagging_overdue: 1,
            lagging_sampling: true,
            lagging_annual: true,
            recipients: Vec::new(),
            font_file: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_defaults_are_those_of_the_spec_and_missing_keys_keep_them() {
        let cfg: RulesConfig = toml::from_str("r4_enabled = true\nmatch_window_days = 10")
            .expect("valid rules section");
        assert_eq!(
            cfg,
            RulesConfig {
                r4_enabled: true,
                match_window_days: 10,
                ..RulesConfig::default()
            }
        );
        let d = RulesConfig::default();
        assert_eq!(
            (
                d.r1_entry_working_days,
                d.r4_entry_working_days,
                d.due_soon_days
            ),
            (3, 7, 3)
        );
        assert_eq!((d.r3_amount_tolerance_fen, d.r3_compare_party), (0, true));
        assert!(!d.r4_enabled);
        assert!(d.r6_thresholds.is_empty());
        assert_eq!((d.r10_days, d.r10_economic_days), (3, 10));
        assert!(d.r10_economic_causes.iter().any(|c| c == "非法经营"));
    }

    #[test]
    fn an_r6_threshold_reads_from_toml_and_an_unreadable_amount_is_rejected() {
        let ok: RulesConfig = toml::from_str(
            "[[r6_thresholds]]\ncause = \"非法经营\"\namount_yuan = \"5万\"\narticle = \"第71条\"",
        )
        .expect("valid thresholds");
        assert_eq!(
            ok.r6_thresholds,
            [R6Threshold {
                cause: "非法经营".into(),
                amount_yuan: "5万".into(),
                article: "第71条".into(),
            }]
        );
        let bad = toml::from_str::<RulesConfig>(
            "[[r6_thresholds]]\ncause = \"非法经营\"\namount_yuan = \"五万\"\narticle = \"x\"",
        );
        assert!(bad.is_err());
    }

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
