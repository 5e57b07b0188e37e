//! The command line: flags are parsed by clap, then each command loads the configuration, opens
//! the store and does one job. Only here is the wall clock read (`--as-of` replaces it where a
//! command evaluates time). Errors are printed once, with their chain, and mapped to the exit
//! codes of SPEC §9: 0 success, 1 the job ran but something failed, 2 usage or configuration.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::config::{self, Config, LoadOptions};
use crate::output::{self, Format};
use crate::records::{Feed, FieldKind, Value};
use crate::store::{self, Store};
use crate::sync::{self, Freshness};
use crate::units::Units;

#[derive(Debug, Parser)]
#[command(
    name = "liandong",
    version,
    about = "Government–procuratorate linkage (府检联动): ingest, rules, reminders, reports"
)]
pub struct Cli {
    /// Configuration file (default: ./config/liandong.toml, then /etc/liandong/liandong.toml).
    #[arg(long, short = 'c', global = true, env = "LIANDONG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log filter, e.g. `info`, `debug`, `liandong=debug` (or RUST_LOG).
    #[arg(long, global = true, default_value = "info", env = "LIANDONG_LOG")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One pass over the sources.
    Sync {
        /// Only this source (also when it is disabled).
        #[arg(long)]
        source: Option<String>,
    },
    /// Sources (last success, last error, rows, freshness), quarantined rows and the store.
    Status {
        /// Evaluate freshness at this time (a date, read as 00:00 Asia/Shanghai, or RFC 3339).
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// How many quarantined rows to list.
        #[arg(long, default_value_t = 20)]
        quarantine: i64,
    },
    /// What the store holds (JSON: an array of cases).
    Cases {
        /// Only this unit (id, name or alias).
        #[arg(long)]
        unit: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Which feed to list: cases, referrals or entries.
        #[arg(long, default_value = "cases", value_parser = parse_feed)]
        feed: Feed,
    },
    /// Rules → findings. Idempotent: run twice at the same time, the second changes nothing.
    /// Incremental: looks again at what changed since the last evaluation (a full pass the
    /// first time, after a change of the rules or calendar, or for an earlier --as-of).
    Evaluate {
        /// Evaluate at this time (a date, read as 00:00 Asia/Shanghai, or RFC 3339).
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<DateTime<Utc>>,
        /// Evaluate every case again, not only what changed.
        #[arg(long)]
        full: bool,
        /// Also queue the reminders and notices now due, in the evaluation's own transaction
        /// (`notify --send-only` or the daemon sends them).
        #[arg(long)]
        queue_notices: bool,
    },
    /// Open findings (with --all: resolved and waived too), soonest due first.
    Findings {
        #[arg(long)]
        all: bool,
        /// Only this rule (R1, R2, …).
        #[arg(long)]
        rule: Option<String>,
        /// Only this unit (id, name or alias).
        #[arg(long)]
        unit: Option<String>,
        /// Show open findings' states as of this time (default: now).
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Queue the reminders, notices and escalations due, and dispatch the outbox.
    Notify {
        /// Plan and send as at this time (a date, read as 00:00 Asia/Shanghai, or RFC 3339).
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<DateTime<Utc>>,
        /// Print exactly who would get what; queue and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Queue what is due, send nothing (a later run or the daemon sends it).
        #[arg(long, conflicts_with_all = ["dry_run", "send_only"])]
        queue_only: bool,
        /// Send what is queued, queue nothing new.
        #[arg(long, conflicts_with = "dry_run")]
        send_only: bool,
    },
    /// Messages and their delivery state, newest first (JSON: with every attempt).
    Outbox {
        /// Only messages in this state: pending, sending, sent, failed, dead or cancelled.
        #[arg(long, value_parser = ["pending", "sending", "sent", "failed", "dead", "cancelled"])]
        state: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Send one test message through a channel, straight to its provider.
    SendTest {
        /// email, sms or robot.
        #[arg(long, value_parser = ["email", "sms", "robot"])]
        channel: String,
        /// An e-mail address, a phone number, or a robot's name.
        #[arg(long)]
        to: String,
    },
    /// Waive a finding; kept with who, when and why, and it stays waived.
    Waive {
        /// The finding's id (see `findings`).
        id: i64,
        #[arg(long)]
        reason: String,
        /// Who waives it (default: $SUDO_USER or $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Record what people did: a procuratorial recommendation or opinion, its receipt and reply.
    #[command(subcommand)]
    Record(RecordCommand),
    /// Review sampling of the quarter, the yearly meeting and the training, per unit.
    Obligations {
        /// As of this day (a date or an RFC 3339 time; default: now).
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// The reproducible review sample (案卷评查): draw it, or verify a recorded draw.
    #[command(subcommand)]
    Sample(SampleCommand),
    /// Reports: the weekly lagging-unit report (落后单位周报).
    #[command(subcommand)]
    Report(ReportCommand),
    /// Check the configuration; list every problem with its key path (exit 2 if any).
    CheckConfig,
    /// Print the documented example configuration.
    DefaultConfig,
    /// Create or upgrade the store's schema.
    Migrate,
    /// The daemon: sources, evaluation, notifications, the weekly report and alerts on their
    /// schedules (Asia/Shanghai), with /healthz and /metrics; under systemd Type=notify.
    Run {
        /// One full cycle (every source, evaluate, notify, the weekly report if its slot has
        /// not run, alerts), then exit: 0, or 1 if a job failed.
        #[arg(long)]
        once: bool,
        /// Replay: the daemon's clock starts at this time (a date, read as 00:00
        /// Asia/Shanghai, or RFC 3339) and runs on from there.
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// A procuratorial recommendation (检察建议) to a unit: R7, reply due two months after receipt.
    /// Recording the same unit and number again updates it, e.g. with --replied.
    Recommendation(crate::record::DocumentArgs),
    /// A procuratorial opinion after non-prosecution (检察意见): R8, reply due two months after
    /// receipt. Recording the same unit and number again updates it.
    Opinion(crate::record::DocumentArgs),
    /// A case-file review (案卷评查) by at least two reviewers. Recording the same unit and case
    /// again updates the review.
    Review(crate::record::ReviewArgs),
    /// A joint work meeting (府检联动工作会议).
    Meeting(crate::record::EventArgs),
    /// A special training (专题培训), county-wide or of one unit (--unit).
    Training(crate::record::EventArgs),
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Per enforcement unit: open findings by rule, review sampling, meeting and training,
    /// what is new and resolved this week, rank; the lagging units first.
    Weekly {
        /// As at this time (a date, read as 00:00 Asia/Shanghai, or RFC 3339).
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value = "text")]
        format: ReportFormat,
        /// Write to this file instead of standard output (required for xlsx and png).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Send it to the liaison office through the outbox (once per week) and keep the week's
        /// snapshot for the next report's comparison.
        #[arg(long)]
        send: bool,
    },
    /// The yearly scorecard per enforcement unit (依法治县考核): findings by rule with their
    /// on-time rate, sampling per quarter, meeting and training held.
    Annual {
        #[arg(long)]
        year: i32,
        /// Count as at this time (default: now; a past year is counted to its end).
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

/// The formats of the weekly report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Csv,
    Html,
    Xlsx,
    /// The chart alone.
    Png,
    /// Every format, as files in the folder `--output` names.
    All,
}

#[derive(Debug, Subcommand)]
pub enum SampleCommand {
    /// Draw a unit's review sample for a quarter: focused files first, then a random draw ranked
    /// by SHA-256 of the seed and each case number. The seed, the population and the list are
    /// recorded for `sample verify`.
    Draw {
        /// The enforcement unit (id, name or alias).
        #[arg(long)]
        unit: String,
        /// The quarter, e.g. 2025Q3.
        #[arg(long, value_parser = parse_quarter)]
        quarter: crate::obligations::sampling::Quarter,
        /// The seed (default: 16 random bytes in hex).
        #[arg(long)]
        seed: Option<String>,
        /// Take the population as of this day (default: today, or the quarter's last day).
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Also write the list as an XLSX worksheet to print and fill in (案卷评查抽查表).
        #[arg(long)]
        xlsx: Option<PathBuf>,
    },
    /// Re-run the last recorded draw of a unit and quarter: confirms the same list, or says
    /// exactly what changed (exit 1 when it changed).
    Verify {
        #[arg(long)]
        unit: String,
        #[arg(long, value_parser = parse_quarter)]
        quarter: crate::obligations::sampling::Quarter,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

fn parse_quarter(s: &str) -> Result<crate::obligations::sampling::Quarter, String> {
    s.parse()
        .map_err(|e: crate::obligations::sampling::BadQuarter| e.to_string())
}

fn parse_feed(s: &str) -> Result<Feed, String> {
    Feed::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Feed::ALL.iter().map(|f| f.table()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// `T` of SPEC §9: a date (00:00 Asia/Shanghai) or an RFC 3339 time.
pub fn parse_as_of(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| crate::sources::mapping::shanghai_to_utc(d.and_time(chrono::NaiveTime::MIN)))
        .map_err(|_| format!("expected a date (2025-10-13) or an RFC 3339 time, found {s:?}"))
}

/// Who runs the command, for audit records: `$SUDO_USER`, else `$USER`.
fn current_user() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Errors that mean "fix your command or configuration" (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if let Some(c) = e.downcast_ref::<config::ConfigError>() {
                eprint!("{c}");
                return ExitCode::from(2);
            }
            if e.downcast_ref::<UsageError>().is_some() {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            eprintln!("error: {}", crate::mask::mask_text(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

fn init_tracing(filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // Under systemd stderr goes to the journal, which adds its own time stamps: no colours there.
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let ansi = !journal && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false);
    if journal {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    Ok(Config::load(&LoadOptions::from_env(cli.config.clone()))?)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::DefaultConfig => {
            print!("{}", config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => check_config(&cli),
        Command::Run { once, as_of } => {
            crate::daemon::run(LoadOptions::from_env(cli.config.clone()), *once, *as_of).await
        }
        Command::Migrate => {
            let cfg = load_config(&cli)?;
            let store = store::open(&cfg.store).await?;
            println!(
                "store {} ({}) is up to date",
                cfg.store.url,
                store.backend()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { source } => {
            let cfg = load_config(&cli)?;
            if let Some(s) = source
                && cfg.source(s).is_none()
            {
                let names: Vec<&str> = cfg.sources.iter().map(|s| s.name.as_str()).collect();
                return Err(UsageError(format!(
                    "no source named {s:?} (configured: {})",
                    names.join(", ")
                ))
                .into());
            }
            let store = store::open(&cfg.store).await?;
            store.allow_exclusive_first_load();
            let outcomes =
                sync::sync(&cfg, store.as_ref(), source.as_deref(), &Utc::now, true).await;
            print_sync(&outcomes);
            let failed = outcomes.iter().any(|o| o.error.is_some());
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Status {
            as_of,
            format,
            quarantine,
        } => {
            let cfg = load_config(&cli)?;
            let store = store::open(&cfg.store).await?;
            status(
                &cfg,
                store.as_ref(),
                as_of.unwrap_or_else(Utc::now),
                *format,
                *quarantine,
            )
            .await
        }
        Command::Evaluate {
            as_of,
            full,
            queue_notices,
        } => {
            let cfg = load_config(&cli)?;
            let store = store::open(&cfg.store).await?;
            evaluate(
                &cfg,
                store.as_ref(),
                as_of.unwrap_or_else(Utc::now),
                *full,
                *queue_notices,
            )
            .await
        }
        Command::Findings {
            all,
            rule,
            unit,
            as_of,
            format,
        } => {
            let cfg = load_config(&cli)?;
            let units = Units::new(&cfg.units);
            let rule = match rule {
                Some(r) => Some(
                    r.parse::<crate::rules::RuleId>()
                        .map_err(|e| UsageError(e.to_string()))?
                        .to_string(),
                ),
                None => None,
            };
            let filter = store::FindingFilter {
                all: *all,
                rule,
                unit: unit.as_deref().map(|u| units.stored_id(u)),
            };
            let store = store::open(&cfg.store).await?;
            findings(
                &cfg,
                store.as_ref(),
                &units,
                &filter,
                as_of.unwrap_or_else(Utc::now),
                *format,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Record(what) => record(&cli, what).await,
        Command::Sample(cmd) => sample(&cli, cmd).await,
        Command::Report(ReportCommand::Annual {
            year,
            as_of,
            format,
            output,
        }) => {
            let cfg = load_config(&cli)?;
            let store = store::open(&cfg.store).await?;
            let a = crate::report::annual::annual(
                store.as_ref(),
                &cfg,
                *year,
                as_of.unwrap_or_else(Utc::now),
            )
            .await?;
            let bytes = match format {
                Format::Table => crate::report::annual::text(&a).into_bytes(),
                Format::Json => format!("{}\n", serde_json::to_string_pretty(&a)?).into_bytes(),
                Format::Csv => {
                    let mut b = Vec::new();
                    crate::report::annual::csv(&a, &mut b)?;
                    b
                }
            };
            match output {
                Some(p) => std::fs::write(p, &bytes)
                    .with_context(|| format!("cannot write {}", p.display()))?,
                None => std::io::stdout().lock().write_all(&bytes)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(ReportCommand::Weekly {
            as_of,
            format,
            output,
            send,
        }) => {
            let cfg = load_config(&cli)?;
            let store = store::open(&cfg.store).await?;
            crate::report::command::weekly(
                &cfg,
                store.as_ref(),
                *as_of,
                *format,
                output.as_deref(),
                *send,
            )
            .await
        }
        Command::Obligations { as_of, format } => {
            let cfg = load_config(&cli)?;
            let store = store::open(&cfg.store).await?;
            let today = as_of
                .unwrap_or_else(Utc::now)
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .date_naive();
            let o = crate::obligations::status::obligations(
                store.as_ref(),
                &cfg.obligations,
                &cfg.units,
                today,
            )
            .await?;
            print_obligations(&o, *format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Notify {
            as_of,
            dry_run,
            queue_only,
            send_only,
        } => {
            let cfg = load_config(&cli)?;
            let store = store::open(&cfg.store).await?;
            let mode = if *dry_run {
                crate::notify::command::Mode::DryRun
            } else if *queue_only {
                crate::notify::command::Mode::QueueOnly
            } else if *send_only {
                crate::notify::command::Mode::SendOnly
            } else {
                crate::notify::command::Mode::QueueAndSend
            };
            crate::notify::command::notify(&cfg, store.as_ref(), *as_of, mode).await
        }
        Command::Outbox {
            state,
            limit,
            format,
        } => {
            let cfg = load_config(&cli)?;
            let store = store::open(&cfg.store).await?;
            crate::notify::command::outbox(store.as_ref(), state.as_deref(), *limit, *format).await
        }
        Command::SendTest { channel, to } => {
            let cfg = load_config(&cli)?;
            crate::notify::command::send_test(&cfg, channel, to).await
        }
        Command::Waive { id, reason, by } => {
            if reason.trim().is_empty() {
                return Err(UsageError("a waiver needs a reason (--reason)".into()).into());
            }
            let cfg = load_config(&cli)?;
            let store = store::open(&cfg.store).await?;
            let by = by.clone().unwrap_or_else(current_user);
            if store
                .waive_finding(*id, &by, reason.trim(), Utc::now())
                .await?
            {
                println!("finding {id} waived by {by}: {}", reason.trim());
                Ok(ExitCode::SUCCESS)
            } else {
                Err(UsageError(format!(
                    "no open finding with id {id} (or it is already waived)"
                ))
                .into())
            }
        }
        Command::Cases { unit, format, feed } => {
            let cfg = load_config(&cli)?;
            let units = Units::new(&cfg.units);
            let unit_id = unit.as_deref().map(|u| units.stored_id(u));
            let store = store::open(&cfg.store).await?;
            cases(store.as_ref(), &units, *feed, unit_id.as_deref(), *format).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What `Config::load` cannot see: secrets readable where they are configured (their content
/// is never shown), source paths that exist, templates that parse. `check-config` and the
/// daemon's reload both refuse a configuration with any.
pub fn runtime_problems(cfg: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    // Secrets must be readable where they are configured (their content is never shown).
    let secret =
        |key: String, f: Option<&std::path::Path>, c: Option<&str>, problems: &mut Vec<String>| {
            if let Err(e) = config::read_secret(&key, f, c) {
                problems.push(e.to_string());
            }
        };
    secret(
        "store.password_file".into(),
        cfg.store.password_file.as_deref(),
        cfg.store.password_credential.as_deref(),
        &mut problems,
    );
    for (i, s) in cfg.sources.iter().enumerate() {
        let a = &s.auth;
        secret(
            format!("sources[{i}].auth.token_file"),
            a.token_file.as_deref(),
            a.token_credential.as_deref(),
            &mut problems,
        );
        secret(
            format!("sources[{i}].auth.password_file"),
            a.password_file.as_deref(),
            a.password_credential.as_deref(),
            &mut problems,
        );
        secret(
            format!("sources[{i}].auth.key_file"),
            a.key_file.as_deref(),
            a.key_credential.as_deref(),
            &mut problems,
        );
        secret(
            format!("sources[{i}].password_file"),
            s.password_file.as_deref(),
            s.password_credential.as_deref(),
            &mut problems,
        );
        if let Some(p) = &s.path
            && !p.exists()
        {
            problems.push(format!("sources[{i}].path: {} does not exist", p.display()));
        }
    }
    let n = &cfg.notify;
    secret(
        "notify.email.password_file".into(),
        n.email.password_file.as_deref(),
        n.email.password_credential.as_deref(),
        &mut problems,
    );
    if let Some(sms) = &n.sms {
        secret(
            "notify.sms.secret_file".into(),
            sms.secret_file.as_deref(),
            sms.secret_credential.as_deref(),
            &mut problems,
        );
    }
    for (i, r) in n.robots.iter().enumerate() {
        secret(
            format!("notify.robots[{i}].url_file"),
            r.url_file.as_deref(),
            r.url_credential.as_deref(),
            &mut problems,
        );
        secret(
            format!("notify.robots[{i}].secret_file"),
            r.secret_file.as_deref(),
            r.secret_credential.as_deref(),
            &mut problems,
        );
    }
    // The templates, shipped or overridden, must parse.
    if let Err(e) = crate::notify::templates::Templates::load(n.templates_dir.as_deref()) {
        problems.push(format!("notify.templates_dir: {e}"));
    }
    if let Some(d) = &n.templates_dir
        && !d.is_dir()
    {
        problems.push(format!(
            "notify.templates_dir: {} is not a folder",
            d.display()
        ));
    }
    problems
}

fn check_config(cli: &Cli) -> anyhow::Result<ExitCode> {
    match Config::load(&LoadOptions::from_env(cli.config.clone())) {
        Ok(cfg) => {
            let problems = runtime_problems(&cfg);
            if problems.is_empty() {
                let files: Vec<String> =
                    cfg.files.iter().map(|f| f.display().to_string()).collect();
                println!(
                    "configuration is valid ({}): {} units, {} sources, store {}",
                    if files.is_empty() {
                        "embedded defaults".to_string()
                    } else {
                        files.join(" + ")
                    },
                    cfg.units.len(),
                    cfg.sources.len(),
                    cfg.store.url
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("the configuration has {} problem(s):", problems.len());
                for p in problems {
                    eprintln!("  - {p}");
                }
                Ok(ExitCode::from(2))
            }
        }
        Err(e) => {
            eprint!("{e}");
            Ok(ExitCode::from(2))
        }
    }
}

fn print_sync(outcomes: &[sync::SourceOutcome]) {
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            let c = &o.counts;
            vec![
                o.source.clone(),
                if o.error.is_some() {
                    "error".into()
                } else {
                    "ok".into()
                },
                c.seen.to_string(),
                c.inserted.to_string(),
                c.updated.to_string(),
                c.unchanged.to_string(),
                c.quarantined.to_string(),
                c.unknown_unit.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(
            &[
                "source",
                "result",
                "seen",
                "inserted",
                "updated",
                "unchanged",
                "quarantined",
                "unknown unit"
            ],
            &rows
        )
    );
    for o in outcomes {
        if let Some(e) = &o.error {
            println!("{}: {}", o.source, crate::mask::mask_text(e));
        }
    }
    if outcomes.is_empty() {
        println!("no sources configured or enabled");
    }
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| "-".into())
}

/// How far ahead `status` and `evaluate` look for a year without a holiday table: deadlines of
/// up to two months run into the next year from early November.
pub const CALENDAR_LOOKAHEAD_DAYS: u32 = 62;

async fn status(
    cfg: &Config,
    store: &dyn Store,
    now: DateTime<Utc>,
    format: Format,
    limit: i64,
) -> anyhow::Result<ExitCode> {
    let states = store.source_states().await?;
    let mut sources = Vec::new();
    for src in &cfg.sources {
        let st = states.iter().find(|s| s.name == src.name);
        let fresh = sync::freshness(src, st, now);
        sources.push((src, st.cloned().unwrap_or_default(), fresh));
    }
    let quarantined = store.quarantined(None, limit).await?;
    let unknown = store.unknown_units().await?;
    let cal = cfg.calendar()?;
    let today = now.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let calendar_warnings = cal.warnings(today, CALENDAR_LOOKAHEAD_DAYS);
    let mut counts = Vec::new();
    for feed in Feed::ALL {
        counts.push((feed, store.record_count(feed).await?));
    }
    let outbox = store.outbox_counts().await?;
    let jobs = store.job_states().await?;
    let outbox_of = |state: &str| {
        outbox
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n)
    };
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let v = json!({
                "as_of": now.with_timezone(&chrono_tz::Asia::Shanghai).to_rfc3339(),
                "store": { "url": cfg.store.url.redacted(), "backend": store.backend(),
                           "records": counts.iter().map(|(f, n)| (f.table().to_string(), json!(n))).collect::<serde_json::Map<_, _>>() },
                "sources": sources.iter().map(|(src, st, fresh)| json!({
                    "name": src.name, "kind": format!("{:?}", src.kind).to_lowercase(), "feeds": format!("{:?}", src.feeds).to_lowercase(),
                    "freshness": fresh, "last_run_at": st.last_run_at, "last_success_at": st.last_success_at,
                    "last_error_at": st.last_error_at, "last_error": st.last_error.as_deref().map(crate::mask::mask_text),
                    "cursor": st.cursor, "last_run": st.counts,
                })).collect::<Vec<_>>(),
                "quarantine": quarantined,
                "unknown_units": unknown.iter().map(|(f, u, n)| json!({"feed": f.table(), "unit": u, "rows": n})).collect::<Vec<_>>(),
                "calendar": { "years": cal.years(), "warnings": calendar_warnings },
                "outbox": outbox.iter().map(|(s, n)| (s.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "jobs": jobs,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Table | Format::Csv => {
            let headers = [
                "source",
                "kind",
                "feeds",
                "freshness",
                "last success",
                "last error",
                "seen",
                "inserted",
                "updated",
                "unchanged",
                "quarantined",
            ];
            let rows: Vec<Vec<String>> = sources
                .iter()
                .map(|(src, st, fresh)| {
                    let c = &st.counts;
                    vec![
                        src.name.clone(),
                        format!("{:?}", src.kind).to_lowercase(),
                        format!("{:?}", src.feeds).to_lowercase(),
                        fresh.as_str().to_string(),
                        time(st.last_success_at),
                        time(st.last_error_at),
                        c.seen.to_string(),
                        c.inserted.to_string(),
                        c.updated.to_string(),
                        c.unchanged.to_string(),
                        c.quarantined.to_string(),
                    ]
                })
                .collect();
            if format == Format::Csv {
                output::csv(&mut out, &headers, &rows)?;
                return Ok(ExitCode::SUCCESS);
            }
            write!(out, "{}", output::table(&headers, &rows))?;
            for w in &calendar_warnings {
                writeln!(out, "warning: {w}")?;
            }
            for (src, st, fresh) in &sources {
                if *fresh == Freshness::Error
                    && let Some(e) = &st.last_error
                {
                    writeln!(out, "  {} failed: {}", src.name, crate::mask::mask_text(e))?;
                }
            }
            let totals: Vec<String> = counts
                .iter()
                .map(|(f, n)| format!("{n} {}", f.table()))
                .collect();
            writeln!(
                out,
                "\nstore: {} ({}), {}",
                cfg.store.url,
                store.backend(),
                totals.join(", ")
            )?;
            if !outbox.is_empty() {
                let states: Vec<String> = outbox.iter().map(|(s, n)| format!("{n} {s}")).collect();
                writeln!(out, "outbox: {}", states.join(", "))?;
                if outbox_of("dead") > 0 {
                    writeln!(
                        out,
                        "  {} messages could not be delivered: see `liandong outbox --state dead`",
                        outbox_of("dead")
                    )?;
                }
            }
            if !jobs.is_empty() {
                writeln!(out, "\njobs of the daemon (latest finished slot):")?;
                for j in &jobs {
                    let running = j
                        .running
                        .as_ref()
                        .map(|(slot, owner, _)| {
                            format!(" — running the slot of {} in {owner}", time(Some(*slot)))
                        })
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "  {:<24} {} {} {}{running}",
                        j.job,
                        time(j.last_slot),
                        j.last_outcome.as_deref().unwrap_or("-"),
                        crate::mask::mask_text(j.last_detail.as_deref().unwrap_or(""))
                    )?;
                }
            }
            if !unknown.is_empty() {
                writeln!(
                    out,
                    "\nrows whose unit is not configured (add it to [[units]] or as an alias):"
                )?;
                for (f, u, n) in &unknown {
                    writeln!(out, "  {u}: {n} {}", f.table())?;
                }
            }
            if !quarantined.is_empty() {
                writeln!(
                    out,
                    "\nquarantined rows (newest first; file:row:field: reason):"
                )?;
                for q in &quarantined {
                    let it = &q.item;
                    let col = it
                        .column
                        .as_deref()
                        .map(|c| format!(" [{c}]"))
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "  {} {}:{}:{}{}: {} (value {:?})",
                        q.source, it.location, it.row, it.field, col, it.reason, it.value
                    )?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One stored value as text for a person: personal data masked.
fn shown(kind: FieldKind, v: &Value) -> String {
    match (kind, v) {
        (FieldKind::Pii, Value::Text(s)) => crate::mask::mask_id(s),
        _ => v.display(),
    }
}

/// Rows read from the store per page while listing.
const LIST_PAGE: i64 = 5000;

async fn cases(
    store: &dyn Store,
    units: &Units,
    feed: Feed,
    unit: Option<&str>,
    format: Format,
) -> anyhow::Result<()> {
    let mut headers = vec!["unit", "case_no"];
    headers.extend(feed.fields().iter().map(|f| f.name));
    headers.push("source");
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // CSV goes through its own writer (stdout's lock is reentrant); nothing else is written then.
    let mut csv_out = match format {
        Format::Csv => Some(output::csv_writer(
            std::io::BufWriter::new(std::io::stdout()),
            &headers,
        )?),
        _ => None,
    };
    let mut widths: Option<Vec<usize>> = None;
    let mut after: Option<(String, String)> = None;
    let mut n: u64 = 0;
    if format == Format::Json {
        write!(out, "[")?;
    }
    // Page by page, so that listing millions of cases needs no more memory than one page.
    loop {
        let page = store
            .records_after(
                feed,
                unit,
                after.as_ref().map(|(u, k)| (u.as_str(), k.as_str())),
                LIST_PAGE,
            )
            .await
            .context("while reading the store")?;
        let Some(last) = page.last() else { break };
        after = Some((
            last.record.unit_id.clone(),
            last.record.case_no.key().to_string(),
        ));
        match format {
            Format::Json => {
                for s in &page {
                    write!(out, "{}\n  ", if n == 0 { "" } else { "," })?;
                    serde_json::to_writer(&mut out, &case_json(units, feed, s))?;
                    n += 1;
                }
            }
            Format::Table | Format::Csv => {
                let rows: Vec<Vec<String>> =
                    page.iter().map(|s| case_row(units, feed, s)).collect();
                n += rows.len() as u64;
                if let Some(w) = csv_out.as_mut() {
                    for r in &rows {
                        w.write_record(r)?;
                    }
                } else {
                    let w = match widths.as_ref() {
                        Some(w) => w,
                        None => {
                            let w = widths.insert(output::widths(&headers, &rows));
                            write!(out, "{}", output::table_header(&headers, w))?;
                            w
                        }
                    };
                    for r in &rows {
                        write!(out, "{}", output::table_line(r, w))?;
                    }
                }
            }
        }
        if (page.len() as i64) < LIST_PAGE {
            break;
        }
    }
    match format {
        Format::Json => writeln!(out, "{}]", if n == 0 { "" } else { "\n" })?,
        Format::Csv => {
            if let Some(mut w) = csv_out {
                w.flush()?;
            }
        }
        Format::Table => {
            if widths.is_none() {
                write!(out, "{}", output::table(&headers, &[]))?;
            }
            writeln!(out, "{n} {}", feed.table())?;
        }
    }
    out.flush()?;
    Ok(())
}

/// One stored record as the JSON object of `cases --format json`; ID numbers masked.
fn case_json(units: &Units, feed: Feed, s: &crate::store::StoredRecord) -> serde_json::Value {
    let r = &s.record;
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(s.id));
    m.insert("unit".into(), json!(units.display_name(&r.unit_id)));
    m.insert("unit_id".into(), json!(r.unit_known.then_some(&r.unit_id)));
    m.insert("unit_known".into(), json!(r.unit_known));
    m.insert("case_no".into(), json!(r.case_no.as_written()));
    m.insert("case_key".into(), json!(r.case_no.key()));
    for (spec, v) in feed.fields().iter().zip(&r.values) {
        let val = match (spec.kind, v) {
            (FieldKind::Pii, Value::Text(s)) => json!(crate::mask::mask_id(s)),
            _ => v.to_json(),
        };
        m.insert(spec.name.into(), val);
    }
    m.insert("source".into(), json!(s.source));
    m.insert(
        "first_seen_at".into(),
        Value::DateTime(s.first_seen_at).to_json(),
    );
    m.insert("changed_at".into(), Value::DateTime(s.changed_at).to_json());
    serde_json::Value::Object(m)
}

/// One stored record as a table or CSV row; ID numbers masked.
fn case_row(units: &Units, feed: Feed, s: &crate::store::StoredRecord) -> Vec<String> {
    let r = &s.record;
    let mut row = vec![
        units.display_name(&r.unit_id).to_string(),
        r.case_no.as_written().to_string(),
    ];
    row.extend(
        feed.fields()
            .iter()
            .zip(&r.values)
            .map(|(spec, v)| shown(spec.kind, v)),
    );
    row.push(s.source.clone());
    row
}

/// Evaluates the rules at `now` (incrementally unless `full`) and prints what changed.
async fn evaluate(
    cfg: &Config,
    store: &dyn Store,
    now: DateTime<Utc>,
    full: bool,
    queue_notices: bool,
) -> anyhow::Result<ExitCode> {
    let today = now.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    for w in cfg.calendar()?.warnings(today, CALENDAR_LOOKAHEAD_DAYS) {
        tracing::warn!("{w}");
    }
    let started = std::time::Instant::now();
    let calendar = cfg.calendar()?;
    let templates = queue_notices
        .then(|| crate::notify::templates::Templates::load(cfg.notify.templates_dir.as_deref()))
        .transpose()?;
    let planner = match &templates {
        Some(t) => {
            Some(crate::notify::NoticePlanner::prepare(store, cfg, &calendar, t, now).await?)
        }
        None => None,
    };
    let report = crate::evaluate::evaluate(
        cfg,
        store,
        now,
        full,
        planner
            .as_ref()
            .map(|p| p as &dyn crate::store::outbox::Planner),
    )
    .await?;
    if queue_notices {
        let pending = store
            .outbox_counts()
            .await?
            .iter()
            .filter(|(s, _)| s == "pending")
            .map(|(_, n)| *n)
            .sum::<i64>();
        println!(
            "notices due were queued with the findings; {pending} messages wait in the outbox"
        );
    }
    let rows: Vec<Vec<String>> = report
        .counts
        .iter()
        .map(|((r, st), n)| vec![r.clone(), st.clone(), n.to_string()])
        .collect();
    print!("{}", output::table(&["rule", "state", "findings"], &rows));
    let c = &report.changes;
    println!(
        "as of {} ({} pass over {} cases in {:.2} s): {} new, {} changed, {} unchanged, {} no longer apply; {} state changes recorded",
        now.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M"),
        report.mode.as_str(),
        report.subjects,
        started.elapsed().as_secs_f64(),
        c.inserted,
        c.updated,
        c.unchanged,
        c.gone,
        c.transitions
    );
    Ok(ExitCode::SUCCESS)
}

fn print_obligations(
    o: &crate::obligations::status::Obligations,
    format: Format,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let days = |d: &crate::obligations::status::Duty| {
        d.held_on
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match format {
        Format::Json => {
            writeln!(out, "{}", serde_json::to_string_pretty(o)?)?;
        }
        Format::Table | Format::Csv => {
            let headers = [
                "unit",
                "quarter",
                "population",
                "target",
                "reviewed",
                "expected",
                "sampling",
                "training",
            ];
            let rows: Vec<Vec<String>> = o
                .units
                .iter()
                .map(|u| {
                    let s = &u.sampling;
                    vec![
                        u.unit.clone(),
                        s.quarter.to_string(),
                        s.population.to_string(),
                        s.target.to_string(),
                        s.reviewed.to_string(),
                        s.expected.to_string(),
                        s.state.as_str().to_string(),
                        u.training
                            .as_ref()
                            .or(o.training.as_ref())
                            .map(|d| d.state.as_str().to_string())
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            if format == Format::Csv {
                output::csv(&mut out, &headers, &rows)?;
                return Ok(());
            }
            write!(out, "{}", output::table(&headers, &rows))?;
            writeln!(
                out,
                "as of {}: joint meeting {} {}",
                o.as_of,
                o.meeting.state.as_str(),
                days(&o.meeting)
            )?;
            if let Some(t) = &o.training {
                writeln!(out, "county training {} {}", t.state.as_str(), days(t))?;
            }
        }
    }
    Ok(())
}

/// `liandong record …`: stores what people did and prints one line saying what was stored.
async fn record(cli: &Cli, what: &RecordCommand) -> anyhow::Result<ExitCode> {
    use crate::record::{self as rec, RecordError};
    let cfg = load_config(cli)?;
    let units = Units::new(&cfg.units);
    let cal = cfg.calendar()?;
    let store = store::open(&cfg.store).await?;
    let by = current_user();
    let now = Utc::now();
    let usage = |e: RecordError| match e {
        RecordError::Store(s) => anyhow::Error::from(s),
        other => UsageError(other.to_string()).into(),
    };
    let verb = |c: store::RowCounts| match (c.inserted, c.updated) {
        (1, _) => "recorded",
        (_, 1) => "updated",
        _ => "unchanged:",
    };
    let line = match what {
        RecordCommand::Recommendation(a) | RecordCommand::Opinion(a) => {
            let (feed, months, noun) = match what {
                RecordCommand::Opinion(_) => (Feed::Opinions, cfg.rules.r8_months, "opinion"),
                _ => (Feed::Recommendations, cfg.rules.r7_months, "recommendation"),
            };
            let done =
                rec::record_document(store.as_ref(), &units, &cal, feed, months, a, &by, now)
                    .await
                    .map_err(usage)?;
            let r = &done.record;
            let mut line = format!(
                "{} {noun} {} to {}",
                verb(done.counts),
                r.case_no.as_written(),
                units.display_name(&r.unit_id)
            );
            match (r.get("replied_on"), done.due) {
                (Value::Date(d), _) => line.push_str(&format!("; replied {d}")),
                (_, Some(due)) => line.push_str(&format!("; reply due {due}")),
                _ => {}
            }
            line
        }
        RecordCommand::Review(a) => {
            let (r, counts) =
                rec::record_review(store.as_ref(), &units, &cfg.obligations, a, &by, now)
                    .await
                    .map_err(usage)?;
            format!(
                "{} review of {} ({})",
                verb(counts),
                r.case_no.as_written(),
                units.display_name(&r.unit_id)
            )
        }
        RecordCommand::Meeting(a) | RecordCommand::Training(a) => {
            let kind = match what {
                RecordCommand::Meeting(_) => "meeting",
                _ => "training",
            };
            let (r, counts) = rec::record_event(store.as_ref(), &units, kind, a, &by, now)
                .await
                .map_err(usage)?;
            format!(
                "{} {kind} {} ({})",
                verb(counts),
                r.case_no.as_written(),
                units.display_name(&r.unit_id)
            )
        }
    };
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

async fn sample(cli: &Cli, cmd: &SampleCommand) -> anyhow::Result<ExitCode> {
    use crate::obligations::draws;
    let cfg = load_config(cli)?;
    let units = Units::new(&cfg.units);
    let unit_of = |u: &str| {
        units
            .resolve(u)
            .map(|u| u.id.clone())
            .ok_or_else(|| UsageError(format!("unit {u:?} is not configured")))
    };
    let store = store::open(&cfg.store).await?;
    let mut out = std::io::stdout().lock();
    match cmd {
        SampleCommand::Draw {
            unit,
            quarter,
            seed,
            as_of,
            format,
            xlsx,
        } => {
            let unit_id = unit_of(unit)?;
            let today = as_of
                .unwrap_or_else(Utc::now)
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .date_naive();
            let as_of = draws::default_as_of(*quarter, today);
            let seed = seed.clone().unwrap_or_else(draws::fresh_seed);
            let (record, drawn) = draws::draw(
                store.as_ref(),
                &cfg.obligations,
                &unit_id,
                *quarter,
                as_of,
                &seed,
                &current_user(),
                Utc::now(),
            )
            .await?;
            let rows: Vec<Vec<String>> = drawn
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    vec![
                        (i + 1).to_string(),
                        f.case_no.clone(),
                        f.closed_on.to_string(),
                        if f.focused { "重点" } else { "随机" }.to_string(),
                        f.reviewed_on.map(|d| d.to_string()).unwrap_or_default(),
                    ]
                })
                .collect();
            if let Some(path) = xlsx {
                draws::write_xlsx(path, units.display_name(&unit_id), &record, &drawn)
                    .with_context(|| format!("while writing {}", path.display()))?;
            }
            let headers = ["#", "case_no", "closed_on", "pick", "reviewed_on"];
            match format {
                Format::Json => {
                    let v = json!({
                        "draw": record.id, "unit": units.display_name(&record.unit_id), "unit_id": record.unit_id,
                        "quarter": record.quarter, "seed": record.seed, "as_of": record.as_of.to_string(),
                        "basis": record.basis, "population": record.population.len(),
                        "population_hash": record.population_hash, "target": record.target,
                        "files": drawn.iter().map(|f| json!({
                            "case_no": f.case_no, "key": f.key, "closed_on": f.closed_on.to_string(),
                            "focused": f.focused, "reviewed_on": f.reviewed_on.map(|d| d.to_string()),
                        })).collect::<Vec<_>>(),
                    });
                    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                }
                Format::Csv => output::csv(&mut out, &headers, &rows)?,
                Format::Table => {
                    writeln!(
                        out,
                        "draw #{} — {} {}: population {} (as of {}, {}), target {}, seed {}",
                        record.id,
                        units.display_name(&record.unit_id),
                        record.quarter,
                        record.population.len(),
                        record.as_of,
                        record.basis,
                        record.target,
                        record.seed
                    )?;
                    writeln!(out, "population hash {}", record.population_hash)?;
                    write!(out, "{}", output::table(&headers, &rows))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SampleCommand::Verify {
            unit,
            quarter,
            format,
        } => {
            let unit_id = unit_of(unit)?;
            let Some(record) = store
                .draws(&unit_id, &quarter.to_string())
                .await?
                .into_iter()
                .next()
            else {
                return Err(UsageError(format!(
                    "no draw is recorded for {} in {quarter}: run `liandong sample draw` first",
                    units.display_name(&unit_id)
                ))
                .into());
            };
            let v = draws::verify(store.as_ref(), &cfg.obligations, &record).await?;
            if *format == Format::Json {
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.join(", ")
                    }
                };
                writeln!(
                    out,
                    "draw #{} of {} {} (seed {}, population as of {}):",
                    record.id,
                    units.display_name(&unit_id),
                    record.quarter,
                    record.seed,
                    record.as_of
                )?;
                writeln!(
                    out,
                    "  replay from the record: {}",
                    if v.replays {
                        "the same list"
                    } else {
                        "a DIFFERENT list — the record was altered"
                    }
                )?;
                if v.confirmed() {
                    writeln!(
                        out,
                        "  confirmed: the same population ({} files) and the same {} files",
                        record.population.len(),
                        record.drawn.len()
                    )?;
                } else {
                    writeln!(
                        out,
                        "  the population as of {} now: added {}; removed {}",
                        record.as_of,
                        list(&v.population_added),
                        list(&v.population_removed)
                    )?;
                    writeln!(
                        out,
                        "  focused picks: gained {}; lost {}",
                        list(&v.focus_gained),
                        list(&v.focus_lost)
                    )?;
                    writeln!(
                        out,
                        "  drawn now: added {}; removed {}",
                        list(&v.drawn_added),
                        list(&v.drawn_removed)
                    )?;
                }
            }
            Ok(if v.confirmed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// A due instant as a clerk reads it: the end of a day shows as `24:00` of that day.
fn end_of_day_text(t: DateTime<chrono_tz::Tz>) -> String {
    if t.time() == chrono::NaiveTime::MIN {
        let day = t.date_naive().pred_opt().unwrap_or(t.date_naive());
        format!("{} 24:00", day.format("%Y-%m-%d"))
    } else {
        t.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// An open finding's state at `at`: violations stay overdue; deadlines are compared with `at`.
fn state_at(f: &store::StoredFinding, at: DateTime<Utc>, due_soon_days: i64) -> String {
    match f.state.as_str() {
        "resolved" | "waived" => f.state.clone(),
        _ if f.violated || at >= f.due => "overdue".into(),
        _ if f.due - at <= chrono::Duration::days(due_soon_days) => "due_soon".into(),
        _ => "upcoming".into(),
    }
}

async fn findings(
    cfg: &Config,
    store: &dyn Store,
    units: &Units,
    filter: &store::FindingFilter,
    at: DateTime<Utc>,
    format: Format,
) -> anyhow::Result<()> {
    let list = store
        .findings(filter)
        .await
        .context("while reading the findings")?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let due = |t: DateTime<Utc>| t.with_timezone(&chrono_tz::Asia::Shanghai);
    match format {
        Format::Json => {
            let arr: Vec<serde_json::Value> = list
                .iter()
                .map(|f| {
                    json!({
                        "id": f.id,
                        "rule": f.rule,
                        "unit": units.display_name(&f.unit_id),
                        "unit_id": f.unit_id,
                        "case_no": f.case_no,
                        "state": state_at(f, at, cfg.rules.due_soon_days),
                        "due": due(f.due).to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                        "facts": f.facts,
                        "key": f.key,
                        "first_seen_at": f.first_seen_at,
                        "resolved_at": f.resolved_at,
                        "resolution": f.resolution,
                        "waived_at": f.waived_at,
                        "waived_by": f.waived_by,
                        "waived_reason": f.waived_reason,
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &arr)?;
            writeln!(out)?;
        }
        Format::Table | Format::Csv => {
            let headers = ["id", "rule", "unit", "case_no", "state", "due", "facts"];
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|f| {
                    let facts = crate::mask::mask_text(&f.facts.to_string());
                    let facts = if format == Format::Table && facts.chars().count() > 80 {
                        format!("{}…", facts.chars().take(79).collect::<String>())
                    } else {
                        facts
                    };
                    vec![
                        f.id.to_string(),
                        f.rule.clone(),
                        units.display_name(&f.unit_id).to_string(),
                        f.case_no.clone().unwrap_or_default(),
                        state_at(f, at, cfg.rules.due_soon_days),
                        end_of_day_text(due(f.due)),
                        facts,
                    ]
                })
                .collect();
            if format == Format::Csv {
                output::csv(&mut out, &headers, &rows)?;
            } else {
                write!(out, "{}", output::table(&headers, &rows))?;
                writeln!(out, "{} findings", rows.len())?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
