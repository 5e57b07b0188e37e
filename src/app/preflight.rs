//! What a configuration needs before anything runs, beyond what `Config::load` checks: secrets
//! readable where they are configured, source files present, templates that parse, and a
//! holiday table for the months ahead. `check-config`, the daemon's start and its reload ask
//! here, and get these problems together with the ones loading found, each naming its file.

use chrono::{DateTime, Utc};

use crate::config::{self, Config, Problem};

/// How far ahead `status`, `evaluate` and the alerts look for a year without a holiday table:
/// deadlines of up to two months run into the next year from early November.
pub const CALENDAR_LOOKAHEAD_DAYS: u32 = 62;

/// Secrets written where they should not be: they work, so nothing is refused, but
/// `check-config`, `status` and the daemon's start say so — a password inside `[store] url`
/// (use `password_file` or `password_credential`), a robot's webhook (it holds the robot's key)
/// written inline as `url` (use `url_file` or `url_credential`). The texts never hold the secret;
/// each names the file that wrote the key.
pub fn warnings(cfg: &Config) -> Vec<String> {
    let at = |path: &str| cfg.origins.locate(path).unwrap_or_else(|| path.to_string());
    let mut out = Vec::new();
    let url = cfg.store.url.expose();
    if config::redact_url(url) != url {
        out.push(format!(
            "{}: holds a password; write it to a file named by store.password_file (or a systemd credential, store.password_credential) and leave it out of the URL",
            at("store.url")
        ));
    }
    for (i, r) in cfg.notify.robots.iter().enumerate() {
        if r.url.is_some() {
            out.push(format!(
                "{} ({}): the webhook is written inline, and it holds the robot's key; put it in a file named by url_file (or a systemd credential, url_credential)",
                at(&format!("notify.robots[{i}]")),
                r.name
            ));
        }
    }
    out
}

/// What `Config::load` cannot see: secrets readable where they are configured (their content
/// is never shown), source paths that exist, templates that parse. `check-config` and the
/// daemon's reload both refuse a configuration with any. `cfg` may be one that loaded with
/// problems ([`Config::load_all`]): what it holds is checked. Each problem names the file that
/// wrote its key.
pub fn problems(cfg: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    // Secrets must be readable where they are configured (their content is never shown).
    let secret =
        |key: String, f: Option<&std::path::Path>, c: Option<&str>, problems: &mut Vec<Problem>| {
            if let Err(e) = config::read_secret(&key, f, c) {
                let text = e.to_string();
                let message = text.strip_prefix(&format!("{key}: ")).unwrap_or(&text);
                problems.push(Problem::new(key, message));
            }
        };
    secret(
        "store.password_file".into(),
        cfg.store.password_file.as_deref(),
        cfg.store.password_credential.as_deref(),
        &mut problems,
    );
    for (n, s) in cfg.sources.iter().enumerate() {
        let i = cfg.origins.source_index(n);
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
            problems.push(Problem::new(
                format!("sources[{i}].path"),
                format!("{} does not exist", p.display()),
            ));
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
        problems.push(Problem::new("notify.templates_dir", e.to_string()));
    }
    if let Some(d) = &n.templates_dir
        && !d.is_dir()
    {
        problems.push(Problem::new(
            "notify.templates_dir",
            format!("{} is not a folder", d.display()),
        ));
    }
    problems
        .into_iter()
        .map(|p| p.located(&cfg.origins))
        .collect()
}

/// Loads the configuration and checks it as `check-config` does: what could be loaded, and every
/// problem — loading's and these — in the order found.
pub fn check(opts: &config::LoadOptions) -> (Config, Vec<Problem>) {
    let (cfg, mut found) = Config::load_all(opts);
    found.extend(problems(&cfg));
    (cfg, found)
}

/// Loads the configuration and checks what `check-config` checks; every problem in one error.
pub fn load(opts: &config::LoadOptions) -> anyhow::Result<Config> {
    let (cfg, problems) = check(opts);
    if problems.is_empty() {
        Ok(cfg)
    } else {
        let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "the configuration has {} problem(s): {}",
            problems.len(),
            all.join("; ")
        )
    }
}

/// The calendar's warnings at `now`: a year (or, within [`CALENDAR_LOOKAHEAD_DAYS`], the next
/// year) without a holiday table.
pub fn calendar_warnings(cfg: &Config, now: DateTime<Utc>) -> anyhow::Result<Vec<String>> {
    let today = now.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    Ok(cfg.calendar()?.warnings(today, CALENDAR_LOOKAHEAD_DAYS))
}
