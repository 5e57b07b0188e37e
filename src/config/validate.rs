//! Validation: what serde cannot see. Unit ids, names and aliases that must point to one unit,
//! a source's keys that belong to another kind of source, cron expressions, addresses, channel
//! settings each provider needs; every problem is collected with its key path.

use std::collections::BTreeMap;

use super::layers::EntryIndex;
use super::sms_params;
use super::{
    AuthKind, Config, EmailSecurity, EmailTransport, LimitsConfig, NotifyConfig, Problem,
    RunConfig, SmsProvider, SourceConfig, SourceKind, WebConfig, parse_hours, problem,
};
use crate::domain::rule::RuleId;
use crate::domain::text;

pub(super) fn validate(cfg: &Config, index: &EntryIndex, problems: &mut Vec<Problem>) {
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
    if cfg.obligations.focus_max_percent > 100 {
        problems.push(problem(
            "obligations.focus_max_percent",
            format!(
                "expected a share of the target from 0 to 100, found {}",
                cfg.obligations.focus_max_percent
            ),
        ));
    }
    if let Err(e) = crate::schedule::Schedule::parse(&cfg.report.schedule) {
        problems.push(problem("report.schedule", e.to_string()));
    }
    validate_run(&cfg.run, problems);
    validate_web(&cfg.web, problems);
    validate_limits(&cfg.limits, problems);
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
            || RuleId::parse(key).is_some();
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
                if !sms.body.is_empty()
                    && let Err(e) = sms_params::body_shape(&sms.body)
                {
                    problems.push(problem("notify.sms.body", e));
                }
                if sms.secret_file.is_some() && sms.secret_credential.is_some() {
                    problems.push(problem(
                        "notify.sms.secret_file",
                        "set secret_file or secret_credential, not both",
                    ));
                }
            }
        }
        for p in sms_params::unknown(&sms.template_params) {
            problems.push(problem(
                "notify.sms.template_params",
                format!(
                    "unknown parameter {p:?}: expected {}",
                    sms_params::NAMES.join(", ")
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
    if !(1..=86_400).contains(&s.run_timeout_secs) {
        problems.push(problem(
            format!("{p}.run_timeout_secs"),
            "expected 1 to 86400 seconds (one run's whole time)",
        ));
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

fn validate_web(w: &WebConfig, problems: &mut Vec<Problem>) {
    if !w.listen.is_empty() && w.listen.parse::<std::net::SocketAddr>().is_err() {
        problems.push(problem(
            "web.listen",
            format!(
                "expected host:port such as 127.0.0.1:8470, or \"\" for none (found {:?})",
                w.listen
            ),
        ));
    }
    if let Some(u) = &w.public_url
        && reqwest::Url::parse(u).map(|u| u.scheme().starts_with("http")) != Ok(true)
    {
        problems.push(problem(
            "web.public_url",
            format!("expected the console's http(s) address, found {u:?}"),
        ));
    }
    if !(1..=720).contains(&w.session_hours) {
        problems.push(problem("web.session_hours", "expected 1 to 720 hours"));
    }
}

fn validate_run(r: &RunConfig, problems: &mut Vec<Problem>) {
    for (key, text) in [
        ("run.evaluate_schedule", &r.evaluate_schedule),
        ("run.notify_schedule", &r.notify_schedule),
        ("run.alerts_schedule", &r.alerts_schedule),
    ] {
        match crate::schedule::Schedule::parse(text) {
            Err(e) => problems.push(problem(key, e.to_string())),
            Ok(s) if s.next_after(crate::domain::clock::wall()).is_none() => {
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

/// Each limit must let real exports through and still bound what one hostile input costs.
fn validate_limits(l: &LimitsConfig, problems: &mut Vec<Problem>) {
    let checks: [(&str, u32, u32, u32, &str); 4] = [
        ("http_page_mb", l.http_page_mb, 1, 1024, "MB"),
        ("line_kb", l.line_kb, 1, 65_536, "KB"),
        ("cell_kb", l.cell_kb, 1, 65_536, "KB"),
        ("raw_kb", l.raw_kb, 1, 1024, "KB"),
    ];
    for (key, value, min, max, unit) in checks {
        if !(min..=max).contains(&value) {
            problems.push(problem(
                format!("limits.{key}"),
                format!("must be from {min} to {max} ({unit}), found {value}"),
            ));
        }
    }
    if l.cell_kb > l.line_kb {
        problems.push(problem(
            "limits.cell_kb",
            format!(
                "must not exceed limits.line_kb ({} KB): a cell is part of a line",
                l.line_kb
            ),
        ));
    }
}

fn is_loopback_host(h: &str) -> bool {
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use crate::config::load_with;

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
    fn the_focused_share_of_a_sample_is_a_percentage() {
        let err = load_with("[obligations]\nfocus_max_percent = 101\n", &[]).unwrap_err();
        let p = err
            .problems
            .iter()
            .find(|p| p.path == "obligations.focus_max_percent")
            .unwrap_or_else(|| panic!("{:?}", err.problems));
        assert!(p.message.contains("0 to 100"), "{}", p.message);
        for ok in ["0", "50", "100"] {
            let cfg = load_with(&format!("[obligations]\nfocus_max_percent = {ok}\n"), &[]);
            assert!(cfg.is_ok(), "{ok}: {:?}", cfg.err());
        }
        assert_eq!(
            load_with("", &[]).unwrap().obligations.focus_max_percent,
            50,
            "half by default"
        );
        let env = load_with("", &[("LIANDONG__OBLIGATIONS__FOCUS_MAX_PERCENT", "30")]).unwrap();
        assert_eq!(env.obligations.focus_max_percent, 30);
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
}
