//! The raw sections of the configuration, as serde reads them, and their defaults: `[store]`,
//! `[[units]]`, `[[sources]]`, `[notify]` with its channels, and `[run]`. Every key has a default;
//! the example file (`config/liandong.example.toml`) documents each one. What serde cannot check
//! is checked in `validate`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::secrets::DatabaseUrl;
use crate::records::Feed;

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
    /// The longest one run of this source may take, from its start to its commit; a run still
    /// going then is stopped (what it committed stays, the rest waits for the next run) and
    /// fails, so that a department system that answers forever cannot hold back the rest.
    pub run_timeout_secs: u64,

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
            run_timeout_secs: 600,
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

/// `[web]`: the web console (SPEC §10), served by `liandong run` and by `liandong web` alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Where the console listens (`host:port`; "" for none). The county's reverse proxy goes in
    /// front of it for HTTPS.
    pub listen: String,
    /// The console's address as people reach it (`https://…`): the links in mails point here.
    pub public_url: Option<String>,
    /// How long a sign-in lasts.
    pub session_hours: u32,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            listen: "127.0.0.1:8470".into(),
            public_url: None,
            session_hours: 8,
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

/// `[limits]`: how much one piece of outside data may weigh (issue 22). Each limit is enforced in
/// one place: an HTTP response body in `sources::http`, a CSV line in `sources::file`, a cell in
/// `sources::mapping` (every kind of source), a quarantined row's raw text in
/// `sources::quarantine_items`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// An HTTP source's response body (one page), in MB: reading stops beyond it and the run
    /// fails, naming the source and the page.
    pub http_page_mb: u32,
    /// One CSV line (one record, with the lines a quoted cell spans), in KB: the row is
    /// quarantined.
    pub line_kb: u32,
    /// One cell, or one value of a JSON record or SQL row, in KB: the row is quarantined.
    pub cell_kb: u32,
    /// A quarantined row's raw text is stored cut to this many KB.
    pub raw_kb: u32,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            http_page_mb: 64,
            line_kb: 1024,
            cell_kb: 64,
            raw_kb: 16,
        }
    }
}

impl LimitsConfig {
    pub fn page_bytes(&self) -> u64 {
        u64::from(self.http_page_mb) << 20
    }
    pub fn line_bytes(&self) -> usize {
        (self.line_kb as usize) << 10
    }
    pub fn cell_bytes(&self) -> usize {
        (self.cell_kb as usize) << 10
    }
    pub fn raw_bytes(&self) -> usize {
        (self.raw_kb as usize) << 10
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_hours_parse() {
        assert_eq!(parse_hours("08:30-18:00"), Some((510, 1080)));
        assert_eq!(parse_hours("18:00-08:00"), None);
        assert_eq!(parse_hours("8-18"), None);
    }
}
