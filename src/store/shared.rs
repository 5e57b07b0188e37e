// Statements shared by both backends, written once against the type alias `Db` that the
// including module (`sqlite.rs` or `postgres.rs`) defines, together with `Backend` (the store
// struct, with `writer` and `reader` pools) and `BEGIN_WRITE` (how a write transaction begins).
// Included with `include!`, so it has no `//!` doc of its own: see `store/mod.rs`.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Transaction};

use crate::domain::case_no::CaseNo;
use crate::records::{Feed, FieldKind, Record, Value, diff};
use crate::store::{
    HistoryEntry, Import, QuarantineEntry, QuarantineItem, RowCounts, SourceState, Store, StoreError,
    StoreResult, StoredRecord,
};

type DbRow = <Db as sqlx::Database>::Row;

/// Rows per multi-row INSERT: well under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const INSERT_ROWS: usize = 500;

fn columns(feed: Feed) -> String {
    let mut cols = String::from("unit_id, unit_known, case_key, case_no");
    for f in feed.fields() {
        cols.push_str(", ");
        cols.push_str(f.name);
    }
    cols
}

fn bind_value(q: &mut QueryBuilder<Db>, kind: FieldKind, v: &Value) {
    // Bind with the column's type even for NULL, so PostgreSQL never has to guess.
    match kind {
        FieldKind::Text | FieldKind::Pii => q.push_bind(match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }),
        FieldKind::Date => q.push_bind(match v {
            Value::Date(d) => Some(*d),
            _ => None,
        }),
        FieldKind::DateTime => q.push_bind(match v {
            Value::DateTime(t) => Some(*t),
            _ => None,
        }),
        FieldKind::Amount => q.push_bind(match v {
            Value::Fen(f) => Some(*f),
            _ => None,
        }),
        FieldKind::Bool => q.push_bind(match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        }),
    };
}

fn read_value(row: &DbRow, name: &str, kind: FieldKind) -> StoreResult<Value> {
    Ok(match kind {
        FieldKind::Text | FieldKind::Pii => row.try_get::<Option<String>, _>(name)?.map(Value::Text),
        FieldKind::Date => row.try_get::<Option<NaiveDate>, _>(name)?.map(Value::Date),
        FieldKind::DateTime => row.try_get::<Option<DateTime<Utc>>, _>(name)?.map(Value::DateTime),
        FieldKind::Amount => row.try_get::<Option<i64>, _>(name)?.map(Value::Fen),
        FieldKind::Bool => row.try_get::<Option<bool>, _>(name)?.map(Value::Bool),
    }
    .unwrap_or(Value::Null))
}

fn read_record(feed: Feed, row: &DbRow) -> StoreResult<StoredRecord> {
    let case_no_text: String = row.try_get("case_no")?;
    let case_no = CaseNo::parse(&case_no_text)
        .map_err(|e| StoreError::Corrupt(format!("{}: case number {case_no_text:?}: {e}", feed.table())))?;
    let mut values = Vec::with_capacity(feed.fields().len());
    for f in feed.fields() {
        values.push(read_value(row, f.name, f.kind)?);
    }
    Ok(StoredRecord {
        id: row.try_get("id")?,
        record: Record {
            feed,
            unit_id: row.try_get("unit_id")?,
            unit_known: row.try_get("unit_known")?,
            case_no,
            values,
        },
        source: row.try_get("source")?,
        first_seen_at: row.try_get("first_seen_at")?,
        changed_at: row.try_get("changed_at")?,
    })
}

pub(super) struct ImportTx {
    tx: Transaction<'static, Db>,
    source: String,
    at: DateTime<Utc>,
}

impl ImportTx {
    async fn existing(&mut self, feed: Feed, records: &[Record]) -> StoreResult<HashMap<(String, String), (i64, Vec<u8>)>> {
        let mut found = HashMap::with_capacity(records.len());
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT id, unit_id, case_key, fingerprint FROM {} WHERE case_key IN (",
            feed.table()
        ));
        let mut sep = q.separated(", ");
        let mut keys: Vec<&str> = records.iter().map(|r| r.case_no.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            sep.push_bind(k.to_string());
        }
        q.push(")");
        let rows = q.build().fetch_all(&mut *self.tx).await?;
        for row in rows {
            let unit: String = row.try_get("unit_id")?;
            let key: String = row.try_get("case_key")?;
            found.insert((unit, key), (row.try_get::<i64, _>("id")?, row.try_get::<Vec<u8>, _>("fingerprint")?));
        }
        Ok(found)
    }

    async fn insert(&mut self, feed: Feed, records: &[(&Record, [u8; 16])]) -> StoreResult<()> {
        for chunk in records.chunks(INSERT_ROWS) {
            let mut q = QueryBuilder::<Db>::new(format!(
                "INSERT INTO {} ({}, fingerprint, source, first_seen_at, changed_at) ",
                feed.table(),
                columns(feed)
            ));
            q.push("VALUES ");
            for (i, (r, fp)) in chunk.iter().enumerate() {
                q.push(if i == 0 { "(" } else { ", (" });
                q.push_bind(r.unit_id.clone());
                q.push(", ");
                q.push_bind(r.unit_known);
                q.push(", ");
                q.push_bind(r.case_no.key().to_string());
                q.push(", ");
                q.push_bind(r.case_no.as_written().to_string());
                for (spec, v) in feed.fields().iter().zip(&r.values) {
                    q.push(", ");
                    bind_value(&mut q, spec.kind, v);
                }
                q.push(", ");
                q.push_bind(fp.to_vec());
                q.push(", ");
                q.push_bind(self.source.clone());
                q.push(", ");
                q.push_bind(self.at);
                q.push(", ");
                q.push_bind(self.at);
                q.push(")");
            }
            q.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn update(&mut self, feed: Feed, id: i64, new: &Record, fp: [u8; 16]) -> StoreResult<()> {
        let sql = format!("SELECT * FROM {} WHERE id = ", feed.table());
        let mut q = QueryBuilder::<Db>::new(sql);
        q.push_bind(id);
        let row = q.build().fetch_one(&mut *self.tx).await?;
        let old = read_record(feed, &row)?;
        let changes = diff(&old.record, new);

        let mut q = QueryBuilder::<Db>::new(format!("UPDATE {} SET case_no = ", feed.table()));
        q.push_bind(new.case_no.as_written().to_string());
        q.push(", unit_known = ");
        q.push_bind(new.unit_known);
        for (spec, v) in feed.fields().iter().zip(&new.values) {
            q.push(format!(", {} = ", spec.name));
            bind_value(&mut q, spec.kind, v);
        }
        q.push(", fingerprint = ");
        q.push_bind(fp.to_vec());
        q.push(", source = ");
        q.push_bind(self.source.clone());
        q.push(", changed_at = ");
        q.push_bind(self.at);
        q.push(" WHERE id = ");
        q.push_bind(id);
        q.build().execute(&mut *self.tx).await?;

        sqlx::query("INSERT INTO record_history (feed, record_id, source, changed_at, changes) VALUES ($1, $2, $3, $4, $5)")
            .bind(feed.table())
            .bind(id)
            .bind(self.source.clone())
            .bind(self.at)
            .bind(changes.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Import for ImportTx {
    async fn put(&mut self, records: Vec<Record>) -> StoreResult<RowCounts> {
        let mut counts = RowCounts { seen: records.len() as u64, ..Default::default() };
        let Some(feed) = records.first().map(|r| r.feed) else {
            return Ok(counts);
        };
        let existing = self.existing(feed, &records).await?;
        let mut inserts = Vec::new();
        let mut updates = Vec::new();
        for r in &records {
            if !r.unit_known {
                counts.unknown_unit += 1;
            }
            let fp = r.fingerprint();
            match existing.get(&(r.unit_id.clone(), r.case_no.key().to_string())) {
                None => inserts.push((r, fp)),
                Some((_, old)) if old.as_slice() == fp.as_slice() => counts.unchanged += 1,
                Some((id, _)) => updates.push((*id, r, fp)),
            }
        }
        counts.inserted = inserts.len() as u64;
        counts.updated = updates.len() as u64;
        self.insert(feed, &inserts).await?;
        for (id, r, fp) in updates {
            self.update(feed, id, r, fp).await?;
        }
        Ok(counts)
    }

    async fn quarantine(&mut self, items: Vec<QuarantineItem>) -> StoreResult<()> {
        for it in items {
            sqlx::query(
                "INSERT INTO quarantine (source, location, row_no, field, column_name, value, reason, raw, first_seen_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                 ON CONFLICT (source, location, row_no, field) DO UPDATE SET \
                 column_name = excluded.column_name, value = excluded.value, reason = excluded.reason, \
                 raw = excluded.raw, last_seen_at = excluded.last_seen_at",
            )
            .bind(self.source.clone())
            .bind(it.location)
            .bind(it.row)
            .bind(it.field)
            .bind(it.column)
            .bind(it.value)
            .bind(it.reason)
            .bind(it.raw)
            .bind(self.at)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>, cursor: Option<String>) -> StoreResult<()> {
        if let Some(c) = cursor {
            sqlx::query(
                "INSERT INTO source_state (name, cursor) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor",
            )
            .bind(self.source.clone())
            .bind(c)
            .execute(&mut *self.tx)
            .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}

fn read_state(row: &DbRow) -> StoreResult<SourceState> {
    let n = |c: &str| -> StoreResult<u64> { Ok(row.try_get::<i64, _>(c)?.max(0) as u64) };
    Ok(SourceState {
        name: row.try_get("name")?,
        cursor: row.try_get("cursor")?,
        last_run_at: row.try_get("last_run_at")?,
        last_success_at: row.try_get("last_success_at")?,
        last_error_at: row.try_get("last_error_at")?,
        last_error: row.try_get("last_error")?,
        counts: RowCounts {
            seen: n("rows_seen")?,
            inserted: n("rows_inserted")?,
            updated: n("rows_updated")?,
            unchanged: n("rows_unchanged")?,
            quarantined: n("rows_quarantined")?,
            unknown_unit: n("rows_unknown_unit")?,
        },
    })
}

#[async_trait]
impl Store for Backend {
    fn backend(&self) -> &'static str {
        BACKEND_NAME
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    async fn begin_import(&self, source: &str, at: DateTime<Utc>) -> StoreResult<Box<dyn Import>> {
        let tx = self.writer.begin_with(BEGIN_WRITE).await?;
        Ok(Box::new(ImportTx { tx, source: source.to_string(), at }))
    }

    async fn finish_run(&self, source: &str, run: &crate::store::RunReport) -> StoreResult<()> {
        let c = &run.counts;
        let ok = run.error.is_none();
        sqlx::query(
            "INSERT INTO source_state (name, last_run_at, last_success_at, last_error_at, last_error, \
             rows_seen, rows_inserted, rows_updated, rows_unchanged, rows_quarantined, rows_unknown_unit) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (name) DO UPDATE SET last_run_at = excluded.last_run_at, \
             last_success_at = COALESCE(excluded.last_success_at, source_state.last_success_at), \
             last_error_at = COALESCE(excluded.last_error_at, source_state.last_error_at), \
             last_error = COALESCE(excluded.last_error, source_state.last_error), \
             rows_seen = excluded.rows_seen, rows_inserted = excluded.rows_inserted, \
             rows_updated = excluded.rows_updated, rows_unchanged = excluded.rows_unchanged, \
             rows_quarantined = excluded.rows_quarantined, rows_unknown_unit = excluded.rows_unknown_unit",
        )
        .bind(source.to_string())
        .bind(run.finished_at)
        .bind(ok.then_some(run.finished_at))
        .bind((!ok).then_some(run.finished_at))
        .bind(run.error.clone())
        .bind(c.seen as i64)
        .bind(c.inserted as i64)
        .bind(c.updated as i64)
        .bind(c.unchanged as i64)
        .bind(c.quarantined as i64)
        .bind(c.unknown_unit as i64)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn source_state(&self, source: &str) -> StoreResult<Option<SourceState>> {
        let row = sqlx::query("SELECT * FROM source_state WHERE name = $1")
            .bind(source.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(read_state).transpose()
    }

    async fn source_states(&self) -> StoreResult<Vec<SourceState>> {
        let rows = sqlx::query("SELECT * FROM source_state ORDER BY name").fetch_all(&self.reader).await?;
        rows.iter().map(read_state).collect()
    }

    async fn records(&self, feed: Feed, unit: Option<&str>) -> StoreResult<Vec<StoredRecord>> {
        let mut q = QueryBuilder::<Db>::new(format!("SELECT * FROM {}", feed.table()));
        if let Some(u) = unit {
            q.push(" WHERE unit_id = ");
            q.push_bind(u.to_string());
        }
        q.push(" ORDER BY unit_id, case_key");
        let rows = q.build().fetch_all(&self.reader).await?;
        rows.iter().map(|r| read_record(feed, r)).collect()
    }

    async fn record_count(&self, feed: Feed) -> StoreResult<i64> {
        let sql = format!("SELECT COUNT(*) AS n FROM {}", feed.table());
        let row = sqlx::query(AssertSqlSafe(sql)).fetch_one(&self.reader).await?;
        Ok(row.try_get("n")?)
    }

    async fn history(&self, feed: Feed, record_id: i64) -> StoreResult<Vec<HistoryEntry>> {
        let rows = sqlx::query(
            "SELECT source, changed_at, changes FROM record_history WHERE feed = $1 AND record_id = $2 ORDER BY id",
        )
        .bind(feed.table())
        .bind(record_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let text: String = r.try_get("changes")?;
                Ok(HistoryEntry {
                    source: r.try_get("source")?,
                    changed_at: r.try_get("changed_at")?,
                    changes: serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("record_history.changes: {e}")))?,
                })
            })
            .collect()
    }

    async fn quarantined(&self, source: Option<&str>, limit: i64) -> StoreResult<Vec<QuarantineEntry>> {
        let mut q = QueryBuilder::<Db>::new("SELECT * FROM quarantine");
        if let Some(s) = source {
            q.push(" WHERE source = ");
            q.push_bind(s.to_string());
        }
        q.push(" ORDER BY last_seen_at DESC, source, location, row_no, field LIMIT ");
        q.push_bind(limit);
        let rows = q.build().fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                Ok(QuarantineEntry {
                    source: r.try_get("source")?,
                    item: QuarantineItem {
                        location: r.try_get("location")?,
                        row: r.try_get("row_no")?,
                        field: r.try_get("field")?,
                        column: r.try_get("column_name")?,
                        value: r.try_get("value")?,
                        reason: r.try_get("reason")?,
                        raw: r.try_get("raw")?,
                    },
                    first_seen_at: r.try_get("first_seen_at")?,
                    last_seen_at: r.try_get("last_seen_at")?,
                })
            })
            .collect()
    }

    async fn unknown_units(&self) -> StoreResult<Vec<(Feed, String, i64)>> {
        let mut out = Vec::new();
        for feed in Feed::ALL {
            let sql = format!(
                "SELECT unit_id, COUNT(*) AS n FROM {} WHERE unit_known = $1 GROUP BY unit_id ORDER BY unit_id",
                feed.table()
            );
            let rows = sqlx::query(AssertSqlSafe(sql)).bind(false).fetch_all(&self.reader).await?;
            for r in rows {
                out.push((feed, r.try_get("unit_id")?, r.try_get("n")?));
            }
        }
        Ok(out)
    }
}
