//! Connectors: each kind of source (file drop, HTTP JSON API, SQL query) reads outside rows,
//! maps them with [`mapping::Mapper`] and hands them to a [`Writer`], which upserts them into the
//! store in batches inside one import transaction and quarantines what cannot be taken.
//! Connectors never apply rules; they only get data in.

pub mod file;
pub mod http;
pub mod mapping;
pub mod sql;

#[cfg(test)]
mod props;

use std::collections::HashSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::config::SourceConfig;
use crate::records::{Feed, Record};
use crate::store::{Import, QuarantineItem, RowCounts, Store, StoreResult};
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
    /// Bookkeeping time of this run (first seen, changed, quarantined).
    pub now: DateTime<Utc>,
    /// Show progress on a terminal.
    pub progress: bool,
}

/// Rows written to the store per statement batch.
pub const BATCH: usize = 2000;

/// One row read from a source: a record to upsert, or the reasons it cannot be taken.
#[derive(Debug)]
pub enum Item {
    Record(Record),
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
    import: Box<dyn Import>,
    /// Grades a review without one from its score (the cut-offs of `[obligations]`).
    grading: Option<crate::config::ObligationsConfig>,
    pending: Vec<Record>,
    /// Hashes of the (unit, case key) pairs in `pending`. A hash collision only causes an
    /// early flush, never a wrong write.
    keys: HashSet<u64>,
    quarantine: Vec<QuarantineItem>,
    counts: RowCounts,
}

/// FNV-1a over two byte strings: a cheap key hash for spotting a case twice in one batch.
fn fnv1a(a: &[u8], b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in a.iter().chain([0xffu8].iter()).chain(b.iter()) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Writer {
    pub fn new(import: Box<dyn Import>) -> Writer {
        Writer {
            import,
            grading: None,
            pending: Vec::with_capacity(BATCH),
            keys: HashSet::with_capacity(BATCH),
            quarantine: Vec::new(),
            counts: RowCounts::default(),
        }
    }

    /// Reviews pushed without a grade get the one their score earns (SPEC §4).
    pub fn grading(mut self, cfg: &crate::config::ObligationsConfig) -> Writer {
        self.grading = Some(cfg.clone());
        self
    }

    pub async fn push(&mut self, item: Item) -> StoreResult<()> {
        match item {
            Item::Record(mut r) => {
                if let Some(g) = &self.grading {
                    g.fill_grade(&mut r);
                }
                let key = fnv1a(r.unit_id.as_bytes(), r.case_no.key().as_bytes());
                // A case listed twice in one file: the later row is applied after the earlier
                // one (as an update), never in the same statement.
                if self.keys.contains(&key) {
                    self.flush().await?;
                }
                self.keys.insert(key);
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
            self.keys.clear();
            let c = self.import.put(batch).await?;
            self.counts.add(&c);
        }
        if !self.quarantine.is_empty() {
            let q = std::mem::take(&mut self.quarantine);
            self.import.quarantine(q).await?;
        }
        Ok(())
    }

    /// Rows handled so far (written or quarantined).
    pub fn counts(&self) -> RowCounts {
        let mut c = self.counts;
        c.seen += self.pending.len() as u64;
        c
    }

    /// Writes what is pending and commits it with the cursor; returns the counts.
    pub async fn commit(mut self, cursor: Option<String>) -> StoreResult<RowCounts> {
        self.flush().await?;
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
