//! `/metrics` in the Prometheus text exposition format (version 0.0.4): what the store says at
//! the time of the scrape (sources, findings, outbox, jobs) and what this process counted since
//! it started (job runs, durations, failures, reloads).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::store::Store;

/// One job's counters in this process.
#[derive(Debug, Clone, Default)]
struct JobCounters {
    ok: u64,
    failed: u64,
    /// Slots another replica ran, or that were still running here.
    skipped: u64,
    duration_sum: f64,
    last_duration: f64,
}

/// What this process counts.
#[derive(Debug, Default)]
pub struct Metrics {
    jobs: Mutex<BTreeMap<String, JobCounters>>,
    reloads: Mutex<(u64, u64)>,
}

impl Metrics {
    pub fn job_ran(&self, job: &str, ok: bool, secs: f64) {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = jobs.entry(job.to_string()).or_default();
        if ok {
            c.ok += 1;
        } else {
            c.failed += 1;
        }
        c.duration_sum += secs;
        c.last_duration = secs;
    }

    pub fn job_skipped(&self, job: &str) {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        jobs.entry(job.to_string()).or_default().skipped += 1;
    }

    pub fn reloaded(&self, ok: bool) {
        let mut r = self
            .reloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ok {
            r.0 += 1;
        } else {
            r.1 += 1;
        }
    }

    /// The exposition: the store's figures read now, then this process's counters.
    pub async fn render(
        &self,
        cfg: &Config,
        store: &dyn Store,
        now: DateTime<Utc>,
        wall: DateTime<Utc>,
        heartbeat: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let mut out = String::new();
        let o = &mut out;
        family(o, "liandong_build_info", "gauge", "The running version.");
        sample(
            o,
            "liandong_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        family(
            o,
            "liandong_scheduler_heartbeat_timestamp_seconds",
            "gauge",
            "When the scheduler last woke up.",
        );
        sample(
            o,
            "liandong_scheduler_heartbeat_timestamp_seconds",
            &[],
            secs(heartbeat),
        );

        let states = store.source_states().await?;
        family(
            o,
            "liandong_source_last_success_timestamp_seconds",
            "gauge",
            "When a source last synced without error (absent: never).",
        );
        for src in &cfg.sources {
            if let Some(t) = states
                .iter()
                .find(|s| s.name == src.name)
                .and_then(|s| s.last_success_at)
            {
                sample(
                    o,
                    "liandong_source_last_success_timestamp_seconds",
                    &[("source", &src.name)],
                    secs(t),
                );
            }
        }
        family(
            o,
            "liandong_source_freshness",
            "gauge",
            "1 for the source's freshness now: ok, late (silent past its limit), error (its last run failed) or disabled.",
        );
        for src in &cfg.sources {
            let st = states.iter().find(|s| s.name == src.name);
            let fresh = crate::sync::freshness(src, st, now);
            for f in ["ok", "late", "error", "disabled"] {
                let v = if fresh.as_str() == f { 1.0 } else { 0.0 };
                sample(
                    o,
                    "liandong_source_freshness",
                    &[("source", &src.name), ("freshness", f)],
                    v,
                );
            }
        }
        family(
            o,
            "liandong_source_last_run_rows",
            "gauge",
            "Rows of the source's last run, by what became of them.",
        );
        for st in &states {
            let c = &st.counts;
            #[allow(clippy::cast_precision_loss)]
            for (what, n) in [
                ("seen", c.seen),
                ("inserted", c.inserted),
                ("updated", c.updated),
                ("unchanged", c.unchanged),
                ("quarantined", c.quarantined),
                ("unknown_unit", c.unknown_unit),
            ] {
                sample(
                    o,
                    "liandong_source_last_run_rows",
                    &[("source", &st.name), ("rows", what)],
                    n as f64,
                );
            }
        }

        family(
            o,
            "liandong_findings",
            "gauge",
            "Findings by rule and state.",
        );
        for t in store.finding_totals().await? {
            #[allow(clippy::cast_precision_loss)]
            sample(
                o,
                "liandong_findings",
                &[("rule", &t.rule), ("state", &t.state)],
                t.count as f64,
            );
        }
        family(
            o,
            "liandong_outbox_messages",
            "gauge",
            "Outbox messages by state.",
        );
        let counts = store.outbox_counts().await?;
        for state in ["pending", "sending", "sent", "failed", "dead", "cancelled"] {
            let n = counts
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            #[allow(clippy::cast_precision_loss)]
            sample(o, "liandong_outbox_messages", &[("state", state)], n as f64);
        }

        let stored = store.job_states(wall).await?;
        family(
            o,
            "liandong_job_last_success_timestamp_seconds",
            "gauge",
            "The scheduled time of the job's latest run that ended well, by any replica.",
        );
        // Only the jobs configured now: a removed source's runs stay in the store for a while.
        let configured: Vec<String> = super::jobs::jobs(cfg)
            .map(|js| js.into_iter().map(|j| j.name).collect())
            .unwrap_or_default();
        for s in stored.iter().filter(|s| configured.contains(&s.job)) {
            if let Some(t) = s.last_ok_slot {
                sample(
                    o,
                    "liandong_job_last_success_timestamp_seconds",
                    &[("job", &s.job)],
                    secs(t),
                );
            }
        }
        family(
            o,
            "liandong_job_running",
            "gauge",
            "1 while a slot of the job runs under a live lease, on any replica.",
        );
        for s in stored.iter().filter(|s| configured.contains(&s.job)) {
            let v = if s.running.is_some() { 1.0 } else { 0.0 };
            sample(o, "liandong_job_running", &[("job", &s.job)], v);
        }
        family(
            o,
            "liandong_job_abandoned_slots",
            "gauge",
            "Slots of the job left unfinished by a process that died (their lease ran out), not yet run again or closed as superseded.",
        );
        for s in stored.iter().filter(|s| configured.contains(&s.job)) {
            #[allow(clippy::cast_precision_loss)]
            sample(
                o,
                "liandong_job_abandoned_slots",
                &[("job", &s.job)],
                s.abandoned.len() as f64,
            );
        }
        let jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        family(
            o,
            "liandong_job_runs_total",
            "counter",
            "Job runs by this process, by outcome.",
        );
        #[allow(clippy::cast_precision_loss)]
        for (job, c) in &jobs {
            sample(
                o,
                "liandong_job_runs_total",
                &[("job", job), ("outcome", "ok")],
                c.ok as f64,
            );
            sample(
                o,
                "liandong_job_runs_total",
                &[("job", job), ("outcome", "failed")],
                c.failed as f64,
            );
        }
        family(
            o,
            "liandong_job_skipped_total",
            "counter",
            "Slots this process left to another replica, or skipped while the job still ran.",
        );
        #[allow(clippy::cast_precision_loss)]
        for (job, c) in &jobs {
            sample(
                o,
                "liandong_job_skipped_total",
                &[("job", job)],
                c.skipped as f64,
            );
        }
        family(
            o,
            "liandong_job_duration_seconds",
            "summary",
            "How long this process's job runs took.",
        );
        #[allow(clippy::cast_precision_loss)]
        for (job, c) in &jobs {
            sample(
                o,
                "liandong_job_duration_seconds_sum",
                &[("job", job)],
                c.duration_sum,
            );
            sample(
                o,
                "liandong_job_duration_seconds_count",
                &[("job", job)],
                (c.ok + c.failed) as f64,
            );
        }
        family(
            o,
            "liandong_job_last_duration_seconds",
            "gauge",
            "How long the job's last run in this process took.",
        );
        for (job, c) in &jobs {
            sample(
                o,
                "liandong_job_last_duration_seconds",
                &[("job", job)],
                c.last_duration,
            );
        }
        let (ok, bad) = *self
            .reloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        family(
            o,
            "liandong_config_reloads_total",
            "counter",
            "SIGHUP reloads, by outcome (a rejected file leaves the previous configuration running).",
        );
        #[allow(clippy::cast_precision_loss)]
        {
            sample(
                o,
                "liandong_config_reloads_total",
                &[("outcome", "ok")],
                ok as f64,
            );
            sample(
                o,
                "liandong_config_reloads_total",
                &[("outcome", "rejected")],
                bad as f64,
            );
        }
        Ok(out)
    }
}

#[allow(clippy::cast_precision_loss)]
fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        sample(&mut s, "x", &[("a", "q\"b\\c\nd"), ("b", "县")], 1.5);
        assert_eq!(s, "x{a=\"q\\\"b\\\\c\\nd\",b=\"县\"} 1.5\n");
        let mut s = String::new();
        sample(&mut s, "y", &[], 3.0);
        assert_eq!(s, "y 3\n");
    }
}
