//! The command line's arguments (clap): every command, its flags and their help texts, and the
//! parsers of the values people type (dates, quarters, feeds).

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand};

use crate::output::Format;
use crate::records::Feed;

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
    /// Log filter, e.g. `info`, `debug`, `liandong=debug` (or RUST_LOG). Default `info`;
    /// `warn` for `run --once`, which prints each job's outcome and a summary itself.
    #[arg(long, global = true, env = "LIANDONG_LOG")]
    pub log: Option<String>,
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
        /// How many quarantined rows to list (and as many cases listed twice with different values).
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
    /// The web console's accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Serve the web console alone on `[web] listen` (`liandong run` serves it too).
    Web,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account. Without --password-file the password is read from standard input.
    Add {
        login: String,
        /// admin | liaison | procuratorate | justice | unit
        #[arg(long, value_parser = parse_role)]
        role: crate::store::accounts::Role,
        /// The unit (its id) of a `unit` account.
        #[arg(long)]
        unit: Option<String>,
        /// A file holding the password (its first line).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Every account: login, role, unit, created, disabled.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Disable an account and end its sessions.
    Disable { login: String },
    /// Set an account's password and end its sessions. Without --password-file the password is
    /// read from standard input.
    Passwd {
        login: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

fn parse_role(s: &str) -> Result<crate::store::accounts::Role, String> {
    crate::store::accounts::Role::parse(s)
        .ok_or_else(|| "expected admin, liaison, procuratorate, justice or unit".to_string())
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
    /// Draw a unit's review sample for a quarter: focused files take at most
    /// `[obligations] focus_max_percent` of it (at least one file is random when any is not
    /// focused), the rest is a random draw; both ranked by SHA-256 of the seed and each case
    /// number. The seed, the population, the share and the list are recorded for `sample verify`.
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
