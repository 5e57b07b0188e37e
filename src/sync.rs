//! `sync`: one pass over the configured sources. Each source runs on its own; one that fails is
//! recorded as failed in the store (and in `status`) and the others go on. Freshness — whether a
//! source has been heard from recently enough — is computed here from the stored state and `now`.

use std::path::Path;

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
    /// Files read (drop folders), in order.
    pub files: Vec<String>,
}

/// Runs every enabled source (or only `only`). `clock` gives the bookkeeping times.
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
        let result = sync_source(
            store,
            src,
            &secrets,
            &units,
            &cfg.obligations,
            &cfg.limits,
            started,
            progress,
        )
        .await;
        let (counts, files, error) = match result {
            Ok((c, f)) => (c, f, None),
            // The error may quote outside text (a cell, a file name, a server's answer, which
            // may echo the credentials it was sent): the source's secrets are blanked and ID and
            // mobile numbers masked — in that order, so a mask cannot hide a secret from the
            // redaction — before it is logged, stored as the last error or shown in `status` and
            // the administrator's alert.
            Err((c, f, e)) => (
                c,
                f,
                Some(crate::mask::mask_text(&secrets.redact(&format!("{e:#}")))),
            ),
        };
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
            files,
        });
    }
    out
}

type Failed = (RowCounts, Vec<String>, anyhow::Error);

#[allow(clippy::too_many_arguments)]
async fn sync_source(
    store: &dyn Store,
    src: &SourceConfig,
    secrets: &Redactor,
    units: &Units,
    obligations: &crate::config::ObligationsConfig,
    limits: &crate::config::LimitsConfig,
    now: DateTime<Utc>,
    progress: bool,
) -> Result<(RowCounts, Vec<String>), Failed> {
    let fail = |e: anyhow::Error| (RowCounts::default(), Vec::new(), e);
    let feed = src.feeds;
    let run = SourceRun {
        store,
        src,
        units,
        feed,
        obligations,
        limits,
        secrets,
        now,
        progress,
    };
    match src.kind {
        SourceKind::Http => http::run(run).await.map(|c| (c, Vec::new())).map_err(fail),
        SourceKind::Sql => {
            let mut committed = RowCounts::default();
            match sql::run(run, &mut committed).await {
                Ok(()) => Ok((committed, Vec::new())),
                Err(e) => Err((committed, Vec::new(), e)),
            }
        }
        SourceKind::File => {
            let path = src.path.as_deref().unwrap_or(Path::new(""));
            if path.is_dir() {
                sync_drop_folder(run, path).await
            } else if path.exists() {
                file::import_file(run, path)
                    .await
                    .map(|c| (c, vec![path.display().to_string()]))
                    .map_err(fail)
            } else {
                Err(fail(anyhow::anyhow!("{} does not exist", path.display())))
            }
        }
    }
}

/// Each file of a drop folder is its own transaction; a processed file is archived. A file that
/// cannot be read stays where it is and makes the run fail (so `status` shows it), while the
/// other files still go in.
async fn sync_drop_folder(
    run: SourceRun<'_>,
    dir: &Path,
) -> Result<(RowCounts, Vec<String>), Failed> {
    let SourceRun { src, now, .. } = run;
    let mut total = RowCounts::default();
    let mut done = Vec::new();
    let mut errors = Vec::new();
    let (files, settling) =
        file::drop_files(dir, src.settle_secs, now).map_err(|e| (total, Vec::new(), e))?;
    if settling > 0 {
        tracing::info!(source = %src.name, files = settling, "files changed in the last settle_secs are left for the next run");
    }
    for f in files {
        match file::import_file(run, &f).await {
            Ok(c) => {
                total.add(&c);
                match file::archive(src, dir, &f, now) {
                    Ok(to) => {
                        tracing::info!(source = %src.name, file = %crate::mask::mask_text(&f.display().to_string()),
                            archived = %crate::mask::mask_text(&to.display().to_string()), "file processed")
                    }
                    Err(e) => errors.push(format!("{e:#}")),
                }
                done.push(f.display().to_string());
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if errors.is_empty() {
        Ok((total, done))
    } else {
        Err((total, done, anyhow::anyhow!(errors.join("; "))))
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
