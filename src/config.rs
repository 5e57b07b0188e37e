//! Configuration: TOML layered as defaults → file → `conf.d/*.toml` → `LIANDONG__…` environment.
//!
//! Loading is two explicit phases. First every layer is merged into one TOML table; then each
//! section (and each `[[units]]` / `[[sources]]` entry on its own) is deserialized into the raw
//! structs below while unknown keys are collected, so that `check-config` can report *every*
//! problem at once with its key path instead of stopping at the first. Secrets are never values in
//! the file: a `*_file` key names a file, a `*_credential` key names a systemd credential under
//! `$CREDENTIALS_DIRECTORY`. They are read into [`SecretString`] and never printed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::domain::text;
use crate::records::Feed;

/// The documented example configuration, printed by `liandong default-config`.
pub const EXAMPLE: &str = include_str!("../config/liandong.example.toml");

/// Prefix of environment overrides: `LIANDONG__STORE__URL=…` sets `store.url`.
pub const ENV_PREFIX: &str = "LIANDONG__";

/// One problem found in the configuration, with the key path to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found while loading, in the order found.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "the configuration has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Raw sections. Every key has a default; the example file documents each one.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    /// `sqlite://PATH` (relative to the working directory) or `postgres://user@host/db`.
    pub url: DatabaseUrl,
    /// Password for a PostgreSQL URL that has none, read from this file.
    pub password_file: Option<PathBuf>,
    /// …or from this systemd credential.
    pub password_credential: Option<String>,
    /// Connections in the pool (PostgreSQL; SQLite readers).
    pub max_connections: u32,
    /// Seconds to wait for a locked SQLite database or a free pool connection.
    pub busy_timeout_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: DatabaseUrl("sqlite://var/liandong.db".into()),
            password_file: None,
            password_credential: None,
            max_connections: 5,
            busy_timeout_secs: 30,
        }
    }
}

/// A database URL whose `Debug` and `Display` hide the password.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

/// Replaces the password of `scheme://user:password@host…` with `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}://{}:***{}",
            &url[..scheme_end],
            &authority[..colon],
            &rest[at..]
        ),
        _ => url.to_string(),
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    Enforcement,
    Procuratorate,
    Justice,
    Liaison,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ContactRole {
    /// 联络员
    Contact,
    /// 负责人
    Head,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Contact {
    pub name: String,
    pub role: ContactRole,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl Default for Contact {
    fn default() -> Self {
        Contact {
            name: String::new(),
            role: ContactRole::Contact,
            email: None,
            phone: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct UnitConfig {
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub kind: UnitKind,
    pub contacts: Vec<Contact>,
}

impl Default for UnitConfig {
    fn default() -> Self {
        UnitConfig {
            id: String::new(),
            name: String::new(),
            aliases: Vec::new(),
            kind: UnitKind::Enforcement,
            contacts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    File,
    Http,
    Sql,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum Encoding {
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    #[serde(rename = "gbk")]
    Gbk,
    #[serde(rename = "gb18030")]
    Gb18030,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Pagination {
    None,
    Page,
    Offset,
    Cursor,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    None,
    Bearer,
    Basic,
    ApiKey,
}

/// HTTP authentication. Secrets only by file or credential.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub kind: AuthKind,
    pub token_file: Option<PathBuf>,
    pub token_credential: Option<String>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_credential: Option<String>,
    /// Header that carries the API key (`kind = "api_key"`).
    pub header: String,
    pub key_file: Option<PathBuf>,
    pub key_credential: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            kind: AuthKind::None,
            token_file: None,
            token_credential: None,
            username: None,
            password_file: None,
            password_credential: None,
            header: "X-API-Key".into(),
            key_file: None,
            key_credential: None,
        }
    }
}

/// One `[[sources]]` entry. Keys that belong to another kind are rejected by validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    pub feeds: Feed,
    /// The unit whose system this is: rows without a unit column belong to it, and rows naming
    /// another unit are quarantined. Empty for county-wide sources such as the platform.
    pub unit: Option<String>,
    pub schedule: String,
    pub enabled: bool,
    /// Freshness: the source is "late" when its last success is older than this (`90m`, `2h`,
    /// `1d`). Default: twice the interval of `schedule`.
    pub late_after: Option<String>,
    /// canonical field → source column, where headers differ from SPEC §2.
    pub mapping: BTreeMap<String, String>,

    // kind = "file"
    pub path: Option<PathBuf>,
    pub encoding: Encoding,
    pub delimiter: Option<String>,
    /// XLSX worksheet to read; default the first.
    pub sheet: Option<String>,
    /// Where processed files of a drop folder go; default `<path>/.archive`.
    pub archive_dir: Option<PathBuf>,
    /// A file of a drop folder changed less than this many seconds ago may still be being
    /// copied in: it is left for the next run.
    pub settle_secs: u64,

    // kind = "http"
    pub url: Option<String>,
    pub pagination: Pagination,
    pub page_param: String,
    pub page_size_param: String,
    pub page_size: u32,
    pub first_page: u32,
    pub offset_param: String,
    pub limit_param: String,
    pub cursor_param: String,
    /// Dotted path of the next-page cursor in the response (`pagination = "cursor"`).
    pub next_cursor_field: String,
    /// Dotted path of the record array in the response; empty: the body itself, or the first of
    /// `data`, `records`, `items`, `rows`, `list` that is an array.
    pub records_field: String,
    /// Query parameter carrying the incremental cursor; empty disables it.
    pub since_param: String,
    pub auth: AuthConfig,
    pub headers: BTreeMap<String, String>,
    pub timeout_secs: u64,
    pub connect_timeout_secs: u64,
    pub retries: u32,
    pub retry_backoff_ms: u64,
    pub max_pages: u32,

    // kind = "sql"
    /// `mysql://…` or `postgres://…`, without the password.
    pub dsn: Option<DatabaseUrl>,
    pub password_file: Option<PathBuf>,
    pub password_credential: Option<String>,
    /// Read-only query taking the cursor as its one parameter (`?` on MySQL, `$1` on PostgreSQL),
    /// ordered by the cursor column.
    pub query: Option<String>,
    pub cursor_column: Option<String>,
    pub cursor_start: String,
    /// Rows committed together with the cursor they reach.
    pub batch_size: u32,
    /// Stop after this many rows in one run (the rest follows next run).
    pub max_rows_per_run: Option<u64>,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            name: String::new(),
            kind: SourceKind::File,
            feeds: Feed::Cases,
            unit: None,
            schedule: "0 */30 * * * *".into(),
            enabled: true,
            late_after: None,
            mapping: BTreeMap::new(),
            path: None,
            encoding: Encoding::Auto,
            delimiter: None,
            sheet: None,
            archive_dir: None,
            settle_secs: 10,
            url: None,
            pagination: Pagination::None,
            page_param: "page".into(),
            page_size_param: "page_size".into(),
            page_size: 100,
            first_page: 1,
            offset_param: "offset".into(),
            limit_param: "limit".into(),
            cursor_param: "cursor".into(),
            next_cursor_field: "next_cursor".into(),
            records_field: String::new(),
            since_param: "updated_since".into(),
            auth: AuthConfig::default(),
            headers: BTreeMap::new(),
            timeout_secs: 30,
            connect_timeout_secs: 10,
            retries: 3,
            retry_backoff_ms: 1000,
            max_pages: 10_000,
            dsn: None,
            password_file: None,
            password_credential: None,
            query: None,
            cursor_column: None,
            cursor_start: String::new(),
            batch_size: 500,
            max_rows_per_run: None,
        }
    }
}

/// Notification policy (SPEC §5): when reminders, notices and escalations fall due, how the
/// outbox retries, and the channels (`[notify.email]`, `[notify.sms]`, `[[notify.robots]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NotifyConfig {
    /// Reminders this many calendar days before a deadline (the latest one reached is sent).
    pub reminder_days: Vec<u32>,
    /// Overdue days after which the unit head, then the liaison office, is told.
    pub escalate_after_days: Vec<u32>,
    /// While overdue, the notice is repeated this often (days).
    pub repeat_every_days: u32,
    /// Whether violations that cannot be undone by acting (a late entry, R2) repeat too; by
    /// default they get the notice and the escalation, not the weekly repeat.
    pub repeat_violations: bool,
    /// SMS only inside these hours, on working days (email any time).
    pub sms_hours: String,
    /// Other stages for one rule (`R1` … `R10`) or obligation (`sampling`, `meeting`,
    /// `training`): `[notify.stages.R7] reminder_days = [14, 7, 1]`.
    pub stages: BTreeMap<String, StageConfig>,
    /// Told when a message is dead-lettered (email addresses).
    pub admin_emails: Vec<String>,
    /// Attempts before a message is dead.
    pub max_attempts: u32,
    /// Backoff: the first retry after this many seconds, doubling up to `retry_max_secs`,
    /// each with up to 20 % jitter.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// How long a claimed message stays reserved for the process that claimed it.
    pub lease_secs: u64,
    /// Messages sent at once (each claimed on its own; also the SMTP connections kept open).
    pub concurrency: u32,
    /// A folder whose templates replace the shipped ones of the same name.
    pub templates_dir: Option<PathBuf>,
    pub email: EmailConfig,
    pub sms: Option<SmsConfig>,
    pub robots: Vec<RobotConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            reminder_days: vec![7, 3, 1],
            escalate_after_days: vec![3, 10],
            repeat_every_days: 7,
            repeat_violations: false,
            sms_hours: "08:30-18:00".into(),
            stages: BTreeMap::new(),
            admin_emails: Vec::new(),
            max_attempts: 12,
            retry_base_secs: 60,
            retry_max_secs: 6 * 3600,
            lease_secs: 300,
            concurrency: 4,
            templates_dir: None,
            email: EmailConfig::default(),
            sms: None,
            robots: Vec::new(),
        }
    }
}

/// The stages of one rule or obligation, where they differ from `[notify]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StageConfig {
    pub reminder_days: Option<Vec<u32>>,
    pub escalate_after_days: Option<Vec<u32>>,
    pub repeat_every_days: Option<u32>,
    /// `false`: nobody is notified of it (it still counts in reports).
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    Aliyun,
    Tencent,
    Http,
}

/// `[notify.sms]`: one SMS provider. Keys per provider; secrets only by file or credential.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmsConfig {
    pub provider: SmsProvider,
    /// Another address for the provider's API (a private gateway, a test server).
    pub endpoint: Option<String>,
    pub timeout_secs: u64,
    /// Requests per second at most.
    pub rate_per_second: u32,
    /// Messages a day to one number at most (0: the provider's documented limit: Aliyun 50,
    /// Tencent 10, none for http).
    pub daily_per_number: u32,
    /// The approved signature (签名), shown as 【…】.
    pub sign_name: String,
    /// Aliyun TemplateCode or Tencent TemplateId of the approved digest template.
    pub template: String,
    /// The template's parameters in order, by name: unit, count, overdue, due_soon, first_case,
    /// first_due, office.
    pub template_params: Vec<String>,
    /// Aliyun AccessKey id / Tencent SecretId.
    pub key_id: Option<String>,
    /// Aliyun AccessKey secret / Tencent SecretKey, or the http gateway's token (`{{ secret }}`).
    pub secret_file: Option<PathBuf>,
    pub secret_credential: Option<String>,
    /// Tencent: SmsSdkAppId and region.
    pub sdk_app_id: String,
    pub region: String,
    /// http: the gateway.
    pub url: Option<String>,
    pub method: String,
    /// http: headers, each value a template (`{{ secret }}` …).
    pub headers: BTreeMap<String, String>,
    /// http: the body template; it sees `phone`, `text`, `message_id`, `sign_name`, `secret`.
    pub body: String,
    /// http: the statuses that mean accepted.
    pub success_status: Vec<u16>,
    /// http: a JSON pointer into the answer and the value it must have to mean accepted.
    pub success_pointer: Option<String>,
    pub success_value: Option<String>,
    /// http: a JSON pointer to the gateway's message id.
    pub id_pointer: Option<String>,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            provider: SmsProvider::Http,
            endpoint: None,
            timeout_secs: 10,
            rate_per_second: 10,
            daily_per_number: 0,
            sign_name: String::new(),
            template: String::new(),
            template_params: ["unit", "count", "overdue"].map(String::from).to_vec(),
            key_id: None,
            secret_file: None,
            secret_credential: None,
            sdk_app_id: String::new(),
            region: "ap-guangzhou".into(),
            url: None,
            method: "POST".into(),
            headers: BTreeMap::new(),
            body: String::new(),
            success_status: vec![200],
            success_pointer: None,
            success_value: None,
            id_pointer: None,
        }
    }
}

impl SmsConfig {
    /// The daily limit per number in force.
    pub fn daily_limit(&self) -> Option<u32> {
        match (self.daily_per_number, self.provider) {
            (0, SmsProvider::Aliyun) => Some(50),
            (0, SmsProvider::Tencent) => Some(10),
            (0, SmsProvider::Http) => None,
            (n, _) => Some(n),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RobotKind {
    Wecom,
    Dingtalk,
}

/// `[[notify.robots]]`: a group robot that receives a unit's digests.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RobotConfig {
    pub name: String,
    pub kind: RobotKind,
    /// The unit (id) whose contacts' digests it receives; the liaison unit's robot receives the
    /// escalations to the liaison office.
    pub unit: String,
    /// The webhook (it carries the robot's key: prefer `url_file` or `url_credential`).
    pub url: Option<String>,
    pub url_file: Option<PathBuf>,
    pub url_credential: Option<String>,
    /// DingTalk's signing secret (加签), when the robot has one.
    pub secret_file: Option<PathBuf>,
    pub secret_credential: Option<String>,
    pub timeout_secs: u64,
}

impl Default for RobotConfig {
    fn default() -> Self {
        RobotConfig {
            name: String::new(),
            kind: RobotKind::Wecom,
            unit: String::new(),
            url: None,
            url_file: None,
            url_credential: None,
            secret_file: None,
            secret_credential: None,
            timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    Smtp,
    File,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EmailSecurity {
    Tls,
    Starttls,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EmailConfig {
    pub transport: EmailTransport,
    pub host: String,
    pub port: u16,
    pub security: EmailSecurity,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_credential: Option<String>,
    pub from: String,
    pub dir: PathBuf,
    pub timeout_secs: u64,
    /// A PEM file with the certificate of a private CA that signed the mail server's certificate
    /// (trusted besides the system's store).
    pub ca_file: Option<PathBuf>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            transport: EmailTransport::File,
            host: "127.0.0.1".into(),
            port: 25,
            security: EmailSecurity::Starttls,
            username: None,
            password_file: None,
            password_credential: None,
            from: "府检联动办公室 <fjld@localhost>".into(),
            dir: PathBuf::from("var/outbox"),
            timeout_secs: 30,
            ca_file: None,
        }
    }
}

/// `[run]`: the daemon's own jobs and endpoints (SPEC §7). Each source syncs on its own
/// `schedule`; the weekly report goes on `[report] schedule`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Rules and obligations → findings (six-field cron, Asia/Shanghai).
    pub evaluate_schedule: String,
    /// Queue the reminders and notices due and send the outbox.
    pub notify_schedule: String,
    /// Look for what the administrator must hear of: sources silent past their freshness
    /// limit, a year without a holiday table.
    pub alerts_schedule: String,
    /// `/healthz` and `/metrics` (a loopback address; "" for none).
    pub listen: String,
    /// How long a run holds its job against other replicas without renewing (renewed every
    /// third of it while it runs).
    pub lease_secs: u64,
    /// On SIGTERM, how long the jobs under way get to finish before the daemon exits anyway
    /// (what they did not commit is done again by the next run).
    pub stop_timeout_secs: u64,
    /// How long finished job runs are kept in the store.
    pub keep_runs_days: u32,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            evaluate_schedule: "0 5 * * * *".into(),
            notify_schedule: "0 */10 * * * *".into(),
            alerts_schedule: "0 15 * * * *".into(),
            listen: "127.0.0.1:9721".into(),
            lease_secs: 600,
            stop_timeout_secs: 8,
            keep_runs_days: 90,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The loaded configuration
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub store: StoreConfig,
    pub units: Vec<UnitConfig>,
    pub sources: Vec<SourceConfig>,
    pub notify: NotifyConfig,
    /// The numbers of the rules (SPEC §3).
    pub rules: crate::rules::RulesConfig,
    /// The obligations of SPEC §4 (`[obligations]`).
    pub obligations: crate::obligations::ObligationsConfig,
    /// The weekly report of SPEC §6 (`[report]`).
    pub report: crate::report::ReportConfig,
    /// The daemon (`[run]`, SPEC §7).
    pub run: RunConfig,
    /// Holiday overlays (`[calendar]`): (where it came from, TOML text in the form of
    /// `data/holidays.toml`), applied over the shipped tables in order.
    pub calendar_overlays: Vec<(String, String)>,
    /// The files that were read, in order (for `check-config` and logs).
    pub files: Vec<PathBuf>,
    /// The layers merged into one TOML document, without `[calendar]` (whose overlays travel
    /// as read, in `calendar_overlays`): what the daemon hands its job workers so that they run
    /// on the configuration it loaded, not on whatever the files say now.
    pub snapshot: Snapshot,
}

/// The merged configuration as TOML text. It may hold a password written into `store.url`, so
/// its Debug output is only its length.
#[derive(Clone, Default)]
pub struct Snapshot(String);

impl Snapshot {
    fn of(table: &Table, problems: &mut Vec<Problem>) -> Snapshot {
        let mut t = table.clone();
        t.remove("calendar");
        Snapshot(toml::to_string(&t).unwrap_or_else(|e| {
            problems.push(problem(
                "",
                format!("the merged configuration cannot be written back as TOML: {e}"),
            ));
            String::new()
        }))
    }

    pub fn text(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Snapshot({} bytes)", self.0.len())
    }
}

/// Where the configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config` / `LIANDONG_CONFIG`; when absent, `./config/liandong.toml` then
    /// `/etc/liandong/liandong.toml`, then embedded defaults alone.
    pub path: Option<PathBuf>,
    /// Environment variables (`LIANDONG__…` ones are applied).
    pub env: Vec<(String, String)>,
}

impl LoadOptions {
    pub fn from_env(path: Option<PathBuf>) -> Self {
        LoadOptions {
            path,
            env: std::env::vars().collect(),
        }
    }
}

/// The default locations, in order of preference.
pub const DEFAULT_PATHS: [&str; 2] = ["config/liandong.toml", "/etc/liandong/liandong.toml"];

impl Config {
    /// The rules as configured, with the feed-dependent ones switched on where a source feeds
    /// what they read (SPEC §3: R4 where platform case entries come in, R5 where copies do, R9
    /// where filings do). A rule cannot be switched off by configuration while its feed exists:
    /// the data would contradict it.
    pub fn effective_rules(&self) -> crate::rules::RulesConfig {
        let mut rules = self.rules.clone();
        let feeds = |f: Feed| self.sources.iter().any(|s| s.feeds == f);
        rules.r4_enabled |= feeds(Feed::Entries);
        rules.r5_enabled |= feeds(Feed::Copies);
        rules.r9_enabled |= feeds(Feed::Filings);
        rules
    }

    /// The working-day calendar: the shipped State Council tables with the configured overlays
    /// (local holidays such as 藏历新年, years not shipped yet) applied in order.
    pub fn calendar(&self) -> Result<crate::domain::calendar::Calendar, ConfigError> {
        build_calendar(&self.calendar_overlays).map_err(|(path, message)| ConfigError {
            problems: vec![problem(path, message)],
        })
    }

    /// Loads and validates; every problem found is returned together.
    pub fn load(opts: &LoadOptions) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut files = Vec::new();
        let main = match &opts.path {
            Some(p) => {
                if !p.exists() {
                    return Err(ConfigError {
                        problems: vec![problem(
                            "",
                            format!("configuration file {} does not exist", p.display()),
                        )],
                    });
                }
                Some(p.clone())
            }
            None => DEFAULT_PATHS.iter().map(PathBuf::from).find(|p| p.exists()),
        };
        let mut merged = Table::new();
        if let Some(main) = &main {
            read_layer(main, &mut merged, &mut files, &mut problems);
            let confd = main
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join("conf.d");
            if let Ok(entries) = std::fs::read_dir(&confd) {
                let mut extra: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .collect();
                extra.sort();
                for p in extra {
                    read_layer(&p, &mut merged, &mut files, &mut problems);
                }
            }
        }
        apply_env(&mut merged, &opts.env, &mut problems);
        let snapshot = Snapshot::of(&merged, &mut problems);
        let (mut cfg, index) = from_table(merged, &mut problems);
        cfg.files = files;
        cfg.snapshot = snapshot;
        validate(&cfg, &index, &mut problems);
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError { problems })
        }
    }

    /// Parses one TOML text alone (no conf.d, no environment): for tests and `default-config`.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let table = match text.parse::<Table>() {
            Ok(t) => t,
            Err(e) => {
                return Err(ConfigError {
                    problems: vec![problem("", format!("not valid TOML: {e}"))],
                });
            }
        };
        let snapshot = Snapshot::of(&table, &mut problems);
        let (mut cfg, index) = from_table(table, &mut problems);
        cfg.snapshot = snapshot;
        validate(&cfg, &index, &mut problems);
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError { problems })
        }
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }
}

fn read_layer(
    path: &Path,
    into: &mut Table,
    files: &mut Vec<PathBuf>,
    problems: &mut Vec<Problem>,
) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(problem("", format!("cannot read {}: {e}", path.display())));
            return;
        }
    };
    match text.parse::<Table>() {
        Ok(t) => {
            merge(into, t);
            files.push(path.to_path_buf());
        }
        Err(e) => problems.push(problem(
            "",
            format!(
                "{} is not valid TOML: {}",
                path.display(),
                e.to_string().trim_end()
            ),
        )),
    }
}

/// Later layers override earlier ones; tables merge key by key; arrays of tables (`[[units]]`,
/// `[[sources]]`) from a later file are appended, so a `conf.d` file can add one source.
fn merge(into: &mut Table, from: Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Table(a)), Value::Table(b)) => merge(a, b),
            (Some(Value::Array(a)), Value::Array(b))
                if b.iter().all(Value::is_table) && a.iter().all(Value::is_table) =>
            {
                a.extend(b)
            }
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// `LIANDONG__NOTIFY__EMAIL__HOST=smtp.example` sets `notify.email.host`; a numeric segment
/// indexes an array (`LIANDONG__SOURCES__0__PATH`). A value that parses as a TOML value
/// (`25`, `true`, `[7, 3]`) is taken as one; anything else is a string.
fn apply_env(table: &mut Table, env: &[(String, String)], problems: &mut Vec<Problem>) {
    let mut vars: Vec<&(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    vars.sort();
    for (key, raw) in vars {
        let segments: Vec<String> = key[ENV_PREFIX.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if segments.iter().any(String::is_empty) {
            problems.push(problem(
                key.clone(),
                "empty key segment in environment variable",
            ));
            continue;
        }
        let value = parse_env_value(raw);
        if let Err(msg) = set_path(table, &segments, value) {
            problems.push(problem(key.clone(), msg));
        }
    }
}

fn parse_env_value(raw: &str) -> Value {
    let doc = format!("v = {raw}");
    match doc.parse::<Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut Table, segments: &[String], value: Value) -> Result<(), String> {
    let (first, rest) = match segments.split_first() {
        Some(x) => x,
        None => return Err("no key".into()),
    };
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| Value::Table(Table::new()));
    set_in_value(entry, rest, value)
}

fn set_in_value(target: &mut Value, segments: &[String], value: Value) -> Result<(), String> {
    match target {
        Value::Table(t) => set_path(t, segments, value),
        Value::Array(items) => {
            let (first, rest) = segments.split_first().ok_or("no key")?;
            let idx: usize = first
                .parse()
                .map_err(|_| format!("`{first}` should be an index into the array"))?;
            let len = items.len();
            let item = items.get_mut(idx).ok_or_else(|| {
                format!("index {idx} is past the end of the array ({len} entries)")
            })?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_in_value(item, rest, value)
            }
        }
        _ => Err("cannot set a key inside a value that is not a table".into()),
    }
}

const TOP_LEVEL: [&str; 9] = [
    "run",
    "store",
    "units",
    "sources",
    "notify",
    "rules",
    "calendar",
    "obligations",
    "report",
];

/// Builds the calendar from overlays, naming the overlay that fails.
fn build_calendar(
    overlays: &[(String, String)],
) -> Result<crate::domain::calendar::Calendar, (String, String)> {
    use crate::domain::calendar::Calendar;
    let mut cal = Calendar::china().map_err(|e| ("calendar".to_string(), e.to_string()))?;
    for (origin, text) in overlays {
        cal = cal
            .overlay(text)
            .map_err(|e| (origin.clone(), e.to_string()))?;
    }
    Ok(cal)
}

/// `[calendar]`: `files = [...]` (overlay files in the form of `data/holidays.toml`, read in
/// order) and inline `[calendar.YYYY]` sections, applied after the files.
fn calendar_overlays(v: Value, problems: &mut Vec<Problem>) -> Vec<(String, String)> {
    let Value::Table(mut t) = v else {
        problems.push(problem("calendar", "expected a table"));
        return Vec::new();
    };
    let mut out = Vec::new();
    match t.remove("files") {
        None => {}
        Some(Value::Array(files)) => {
            for (i, f) in files.into_iter().enumerate() {
                let key = format!("calendar.files[{i}]");
                let Value::String(path) = f else {
                    problems.push(problem(key, "expected a file path"));
                    continue;
                };
                match std::fs::read_to_string(&path) {
                    Ok(text) => out.push((format!("{key} ({path})"), text)),
                    Err(e) => problems.push(problem(key, format!("cannot read {path}: {e}"))),
                }
            }
        }
        Some(_) => problems.push(problem("calendar.files", "expected an array of file paths")),
    }
    if !t.is_empty() {
        match toml::to_string(&t) {
            Ok(text) => out.push(("calendar".to_string(), text)),
            Err(e) => problems.push(problem("calendar", e.to_string())),
        }
    }
    if let Err((path, message)) = build_calendar(&out) {
        problems.push(problem(path, message));
    }
    out
}

/// Where each loaded `[[units]]` / `[[sources]]` entry stood in the file, so that problems name
/// the right index even when an earlier entry could not be read at all.
#[derive(Debug, Default)]
struct EntryIndex {
    units: Vec<usize>,
    sources: Vec<usize>,
}

fn from_table(mut table: Table, problems: &mut Vec<Problem>) -> (Config, EntryIndex) {
    let mut cfg = Config::default();
    for key in table.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            problems.push(problem(
                key.clone(),
                format!("unknown key (expected one of: {})", TOP_LEVEL.join(", ")),
            ));
        }
    }
    if let Some(v) = table.remove("store")
        && let Some(s) = section::<StoreConfig>("store", v, problems)
    {
        cfg.store = s;
    }
    if let Some(v) = table.remove("obligations")
        && let Some(s) =
            section::<crate::obligations::ObligationsConfig>("obligations", v, problems)
    {
        cfg.obligations = s;
    }
    if let Some(v) = table.remove("report")
        && let Some(s) = section::<crate::report::ReportConfig>("report", v, problems)
    {
        cfg.report = s;
    }
    if let Some(v) = table.remove("run")
        && let Some(s) = section::<RunConfig>("run", v, problems)
    {
        cfg.run = s;
    }
    if let Some(v) = table.remove("rules")
        && let Some(s) = section::<crate::rules::RulesConfig>("rules", v, problems)
    {
        cfg.rules = s;
    }
    if let Some(v) = table.remove("notify")
        && let Some(s) = section::<NotifyConfig>("notify", v, problems)
    {
        cfg.notify = s;
    }
    if let Some(v) = table.remove("calendar") {
        cfg.calendar_overlays = calendar_overlays(v, problems);
    }
    let mut index = EntryIndex::default();
    (index.units, cfg.units) = entries::<UnitConfig>("units", table.remove("units"), problems)
        .into_iter()
        .unzip();
    (index.sources, cfg.sources) =
        entries::<SourceConfig>("sources", table.remove("sources"), problems)
            .into_iter()
            .unzip();
    (cfg, index)
}

fn entries<T: DeserializeOwned>(
    key: &str,
    value: Option<Value>,
    problems: &mut Vec<Problem>,
) -> Vec<(usize, T)> {
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| section::<T>(&format!("{key}[{i}]"), v, problems).map(|t| (i, t)))
            .collect(),
        Some(_) => {
            problems.push(problem(
                key,
                format!("expected an array of tables ([[{key}]])"),
            ));
            Vec::new()
        }
    }
}

/// Deserializes one section, recording unknown keys and the first type error with full paths.
fn section<T: DeserializeOwned>(
    prefix: &str,
    value: Value,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result = {
        let de = serde_path_to_error::Deserializer::new(value, &mut track);
        serde_ignored::deserialize(de, |path| unknown.push(path.to_string()))
    };
    for u in unknown {
        problems.push(problem(join_path(prefix, &u), "unknown key"));
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let path = track.path().to_string();
            problems.push(problem(
                join_path(prefix, &path),
                clean_serde_message(&e.to_string()),
            ));
            None
        }
    }
}

fn join_path(prefix: &str, rest: &str) -> String {
    if rest.is_empty() || rest == "." {
        prefix.to_string()
    } else if rest.starts_with('[') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}.{rest}")
    }
}

fn clean_serde_message(msg: &str) -> String {
    msg.trim_end().replace('\n', " ")
}

// ---------------------------------------------------------------------------------------------
// Validation: what serde cannot see
// ---------------------------------------------------------------------------------------------

fn validate(cfg: &Config, index: &EntryIndex, problems: &mut Vec<Problem>) {
    let url = cfg.store.url.expose();
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        problems.push(problem(
            "store.url",
            format!(
                "expected sqlite://PATH or postgres://…, found {}",
                cfg.store.url.redacted()
            ),
        ));
    }
    if cfg.store.password_file.is_some() && cfg.store.password_credential.is_some() {
        problems.push(problem(
            "store",
            "set password_file or password_credential, not both",
        ));
    }

    let mut unit_ids = std::collections::HashSet::new();
    let mut unit_names: BTreeMap<String, String> = BTreeMap::new();
    for (n, u) in cfg.units.iter().enumerate() {
        let p = format!("units[{}]", index.units.get(n).copied().unwrap_or(n));
        if !is_identifier(&u.id) {
            problems.push(problem(
                format!("{p}.id"),
                format!(
                    "expected a short identifier of a-z, 0-9, '-' or '_', found {:?}",
                    u.id
                ),
            ));
        } else if !unit_ids.insert(u.id.clone()) {
            problems.push(problem(
                format!("{p}.id"),
                format!("unit id {:?} is used twice", u.id),
            ));
        }
        if u.name.trim().is_empty() {
            problems.push(problem(format!("{p}.name"), "a unit needs its full name"));
        }
        for (j, n) in std::iter::once(&u.name).chain(u.aliases.iter()).enumerate() {
            let key = text::squeeze(n);
            if key.is_empty() {
                continue;
            }
            if let Some(other) = unit_names.insert(key, u.id.clone())
                && other != u.id
            {
                let at = if j == 0 {
                    format!("{p}.name")
                } else {
                    format!("{p}.aliases[{}]", j - 1)
                };
                problems.push(problem(
                    at,
                    format!(
                        "{n:?} also names unit {other:?}: a name or alias must point to one unit"
                    ),
                ));
            }
        }
        for (j, c) in u.contacts.iter().enumerate() {
            if c.email.is_none() && c.phone.is_none() {
                problems.push(problem(
                    format!("{p}.contacts[{j}]"),
                    "a contact needs an email or a phone",
                ));
            }
        }
    }

    let mut names = std::collections::HashSet::new();
    for (n, s) in cfg.sources.iter().enumerate() {
        let i = index.sources.get(n).copied().unwrap_or(n);
        validate_source(i, s, &unit_ids, &unit_names, &mut names, problems);
    }

    let n = &cfg.notify;
    if parse_hours(&n.sms_hours).is_none() {
        problems.push(problem(
            "notify.sms_hours",
            format!("expected HH:MM-HH:MM, found {:?}", n.sms_hours),
        ));
    }
    if n.repeat_every_days == 0 {
        problems.push(problem("notify.repeat_every_days", "must be at least 1"));
    }
    validate_notify(n, &unit_ids, problems);
    if let Err(e) = crate::schedule::Schedule::parse(&cfg.report.schedule) {
        problems.push(problem("report.schedule", e.to_string()));
    }
    validate_run(&cfg.run, problems);
    for (i, r) in cfg.report.recipients.iter().enumerate() {
        if r.parse::<lettre::message::Mailbox>().is_err() {
            problems.push(problem(
                format!("report.recipients[{i}]"),
                format!("{r:?} is not an e-mail address"),
            ));
        }
    }
    if n.email.transport == EmailTransport::Smtp
        && n.email.security == EmailSecurity::None
        && !is_loopback_host(&n.email.host)
    {
        problems.push(problem(
            "notify.email.security",
            "\"none\" is only allowed to a loopback address; use \"starttls\" or \"tls\"",
        ));
    }
}

fn validate_notify(
    n: &NotifyConfig,
    unit_ids: &std::collections::HashSet<String>,
    problems: &mut Vec<Problem>,
) {
    for (key, st) in &n.stages {
        let known = matches!(key.as_str(), "sampling" | "meeting" | "training")
            || crate::domain::rule::RuleId::parse(key).is_some();
        if !known {
            problems.push(problem(
                format!("notify.stages.{key}"),
                "expected a rule (R1 … R10) or an obligation (sampling, meeting, training)",
            ));
        }
        if st.repeat_every_days == Some(0) {
            problems.push(problem(
                format!("notify.stages.{key}.repeat_every_days"),
                "must be at least 1",
            ));
        }
    }
    if n.max_attempts == 0 {
        problems.push(problem("notify.max_attempts", "must be at least 1"));
    }
    if n.concurrency == 0 {
        problems.push(problem("notify.concurrency", "must be at least 1"));
    }
    if n.escalate_after_days.windows(2).any(|w| w[0] >= w[1]) {
        problems.push(problem(
            "notify.escalate_after_days",
            "expected rising days: the unit head first, then the liaison office",
        ));
    }
    if n.lease_secs < 5 && n.lease_secs != 1 {
        // 1 s is for tests of crash recovery; anything else this short risks double sends.
        problems.push(problem("notify.lease_secs", "must be at least 5 seconds"));
    }
    for (i, a) in n.admin_emails.iter().enumerate() {
        if a.parse::<lettre::message::Mailbox>().is_err() {
            problems.push(problem(
                format!("notify.admin_emails[{i}]"),
                format!("{a:?} is not an e-mail address"),
            ));
        }
    }
    if n.email.from.parse::<lettre::message::Mailbox>().is_err() {
        problems.push(problem(
            "notify.email.from",
            format!(
                "{:?} is not an address such as 名称 <user@host>",
                n.email.from
            ),
        ));
    }
    if let Some(sms) = &n.sms {
        let need = |ok: bool, key: &str, what: &str, problems: &mut Vec<Problem>| {
            if !ok {
                problems.push(problem(format!("notify.sms.{key}"), what.to_string()));
            }
        };
        let secret = sms.secret_file.is_some() != sms.secret_credential.is_some();
        match sms.provider {
            SmsProvider::Aliyun | SmsProvider::Tencent => {
                need(
                    sms.key_id.is_some(),
                    "key_id",
                    "required by this provider",
                    problems,
                );
                need(
                    secret,
                    "secret_file",
                    "exactly one of secret_file or secret_credential is required by this provider",
                    problems,
                );
                need(
                    !sms.sign_name.is_empty(),
                    "sign_name",
                    "required by this provider",
                    problems,
                );
                need(
                    !sms.template.is_empty(),
                    "template",
                    "required by this provider",
                    problems,
                );
                if sms.provider == SmsProvider::Tencent {
                    need(
                        !sms.sdk_app_id.is_empty(),
                        "sdk_app_id",
                        "required by Tencent Cloud",
                        problems,
                    );
                }
            }
            SmsProvider::Http => {
                need(
                    sms.url.is_some(),
                    "url",
                    "required by the http provider",
                    problems,
                );
                need(
                    !sms.body.is_empty(),
                    "body",
                    "required by the http provider",
                    problems,
                );
                if sms.secret_file.is_some() && sms.secret_credential.is_some() {
                    problems.push(problem(
                        "notify.sms.secret_file",
                        "set secret_file or secret_credential, not both",
                    ));
                }
            }
        }
        for p in crate::notify::params::unknown(&sms.template_params) {
            problems.push(problem(
                "notify.sms.template_params",
                format!(
                    "unknown parameter {p:?}: expected {}",
                    crate::notify::params::NAMES.join(", ")
                ),
            ));
        }
        if sms.rate_per_second == 0 {
            problems.push(problem("notify.sms.rate_per_second", "must be at least 1"));
        }
    }
    let mut robot_names = std::collections::HashSet::new();
    for (i, r) in n.robots.iter().enumerate() {
        let p = format!("notify.robots[{i}]");
        if r.name.is_empty() || !robot_names.insert(r.name.clone()) {
            problems.push(problem(
                format!("{p}.name"),
                "a robot needs a name of its own",
            ));
        }
        if !unit_ids.contains(&r.unit) {
            problems.push(problem(
                format!("{p}.unit"),
                format!("{:?} is not a configured unit id", r.unit),
            ));
        }
        let urls = [
            r.url.is_some(),
            r.url_file.is_some(),
            r.url_credential.is_some(),
        ];
        if urls.iter().filter(|x| **x).count() != 1 {
            problems.push(problem(
                format!("{p}.url"),
                "exactly one of url, url_file or url_credential is required",
            ));
        }
        if r.secret_file.is_some() && r.secret_credential.is_some() {
            problems.push(problem(
                format!("{p}.secret_file"),
                "set secret_file or secret_credential, not both",
            ));
        }
    }
}

fn validate_source(
    i: usize,
    s: &SourceConfig,
    unit_ids: &std::collections::HashSet<String>,
    unit_names: &BTreeMap<String, String>,
    names: &mut std::collections::HashSet<String>,
    problems: &mut Vec<Problem>,
) {
    let p = format!("sources[{i}]");
    if !is_identifier(&s.name) {
        problems.push(problem(
            format!("{p}.name"),
            format!(
                "expected a short identifier of a-z, 0-9, '-' or '_', found {:?}",
                s.name
            ),
        ));
    } else if !names.insert(s.name.clone()) {
        problems.push(problem(
            format!("{p}.name"),
            format!("source name {:?} is used twice", s.name),
        ));
    }
    if let Some(u) = &s.unit
        && !unit_ids.contains(u)
        && !unit_names.contains_key(&text::squeeze(u))
    {
        problems.push(problem(
            format!("{p}.unit"),
            format!("no [[units]] entry has id or name {u:?}"),
        ));
    }
    if let Err(e) = crate::schedule::Schedule::parse(&s.schedule) {
        problems.push(problem(format!("{p}.schedule"), e.to_string()));
    }
    if let Some(l) = &s.late_after
        && crate::schedule::parse_duration(l).is_none()
    {
        problems.push(problem(
            format!("{p}.late_after"),
            format!("expected a duration such as 90m, 2h or 1d, found {l:?}"),
        ));
    }
    let fields = s.feeds.fields();
    for k in s.mapping.keys() {
        if !fields.iter().any(|f| f.name == k) {
            let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
            problems.push(problem(
                format!("{p}.mapping.{k}"),
                format!(
                    "not a field of feed {:?} (fields: {})",
                    s.feeds,
                    known.join(", ")
                ),
            ));
        }
    }

    // Keys that belong to another kind of source are mistakes, not silently ignored settings.
    let d = SourceConfig::default();
    let file_keys: [(&str, bool); 6] = [
        ("settle_secs", s.settle_secs != d.settle_secs),
        ("path", s.path.is_some()),
        ("encoding", s.encoding != d.encoding),
        ("delimiter", s.delimiter.is_some()),
        ("sheet", s.sheet.is_some()),
        ("archive_dir", s.archive_dir.is_some()),
    ];
    let http_keys: [(&str, bool); 19] = [
        ("url", s.url.is_some()),
        ("pagination", s.pagination != d.pagination),
        ("page_param", s.page_param != d.page_param),
        ("page_size_param", s.page_size_param != d.page_size_param),
        ("page_size", s.page_size != d.page_size),
        ("first_page", s.first_page != d.first_page),
        ("offset_param", s.offset_param != d.offset_param),
        ("limit_param", s.limit_param != d.limit_param),
        ("cursor_param", s.cursor_param != d.cursor_param),
        (
            "next_cursor_field",
            s.next_cursor_field != d.next_cursor_field,
        ),
        ("records_field", s.records_field != d.records_field),
        ("since_param", s.since_param != d.since_param),
        ("auth", s.auth.kind != AuthKind::None),
        ("headers", !s.headers.is_empty()),
        ("timeout_secs", s.timeout_secs != d.timeout_secs),
        (
            "connect_timeout_secs",
            s.connect_timeout_secs != d.connect_timeout_secs,
        ),
        ("retries", s.retries != d.retries),
        ("retry_backoff_ms", s.retry_backoff_ms != d.retry_backoff_ms),
        ("max_pages", s.max_pages != d.max_pages),
    ];
    let sql_keys: [(&str, bool); 8] = [
        ("dsn", s.dsn.is_some()),
        ("password_file", s.password_file.is_some()),
        ("password_credential", s.password_credential.is_some()),
        ("query", s.query.is_some()),
        ("cursor_column", s.cursor_column.is_some()),
        ("cursor_start", s.cursor_start != d.cursor_start),
        ("batch_size", s.batch_size != d.batch_size),
        ("max_rows_per_run", s.max_rows_per_run.is_some()),
    ];
    let kind_name = match s.kind {
        SourceKind::File => "file",
        SourceKind::Http => "http",
        SourceKind::Sql => "sql",
    };
    let foreign: Vec<&[(&str, bool)]> = match s.kind {
        SourceKind::File => vec![&http_keys, &sql_keys],
        SourceKind::Http => vec![&file_keys, &sql_keys],
        SourceKind::Sql => vec![&file_keys, &http_keys],
    };
    for group in foreign {
        for (k, set) in group {
            if *set {
                problems.push(problem(
                    format!("{p}.{k}"),
                    format!("does not apply to a source of kind {kind_name:?}"),
                ));
            }
        }
    }
    match s.kind {
        SourceKind::File => {
            if s.path.is_none() {
                problems.push(problem(
                    format!("{p}.path"),
                    "a file source needs a path (a file or a drop folder)",
                ));
            }
            if let Some(d) = &s.delimiter
                && (d.chars().count() != 1 || !d.is_ascii())
            {
                problems.push(problem(
                    format!("{p}.delimiter"),
                    "expected one ASCII character",
                ));
            }
        }
        SourceKind::Http => {
            match &s.url {
                None => problems.push(problem(format!("{p}.url"), "an http source needs a url")),
                Some(u) => {
                    if reqwest::Url::parse(u).map(|u| u.scheme().starts_with("http")) != Ok(true) {
                        problems.push(problem(
                            format!("{p}.url"),
                            format!("not an http(s) URL: {u:?}"),
                        ));
                    }
                }
            }
            if s.page_size == 0 {
                problems.push(problem(format!("{p}.page_size"), "must be at least 1"));
            }
            if s.timeout_secs == 0 {
                problems.push(problem(format!("{p}.timeout_secs"), "must be at least 1"));
            }
            let a = &s.auth;
            let need = |ok: bool, what: &str, problems: &mut Vec<Problem>| {
                if !ok {
                    problems.push(problem(format!("{p}.auth"), what.to_string()));
                }
            };
            match a.kind {
                AuthKind::None => {}
                AuthKind::Bearer => need(
                    a.token_file.is_some() != a.token_credential.is_some(),
                    "bearer auth needs exactly one of token_file or token_credential",
                    problems,
                ),
                AuthKind::Basic => {
                    need(
                        a.username.is_some(),
                        "basic auth needs a username",
                        problems,
                    );
                    need(
                        a.password_file.is_some() != a.password_credential.is_some(),
                        "basic auth needs exactly one of password_file or password_credential",
                        problems,
                    );
                }
                AuthKind::ApiKey => need(
                    a.key_file.is_some() != a.key_credential.is_some(),
                    "api_key auth needs exactly one of key_file or key_credential",
                    problems,
                ),
            }
        }
        SourceKind::Sql => {
            match &s.dsn {
                None => problems.push(problem(
                    format!("{p}.dsn"),
                    "an sql source needs a dsn (mysql://… or postgres://…)",
                )),
                Some(d) => {
                    let d = d.expose();
                    if !(d.starts_with("mysql://")
                        || d.starts_with("mariadb://")
                        || d.starts_with("postgres://")
                        || d.starts_with("postgresql://"))
                    {
                        problems.push(problem(
                            format!("{p}.dsn"),
                            "expected mysql://… or postgres://…",
                        ));
                    }
                }
            }
            if s.query.as_deref().is_none_or(|q| q.trim().is_empty()) {
                problems.push(problem(format!("{p}.query"), "an sql source needs a query"));
            }
            if s.cursor_column.is_none() {
                problems.push(problem(
                    format!("{p}.cursor_column"),
                    "an sql source needs the column its query is ordered by (the cursor)",
                ));
            }
            if s.batch_size == 0 {
                problems.push(problem(format!("{p}.batch_size"), "must be at least 1"));
            }
        }
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn validate_run(r: &RunConfig, problems: &mut Vec<Problem>) {
    for (key, text) in [
        ("run.evaluate_schedule", &r.evaluate_schedule),
        ("run.notify_schedule", &r.notify_schedule),
        ("run.alerts_schedule", &r.alerts_schedule),
    ] {
        match crate::schedule::Schedule::parse(text) {
            Err(e) => problems.push(problem(key, e.to_string())),
            Ok(s) if s.next_after(chrono::Utc::now()).is_none() => {
                problems.push(problem(key, format!("{text:?} never fires")));
            }
            Ok(_) => {}
        }
    }
    if !r.listen.is_empty() {
        match r.listen.parse::<std::net::SocketAddr>() {
            Ok(a) if a.ip().is_loopback() => {}
            Ok(_) => problems.push(problem(
                "run.listen",
                "/healthz and /metrics listen on a loopback address only (127.0.0.1:PORT or [::1]:PORT); \
                 put a reverse proxy in front to reach them from elsewhere",
            )),
            Err(_) => problems.push(problem(
                "run.listen",
                format!(
                    "expected an address and port such as \"127.0.0.1:9721\" (or \"\" for none), found {:?}",
                    r.listen
                ),
            )),
        }
    }
    if !(10..=86_400).contains(&r.lease_secs) {
        problems.push(problem(
            "run.lease_secs",
            "must be from 10 to 86400 (a day)",
        ));
    }
    // The unit gives the service 30 s to stop (TimeoutStopSec) before it kills it.
    if !(1..=25).contains(&r.stop_timeout_secs) {
        problems.push(problem(
            "run.stop_timeout_secs",
            "must be from 1 to 25 (systemd kills the service 30 s after SIGTERM)",
        ));
    }
    if !(1..=3650).contains(&r.keep_runs_days) {
        problems.push(problem("run.keep_runs_days", "must be from 1 to 3650"));
    }
}

fn is_loopback_host(h: &str) -> bool {
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `"08:30-18:00"` → minutes since midnight (start, end).
pub fn parse_hours(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let hm = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (a, b) = (hm(a)?, hm(b)?);
    (a < b).then_some((a, b))
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// Errors reading a secret; they name the key, never the content.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{key}: cannot read secret file {path}: {source}")]
    File {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{key}: credential {name:?} requested but $CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=, or use a *_file key)"
    )]
    NoCredentialsDirectory { key: String, name: String },
    #[error("{key}: secret is empty")]
    Empty { key: String },
}

/// Reads a secret from a file or a systemd credential; trailing newlines are dropped.
pub fn read_secret(
    key: &str,
    file: Option<&Path>,
    credential: Option<&str>,
) -> Result<Option<SecretString>, SecretError> {
    let path = match (file, credential) {
        (Some(f), _) => f.to_path_buf(),
        (None, Some(name)) => match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) => PathBuf::from(dir).join(name),
            None => {
                return Err(SecretError::NoCredentialsDirectory {
                    key: key.to_string(),
                    name: name.to_string(),
                });
            }
        },
        (None, None) => return Ok(None),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| SecretError::File {
        key: key.to_string(),
        path: path.clone(),
        source,
    })?;
    let trimmed = text.trim_end_matches(['\r', '\n']);
    if trimmed.is_empty() {
        return Err(SecretError::Empty {
            key: key.to_string(),
        });
    }
    Ok(Some(SecretString::from(trimmed.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("liandong.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&LoadOptions {
            path: Some(path),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let cfg = Config::from_toml_str(EXAMPLE).expect("example must load");
        assert!(!cfg.units.is_empty());
        assert!(!cfg.sources.is_empty());
        assert!(!cfg.rules.r6_thresholds.is_empty(), "R6 thresholds ship");
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_path() {
        let err = load_with(
            r#"
            colour = "red"
            [store]
            urll = "sqlite://x.db"
            [[units]]
            id = "a"
            name = "甲"
            nmae = "typo"
            [[sources]]
            name = "s"
            path = "x.csv"
            encodng = "gbk"
            "#,
            &[],
        )
        .unwrap_err();
        let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"colour"), "{paths:?}");
        assert!(paths.contains(&"store.urll"), "{paths:?}");
        assert!(paths.contains(&"units[0].nmae"), "{paths:?}");
        assert!(paths.contains(&"sources[0].encodng"), "{paths:?}");
    }

    #[test]
    fn type_errors_in_different_entries_are_all_reported() {
        let err = load_with(
            r#"
            [[sources]]
            name = "a"
            path = "x"
            encoding = "big5"
            [[sources]]
            name = "b"
            kind = "ftp"
            "#,
            &[],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("sources[0].encoding"), "{text}");
        assert!(text.contains("sources[1].kind"), "{text}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let cfg = load_with(
            "[store]\nurl = \"sqlite://a.db\"\n[notify]\nrepeat_every_days = 7\n",
            &[
                ("LIANDONG__STORE__URL", "sqlite://b.db"),
                ("LIANDONG__NOTIFY__REPEAT_EVERY_DAYS", "3"),
                ("LIANDONG__NOTIFY__REMINDER_DAYS", "[5, 1]"),
                ("LIANDONG_CONFIG", "ignored.toml"),
            ],
        )
        .unwrap();
        assert_eq!(cfg.store.url.expose(), "sqlite://b.db");
        assert_eq!(cfg.notify.repeat_every_days, 3);
        assert_eq!(cfg.notify.reminder_days, vec![5, 1]);
    }

    #[test]
    fn conf_d_files_add_sources_and_override_values() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("liandong.toml");
        std::fs::write(
            &main,
            "[store]\nurl = \"sqlite://a.db\"\n[[units]]\nid = \"u\"\nname = \"单位\"\n[[sources]]\nname = \"one\"\npath = \"a.csv\"\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            dir.path().join("conf.d/10-more.toml"),
            "[store]\nurl = \"sqlite://b.db\"\n[[sources]]\nname = \"two\"\npath = \"b.csv\"\nunit = \"u\"\n",
        )
        .unwrap();
        let cfg = Config::load(&LoadOptions {
            path: Some(main),
            env: vec![],
        })
        .unwrap();
        assert_eq!(cfg.store.url.expose(), "sqlite://b.db");
        let names: Vec<&str> = cfg.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["one", "two"]);
        assert_eq!(cfg.files.len(), 2);
    }

    #[test]
    fn keys_of_another_source_kind_are_rejected() {
        let err = load_with(
            "[[sources]]\nname = \"f\"\nkind = \"file\"\npath = \"a.csv\"\nurl = \"http://x\"\nquery = \"select 1\"\n",
            &[],
        )
        .unwrap_err();
        let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"sources[0].url"));
        assert!(paths.contains(&"sources[0].query"));
    }

    #[test]
    fn semantic_problems_name_their_keys() {
        let err = load_with(
            r#"
            [[units]]
            id = "A B"
            name = ""
            [[sources]]
            name = "s"
            kind = "http"
            schedule = "every hour"
            unit = "nobody"
            [sources.auth]
            kind = "bearer"
            "#,
            &[],
        )
        .unwrap_err();
        let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
        for want in [
            "units[0].id",
            "units[0].name",
            "sources[0].url",
            "sources[0].schedule",
            "sources[0].unit",
            "sources[0].auth",
        ] {
            assert!(paths.contains(&want), "missing {want} in {paths:?}");
        }
    }

    #[test]
    fn the_daemons_section_names_each_problem() {
        let err = load_with(
            r#"
            [run]
            evaluate_schedule = "*/5 * * * *"
            notify_schedule = "every ten minutes"
            listen = "0.0.0.0:9721"
            lease_secs = 2
            stop_timeout_secs = 0
            "#,
            &[],
        )
        .unwrap_err();
        let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
        for want in [
            "run.evaluate_schedule",
            "run.notify_schedule",
            "run.listen",
            "run.lease_secs",
            "run.stop_timeout_secs",
        ] {
            assert!(paths.contains(&want), "missing {want} in {paths:?}");
        }
        let listen = err
            .problems
            .iter()
            .find(|p| p.path == "run.listen")
            .unwrap();
        assert!(listen.message.contains("loopback"), "{}", listen.message);
        let ok = load_with("[run]\nlisten = \"\"\n", &[]).unwrap();
        assert_eq!(ok.run.listen, "");
        assert_eq!(ok.run.evaluate_schedule, "0 5 * * * *");
        let env = load_with("", &[("LIANDONG__RUN__LISTEN", "[::1]:9000")]).unwrap();
        assert_eq!(env.run.listen, "[::1]:9000");
    }

    #[test]
    fn database_url_debug_hides_the_password() {
        let url = DatabaseUrl("postgres://liandong:s3cret@db.example/liandong".into());
        let shown = format!("{url:?} {url}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("liandong:***@db.example"), "{shown}");
        assert_eq!(redact_url("sqlite://var/x.db"), "sqlite://var/x.db");
    }

    #[test]
    fn secrets_come_from_files_and_never_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "tok-123\n").unwrap();
        let s = read_secret("sources[0].auth.token_file", Some(&f), None)
            .unwrap()
            .unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(s.expose_secret(), "tok-123");
        assert!(!format!("{s:?}").contains("tok-123"));
        let err = read_secret("k", Some(&dir.path().join("missing")), None).unwrap_err();
        assert!(err.to_string().starts_with("k: cannot read secret file"));
    }

    #[test]
    fn sms_hours_parse() {
        assert_eq!(parse_hours("08:30-18:00"), Some((510, 1080)));
        assert_eq!(parse_hours("18:00-08:00"), None);
        assert_eq!(parse_hours("8-18"), None);
    }
}
