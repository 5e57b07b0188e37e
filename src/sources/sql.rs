//! SQL sources: a configured read-only query against a department's MySQL/MariaDB or PostgreSQL
//! database, taking the cursor as its one parameter and ordered by the cursor column.
//!
//! Rows are committed in batches of `batch_size`, each together with the cursor value of its last
//! row, so an interrupted run (a dropped connection, a failing row on the server, a kill) resumes
//! from the last committed batch. The session is put in read-only mode before the query runs.
//! PostgreSQL rows are read through `to_jsonb`, which renders every column type (numeric, date,
//! timestamptz …) without a type table of our own; MySQL rows are converted by column type.

use anyhow::{Context, anyhow, bail};
use chrono::{NaiveDate, NaiveDateTime};
use futures_util::TryStreamExt;
use secrecy::ExposeSecret;
use sqlx::{AssertSqlSafe, Column, ConnectOptions, Connection, Row, TypeInfo, ValueRef};
use std::str::FromStr;

use crate::config::read_secret;
use crate::sources::http::{JsonMapper, json_cell};
use crate::sources::{Item, Progress, SourceRun, Writer};
use crate::store::RowCounts;

/// MySQL session time zone: Asia/Shanghai, where department systems keep local times.
const SHANGHAI_OFFSET: &str = "+08:00";

/// One run of an SQL source. `committed` counts the rows of every batch committed so far, also
/// when the run fails later.
pub async fn run(run: SourceRun<'_>, committed: &mut RowCounts) -> anyhow::Result<()> {
    let SourceRun { store, src, .. } = run;
    let dsn = src.dsn.as_ref().ok_or_else(|| anyhow!("no dsn"))?;
    let password = read_secret(
        &format!("sources.{}.password_file", src.name),
        src.password_file.as_deref(),
        src.password_credential.as_deref(),
    )?;
    let cursor_start = store
        .source_state(&src.name)
        .await?
        .and_then(|s| s.cursor)
        .unwrap_or_else(|| src.cursor_start.clone());
    let url = dsn.expose();
    if url.starts_with("postgres") {
        let mut opts = sqlx::postgres::PgConnectOptions::from_str(url)
            .with_context(|| format!("bad dsn {dsn}"))?
            .application_name("liandong");
        if let Some(p) = &password {
            opts = opts.password(p.expose_secret());
        }
        let mut conn = opts
            .connect()
            .await
            .with_context(|| format!("cannot connect to {dsn}"))?;
        sqlx::query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            .execute(&mut conn)
            .await?;
        let sql = format!(
            "SELECT to_jsonb(q) AS row FROM ({}) AS q",
            src.query
                .as_deref()
                .unwrap_or_default()
                .trim()
                .trim_end_matches(';')
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(cursor_start)
            .fetch(&mut conn);
        let rows =
            rows.map_err(anyhow::Error::from)
                .and_then(|row: sqlx::postgres::PgRow| async move {
                    let v: serde_json::Value = row.try_get("row")?;
                    match v {
                        serde_json::Value::Object(m) => Ok(m),
                        _ => Err(anyhow!("to_jsonb gave no object")),
                    }
                });
        consume(run, rows, committed).await
    } else {
        let url = url.replacen("mariadb://", "mysql://", 1);
        // The session runs in Asia/Shanghai's fixed offset (no DST since 1991), not sqlx's
        // default UTC: a cursor taken from a TIMESTAMP column is bound back into the query as
        // local text, and MariaDB ignores an offset written in a datetime string, so with a UTC
        // session a `+08:00` cursor was read 8 hours late and the rows in between were skipped.
        let mut opts = sqlx::mysql::MySqlConnectOptions::from_str(&url)
            .with_context(|| format!("bad dsn {dsn}"))?
            .timezone(Some(SHANGHAI_OFFSET.to_string()));
        if let Some(p) = &password {
            opts = opts.password(p.expose_secret());
        }
        let mut conn = opts
            .connect()
            .await
            .with_context(|| format!("cannot connect to {dsn}"))?;
        sqlx::query("SET SESSION TRANSACTION READ ONLY")
            .execute(&mut conn)
            .await?;
        let sql = src.query.clone().unwrap_or_default();
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(cursor_start)
            .fetch(&mut conn);
        let rows = rows
            .map_err(anyhow::Error::from)
            .and_then(|row: sqlx::mysql::MySqlRow| async move { mysql_object(&row) });
        let out = consume(run, rows, committed).await;
        drop(conn.close().await);
        out
    }
}

async fn consume<S>(run: SourceRun<'_>, rows: S, total: &mut RowCounts) -> anyhow::Result<()>
where
    S: futures_util::Stream<Item = anyhow::Result<serde_json::Map<String, serde_json::Value>>>,
{
    let SourceRun {
        store,
        src,
        units,
        feed,
        obligations,
        limits,
        secrets,
        now,
        progress,
    } = run;
    let cursor_col = src.cursor_column.clone().unwrap_or_default();
    let mut mapper = JsonMapper::new(feed, src, limits, units, secrets);
    // A batch's import begins with its first row, not before the query has answered: the store's
    // write lock (SQLite: one writer for every process) is not held while a slow query runs.
    let mut writer: Option<Writer> = None;
    let mut in_batch = 0u32;
    let mut last_cursor: Option<String> = None;
    let mut bar = Progress::new(&src.name, progress);
    let mut row_no: i64 = 0;
    futures_util::pin_mut!(rows);
    while let Some(obj) = rows.try_next().await? {
        row_no += 1;
        let cursor = obj
            .get(&cursor_col)
            .map(json_cell)
            .ok_or_else(|| anyhow!("the query returns no column {cursor_col:?} (cursor_column)"))?;
        let item = mapper.map(&obj, "query", row_no);
        if let Item::Bad(_) = &item {
            tracing::debug!(source = %src.name, row = row_no, "row quarantined");
        }
        let w = match &mut writer {
            Some(w) => w,
            None => writer.insert(
                Writer::new(&src.name, store.begin_import(&src.name, now).await?)
                    .grading(obligations),
            ),
        };
        w.push("query", item).await?;
        last_cursor = Some(cursor);
        in_batch += 1;
        if in_batch >= src.batch_size
            && let Some(w) = writer.take()
        {
            let c = w.commit(last_cursor.clone()).await?;
            total.add(&c);
            bar.tick(total.seen);
            in_batch = 0;
        }
        if src.max_rows_per_run.is_some_and(|m| row_no as u64 >= m) {
            tracing::info!(source = %src.name, rows = row_no, "max_rows_per_run reached; the rest follows next run");
            break;
        }
    }
    if let Some(w) = writer {
        let c = w.commit(last_cursor).await?;
        total.add(&c);
    }
    Ok(())
}

/// A MySQL row as a JSON object of cell texts, by column type.
fn mysql_object(
    row: &sqlx::mysql::MySqlRow,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value as J;
    let mut m = serde_json::Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i)?;
        let name = col.name().to_string();
        if raw.is_null() {
            m.insert(name, J::Null);
            continue;
        }
        let ty = col.type_info().name().to_string();
        let v = match ty.as_str() {
            "BOOLEAN" => J::Bool(row.try_get::<bool, _>(i)?),
            t if t.ends_with("UNSIGNED") => J::String(row.try_get::<u64, _>(i)?.to_string()),
            "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" | "YEAR" => {
                J::String(row.try_get::<i64, _>(i)?.to_string())
            }
            "FLOAT" | "DOUBLE" => J::String(row.try_get::<f64, _>(i)?.to_string()),
            "DECIMAL" => J::String(row.try_get_unchecked::<String, _>(i)?),
            "DATE" => J::String(
                row.try_get::<NaiveDate, _>(i)?
                    .format("%Y-%m-%d")
                    .to_string(),
            ),
            // The session is in Asia/Shanghai (see `run`), so TIMESTAMP arrives as local wall
            // time, in the same text as DATETIME; that text also works as a cursor. Unchecked:
            // sqlx only types TIMESTAMP as `DateTime<Utc>`, which assumes a UTC session.
            "TIMESTAMP" => J::String(
                row.try_get_unchecked::<NaiveDateTime, _>(i)?
                    .format("%Y-%m-%d %H:%M:%S%.f")
                    .to_string(),
            ),
            // DATETIME has no zone: it is the department's local (Asia/Shanghai) time.
            "DATETIME" => J::String(
                row.try_get::<NaiveDateTime, _>(i)?
                    .format("%Y-%m-%d %H:%M:%S%.f")
                    .to_string(),
            ),
            "BIT" | "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB"
            | "GEOMETRY" => J::String(
                String::from_utf8_lossy(&row.try_get_unchecked::<Vec<u8>, _>(i)?).to_string(),
            ),
            "TIME" => J::String(row.try_get_unchecked::<String, _>(i).unwrap_or_default()),
            _ => J::String(row.try_get_unchecked::<String, _>(i)?),
        };
        m.insert(name, v);
    }
    if m.is_empty() {
        bail!("the query returned a row with no columns");
    }
    Ok(m)
}
