//! The command line: flags are parsed by clap, then each command loads the configuration, opens
//! the store and does one job. Only here is the wall clock read (`--as-of` replaces it where a
//! command evaluates time). Errors are printed once, with their chain, and mapped to the exit
//! codes of SPEC §9: 0 success, 1 the job ran but something failed, 2 usage or configuration.
//!
//! `args` holds the argument definitions; each command group's file (`sources`, `findings`,
//! `obligations`, `report`, `notify`) turns one command into calls on the application core
//! (`crate::app`) and prints the outcome.

mod args;
mod findings;
mod notify;
mod obligations;
mod report;
mod sources;
mod users;

pub use args::*;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Parser;

use crate::app::App;
use crate::config::{self, Config, LoadOptions};
use crate::domain::clock::Clock;
use crate::output::Format;
use crate::store;
use crate::units::Units;

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
    let quiet = matches!(cli.command, Command::Run { once: true, .. });
    init_tracing(
        cli.log
            .as_deref()
            .unwrap_or(if quiet { "warn" } else { "info" }),
    );
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

/// The configuration and its store (opened and migrated), on the wall clock: a command that
/// evaluates at `--as-of` passes that time itself.
async fn open_app(cli: &Cli) -> anyhow::Result<App> {
    App::open(load_config(cli)?, Clock::Wall).await
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
        Command::User(cmd) => {
            let app = open_app(&cli).await?;
            users::run(&app, cmd).await
        }
        Command::Web => {
            let app = open_app(&cli).await?;
            crate::web::serve_alone(app).await
        }
        Command::Migrate => {
            let App { cfg, store, .. } = open_app(&cli).await?;
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
            let app = App::open(cfg, Clock::Wall).await?;
            app.store.allow_exclusive_first_load();
            // The store keeps an import's times to the second.
            let started =
                chrono::DurationRound::duration_trunc(app.now(), chrono::TimeDelta::seconds(1))
                    .unwrap_or(app.now());
            let outcomes = crate::app::jobs::sync(&app, source.as_deref(), true).await;
            // The repeats this run recorded, up to 20 a source.
            let mut repeats = Vec::new();
            for o in outcomes.iter().filter(|o| o.counts.repeated > 0) {
                let recorded = app.store.repeats(Some(&o.source), 20).await?;
                repeats.extend(recorded.into_iter().filter(|r| r.last_seen_at >= started));
            }
            sources::print_sync(&outcomes, &repeats);
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
            let App { cfg, store, .. } = open_app(&cli).await?;
            sources::status(
                &cfg,
                store.as_ref(),
                Clock::at(*as_of).now(),
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
            let app = App::open(load_config(&cli)?, Clock::at(*as_of)).await?;
            findings::evaluate(&app, *full, *queue_notices).await
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
                        .map_err(|e| UsageError(e.to_string()))?,
                ),
                None => None,
            };
            let now = Clock::at(*as_of).now();
            let filter = store::FindingFilter {
                all: *all,
                rule,
                unit: unit.as_deref().map(|u| units.stored_id(u)),
                closed_after: Some(now),
                id: None,
            };
            let store = store::open(&cfg.store).await?;
            findings::findings(&cfg, store.as_ref(), &units, &filter, now, *format).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Record(what) => obligations::record(&cli, what).await,
        Command::Sample(cmd) => obligations::sample(&cli, cmd).await,
        Command::Report(ReportCommand::Annual {
            year,
            as_of,
            format,
            output,
        }) => {
            let App { cfg, store, .. } = open_app(&cli).await?;
            let a =
                crate::report::annual::annual(store.as_ref(), &cfg, *year, Clock::at(*as_of).now())
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
            let App { cfg, store, .. } = open_app(&cli).await?;
            report::weekly(
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
            let App { cfg, store, .. } = open_app(&cli).await?;
            let today = Clock::at(*as_of)
                .now()
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .date_naive();
            let o = crate::obligations::status::obligations(
                store.as_ref(),
                &cfg.obligations,
                &cfg.units,
                today,
            )
            .await?;
            obligations::print_obligations(&o, *format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Notify {
            as_of,
            dry_run,
            queue_only,
            send_only,
        } => {
            let App { cfg, store, .. } = open_app(&cli).await?;
            let mode = if *dry_run {
                crate::notify::pass::Mode::DryRun
            } else if *queue_only {
                crate::notify::pass::Mode::QueueOnly
            } else if *send_only {
                crate::notify::pass::Mode::SendOnly
            } else {
                crate::notify::pass::Mode::QueueAndSend
            };
            notify::notify(&cfg, store.as_ref(), *as_of, mode).await
        }
        Command::Outbox {
            state,
            limit,
            format,
        } => {
            let App { store, .. } = open_app(&cli).await?;
            notify::outbox(store.as_ref(), state.as_deref(), *limit, *format).await
        }
        Command::SendTest { channel, to } => {
            let cfg = load_config(&cli)?;
            notify::send_test(&cfg, channel, to).await
        }
        Command::Waive { id, reason, by } => {
            if reason.trim().is_empty() {
                return Err(UsageError("a waiver needs a reason (--reason)".into()).into());
            }
            let App { store, .. } = open_app(&cli).await?;
            let by = by.clone().unwrap_or_else(current_user);
            if store
                .waive_finding(*id, &by, reason.trim(), Clock::Wall.wall())
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
            sources::cases(store.as_ref(), &units, *feed, unit_id.as_deref(), *format).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Every problem at once — what loading found and what only the files, folders and secrets
/// can tell (a source's missing folder) — each naming the file or variable it came from.
fn check_config(cli: &Cli) -> anyhow::Result<ExitCode> {
    let (cfg, problems) = crate::app::preflight::check(&LoadOptions::from_env(cli.config.clone()));
    for w in crate::app::preflight::warnings(&cfg) {
        eprintln!("warning: {w}");
    }
    if problems.is_empty() {
        let files: Vec<String> = cfg.files.iter().map(|f| f.display().to_string()).collect();
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
        eprint!("{}", config::ConfigError { problems });
        Ok(ExitCode::from(2))
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
