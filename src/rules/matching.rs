//! Which platform record (a referral on the two-law platform, or a platform case entry) belongs
//! to which case (SPEC §2, issue 3).
//!
//! A case finds its platform record in three stages, stopping at the first that yields anything:
//!
//! 1. **Case number, same unit**: the record of the case's unit whose normalised case key
//!    ([`crate::domain::case_no`]) equals the case's.
//! 2. **Case number, another unit**: a record carrying the case's key under another unit (or
//!    under a unit name that is not configured), provided no case of that other unit owns the
//!    key. Case numbers carry the deciding unit's abbreviation (`稻市监罚〔2025〕12号`), so the
//!    number alone identifies the case; the rules then report the unit difference (R3).
//! 3. **Fallback, same unit**: when the case has no usable number or no record carries it, the
//!    records of the case's unit with the same party (compared after [`text::squeeze`]) whose date
//!    lies within `window_days` of the case's date, either way. Only records that no case claims
//!    by number take part: those without a usable number, and those whose number matches no
//!    case at all (a typo on the platform). The fallback never crosses units: party and date are
//!    too weak to attribute a record to another department's case.
//!
//! A stage that finds more than one record yields [`Match::Ambiguous`], never a guess. So does a
//! fallback whose only record also fits another case of the same unit and party that is itself
//! looking for its record by fallback ([`Matcher::rivals`] names those cases).
//!
//! A case number without any digit (`无`, `/`, `暂无`, `待定`) cannot identify a case: it counts
//! as missing ([`usable_key`]).
//!
//! Everything is indexed by hash maps built once per evaluation, so finding the record of one
//! case costs a few lookups whatever the number of cases and records.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use serde::Serialize;

use crate::domain::text;
use crate::records::Field;
use crate::records::{Record, Value};

/// Which platform feed is being matched, which decides the dates compared in the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Transfers on the two-law platform: the case's `transfer_decided_on` against the
    /// referral's `entered_at` or `transferred_at`.
    Referrals,
    /// Case entries on the platform (有案必录): the case's `decided_on` against the entry's
    /// `entered_at` or its own `decided_on`.
    Entries,
    /// Copies of a penalty decision to the police and procuratorate: the case's `decided_on`
    /// against the copy's `copied_on` or its `decided_on`.
    Copies,
    /// Filings of a major penalty for review: the case's `decided_on` against the filing's
    /// `filed_on` or its `decided_on`.
    Filings,
}

impl Platform {
    /// The case date the platform record is looked for from; a case without it is no subject.
    pub fn case_date(self, case: &Record) -> Option<NaiveDate> {
        let field = match self {
            Platform::Referrals => Field::TransferDecidedOn,
            Platform::Entries | Platform::Copies | Platform::Filings => Field::DecidedOn,
        };
        date_of(case.get(field))
    }

    /// The platform record's dates compared with the case date in the fallback.
    fn record_dates(self, r: &Record) -> [Option<NaiveDate>; 2] {
        let (own, other) = match self {
            Platform::Referrals => (Field::EnteredAt, Field::TransferredAt),
            Platform::Entries => (Field::EnteredAt, Field::DecidedOn),
            Platform::Copies => (Field::CopiedOn, Field::DecidedOn),
            Platform::Filings => (Field::FiledOn, Field::DecidedOn),
        };
        [date_of(r.get(own)), date_of(r.get(other))]
    }
}

/// The Asia/Shanghai day of a date or date-time value.
pub fn date_of(v: &Value) -> Option<NaiveDate> {
    match v {
        Value::Date(d) => Some(*d),
        Value::DateTime(t) => Some(shanghai_day(*t)),
        _ => None,
    }
}

/// The Asia/Shanghai calendar day of an instant.
pub fn shanghai_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Shanghai).date_naive()
}

/// The outcome of looking for a case's platform record.
#[derive(Debug, Clone, PartialEq)]
pub enum Match<'a> {
    Matched(&'a Record),
    None,
    /// Several records fit (or the only one also fits another case): reported, never guessed.
    Ambiguous(Vec<&'a Record>),
}

/// How a matched pair was found (derived from the pair itself, see [`matched_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// Same unit, same normalised case number.
    CaseNo,
    /// Same normalised case number, filed under another unit.
    CaseNoOtherUnit,
    /// Same unit and party, dates within the window (a number missing or unmatched).
    PartyAndDate,
}

/// How `case` and its matched `record` belong together.
pub fn matched_by(case: &Record, record: &Record) -> MatchedBy {
    match (usable_key(case), usable_key(record)) {
        (Some(a), Some(b)) if a == b => {
            if case.unit_id == record.unit_id {
                MatchedBy::CaseNo
            } else {
                MatchedBy::CaseNoOtherUnit
            }
        }
        _ => MatchedBy::PartyAndDate,
    }
}

/// The record's normalised case key, or `None` when the number as written holds no digit and
/// so cannot identify a case (`无`, `/`, `暂无`…).
pub fn usable_key(r: &Record) -> Option<&str> {
    let key = r.case_no.key();
    key.bytes().any(|b| b.is_ascii_digit()).then_some(key)
}

/// The party as compared: [`text::squeeze`]d; `None` when there is none.
pub fn party_key(r: &Record) -> Option<String> {
    match r.get(Field::Party) {
        Value::Text(s) => {
            let k = text::squeeze(s);
            (!k.is_empty()).then_some(k)
        }
        _ => None,
    }
}

/// Row indices under one key; most keys hold one row, so no vector is allocated for them.
#[derive(Debug)]
enum Hits {
    One(usize),
    Many(Vec<usize>),
}

impl Hits {
    fn push(&mut self, i: usize) {
        match self {
            Hits::One(first) => *self = Hits::Many(vec![*first, i]),
            Hits::Many(v) => v.push(i),
        }
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            Hits::One(i) => std::slice::from_ref(i),
            Hits::Many(v) => v,
        }
    }
}

fn add<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Hits, Fast>, k: K, i: usize) {
    match map.get_mut(&k) {
        Some(h) => h.push(i),
        None => {
            map.insert(k, Hits::One(i));
        }
    }
}

/// unit → squeezed party → items.
type ByUnitParty<'a, T> = HashMap<&'a str, HashMap<String, Vec<T>, Fast>, Fast>;

/// A fast non-cryptographic hasher for the indexes (word-at-a-time multiply-rotate, as in
/// rustc's FxHash): every case is looked up once, so SipHash would dominate an evaluation. The
/// keys come from the county's own systems, not from an adversary, so flooding is no concern.
#[derive(Debug, Default, Clone, Copy)]
struct Fast;

impl std::hash::BuildHasher for Fast {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

#[derive(Debug)]
struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // Spread the high bits down: hashbrown takes its control byte from the top 7 bits and
        // its bucket from the low ones.
        self.0 ^ (self.0 >> 29)
    }
}

/// Indexes of one platform feed against the cases, built once per evaluation.
#[derive(Debug)]
pub struct Matcher<'a> {
    platform: Platform,
    window_days: i64,
    rows: Vec<&'a Record>,
    /// (unit, key) → rows with a usable key.
    by_unit_key: HashMap<(&'a str, &'a str), Hits, Fast>,
    /// key → rows with a usable key, any unit.
    by_key: HashMap<&'a str, Hits, Fast>,
    /// Per row: a case of the row's own unit has the row's key.
    owned: Vec<bool>,
    /// unit → party → rows open to the fallback (no usable key, or a key no case has).
    pool: ByUnitParty<'a, usize>,
    /// unit → party → cases (with their date) that no record matches by number: they compete
    /// for the pool's records.
    seekers: ByUnitParty<'a, (&'a Record, NaiveDate)>,
    /// The cases with the platform's case date ([`Platform::case_date`]), in input order.
    subjects: Vec<(&'a Record, NaiveDate)>,
}

impl<'a> Matcher<'a> {
    /// Indexes `rows` (one platform feed) against all `cases`. Every case takes part in claiming
    /// records by number, subject of the rule or not: a record numbered like a case belongs to
    /// that case. `window_days` below zero counts as zero.
    ///
    /// `claims`, when given, lists the (unit, case key) of *every* case in the store whose key
    /// some row carries, so that `cases` may be only the rules' subjects (an evaluation that does
    /// not hold every case in memory); when `None`, `cases` are all the cases and claim by
    /// themselves.
    pub fn new(
        platform: Platform,
        cases: &'a [Record],
        claims: Option<&[(String, String)]>,
        rows: impl IntoIterator<Item = &'a Record>,
        window_days: i64,
    ) -> Matcher<'a> {
        let rows: Vec<&'a Record> = rows.into_iter().collect();
        let mut by_unit_key = HashMap::with_hasher(Fast);
        let mut by_key = HashMap::with_hasher(Fast);
        for (i, r) in rows.iter().enumerate() {
            if let Some(k) = usable_key(r) {
                add(&mut by_unit_key, (r.unit_id.as_str(), k), i);
                add(&mut by_key, k, i);
            }
        }

        // One pass over the cases: the subjects, and which rows a case claims by number.
        let mut owned = vec![false; rows.len()];
        let mut claimed = vec![false; rows.len()];
        let mut subjects = Vec::new();
        let mut claim = |unit: &str, k: &str| {
            if let Some(h) = by_key.get(k) {
                for &i in h.as_slice() {
                    claimed[i] = true;
                }
                if let Some(h) = by_unit_key.get(&(unit, k)) {
                    for &i in h.as_slice() {
                        owned[i] = true;
                    }
                }
            }
        };
        for case in cases {
            if let Some(date) = platform.case_date(case) {
                subjects.push((case, date));
            }
            if claims.is_some() {
                continue;
            }
            if let Some(k) = usable_key(case) {
                claim(case.unit_id.as_str(), k);
            }
        }
        for (unit, k) in claims.unwrap_or_default() {
            claim(unit, k);
        }

        let mut pool: ByUnitParty<'a, usize> = HashMap::with_hasher(Fast);
        for (i, r) in rows.iter().enumerate() {
            if usable_key(r).is_some() && claimed[i] {
                continue;
            }
            if let Some(p) = party_key(r) {
                pool.entry(r.unit_id.as_str())
                    .or_default()
                    .entry(p)
                    .or_default()
                    .push(i);
            }
        }

        let mut m = Matcher {
            platform,
            window_days: window_days.max(0),
            rows,
            by_unit_key,
            by_key,
            owned,
            pool,
            seekers: HashMap::with_hasher(Fast),
            subjects,
        };
        if m.pool.is_empty() {
            return m;
        }
        let mut seekers: ByUnitParty<'a, (&'a Record, NaiveDate)> = HashMap::with_hasher(Fast);
        for &(case, date) in &m.subjects {
            if !m.pool.contains_key(case.unit_id.as_str()) || m.by_number(case).is_some() {
                continue;
            }
            if let Some(p) = party_key(case) {
                seekers
                    .entry(case.unit_id.as_str())
                    .or_default()
                    .entry(p)
                    .or_default()
                    .push((case, date));
            }
        }
        m.seekers = seekers;
        m
    }

    /// The cases that have the platform's case date (a transfer decision for referrals, a
    /// penalty decision for entries), with that date, in input order: the rules' subjects,
    /// gathered while indexing so that the rules need not scan every case again.
    pub fn subjects(&self) -> &[(&'a Record, NaiveDate)] {
        &self.subjects
    }

    /// The platform record of `case` (see the module documentation for the stages).
    pub fn find(&self, case: &Record) -> Match<'a> {
        if let Some(m) = self.by_number(case) {
            return m;
        }
        self.fallback(case)
    }

    /// Stages 1 and 2: `None` when the number finds nothing.
    fn by_number(&self, case: &Record) -> Option<Match<'a>> {
        let key = usable_key(case)?;
        let unit = case.unit_id.as_str();
        if let Some(h) = self.by_unit_key.get(&(unit, key)) {
            return Some(self.of(h.as_slice()));
        }
        let elsewhere: Vec<usize> = self
            .by_key
            .get(key)?
            .as_slice()
            .iter()
            .copied()
            .filter(|&i| !self.owned[i])
            .collect();
        (!elsewhere.is_empty()).then(|| self.of(&elsewhere))
    }

    /// Stage 3.
    fn fallback(&self, case: &Record) -> Match<'a> {
        let Some(date) = self.platform.case_date(case) else {
            return Match::None;
        };
        let Some(party) = party_key(case) else {
            return Match::None;
        };
        let Some(bucket) = self
            .pool
            .get(case.unit_id.as_str())
            .and_then(|m| m.get(&party))
        else {
            return Match::None;
        };
        let fits: Vec<usize> = bucket
            .iter()
            .copied()
            .filter(|&i| self.within(self.rows[i], date))
            .collect();
        match fits.as_slice() {
            [] => Match::None,
            [only] => {
                let r = self.rows[*only];
                if self.rivals(case, r).is_empty() {
                    Match::Matched(r)
                } else {
                    Match::Ambiguous(vec![r])
                }
            }
            _ => self.of(&fits),
        }
    }

    /// Other cases of `case`'s unit and party, themselves without a record by number, whose
    /// date also fits `record`: with any of them, a fallback match of `case` would be a guess.
    pub fn rivals(&self, case: &Record, record: &Record) -> Vec<&'a Record> {
        let Some(party) = party_key(case) else {
            return Vec::new();
        };
        self.seekers
            .get(case.unit_id.as_str())
            .and_then(|m| m.get(&party))
            .map(|v| {
                v.iter()
                    .filter(|(other, date)| {
                        !std::ptr::eq(*other, case) && self.within(record, *date)
                    })
                    .map(|(other, _)| *other)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn within(&self, record: &Record, date: NaiveDate) -> bool {
        self.platform
            .record_dates(record)
            .into_iter()
            .flatten()
            .any(|d| (d - date).num_days().abs() <= self.window_days)
    }

    fn of(&self, idx: &[usize]) -> Match<'a> {
        match idx {
            [] => Match::None,
            [one] => Match::Matched(self.rows[*one]),
            many => Match::Ambiguous(many.iter().map(|&i| self.rows[i]).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testkit::*;

    fn find<'a>(cases: &'a [Record], rows: &'a [Record], i: usize) -> Match<'a> {
        Matcher::new(Platform::Referrals, cases, None, rows, 30).find(&cases[i])
    }

    #[test]
    fn a_referral_matches_despite_bracket_and_digit_width_differences() {
        let cases = [transfer(
            "scjg",
            "稻市监罚〔2025〕12号",
            "张三",
            "2025-09-30",
        )];
        let rows = [referral(
            "scjg",
            "稻市监罚（２０２５）１２号",
            "李四",
            "2025-12-01 10:00",
        )];
        assert_eq!(find(&cases, &rows, 0), Match::Matched(&rows[0]));
        assert_eq!(matched_by(&cases[0], &rows[0]), MatchedBy::CaseNo);
    }

    #[test]
    fn a_platform_row_without_a_number_matches_by_party_and_date() {
        let cases = [transfer(
            "scjg",
            "稻市监罚〔2025〕12号",
            "张 三",
            "2025-09-30",
        )];
        let rows = [
            referral("scjg", "无", "张三", "2025-10-09 10:00"),
            referral("scjg", "无", "王五", "2025-10-09 10:00"),
            referral("jtys", "无", "张三", "2025-10-09 10:00"),
        ];
        assert_eq!(find(&cases, &rows, 0), Match::Matched(&rows[0]));
        assert_eq!(matched_by(&cases[0], &rows[0]), MatchedBy::PartyAndDate);
    }

    #[test]
    fn the_fallback_window_is_inclusive_in_both_directions() {
        // (referral entered, matched?) for a transfer decided 2025-09-30 and a 30-day window.
        let table = [
            ("2025-08-31 09:00", true),
            ("2025-08-30 23:59", false),
            ("2025-10-30 23:59", true),
            ("2025-10-31 00:00", false),
        ];
        for (entered, want) in table {
            let cases = [transfer("scjg", "无", "张三", "2025-09-30")];
            let rows = [referral("scjg", "无", "张三", entered)];
            let got = find(&cases, &rows, 0);
            assert_eq!(got == Match::Matched(&rows[0]), want, "{entered}: {got:?}");
        }
    }

    #[test]
    fn two_rows_without_numbers_in_the_window_are_ambiguous() {
        let cases = [transfer(
            "scjg",
            "稻市监罚〔2025〕12号",
            "张三",
            "2025-09-30",
        )];
        let rows = [
            referral("scjg", "无", "张三", "2025-10-09 10:00"),
            referral("scjg", "/", "张三", "2025-10-20 10:00"),
        ];
        assert_eq!(
            find(&cases, &rows, 0),
            Match::Ambiguous(vec![&rows[0], &rows[1]])
        );
    }

    #[test]
    fn one_row_fitting_two_cases_of_the_same_party_is_ambiguous_for_both() {
        let cases = [
            transfer("scjg", "稻市监罚〔2025〕12号", "张三", "2025-09-30"),
            transfer("scjg", "稻市监罚〔2025〕15号", "张三", "2025-10-09"),
        ];
        let rows = [referral("scjg", "无", "张三", "2025-10-10 10:00")];
        let m = Matcher::new(Platform::Referrals, &cases, None, &rows, 30);
        assert_eq!(m.find(&cases[0]), Match::Ambiguous(vec![&rows[0]]));
        assert_eq!(m.find(&cases[1]), Match::Ambiguous(vec![&rows[0]]));
        assert_eq!(m.rivals(&cases[0], &rows[0]), vec![&cases[1]]);
    }

    #[test]
    fn a_row_numbered_like_another_case_is_never_taken_by_the_fallback() {
        let cases = [
            transfer("scjg", "无", "张三", "2025-09-30"),
            plain_case("scjg", "稻市监罚〔2025〕15号", "张三"),
        ];
        let rows = [referral(
            "scjg",
            "稻市监罚〔2025〕15号",
            "张三",
            "2025-10-09 10:00",
        )];
        assert_eq!(find(&cases, &rows, 0), Match::None);
    }

    #[test]
    fn a_row_with_a_number_no_case_has_is_open_to_the_fallback() {
        let cases = [transfer(
            "scjg",
            "稻市监罚〔2025〕12号",
            "张三",
            "2025-09-30",
        )];
        let rows = [referral(
            "scjg",
            "稻市监罚〔2025〕21号",
            "张三",
            "2025-10-09 10:00",
        )];
        assert_eq!(find(&cases, &rows, 0), Match::Matched(&rows[0]));
    }

    #[test]
    fn a_number_filed_under_another_unit_matches_unless_that_unit_owns_it() {
        let cases = [transfer(
            "scjg",
            "稻市监罚〔2025〕12号",
            "张三",
            "2025-09-30",
        )];
        let rows = [referral(
            "县市场监管局",
            "稻市监罚〔2025〕12号",
            "张三",
            "2025-10-09 10:00",
        )];
        assert_eq!(find(&cases, &rows, 0), Match::Matched(&rows[0]));
        assert_eq!(matched_by(&cases[0], &rows[0]), MatchedBy::CaseNoOtherUnit);

        let owned = [
            cases[0].clone(),
            plain_case("县市场监管局", "稻市监罚〔2025〕12号", "张三"),
        ];
        assert_eq!(find(&owned, &rows, 0), Match::None);
    }

    #[test]
    fn the_fallback_never_crosses_units_and_needs_a_party() {
        let cases = [
            transfer("scjg", "无", "张三", "2025-09-30"),
            transfer("scjg", "无", "", "2025-09-30"),
        ];
        let rows = [
            referral("jtys", "无", "张三", "2025-10-09 10:00"),
            referral("scjg", "无", "", "2025-10-09 10:00"),
        ];
        assert_eq!(find(&cases, &rows, 0), Match::None);
        assert_eq!(find(&cases, &rows, 1), Match::None);
    }

    #[test]
    fn numbers_without_digits_count_as_missing() {
        let table = [
            ("无", false),
            ("/", false),
            ("暂无", false),
            ("稻市监罚〔2025〕12号", true),
            ("ＤＣ-７", true),
        ];
        for (no, usable) in table {
            let r = referral("scjg", no, "张三", "2025-10-09 10:00");
            assert_eq!(usable_key(&r).is_some(), usable, "{no}");
        }
    }

    #[test]
    fn entries_compare_the_decision_date_with_the_entry() {
        let cases = [decided("scjg", "无", "张三", "2025-09-30")];
        let rows = [entry("scjg", "无", "张三", "2025-10-20 10:00")];
        let m = Matcher::new(Platform::Entries, &cases, None, &rows, 30);
        assert_eq!(m.find(&cases[0]), Match::Matched(&rows[0]));
        let m = Matcher::new(Platform::Entries, &cases, None, &rows, 5);
        assert_eq!(m.find(&cases[0]), Match::None);
    }
}
