//! Connectors: each kind of source (file drop, HTTP JSON API, SQL query) reads outside rows,
//! maps them with [`mapping::Mapper`] and hands them to a [`Writer`], which upserts them into the
//! store in batches inside one import transaction and quarantines what cannot be taken.
//! Connectors never apply rules; they only get data in.
//!
//! A case listed twice in one import (one file, one HTTP run, one SQL batch): the rows are applied
//! in the order they come, so the later row is what the store keeps (the earlier one is in the
//! record's history). When the two differ, the [`Writer`] records the repeat — both rows, the
//! case number masked, the fields that differ — with the import, logs it at warn, and counts it
//! (`RowCounts::repeated`); `sync` and `status` show it.

pub mod file;
pub mod http;
pub mod mapping;
mod seen;
pub mod sql;

#[cfg(test)]
mod props;

use std::collections::{HashMap, VecDeque};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::config::{Redactor, SourceConfig};
use crate::records::{Feed, Record};
use crate::store::{Import, QuarantineItem, RepeatItem, Repeated, RowCounts, Store, StoreResult};
use crate::units::Units;

/// What every connector needs for one run of one source.
#[derive(Clone, Copy)]
pub struct SourceRun<'a> {
    pub store: &'a dyn Store,
    pub src: &'a SourceConfig,
    pub units: &'a Units,
    pub feed: Feed,
    /// How reviews without a grade get one (the cut-offs of `[obligations]`).
    pub obligations: &'a crate::config::ObligationsConfig,
    /// How much one response, line, cell and quarantined row may weigh (`[limits]`).
    pub limits: &'a crate::config::LimitsConfig,
    /// The source's credentials in every form its server may echo them
    /// ([`Redactor::for_source`]): blanked out of its error texts and of the rows it quarantines.
    pub secrets: &'a Redactor,
    /// Bookkeeping time of this run (first seen, changed, quarantined).
    pub now: DateTime<Utc>,
    /// Show progress on a terminal.
    pub progress: bool,
}

/// Rows written to the store per statement batch.
pub const BATCH: usize = 2000;

/// One row read from a source: a record to upsert with its row number (as a person counts it,
/// see [`QuarantineItem::row`]), or the reasons it cannot be taken.
#[derive(Debug)]
pub enum Item {
    Record(Record, i64),
    Bad(Vec<QuarantineItem>),
}

/// Builds quarantine entries for one bad row. ID and mobile numbers in its value, reason and raw
/// text are masked here, before they are stored: the quarantine is for finding the row in the
/// department's file, not a second copy of its personal data. The raw text and the value are
/// stored cut to `limits.raw_kb`, so a hostile row of megabytes costs the store kilobytes.
pub fn quarantine_items(
    location: &str,
    row: i64,
    errors: Vec<mapping::FieldError>,
    raw: serde_json::Value,
    limits: &crate::config::LimitsConfig,
) -> Vec<QuarantineItem> {
    let cap = limits.raw_bytes();
    let raw = bounded_masked(&raw.to_string(), cap);
    errors
        .into_iter()
        .map(|e| QuarantineItem {
            location: location.to_string(),
            row,
            field: e.field,
            column: e.column.map(|c| storable(&c)),
            value: bounded_masked(&storable(&e.value), cap),
            reason: storable(&crate::mask::mask_text(&e.reason)),
            raw: raw.clone(),
        })
        .collect()
}

/// `text` with U+0000, which PostgreSQL cannot store in text, shown as ␀ (U+2400). (The raw
/// row is JSON, where it is written `\u0000` already.)
fn storable(text: &str) -> String {
    text.replace('\0', "␀")
}

/// `text` masked and cut to at most `cap` bytes (on a character boundary), followed by
/// `…(truncated, N KB)` naming the whole text's size when it was cut. The cut is made with some
/// room before masking, so that an ID number across the cut is still recognised and masked.
pub fn bounded_masked(text: &str, cap: usize) -> String {
    if text.len() <= cap {
        return crate::mask::mask_text(text);
    }
    let masked = crate::mask::mask_text(cut(text, cap + 64));
    let mut out = cut(&masked, cap).to_string();
    out.push_str(&format!("…(truncated, {} KB)", text.len().div_ceil(1024)));
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Feeds items into one import transaction in batches with distinct keys.
pub struct Writer {
    /// The source's name, for the log.
    source: String,
    import: Box<dyn Import>,
    /// Grades a review without one from its score (the cut-offs of `[obligations]`).
    grading: Option<crate::config::ObligationsConfig>,
    pending: Vec<Record>,
    /// Every row this import took, to find a case listed again however far apart.
    seen: seen::Seen,
    /// The ordinal (in `seen`) of the first row of `pending`.
    batch_start: u32,
    /// Rows of `pending` that list a case an earlier row listed: (position in `pending`, the
    /// earlier row's ordinal in `seen`, this row's).
    pending_repeats: Vec<(usize, u32, u32)>,
    quarantine: Vec<QuarantineItem>,
    /// Repeats with other values, to be written with the import.
    repeats: Vec<RepeatItem>,
    /// Repeats a first load stored as they came, to be folded into their cases' first rows
    /// (see [`Repeated::Later`]).
    later: Vec<LaterRepeat>,
    /// Repeats that changed nothing (not recorded; counted for the log).
    same_repeats: u64,
    counts: RowCounts,
}

/// A repeat whose outcome the store tells when a first load's key is built.
struct LaterRepeat {
    unit_id: String,
    case_key: String,
    /// The repeat as far as it is known: all but what changed.
    item: RepeatItem,
}

/// Repeats logged one by one per import; the rest are counted in one line (they are all
/// recorded for `status`).
const REPEATS_LOGGED: usize = 20;

/// FNV-1a over two byte strings: a cheap key hash for spotting a case twice in one import.
fn fnv1a(a: &[u8], b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in a.iter().chain([0xffu8].iter()).chain(b.iter()) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Writer {
    /// A writer for one import of source `source`.
    pub fn new(source: &str, mut import: Box<dyn Import>) -> Writer {
        // Batches may be held back and applied together: `commit` settles them first.
        import.allow_deferred();
        Writer {
            source: source.to_string(),
            import,
            grading: None,
            pending: Vec::with_capacity(BATCH),
            seen: seen::Seen::new(),
            batch_start: 0,
            pending_repeats: Vec::new(),
            quarantine: Vec::new(),
            repeats: Vec::new(),
            later: Vec::new(),
            same_repeats: 0,
            counts: RowCounts::default(),
        }
    }

    /// Reviews pushed without a grade get the one their score earns (SPEC §4).
    pub fn grading(mut self, cfg: &crate::config::ObligationsConfig) -> Writer {
        self.grading = Some(cfg.clone());
        self
    }

    /// Takes one item read at `location` (a file's name, `page N`, `query`: where a
    /// [`Item::Record`]'s row number counts from).
    pub async fn push(&mut self, location: &str, item: Item) -> StoreResult<()> {
        match item {
            Item::Record(mut r, row) => {
                if let Some(g) = &self.grading {
                    g.fill_grade(&mut r);
                }
                let key = fnv1a(r.unit_id.as_bytes(), r.case_no.key().as_bytes());
                let ordinal = self.seen.len();
                if let Some(earlier) = self.seen.take(key, location, row) {
                    // A case listed twice in one batch: the later row is applied after the
                    // earlier one (as an update), never in the same statement. (A hash
                    // collision only causes an early flush, never a wrong write.)
                    if earlier >= self.batch_start {
                        self.flush().await?;
                        self.batch_start = ordinal;
                    }
                    self.pending_repeats
                        .push((self.pending.len(), earlier, ordinal));
                }
                self.pending.push(r);
                if self.pending.len() >= BATCH {
                    self.flush().await?;
                }
            }
            Item::Bad(items) => {
                self.counts.seen += 1;
                self.counts.quarantined += 1;
                self.quarantine.extend(items);
                if self.quarantine.len() >= BATCH {
                    let q = std::mem::take(&mut self.quarantine);
                    self.import.quarantine(q).await?;
                }
            }
        }
        Ok(())
    }

    pub async fn flush(&mut self) -> StoreResult<()> {
        if !self.pending.is_empty() {
            let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH));
            self.batch_start = self.seen.len();
            let repeating = std::mem::take(&mut self.pending_repeats);
            let positions: Vec<usize> = repeating.iter().map(|(i, ..)| *i).collect();
            // The repeating rows' cases, before the batch goes to the store.
            let cases: Vec<(String, String, String)> = positions
                .iter()
                .map(|&i| {
                    let r = &batch[i];
                    let case_no = crate::mask::mask_text(r.case_no.as_written());
                    (r.unit_id.clone(), r.case_no.key().to_string(), case_no)
                })
                .collect();
            let (c, outcomes) = self.import.put_repeats(batch, &positions).await?;
            self.counts.add(&c);
            for (((_, earlier, ordinal), (unit_id, case_key, case_no)), outcome) in
                repeating.into_iter().zip(cases).zip(outcomes)
            {
                let item = self.repeat_item(earlier, ordinal, case_no);
                match outcome {
                    Repeated::Changed(changes) => self.repeated(RepeatItem { changes, ..item }),
                    Repeated::Same => self.same_repeats += 1,
                    Repeated::Later => self.later.push(LaterRepeat {
                        unit_id,
                        case_key,
                        item,
                    }),
                }
            }
        }
        if !self.quarantine.is_empty() {
            let q = std::mem::take(&mut self.quarantine);
            self.import.quarantine(q).await?;
        }
        if !self.repeats.is_empty() {
            let r = std::mem::take(&mut self.repeats);
            self.import.repeats(r).await?;
        }
        Ok(())
    }

    /// The repeat of the row with ordinal `later` (of the case numbered `case_no`, masked) over
    /// the row with ordinal `earlier`, what changed still unknown.
    fn repeat_item(&self, earlier: u32, later: u32, case_no: String) -> RepeatItem {
        let (location, row) = self.seen.place(later);
        let (earlier_location, earlier_row) = self.seen.place(earlier);
        RepeatItem {
            location: location.to_string(),
            row,
            earlier_location: earlier_location.to_string(),
            earlier_row,
            case_no,
            changes: serde_json::Value::Null,
        }
    }

    /// A row that listed a case again with other values: counted, logged (the first
    /// [`REPEATS_LOGGED`] of an import) and kept to be written with the import.
    fn repeated(&mut self, item: RepeatItem) {
        self.counts.repeated += 1;
        if self.counts.repeated as usize <= REPEATS_LOGGED {
            tracing::warn!(
                source = %self.source,
                file = %crate::mask::mask_text(&item.location),
                row = item.row,
                earlier_file = %crate::mask::mask_text(&item.earlier_location),
                earlier_row = item.earlier_row,
                case_no = %item.case_no,
                differs_in = %item.fields().join(", "),
                "a case listed twice with different values: the later row is kept"
            );
        }
        self.repeats.push(item);
    }

    /// Rows handled so far (written or quarantined).
    pub fn counts(&self) -> RowCounts {
        let mut c = self.counts;
        c.seen += self.pending.len() as u64;
        c
    }

    /// A first load's repeats, folded into their cases' first rows now rather than at commit,
    /// so that they are recorded with the import. The store answers in the order the rows
    /// came, so each case's answers go to its repeats in turn; one the store does not answer
    /// was no repeat (two cases with one hash).
    async fn fold_later(&mut self) -> StoreResult<()> {
        if self.later.is_empty() {
            return Ok(());
        }
        let later = std::mem::take(&mut self.later);
        let mut waiting: HashMap<(String, String), VecDeque<usize>> = HashMap::new();
        for (i, l) in later.iter().enumerate() {
            waiting
                .entry((l.unit_id.clone(), l.case_key.clone()))
                .or_default()
                .push_back(i);
        }
        for folded in self.import.fold_repeats().await? {
            let Some(i) = waiting
                .get_mut(&(folded.unit_id, folded.case_key))
                .and_then(VecDeque::pop_front)
            else {
                continue;
            };
            match folded.changes {
                Some(changes) => self.repeated(RepeatItem {
                    changes,
                    ..later[i].item.clone()
                }),
                None => self.same_repeats += 1,
            }
        }
        let r = std::mem::take(&mut self.repeats);
        if !r.is_empty() {
            self.import.repeats(r).await?;
        }
        Ok(())
    }

    /// Writes what is pending and commits it with the cursor; returns the counts.
    pub async fn commit(mut self, cursor: Option<String>) -> StoreResult<RowCounts> {
        self.flush().await?;
        let settled = self.import.settle().await?;
        self.counts.add(&settled);
        // The rows seen are done with (the repeats know their places): the first load's index
        // builds come next.
        self.seen = seen::Seen::new();
        self.fold_later().await?;
        let more = (self.counts.repeated as usize).saturating_sub(REPEATS_LOGGED);
        if more > 0 {
            tracing::warn!(
                source = %self.source,
                more,
                "more cases listed twice with different values (the later rows are kept): see `liandong status`"
            );
        }
        if self.same_repeats > 0 {
            tracing::debug!(source = %self.source, rows = self.same_repeats, "rows repeating a case with the same values");
        }
        let folded = self.import.commit(cursor).await?;
        folded.apply(&mut self.counts);
        Ok(self.counts)
    }
}

/// Progress on a terminal for long reads; silent when stderr is not a terminal (the journal).
pub struct Progress {
    label: String,
    enabled: bool,
    last: Instant,
    shown: bool,
}

impl Progress {
    pub fn new(label: &str, enabled: bool) -> Progress {
        Progress {
            label: label.to_string(),
            enabled: enabled && std::io::stderr().is_terminal(),
            last: Instant::now(),
            shown: false,
        }
    }

    pub fn tick(&mut self, rows: u64) {
        if self.enabled && self.last.elapsed() >= Duration::from_millis(500) {
            self.last = Instant::now();
            self.shown = true;
            eprint!("\r{}: {rows} rows…", self.label);
        }
    }

    pub fn done(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done();
    }
}

#[cfg(test)]
mod tests {
    use super::bounded_masked;

    #[test]
    fn long_text_is_cut_on_a_char_boundary_with_its_size() {
        let text = "案".repeat(2000); // 6000 bytes
        let out = bounded_masked(&text, 1000);
        assert!(out.starts_with(&"案".repeat(333)));
        assert!(out.ends_with("…(truncated, 6 KB)"), "{out}");
        assert!(out.len() <= 1000 + "…(truncated, 6 KB)".len());
        assert_eq!(bounded_masked("short", 1000), "short");
    }

    #[test]
    fn an_id_number_across_the_cut_is_still_masked() {
        let text = format!("{}513337199001019026{}", "x".repeat(990), "y".repeat(100));
        let out = bounded_masked(&text, 1000);
        assert!(!out.contains("5133371990"), "{out}");
    }
}
