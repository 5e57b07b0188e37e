//! Case-file review sampling (案卷评查, SPEC §4): per enforcement unit and quarter, the
//! population of closed case files, the target (at least `ratio` of it, rounded up, and at least
//! one file when there is any), the reviews done, a pro-rata line through the quarter and a
//! state; and the reproducible draw of the sample.
//!
//! Source: 稻城县府检联动工作方案 ("以'随机抽查'和'重点检查'相结合的方式，按照每季度不低于10%的
//! 比例，对各执法部门当年已办结的行政执法案卷进行案卷评查"), after 稻委办〔2023〕39号.
//!
//! Pure functions: no store, no clock. The draw ranks every file by a SHA-256 of the seed and the
//! file's key, so the same seed and population give the same list on any machine and with any
//! version of any crate; focused files (重点检查) take at most a share of the target and the rest
//! is drawn at random (随机抽查), both kinds in every sample ([`draw`], [`FocusShare`]).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike as _, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use crate::config::PopulationBasis;
use crate::domain::rule::RuleId;

/// A calendar quarter, written `2025Q3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Quarter {
    pub year: i32,
    /// 1 to 4.
    pub q: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a quarter: expected a year and a quarter such as 2025Q3")]
pub struct BadQuarter(pub String);

impl Quarter {
    /// The quarter a day falls in.
    pub fn of(d: NaiveDate) -> Quarter {
        Quarter {
            year: d.year(),
            q: (d.month() - 1) / 3 + 1,
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, (self.q - 1) * 3 + 1, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or(NaiveDate::MAX)
    }

    pub fn previous(self) -> Quarter {
        if self.q == 1 {
            Quarter {
                year: self.year - 1,
                q: 4,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q - 1,
            }
        }
    }

    pub fn next(self) -> Quarter {
        if self.q == 4 {
            Quarter {
                year: self.year + 1,
                q: 1,
            }
        } else {
            Quarter {
                year: self.year,
                q: self.q + 1,
            }
        }
    }

    pub fn contains(self, d: NaiveDate) -> bool {
        Quarter::of(d) == self
    }

    /// The quarter as people read it: `2025年第四季度`.
    pub fn label_zh(self) -> String {
        let q = ["一", "二", "三", "四"]
            .get(self.q.saturating_sub(1) as usize)
            .copied()
            .unwrap_or("?");
        format!("{}年第{q}季度", self.year)
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Q{}", self.year, self.q)
    }
}

impl FromStr for Quarter {
    type Err = BadQuarter;

    fn from_str(s: &str) -> Result<Quarter, BadQuarter> {
        let t = s.trim().to_ascii_uppercase();
        let bad = || BadQuarter(s.to_owned());
        let (y, q) = t.split_once('Q').ok_or_else(bad)?;
        let year: i32 = y.trim_end_matches('-').parse().map_err(|_| bad())?;
        let q: u32 = q.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&q) || !(1900..=9999).contains(&year) {
            return Err(bad());
        }
        Ok(Quarter { year, q })
    }
}

impl TryFrom<String> for Quarter {
    type Error = BadQuarter;

    fn try_from(s: String) -> Result<Quarter, BadQuarter> {
        s.parse()
    }
}

impl From<Quarter> for String {
    fn from(q: Quarter) -> String {
        q.to_string()
    }
}

/// One closed case file as sampling sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFile {
    /// The normalised case key (unique within the unit).
    pub key: String,
    /// As written, for lists people read.
    pub case_no: String,
    pub closed_on: NaiveDate,
    /// The case's name (案件名称) and party (当事人) as the source wrote them, for the worksheet
    /// (mask the party before showing it); empty when unknown.
    pub title: String,
    pub party: String,
    /// A focused pick (重点检查): a major penalty, a case with an open referral finding, or what
    /// configuration adds.
    pub focused: bool,
    /// Why it is focused, each criterion that picked it. Empty for a file rebuilt from a
    /// recorded draw, which keeps only whether it was focused.
    pub focus: Vec<Focus>,
    /// The day of its review, if it has one.
    pub reviewed_on: Option<NaiveDate>,
}

/// A criterion that makes a file a focused pick (重点检查), from `[obligations]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Focus {
    /// A major penalty (重大行政处罚, `focus_major`).
    Major,
    /// The case has an open finding of this rule (`focus_open_rules`).
    OpenFinding(RuleId),
    /// Its cause contains this configured text (`focus_causes`).
    Cause(String),
}

impl Focus {
    /// The criterion as the worksheet says it: `重大行政处罚`, `有未办结的“移送未录平台”事项（R1）`,
    /// `案由涉及“非法采矿”`.
    pub fn label_zh(&self) -> String {
        match self {
            Focus::Major => "重大行政处罚".into(),
            Focus::OpenFinding(rule) => format!("有未办结的“{}”事项（{rule}）", rule.short_zh()),
            Focus::Cause(c) => format!("案由涉及“{c}”"),
        }
    }
}

/// The files of `files` in `quarter`'s population under `basis`.
pub fn population(files: &[CaseFile], quarter: Quarter, basis: PopulationBasis) -> Vec<&CaseFile> {
    files
        .iter()
        .filter(|f| match basis {
            PopulationBasis::Quarter => quarter.contains(f.closed_on),
            PopulationBasis::YearToDate => {
                f.closed_on.year() == quarter.year
                    && f.closed_on <= quarter.last_day()
                    && f.reviewed_on.is_none_or(|r| r >= quarter.first_day())
            }
        })
        .collect()
}

/// At least `ratio_percent` % of `population`, rounded up, and at least one file when there is
/// any: 0 → 0, 1 → 1, 9 → 1, 10 → 1, 11 → 2 at 10 %.
pub fn target(population: usize, ratio_percent: u32) -> usize {
    if population == 0 {
        return 0;
    }
    let n = population as u64 * u64::from(ratio_percent);
    (n.div_ceil(100) as usize).max(1)
}

/// Where a unit stands in a quarter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplingState {
    /// The target is reached.
    Met,
    /// Reviews keep up with the pro-rata line.
    OnTrack,
    /// Fewer reviews than the pro-rata line asks for by now.
    Behind,
    /// The quarter ended short of the target.
    Missed,
}

impl SamplingState {
    pub fn as_str(self) -> &'static str {
        match self {
            SamplingState::Met => "met",
            SamplingState::OnTrack => "on_track",
            SamplingState::Behind => "behind",
            SamplingState::Missed => "missed",
        }
    }
}

/// A unit's sampling in one quarter, as of a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sampling {
    pub quarter: Quarter,
    pub population: usize,
    pub target: usize,
    /// Reviews done in the quarter up to the day (a review counts for the quarter it was done
    /// in, whatever quarter the file was closed in).
    pub reviewed: usize,
    /// Reviews the pro-rata line asks for by the day: the target times the share of the
    /// quarter's days elapsed (the day included), rounded down.
    pub expected: usize,
    pub state: SamplingState,
}

/// The sampling of `files` (one unit's) in `quarter` as of `today`.
pub fn sampling(
    files: &[CaseFile],
    quarter: Quarter,
    today: NaiveDate,
    basis: PopulationBasis,
    ratio_percent: u32,
) -> Sampling {
    let population = population(files, quarter, basis).len();
    let end = today.min(quarter.last_day());
    let reviewed = files
        .iter()
        .filter(|f| {
            f.reviewed_on
                .is_some_and(|r| quarter.contains(r) && r <= end)
        })
        .count();
    assess(quarter, today, population, reviewed, ratio_percent)
}

/// The sampling of a quarter as of `today` from its counts: the population and the reviews done
/// in the quarter up to `today`.
pub fn assess(
    quarter: Quarter,
    today: NaiveDate,
    population: usize,
    reviewed: usize,
    ratio_percent: u32,
) -> Sampling {
    let target = target(population, ratio_percent);
    let end = today.min(quarter.last_day());
    let total = (quarter.last_day() - quarter.first_day()).num_days() + 1;
    let elapsed = ((end - quarter.first_day()).num_days() + 1).clamp(0, total);
    let expected = (target as i64 * elapsed / total) as usize;
    let state = if reviewed >= target {
        SamplingState::Met
    } else if today > quarter.last_day() {
        SamplingState::Missed
    } else if reviewed >= expected {
        SamplingState::OnTrack
    } else {
        SamplingState::Behind
    };
    Sampling {
        quarter,
        population,
        target,
        reviewed,
        expected,
        state,
    }
}

/// The rank of a file in a draw: the first 8 bytes of SHA-256(seed, NUL, unit, NUL, key), as a
/// big-endian number; lower ranks are drawn first.
pub fn rank(seed: &str, unit: &str, key: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update([0]);
    h.update(unit.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// A fingerprint of a population: SHA-256 over its sorted keys, in hex. Any file added, removed
/// or re-keyed changes it.
pub fn population_hash<'a>(keys: impl IntoIterator<Item = &'a str>) -> String {
    let mut keys: Vec<&str> = keys.into_iter().collect();
    keys.sort_unstable();
    let mut h = Sha256::new();
    for k in keys {
        h.update(k.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// How many of a draw's places focused picks (重点检查) may take.
///
/// The founding notice (稻城县"府检联动"工作机制, 稻府发〔2024〕5号 二(一)3) has the case files
/// reviewed "以'随机抽查'和'重点检查'相结合的方式": random draw and focused picks together, so
/// a sample that is all focus while other files were there to draw is not what it asks for
/// (SPEC §4: "both in every sample").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FocusShare {
    /// At most this percent of the target, rounded down (`[obligations] focus_max_percent`;
    /// above 100 counts as 100), and never every place while the population has a file that is
    /// not focused: at least one file is random then.
    AtMost(u32),
    /// The rule before the share existed: focused files first, as many as the target holds.
    /// Only to replay draws recorded under it (their `focus_max_percent` is empty).
    Unlimited,
}

impl FocusShare {
    /// The share a recorded draw was made with: its `focus_max_percent`, or none for a draw
    /// recorded before the share existed.
    pub fn recorded(focus_max_percent: Option<i64>) -> FocusShare {
        match focus_max_percent {
            Some(p) => FocusShare::AtMost(u32::try_from(p.clamp(0, 100)).unwrap_or(100)),
            None => FocusShare::Unlimited,
        }
    }

    /// The places focused picks may take of `target` (already at most the population's size):
    /// `floor(target × percent / 100)`, and at most `target − 1` when `others` (the population
    /// has a file that is not focused) and the target is not zero.
    pub fn focus_places(self, target: usize, others: bool) -> usize {
        match self {
            FocusShare::Unlimited => target,
            FocusShare::AtMost(p) => {
                let cap = (target as u64 * u64::from(p.min(100)) / 100) as usize;
                if others {
                    cap.min(target.saturating_sub(1))
                } else {
                    cap
                }
            }
        }
    }
}

/// Draws `target` files of `population` (随机抽查和重点检查相结合, see [`FocusShare`]).
///
/// Every file is ranked by [`rank`] (the seed, the unit and its key). Then:
/// 1. the focused files, in rank order, take up to [`FocusShare::focus_places`] places;
/// 2. the files that are not focused, in rank order, take the rest (the random draw);
/// 3. if too few of those are left, the next focused files in rank order take what remains, so
///    the target is met whenever the population holds it.
///
/// Returns the drawn files in that order: the focused picks, the random ones, then any focused
/// files that filled random places. The same seed, unit, population, target and share give the
/// same list on any machine.
pub fn draw<'a>(
    seed: &str,
    unit: &str,
    population: &[&'a CaseFile],
    target: usize,
    share: FocusShare,
) -> Vec<&'a CaseFile> {
    let ranked = |focused: bool| -> Vec<&'a CaseFile> {
        let mut v: Vec<(u64, &'a CaseFile)> = population
            .iter()
            .filter(|f| f.focused == focused)
            .map(|f| (rank(seed, unit, &f.key), *f))
            .collect();
        v.sort_by(|a, b| (a.0, &a.1.key).cmp(&(b.0, &b.1.key)));
        v.into_iter().map(|(_, f)| f).collect()
    };
    let (focused, others) = (ranked(true), ranked(false));
    let target = target.min(population.len());
    let focus = share
        .focus_places(target, !others.is_empty())
        .min(focused.len());
    let random = (target - focus).min(others.len());
    let fill = target - focus - random;
    focused[..focus]
        .iter()
        .chain(&others[..random])
        .chain(&focused[focus..focus + fill])
        .copied()
        .collect()
}

/// The places of a draw's list that focused picks hold as focused picks: the first this many
/// focused files of the list (see [`draw`]); a focused file after them filled a random place
/// because too few other files were left.
/// `others`: the population has a file that is not focused.
pub fn focus_picks<'f>(
    drawn: impl IntoIterator<Item = &'f CaseFile>,
    share: FocusShare,
    others: bool,
) -> usize {
    let (n, focused) = drawn
        .into_iter()
        .fold((0, 0), |(n, k), f| (n + 1, k + usize::from(f.focused)));
    share.focus_places(n, others).min(focused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn file(key: &str, closed: &str) -> CaseFile {
        CaseFile {
            key: key.into(),
            case_no: key.into(),
            closed_on: day(closed),
            title: String::new(),
            party: String::new(),
            focused: false,
            focus: Vec::new(),
            reviewed_on: None,
        }
    }

    #[test]
    fn targets_are_a_tenth_rounded_up_and_at_least_one() {
        for (population, want) in [(0, 0), (1, 1), (9, 1), (10, 1), (11, 2), (20, 2), (21, 3)] {
            assert_eq!(target(population, 10), want, "population {population}");
        }
        assert_eq!(target(7, 30), 3);
        assert_eq!(target(5, 0), 1, "any case means at least one file");
    }

    #[test]
    fn quarters_and_focus_criteria_read_in_chinese() {
        let q: Quarter = "2025Q4".parse().unwrap();
        assert_eq!(q.label_zh(), "2025年第四季度");
        assert_eq!(Quarter { year: 2026, q: 1 }.label_zh(), "2026年第一季度");
        assert_eq!(Focus::Major.label_zh(), "重大行政处罚");
        assert_eq!(
            Focus::OpenFinding(RuleId::R1).label_zh(),
            "有未办结的“移送未录平台”事项（R1）"
        );
        assert_eq!(
            Focus::Cause("非法采矿".into()).label_zh(),
            "案由涉及“非法采矿”"
        );
    }

    #[test]
    fn quarters_parse_print_and_bound_their_days() {
        let q: Quarter = "2025q3".parse().unwrap();
        assert_eq!(q.to_string(), "2025Q3");
        assert_eq!(
            (q.first_day(), q.last_day()),
            (day("2025-07-01"), day("2025-09-30"))
        );
        assert_eq!(Quarter::of(day("2025-09-30")), q);
        assert_eq!(Quarter::of(day("2025-10-01")), q.next());
        assert_eq!(
            "2025Q4".parse::<Quarter>().unwrap().next().to_string(),
            "2026Q1"
        );
        for bad in ["2025Q5", "2025", "Q3", "2025Q0", "abcdQ1"] {
            assert!(bad.parse::<Quarter>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_file_closed_on_a_quarters_last_day_belongs_to_that_quarter() {
        let files = [file("a", "2025-09-30"), file("b", "2025-10-01")];
        let q3: Quarter = "2025Q3".parse().unwrap();
        let keys = |v: Vec<&CaseFile>| v.iter().map(|f| f.key.clone()).collect::<Vec<_>>();
        assert_eq!(
            keys(population(&files, q3, PopulationBasis::Quarter)),
            ["a"]
        );
        assert_eq!(
            keys(population(&files, q3, PopulationBasis::YearToDate)),
            ["a"]
        );
        assert_eq!(
            keys(population(&files, q3.next(), PopulationBasis::YearToDate)),
            ["a", "b"]
        );
    }

    #[test]
    fn year_to_date_leaves_out_files_reviewed_in_an_earlier_quarter() {
        let mut reviewed = file("a", "2025-02-10");
        reviewed.reviewed_on = Some(day("2025-03-20"));
        let mut reviewed_now = file("b", "2025-02-11");
        reviewed_now.reviewed_on = Some(day("2025-05-20"));
        let files = [
            reviewed,
            reviewed_now,
            file("c", "2024-12-30"),
            file("d", "2025-04-01"),
        ];
        let q2: Quarter = "2025Q2".parse().unwrap();
        let pop: Vec<&str> = population(&files, q2, PopulationBasis::YearToDate)
            .iter()
            .map(|f| f.key.as_str())
            .collect();
        assert_eq!(
            pop,
            ["b", "d"],
            "last year's files and those reviewed before are out"
        );
    }

    #[test]
    fn a_review_done_in_a_later_quarter_counts_for_the_quarter_it_was_done_in() {
        let mut f = file("a", "2025-03-15");
        f.reviewed_on = Some(day("2025-04-10"));
        let files = [f, file("b", "2025-03-16")];
        let q1: Quarter = "2025Q1".parse().unwrap();
        let s1 = sampling(&files, q1, day("2025-06-30"), PopulationBasis::Quarter, 10);
        assert_eq!((s1.reviewed, s1.state), (0, SamplingState::Missed));
        let s2 = sampling(
            &files,
            q1.next(),
            day("2025-06-30"),
            PopulationBasis::YearToDate,
            10,
        );
        assert_eq!(s2.reviewed, 1);
        assert_eq!(s2.state, SamplingState::Met);
    }

    #[test]
    fn the_state_follows_the_pro_rata_line_through_the_quarter() {
        // 30 files closed in Q3 → target 3; Q3 has 92 days.
        let mut files: Vec<CaseFile> = (0..30)
            .map(|i| file(&format!("k{i:02}"), "2025-07-01"))
            .collect();
        let q3: Quarter = "2025Q3".parse().unwrap();
        let at =
            |files: &[CaseFile], d: &str| sampling(files, q3, day(d), PopulationBasis::Quarter, 10);
        // Day 30 of 92: 3 × 30 / 92 = 0 expected → on track with none.
        assert_eq!(at(&files, "2025-07-30").state, SamplingState::OnTrack);
        // Day 31: 3 × 31 / 92 = 1 → behind with none.
        let s = at(&files, "2025-07-31");
        assert_eq!((s.expected, s.state), (1, SamplingState::Behind));
        files[0].reviewed_on = Some(day("2025-07-31"));
        assert_eq!(at(&files, "2025-07-31").state, SamplingState::OnTrack);
        // After the quarter, short of 3: missed; 3 reviews: met.
        assert_eq!(at(&files, "2025-10-01").state, SamplingState::Missed);
        files[1].reviewed_on = Some(day("2025-08-01"));
        files[2].reviewed_on = Some(day("2025-09-30"));
        assert_eq!(at(&files, "2025-10-01").state, SamplingState::Met);
        // A quarter with no files has nothing to do.
        let none = sampling(&[], q3, day("2025-08-01"), PopulationBasis::Quarter, 10);
        assert_eq!((none.target, none.state), (0, SamplingState::Met));
    }

    #[test]
    fn the_same_seed_and_population_give_the_same_sample() {
        let files: Vec<CaseFile> = (1..=25)
            .map(|i| file(&format!("稻市监罚[2025]{i}号"), "2025-08-01"))
            .collect();
        let pop: Vec<&CaseFile> = files.iter().collect();
        let drawn: Vec<&str> = draw("2025Q3-scjg-7f3a", "scjg", &pop, 3, HALF)
            .iter()
            .map(|f| f.key.as_str())
            .collect();
        // Fixed: SHA-256 ranks do not depend on any crate's shuffle.
        assert_eq!(drawn, EXPECTED_SAMPLE);
        let again: Vec<&str> = draw("2025Q3-scjg-7f3a", "scjg", &pop, 3, HALF)
            .iter()
            .map(|f| f.key.as_str())
            .collect();
        assert_eq!(drawn, again);
        let other: Vec<&str> = draw("another seed", "scjg", &pop, 3, HALF)
            .iter()
            .map(|f| f.key.as_str())
            .collect();
        assert_ne!(drawn, other);
    }

    /// The draw of 3 out of 稻市监罚[2025]1号 … 25号 with seed `2025Q3-scjg-7f3a`, unit scjg,
    /// computed independently (Python's hashlib: sort by the first 8 bytes of
    /// SHA-256(seed NUL unit NUL key), big-endian).
    const EXPECTED_SAMPLE: [&str; 3] = [
        "稻市监罚[2025]25号",
        "稻市监罚[2025]22号",
        "稻市监罚[2025]18号",
    ];

    /// The default share (`focus_max_percent = 50`).
    const HALF: FocusShare = FocusShare::AtMost(50);

    /// `focused` focused files 稻市监罚[2025]1号 … then `others` files that are not.
    fn mixed(focused: usize, others: usize) -> Vec<CaseFile> {
        (1..=focused + others)
            .map(|i| {
                let mut f = file(&format!("稻市监罚[2025]{i}号"), "2025-08-01");
                f.focused = i <= focused;
                f
            })
            .collect()
    }

    fn keys(drawn: &[&CaseFile]) -> Vec<String> {
        drawn.iter().map(|f| f.key.clone()).collect()
    }

    /// 稻府发〔2024〕5号 二(一)3: case files are reviewed "以'随机抽查'和'重点检查'相结合的方式" —
    /// random draw and focused picks together, so a sample holds both whenever it can.
    #[test]
    fn focused_picks_take_at_most_their_share_and_the_rest_is_random() {
        // (focused files, other files, target, share) → (focused drawn, random drawn).
        let cases = [
            // Focused files alone exceed the target: half each at the default.
            (30, 50, 10, HALF, (5, 5)),
            (30, 50, 10, FocusShare::AtMost(30), (3, 7)),
            // Half of 3 rounds down.
            (30, 50, 3, HALF, (1, 2)),
            // A share that rounds to the whole target still leaves one random file.
            (30, 50, 10, FocusShare::AtMost(100), (9, 1)),
            (30, 50, 2, FocusShare::AtMost(100), (1, 1)),
            // Target 1: the one file is random while any file is not focused.
            (30, 50, 1, HALF, (0, 1)),
            (30, 50, 1, FocusShare::AtMost(100), (0, 1)),
            // No focused places at all.
            (30, 50, 10, FocusShare::AtMost(0), (0, 10)),
            // Fewer focused files than places: all of them, the rest random.
            (2, 30, 10, HALF, (2, 8)),
            (1, 24, 3, HALF, (1, 2)),
            (0, 20, 3, HALF, (0, 3)),
            // Only focused files: the sample is all focus, whatever the share.
            (5, 0, 3, HALF, (3, 0)),
            (5, 0, 3, FocusShare::AtMost(0), (3, 0)),
            // Too few other files for the random places: focused files fill them, the target
            // is met.
            (8, 2, 10, HALF, (8, 2)),
        ];
        for (focused, others, target, share, want) in cases {
            let files = mixed(focused, others);
            let pop: Vec<&CaseFile> = files.iter().collect();
            let drawn = draw("2025Q4-scjg-5e1c", "scjg", &pop, target, share);
            let got = (
                drawn.iter().filter(|f| f.focused).count(),
                drawn.iter().filter(|f| !f.focused).count(),
            );
            assert_eq!(
                got, want,
                "{focused} focused, {others} others, target {target}, {share:?}"
            );
            let mut unique = keys(&drawn);
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), drawn.len(), "no file twice");
        }
    }

    #[test]
    fn each_kind_is_drawn_in_seeded_rank_order_focused_picks_first() {
        let files = mixed(30, 50);
        let pop: Vec<&CaseFile> = files.iter().collect();
        let drawn = draw("2025Q4-scjg-5e1c", "scjg", &pop, 10, HALF);
        // Fixed, computed independently (Python's hashlib, as for EXPECTED_SAMPLE): the 5
        // best-ranked focused files (1号–30号), then the 5 best-ranked others (31号–80号).
        assert_eq!(
            keys(&drawn),
            [
                "稻市监罚[2025]9号",
                "稻市监罚[2025]1号",
                "稻市监罚[2025]28号",
                "稻市监罚[2025]27号",
                "稻市监罚[2025]29号",
                "稻市监罚[2025]52号",
                "稻市监罚[2025]31号",
                "稻市监罚[2025]42号",
                "稻市监罚[2025]47号",
                "稻市监罚[2025]71号",
            ]
        );
        // Focused files that fill random places come last, in rank order after the picks.
        let few = mixed(8, 2);
        let pop: Vec<&CaseFile> = few.iter().collect();
        let drawn = draw("s", "scjg", &pop, 10, HALF);
        let kinds: Vec<bool> = drawn.iter().map(|f| f.focused).collect();
        assert_eq!(
            kinds,
            [true, true, true, true, true, false, false, true, true, true]
        );
        let focused_ranks: Vec<u64> = drawn
            .iter()
            .filter(|f| f.focused)
            .map(|f| rank("s", "scjg", &f.key))
            .collect();
        assert!(focused_ranks.is_sorted(), "{focused_ranks:?}");
        assert_eq!(
            focus_picks(drawn.iter().copied(), HALF, true),
            5,
            "the first five are the picks, the last three filled random places"
        );
    }

    #[test]
    fn a_mixed_draw_is_reproducible_and_follows_its_seed() {
        let files = mixed(30, 50);
        let pop: Vec<&CaseFile> = files.iter().collect();
        let list = |seed: &str| keys(&draw(seed, "scjg", &pop, 10, HALF));
        assert_eq!(list("2025Q4-a"), list("2025Q4-a"), "same seed, same list");
        // The population's order does not matter.
        let reversed: Vec<&CaseFile> = files.iter().rev().collect();
        assert_eq!(
            keys(&draw("2025Q4-a", "scjg", &reversed, 10, HALF)),
            list("2025Q4-a")
        );
        // Other seeds draw other files, among the focused and among the others.
        let seeds = ["2025Q4-a", "2025Q4-b", "2025Q4-c", "2025Q4-d"];
        let lists: Vec<Vec<String>> = seeds.iter().map(|s| list(s)).collect();
        for (i, a) in lists.iter().enumerate() {
            for b in &lists[i + 1..] {
                assert_ne!(a[..5], b[..5], "focused picks follow the seed");
                assert_ne!(a[5..], b[5..], "random picks follow the seed");
            }
        }
    }

    #[test]
    fn without_a_share_focused_files_fill_the_target_as_draws_recorded_before_it_did() {
        // The earlier rule, kept to replay draws recorded under it: focused first, then the
        // others, each in rank order.
        let files = mixed(30, 50);
        let pop: Vec<&CaseFile> = files.iter().collect();
        let old = draw("2025Q4-scjg-5e1c", "scjg", &pop, 10, FocusShare::Unlimited);
        assert!(old.iter().all(|f| f.focused), "all focus");
        let new = draw("2025Q4-scjg-5e1c", "scjg", &pop, 10, HALF);
        assert_eq!(
            old[..5],
            new[..5],
            "the same best-ranked focused files lead"
        );
        let few = mixed(2, 30);
        let pop: Vec<&CaseFile> = few.iter().collect();
        let old = draw("a", "scjg", &pop, 3, FocusShare::Unlimited);
        assert!(old[0].focused && old[1].focused && !old[2].focused);
        assert_eq!(FocusShare::recorded(None), FocusShare::Unlimited);
        assert_eq!(FocusShare::recorded(Some(50)), HALF);
        assert_eq!(
            FocusShare::recorded(Some(250)),
            FocusShare::AtMost(100),
            "a share is a percentage"
        );
    }

    #[test]
    fn the_focused_places_are_the_share_rounded_down_and_leave_one_random() {
        for (target, percent, others, want) in [
            (10, 50, true, 5),
            (11, 50, true, 5),
            (3, 50, true, 1),
            (1, 50, true, 0),
            (1, 100, true, 0),
            (10, 100, true, 9),
            (10, 100, false, 10),
            (10, 0, true, 0),
            (0, 50, true, 0),
            (10, 150, false, 10),
        ] {
            assert_eq!(
                FocusShare::AtMost(percent).focus_places(target, others),
                want,
                "target {target}, {percent}%, others {others}"
            );
        }
        assert_eq!(FocusShare::Unlimited.focus_places(7, true), 7);
    }

    #[test]
    fn the_population_hash_changes_with_any_file_and_not_with_order() {
        let a = population_hash(["x", "y", "z"]);
        assert_eq!(a, population_hash(["z", "x", "y"]));
        assert_ne!(a, population_hash(["x", "y"]));
        assert_ne!(a, population_hash(["x", "y", "zz"]));
    }
}
