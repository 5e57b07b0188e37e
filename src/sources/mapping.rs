//! From a source's columns to canonical records: header recognition and typed parsing.
//!
//! A [`Mapper`] is built once per header row (or per key set of JSON records). It finds the
//! column of each canonical field — from the source's `[sources.mapping]` first, then from the
//! recognised Chinese and English headers of SPEC §2 — and turns each row into a [`Record`] or
//! into the list of what is wrong with it (field, column, value, reason), so the caller can
//! quarantine the row and go on.

use std::collections::{BTreeMap, HashMap};

use crate::config::UnitConfig;
use crate::domain::case_no::CaseNo;
use crate::domain::text;
use crate::domain::values;
use crate::records::{Feed, FieldKind, Record, Value};
use crate::units::Units;

/// What is wrong with one field of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Canonical field name (`amount`, `decided_on`, …).
    pub field: String,
    /// The source's column header, when there is one.
    pub column: Option<String>,
    pub value: String,
    pub reason: String,
}

/// The headers cannot be mapped at all: the whole file or page is unusable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MappingError {
    #[error("no column for the case number: expected a header such as {expected}; found: {found}")]
    NoCaseNumber { expected: String, found: String },
    #[error(
        "no unit column (such as {expected}) and the source has no `unit` setting; found: {found}"
    )]
    NoUnit { expected: String, found: String },
    #[error("[sources.mapping] {field} = {column:?}: no such column; found: {found}")]
    MappedColumnMissing {
        field: String,
        column: String,
        found: String,
    },
}

/// Normalises a header for comparison: widths, spaces, brackets and ASCII case folded.
fn header_key(h: &str) -> String {
    text::squeeze(h)
        .chars()
        .map(|c| match c {
            '（' | '[' | '【' | '〔' => '(',
            '）' | ']' | '】' | '〕' => ')',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn find_column(keys: &[String], candidates: &[&str]) -> Option<usize> {
    candidates.iter().find_map(|c| {
        let k = header_key(c);
        keys.iter().position(|h| *h == k)
    })
}

#[derive(Debug, Clone)]
pub struct Mapper {
    feed: Feed,
    headers: Vec<String>,
    unit_col: Option<usize>,
    case_no_col: usize,
    cols: Vec<Option<usize>>,
    source_unit: Option<UnitConfig>,
    /// Unit text as written → how it resolved; a file names few units, millions of times.
    unit_cache: HashMap<String, Result<(String, bool), String>>,
    /// `limits.cell_kb`: a row with a longer cell is refused whole.
    cell_kb: u32,
}

const UNIT_CACHE_MAX: usize = 10_000;

impl Mapper {
    /// Maps `headers` for `feed`. `mapping` is the source's canonical-field → column table;
    /// `source_unit` is the unit the source belongs to, if any.
    pub fn new(
        feed: Feed,
        headers: &[String],
        mapping: &BTreeMap<String, String>,
        source_unit: Option<&UnitConfig>,
    ) -> Result<Mapper, MappingError> {
        let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
        let found = || {
            headers
                .iter()
                .map(|h| h.trim())
                .filter(|h| !h.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mapped = |field: &str| -> Result<Option<usize>, MappingError> {
            match mapping.get(field) {
                None => Ok(None),
                Some(col) => {
                    let k = header_key(col);
                    match keys.iter().position(|h| *h == k) {
                        Some(i) => Ok(Some(i)),
                        None => Err(MappingError::MappedColumnMissing {
                            field: field.to_string(),
                            column: col.clone(),
                            found: found(),
                        }),
                    }
                }
            }
        };
        let case_no_col = match mapped("case_no")? {
            Some(i) => i,
            None => find_column(&keys, feed.case_no_headers()).ok_or_else(|| {
                MappingError::NoCaseNumber {
                    expected: feed.case_no_headers()[1..4].join(", "),
                    found: found(),
                }
            })?,
        };
        let unit_col = match mapped("unit")? {
            Some(i) => Some(i),
            None => find_column(&keys, feed.unit_headers()),
        };
        if unit_col.is_none() && source_unit.is_none() {
            return Err(MappingError::NoUnit {
                expected: feed.unit_headers()[1..4].join(", "),
                found: found(),
            });
        }
        let mut cols = Vec::with_capacity(feed.fields().len());
        for spec in feed.fields() {
            let col = match mapped(spec.name)? {
                Some(i) => Some(i),
                None => find_column(&keys, spec.headers),
            };
            cols.push(col);
        }
        Ok(Mapper {
            feed,
            headers: headers.to_vec(),
            unit_col,
            case_no_col,
            cols,
            source_unit: source_unit.cloned(),
            unit_cache: HashMap::new(),
            cell_kb: crate::config::LimitsConfig::default().cell_kb,
        })
    }

    /// True when `headers` look like this feed's header row (it has a case number column).
    pub fn looks_like_header(
        feed: Feed,
        headers: &[String],
        mapping: &BTreeMap<String, String>,
    ) -> bool {
        let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
        match mapping.get("case_no") {
            Some(col) => keys.contains(&header_key(col)),
            None => find_column(&keys, feed.case_no_headers()).is_some(),
        }
    }

    /// Refuse rows with a cell longer than `limits.cell_kb` (the default until set).
    pub fn with_limits(mut self, limits: &crate::config::LimitsConfig) -> Mapper {
        self.cell_kb = limits.cell_kb;
        self
    }

    /// A cell longer than `limits.cell_kb`, as the row's one error: no field of such a row is
    /// parsed, and every kind of source (file, HTTP, SQL) is bounded here.
    fn oversized_cell<S: AsRef<str>>(&self, row: &[S]) -> Option<FieldError> {
        let cap = (self.cell_kb as usize) << 10;
        let (col, text) = row
            .iter()
            .map(AsRef::as_ref)
            .enumerate()
            .find(|(_, c)| c.len() > cap)?;
        Some(FieldError {
            field: self.field_of_column(col).unwrap_or("row").to_string(),
            column: self.header(col),
            value: text.chars().take(100).collect(),
            reason: format!(
                "cell of {} KB exceeds limits.cell_kb = {}",
                text.len().div_ceil(1024),
                self.cell_kb
            ),
        })
    }

    /// Each cell holding U+0000, as the row's errors. PostgreSQL cannot store that character in
    /// text (one such cell made the whole import fail there), and no export means it: the row
    /// is refused on every backend alike.
    fn nul_cells<S: AsRef<str>>(&self, row: &[S]) -> Vec<FieldError> {
        row.iter()
            .map(AsRef::as_ref)
            .enumerate()
            .filter(|(_, c)| c.contains('\0'))
            .map(|(col, text)| FieldError {
                field: self.field_of_column(col).unwrap_or("row").to_string(),
                column: self.header(col),
                value: text.chars().take(100).collect(),
                reason: "a NUL character (U+0000, shown as ␀) in the cell, which no text holds; \
                         fix the cell at the source"
                    .into(),
            })
            .collect()
    }

    pub fn feed(&self) -> Feed {
        self.feed
    }

    /// Source columns that no canonical field uses (reported once, at debug level).
    pub fn unused_columns(&self) -> Vec<&str> {
        self.headers
            .iter()
            .enumerate()
            .filter(|(i, h)| {
                !h.trim().is_empty()
                    && Some(*i) != self.unit_col
                    && *i != self.case_no_col
                    && !self.cols.contains(&Some(*i))
            })
            .map(|(_, h)| h.as_str())
            .collect()
    }

    /// The canonical field read from column `col`, if any.
    pub fn field_of_column(&self, col: usize) -> Option<&'static str> {
        if col == self.case_no_col {
            return Some("case_no");
        }
        if self.unit_col == Some(col) {
            return Some("unit");
        }
        self.feed
            .fields()
            .iter()
            .zip(&self.cols)
            .find(|(_, c)| **c == Some(col))
            .map(|(spec, _)| spec.name)
    }

    fn header(&self, col: usize) -> Option<String> {
        self.headers.get(col).map(|h| h.trim().to_string())
    }

    /// Resolves the unit a row names: the source's own unit when empty, a configured unit, or
    /// (SPEC §9) an unknown unit kept under its name as written. A row naming another configured
    /// unit than the source's own is refused.
    fn resolve_unit(&self, unit_text: &str, units: &Units) -> Result<(String, bool), String> {
        if unit_text.is_empty() {
            return match &self.source_unit {
                Some(u) => Ok((u.id.clone(), true)),
                None => Err("the unit is empty and the source belongs to no unit".into()),
            };
        }
        match (units.resolve(unit_text), &self.source_unit) {
            (Some(u), Some(own)) if u.id != own.id => Err(format!(
                "the row belongs to {} but this source is {}'s",
                u.name, own.name
            )),
            (Some(u), _) => Ok((u.id.clone(), true)),
            (None, _) => Ok((units.stored_id(unit_text), false)),
        }
    }

    /// Maps one row, given as cells in header order. Missing trailing cells count as empty.
    pub fn map<S: AsRef<str>>(
        &mut self,
        row: &[S],
        units: &Units,
    ) -> Result<Record, Vec<FieldError>> {
        if let Some(e) = self.oversized_cell(row) {
            return Err(vec![e]);
        }
        let nul = self.nul_cells(row);
        if !nul.is_empty() {
            return Err(nul);
        }
        let cell = |i: usize| row.get(i).map(|s| s.as_ref().trim()).unwrap_or("");
        let mut errors = Vec::new();

        let case_no = match CaseNo::parse(cell(self.case_no_col)) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(FieldError {
                    field: "case_no".into(),
                    column: self.header(self.case_no_col),
                    value: cell(self.case_no_col).to_string(),
                    reason: e.to_string(),
                });
                None
            }
        };

        let unit_text = self.unit_col.map(cell).unwrap_or("");
        let resolved = match self.unit_cache.get(unit_text) {
            Some(r) => r.clone(),
            None => {
                let r = self.resolve_unit(unit_text, units);
                if self.unit_cache.len() >= UNIT_CACHE_MAX {
                    self.unit_cache.clear();
                }
                self.unit_cache.insert(unit_text.to_string(), r.clone());
                r
            }
        };
        let unit = match resolved {
            Ok(u) => Some(u),
            Err(reason) => {
                errors.push(FieldError {
                    field: "unit".into(),
                    column: self.unit_col.and_then(|c| self.header(c)),
                    value: unit_text.to_string(),
                    reason,
                });
                None
            }
        };

        let mut vals = Vec::with_capacity(self.cols.len());
        for (spec, col) in self.feed.fields().iter().zip(&self.cols) {
            let raw = col.map(cell).unwrap_or("");
            if raw.is_empty() {
                vals.push(Value::Null);
                continue;
            }
            let parsed = match spec.kind {
                FieldKind::Text | FieldKind::Pii => Ok(Value::Text(collapse_spaces(raw))),
                FieldKind::Date => values::parse_date(raw).map(Value::Date),
                FieldKind::DateTime => {
                    values::parse_datetime(raw).map(|t| Value::DateTime(shanghai_to_utc(t)))
                }
                FieldKind::Amount => values::parse_amount_fen(raw).map(Value::Fen),
                FieldKind::Bool => values::parse_bool(raw).map(Value::Bool),
            };
            match parsed {
                Ok(v) => vals.push(v),
                Err(e) => {
                    errors.push(FieldError {
                        field: spec.name.to_string(),
                        column: col.and_then(|c| self.header(c)),
                        value: if spec.kind == FieldKind::Pii {
                            crate::mask::mask_id(raw)
                        } else {
                            raw.to_string()
                        },
                        reason: e.to_string(),
                    });
                    vals.push(Value::Null);
                }
            }
        }

        match (case_no, unit, errors.is_empty()) {
            (Some(case_no), Some((unit_id, unit_known)), true) => {
                let mut r = Record {
                    feed: self.feed,
                    unit_id,
                    unit_known,
                    case_no,
                    values: vals,
                };
                if let Err((field, reason)) = self.feed.check(&r) {
                    let col = self
                        .feed
                        .index_of(field)
                        .and_then(|i| self.cols.get(i).copied().flatten());
                    return Err(vec![FieldError {
                        field: field.name().to_string(),
                        column: col.and_then(|c| self.header(c)),
                        value: match r.get(field) {
                            Value::Null => String::new(),
                            v => v.display(),
                        },
                        reason,
                    }]);
                }
                if !r.case_no.has_digit() {
                    // Rows without a usable number (`无`) would all share one key and overwrite
                    // each other: each gets its own, from what it says.
                    r.case_no = r.case_no.with_key_tag(&r.content_tag());
                }
                Ok(r)
            }
            _ => Err(errors),
        }
    }
}

/// Asia/Shanghai local time (no DST since 1991) to UTC.
pub fn shanghai_to_utc(t: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    (t - chrono::Duration::hours(8)).and_utc()
}

fn collapse_spaces(s: &str) -> String {
    if !s.contains(char::is_whitespace) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for (i, w) in s.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Field;

    fn units() -> Units {
        Units::new(&[
            UnitConfig {
                id: "scjg".into(),
                name: "稻城县市场监督管理局".into(),
                aliases: vec!["县市场监管局".into()],
                ..Default::default()
            },
            UnitConfig {
                id: "zrzy".into(),
                name: "稻城县自然资源局".into(),
                ..Default::default()
            },
        ])
    }

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn chinese_header_variants_are_recognised() {
        let h = headers(&[
            "执法单位",
            "案号",
            "当事人",
            "罚没金额（元）",
            "办结日期",
            "涉嫌犯罪",
        ]);
        let mut m = Mapper::new(Feed::Cases, &h, &BTreeMap::new(), None).unwrap();
        let r = m
            .map(
                &[
                    "县市场监管局",
                    "稻市监罚〔2025〕3号",
                    "张三",
                    "1,234.50",
                    "2025年3月1日",
                    "是",
                ],
                &units(),
            )
            .unwrap();
        assert_eq!(r.unit_id, "scjg");
        assert_eq!(r.get(Field::Amount), &Value::Fen(123_450));
        assert_eq!(
            r.get(Field::ClosedOn),
            &Value::Date(chrono::NaiveDate::from_ymd_opt(2025, 3, 1).unwrap())
        );
        assert_eq!(r.get(Field::SuspectedCrime), &Value::Bool(true));
        assert!(m.unused_columns().is_empty());
    }

    #[test]
    fn a_bad_row_reports_every_field_wrong_with_its_column() {
        let h = headers(&["执法单位", "案号", "处罚决定日期", "罚没金额(元)"]);
        let mut m = Mapper::new(Feed::Cases, &h, &BTreeMap::new(), None).unwrap();
        let errs = m
            .map(
                &["稻城县市场监督管理局", "", "2025-02-30", "一千二"],
                &units(),
            )
            .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["case_no", "decided_on", "amount"]);
        assert_eq!(errs[1].column.as_deref(), Some("处罚决定日期"));
        assert_eq!(errs[2].value, "一千二");
    }

    /// A platform record, copy, filing or procuratorial document without the time its rule
    /// counts from would leave a finding open as "missing" though the record exists (or raise
    /// none): it is quarantined, naming the field and why; with its time it is taken.
    #[test]
    fn a_record_without_the_time_its_rule_counts_from_is_refused_with_the_reason() {
        // (feed, headers, an undated row, the field named, the same row dated)
        type Row<'a> = (Feed, &'a [&'a str], &'a [&'a str], &'a str, &'a [&'a str]);
        let table: [Row<'_>; 6] = [
            (
                Feed::Referrals,
                &["移送单位", "案号", "录入时间", "移送时间"],
                &["scjg", "A-1", "", ""],
                "entered_at",
                &["scjg", "A-1", "", "2025-03-19 11:26"],
            ),
            (
                Feed::Entries,
                &["执法单位", "案号", "录入时间"],
                &["scjg", "A-1", ""],
                "entered_at",
                &["scjg", "A-1", "2025-01-24 14:47"],
            ),
            (
                Feed::Copies,
                &["执法单位", "案号", "抄送日期"],
                &["scjg", "A-1", ""],
                "copied_on",
                &["scjg", "A-1", "2025-02-03"],
            ),
            (
                Feed::Filings,
                &["执法单位", "案号", "备案日期"],
                &["scjg", "A-1", ""],
                "filed_on",
                &["scjg", "A-1", "2025-02-03"],
            ),
            (
                Feed::Recommendations,
                &["被建议单位", "建议书文号", "发出日期", "送达日期"],
                &["scjg", "稻检行建〔2025〕3号", "", ""],
                "received_on",
                &["scjg", "稻检行建〔2025〕3号", "", "2025-09-01"],
            ),
            (
                Feed::Opinions,
                &["被建议单位", "文号", "发出日期", "签收日期"],
                &["scjg", "稻检意〔2025〕1号", "", ""],
                "received_on",
                &["scjg", "稻检意〔2025〕1号", "2025-09-01", ""],
            ),
        ];
        for (feed, h, undated, field, dated) in table {
            let mut m = Mapper::new(feed, &headers(h), &BTreeMap::new(), None)
                .unwrap_or_else(|e| panic!("{feed:?}: {e}"));
            let errs = m.map(undated, &units()).unwrap_err();
            assert_eq!(errs.len(), 1, "{feed:?}");
            assert_eq!(errs[0].field, field, "{feed:?}");
            assert!(
                errs[0].reason.contains("needs"),
                "{feed:?}: {}",
                errs[0].reason
            );
            assert!(m.map(dated, &units()).is_ok(), "{feed:?}");
        }
        // 送达日期 on a procuratorial document is when it was served: its receipt.
        let mut m = Mapper::new(
            Feed::Recommendations,
            &headers(&["被建议单位", "建议书文号", "送达日期"]),
            &BTreeMap::new(),
            None,
        )
        .unwrap();
        let r = m
            .map(&["scjg", "稻检行建〔2025〕3号", "2025-09-01"], &units())
            .unwrap();
        assert_eq!(
            r.date(Field::ReceivedOn),
            chrono::NaiveDate::from_ymd_opt(2025, 9, 1)
        );
        assert!(r.get(Field::IssuedOn).is_null());
    }

    /// Issue 22: a negative fine or amount involved is a slip of the export, not an amount: the
    /// row is quarantined naming the field; zero and positive amounts are taken.
    #[test]
    fn a_negative_amount_is_refused() {
        let h = headers(&["执法单位", "案号", "罚没金额(元)"]);
        let mut m = Mapper::new(Feed::Cases, &h, &BTreeMap::new(), None).unwrap();
        let errs = m.map(&["scjg", "A-1", "-1200.00"], &units()).unwrap_err();
        assert_eq!(errs[0].field, "amount");
        assert_eq!(errs[0].column.as_deref(), Some("罚没金额(元)"));
        assert!(errs[0].reason.contains("negative"), "{}", errs[0].reason);
        for ok in ["0", "1200.00", "1.2万"] {
            assert!(m.map(&["scjg", "A-1", ok], &units()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn unknown_units_are_kept_and_foreign_units_are_refused() {
        let h = headers(&["执法单位", "案号"]);
        let mut m = Mapper::new(Feed::Cases, &h, &BTreeMap::new(), None).unwrap();
        let r = m.map(&["县公安局", "X1"], &units()).unwrap();
        assert_eq!((r.unit_id.as_str(), r.unit_known), ("县公安局", false));

        let u = units();
        let own = u.get("scjg").cloned();
        let mut m = Mapper::new(Feed::Cases, &h, &BTreeMap::new(), own.as_ref()).unwrap();
        assert_eq!(m.map(&["", "X1"], &u).unwrap().unit_id, "scjg");
        let errs = m.map(&["稻城县自然资源局", "X1"], &u).unwrap_err();
        assert_eq!(errs[0].field, "unit");
    }

    #[test]
    fn explicit_mapping_wins_and_a_missing_mapped_column_is_an_error() {
        let h = headers(&["单位", "文书号", "罚款"]);
        let mut map = BTreeMap::new();
        map.insert("case_no".to_string(), "文书号".to_string());
        map.insert("amount".to_string(), "罚款".to_string());
        let mut m = Mapper::new(Feed::Cases, &h, &map, None).unwrap();
        let r = m.map(&["scjg", "A-1", "1.2万"], &units()).unwrap();
        assert_eq!(r.get(Field::Amount), &Value::Fen(1_200_000));
        map.insert("party".to_string(), "当事人".to_string());
        assert!(matches!(
            Mapper::new(Feed::Cases, &h, &map, None),
            Err(MappingError::MappedColumnMissing { .. })
        ));
    }

    #[test]
    fn headers_without_case_number_or_unit_are_refused() {
        let err = Mapper::new(
            Feed::Cases,
            &headers(&["执法单位", "当事人"]),
            &BTreeMap::new(),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no column for the case number"));
        let err = Mapper::new(
            Feed::Cases,
            &headers(&["案号", "当事人"]),
            &BTreeMap::new(),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, MappingError::NoUnit { .. }));
    }
}
