//! Connectors: each kind of source (file drop, HTTP JSON API, SQL query) reads outside rows,
//! maps them with [`mapping::Mapper`] and hands them to a [`Writer`], which upserts them into the
//! store in batches inside one import transaction and quarantines what cannot be taken.
//! Connectors never apply rules; they only get data in.

pub mod file;
pub mod http;
pub mod mapping;
pub mod sql;

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
/// department's file, not a second copy of its personal data.
pub fn quarantine_items(
    location: &str,
    row: i64,
    errors: Vec<mapping::FieldError>,
    raw: serde_json::Value,
) -> Vec<QuarantineItem> {
    let raw = crate::mask::mask_text(&raw.to_string());
    errors
        .into_iter()
        .map(|e| QuarantineItem {
            location: location.to_string(),
            row,
            field: e.field,
            column: e.column,
            value: crate::mask::mask_text(&e.value),
            reason: crate::mask::mask_text(&e.reason),
            raw: raw.clone(),
        })
        .collect()
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
