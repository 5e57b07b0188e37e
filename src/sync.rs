//! `sync`: one pass over the configured sources. Each source runs on its own; one that fails is
//! recorded as failed in the store (and in `status`) and the others go on. Freshness — whether a
//! source has been heard from recently enough — is computed here from the stored state and `now`.

use std::path::Path;

use anyhow::Context as _;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::config::{Config, Redactor, SourceConfig, SourceKind};
use crate::domain::clock::Clock;
use crate::schedule::{Schedule, parse_duration};
use crate::sources::{SourceRun, file, http, sql};
use crate::store::{RowCounts, RunReport, SourceState, Store};
use crate::units::Units;

/// How one source's run ended.
#[derive(Debug, Clone, Serialize)]
pub struct SourceOutcome {
    pub source: String,
    pub counts: RowCounts,
    pub error: Option<String>,
    /// Why the source was not read this time (another process is reading its drop folder): not
    /// a run, so nothing is recorded for it.
    pub skipped: Option<String>,
    /// Files read (drop folders), in order.
    pub files: Vec<String>,
}

/// Runs every enabled source (or only `only`), each within its `run_timeout_secs`. `clock`
/// gives the bookkeeping times.
pub async fn sync(
    cfg: &Config,
    store: &dyn Store,
    only: Option<&str>,
    clock: Clock,
    progress: bool,
) -> Vec<SourceOutcome> {
    let units = Units::new(&cfg.units);
    let mut out = Vec::new();
    for src in &cfg.sources {
        if only.is_some_and(|n| n != src.name) || (only.is_none() && !src.enabled) {
            continue;
        }
        let started = clock.now();
        let secrets = Redactor::for_source(src);
        let run = SourceRun {
            store,
            src,
            units: &units,
            feed: src.feeds,
            obligations: &cfg.obligations,
            limits: &cfg.limits,
            secrets: &secrets,
            now: started,
            progress,
        };
        let mut done = Done::default();
        // Dropping the run at its deadline rolls its open transaction back and closes its
        // connections; what it committed before stays (and is counted in `done`).
        let limit = std::time::Duration::from_secs(src.run_timeout_secs);
        let result = match tokio::time::timeout(limit, sync_source(run, &mut done)).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "did not finish within {} s (sources.{}.run_timeout_secs) and was stopped: {}; \
                 the next run reads the rest again",
                src.run_timeout_secs,
                src.name,
                if done.counts.seen > 0 || !done.files.is_empty() {
                    "what it had committed stays"
                } else {
                    "nothing of this run was stored"
                }
            )),
        };
        let error = match result {
            Ok(Read::Skipped(why)) => {
                tracing::info!(source = %src.name, "not read this time: {why}");
                out.push(SourceOutcome {
                    source: src.name.clone(),
                    counts: done.counts,
                    error: None,
                    skipped: Some(why),
                    files: done.files,
                });
                continue;
            }
            Ok(Read::Done) => None,
            // The error may quote outside text (a cell, a file name, a server's answer, which
            // may echo the credentials it was sent): the source's secrets are blanked and ID and
            // mobile numbers masked — in that order, so a mask cannot hide a secret from the
            // redaction — before it is logged, stored as the last error or shown in `status` and
            // the administrator's alert.
            Err(e) => Some(crate::mask::mask_text(&secrets.redact(&format!("{e:#}")))),
        };
        let counts = done.counts;
        match &error {
            None => tracing::info!(
                source = %src.name, seen = counts.seen, inserted = counts.inserted, updated = counts.updated,
                unchanged = counts.unchanged, quarantined = counts.quarantined, "source synced"
            ),
            Some(e) => tracing::error!(source = %src.name, error = %e, "source failed"),
        }
        let report = RunReport {
            started_at: started,
            finished_at: clock.now(),
            counts,
            error: error.clone(),
        };
        if let Err(e) = store.finish_run(&src.name, &report).await {
            tracing::error!(source = %src.name, error = %e, "could not record the run in the store");
        }
        out.push(SourceOutcome {
            source: src.name.clone(),
            counts,
            error,
            skipped: None,
            files: done.files,
        });
    }
    out
}

/// What a source's run has committed so far: kept when its deadline stops it half-way.
#[derive(Default)]
struct Done {
    counts: RowCounts,
    files: Vec<String>,
}

/// Whether a source was read.
enum Read {
    Done,
    Skipped(String),
}

async fn sync_source(run: SourceRun<'_>, done: &mut Done) -> anyhow::Result<Read> {
    let src = run.src;
    match src.kind {
        SourceKind::Http => done.counts = http::run(run).await?,
        SourceKind::Sql => sql::run(run, &mut done.counts).await?,
        SourceKind::File => {
            let path = src.path.as_deref().unwrap_or(Path::new(""));
            if path.is_dir() {
                return sync_drop_folder(run, path, done).await;
            } else if path.exists() {
                done.counts = file::import_file(run, path).await?;
                done.files.push(path.display().to_string());
            } else {
                anyhow::bail!("{} does not exist", path.display());
            }
        }
    }
    Ok(Read::Done)
}

/// The lock file in a drop folder: one process at a time reads the folder (hidden, so it is
/// never taken for an export).
const DROP_LOCK: &str = ".liandong.lock";

/// Each file of a drop folder is its own transaction; a processed file is archived. A file that
/// cannot be read stays where it is and makes the run fail (so `status` shows it), while the
/// other files still go in. One process at a time reads a folder: a second one (a `sync` from
/// the command line while the daemon reads it) finds its lock taken and leaves the folder alone.
async fn sync_drop_folder(run: SourceRun<'_>, dir: &Path, done: &mut Done) -> anyhow::Result<Read> {
    let SourceRun { src, now, .. } = run;
    let lock_path = dir.join(DROP_LOCK);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| {
            format!(
                "cannot open the drop folder's lock file {}",
                lock_path.display()
            )
        })?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Ok(Read::Skipped(format!(
                "another process is reading the drop folder {} now (it holds {DROP_LOCK})",
                dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(anyhow::anyhow!(
                "cannot lock the drop folder's lock file {}: {e}",
                lock_path.display()
            ));
        }
    }
    let mut errors = Vec::new();
    let (files, settling) = file::drop_files(dir, src.settle_secs, now)?;
    if settling > 0 {
        tracing::info!(source = %src.name, files = settling, "files changed in the last settle_secs are left for the next run");
    }
    for f in files {
        match file::import_file(run, &f).await {
            Ok(c) => {
                done.counts.add(&c);
                match file::archive(src, dir, &f, now) {
                    Ok(to) => {
                        tracing::info!(source = %src.name, file = %crate::mask::mask_text(&f.display().to_string()),
                            archived = %crate::mask::mask_text(&to.display().to_string()), "file processed")
                    }
                    Err(e) => errors.push(format!("{e:#}")),
                }
                done.files.push(f.display().to_string());
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    drop(lock);
    if errors.is_empty() {
        Ok(Read::Done)
    } else {
        Err(anyhow::anyhow!(errors.join("; ")))
    }
}

/// Whether a source has been heard from recently enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Freshness {
    Ok,
    Late,
    Error,
    Disabled,
}

impl Freshness {
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Ok => "ok",
            Freshness::Late => "late",
            Freshness::Error => "error",
            Freshness::Disabled => "disabled",
        }
    }
}

/// The limit after which a source counts as late: `late_after`, or twice its schedule's interval.
pub fn late_after(src: &SourceConfig, now: DateTime<Utc>) -> Duration {
    src.late_after
        .as_deref()
        .and_then(parse_duration)
        .or_else(|| {
            Schedule::parse(&src.schedule)
                .ok()
                .and_then(|s| s.interval_at(now))
                .map(|d| d * 2)
        })
        .unwrap_or_else(|| Duration::hours(1))
}

/// error: the last run failed; late: no success within `late_after` (or never); ok otherwise.
pub fn freshness(src: &SourceConfig, state: Option<&SourceState>, now: DateTime<Utc>) -> Freshness {
    if !src.enabled {
        return Freshness::Disabled;
    }
    let Some(s) = state else {
        return Freshness::Late;
    };
    match (s.last_success_at, s.last_error_at) {
        (_, Some(e)) if s.last_success_at.is_none_or(|ok| e > ok) => Freshness::Error,
        (Some(ok), _) if now - ok <= late_after(src, now) => Freshness::Ok,
        _ => Freshness::Late,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, h, 0, 0).unwrap()
    }

    #[test]
    fn freshness_follows_the_last_success_and_error() {
        let src = SourceConfig {
            schedule: "0 0 * * * *".into(),
            ..Default::default()
        };
        assert_eq!(freshness(&src, None, at(5)), Freshness::Late);
        let ok = SourceState {
            last_success_at: Some(at(4)),
            ..Default::default()
        };
        assert_eq!(freshness(&src, Some(&ok), at(5)), Freshness::Ok);
        assert_eq!(freshness(&src, Some(&ok), at(7)), Freshness::Late);
        let failed = SourceState {
            last_success_at: Some(at(4)),
            last_error_at: Some(at(5)),
            ..Default::default()
        };
        assert_eq!(freshness(&src, Some(&failed), at(5)), Freshness::Error);
        let recovered = SourceState {
            last_success_at: Some(at(6)),
            last_error_at: Some(at(5)),
            ..Default::default()
        };
        assert_eq!(freshness(&src, Some(&recovered), at(6)), Freshness::Ok);
        let custom = SourceConfig {
            late_after: Some("1d".into()),
            ..src
        };
        assert_eq!(freshness(&custom, Some(&ok), at(20)), Freshness::Ok);
    }
}
