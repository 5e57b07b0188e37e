//! The layers of the configuration and how they become one [`Config`]: each file read and merged
//! over the ones before (`conf.d` files add `[[units]]` and `[[sources]]`), `LIANDONG__…`
//! environment overrides, the `[calendar]` overlays, and the deserialization of each section and
//! each entry on its own, with every unknown key and type error collected as a [`Problem`] with
//! its key path.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::{
    Config, LimitsConfig, NotifyConfig, ObligationsConfig, Problem, ReportConfig, RulesConfig,
    RunConfig, SourceConfig, StoreConfig, UnitConfig, WebConfig, problem,
};

/// Prefix of environment overrides: `LIANDONG__STORE__URL=…` sets `store.url`.
pub const ENV_PREFIX: &str = "LIANDONG__";

pub(super) fn read_layer(
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
pub(super) fn apply_env(table: &mut Table, env: &[(String, String)], problems: &mut Vec<Problem>) {
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

const TOP_LEVEL: [&str; 11] = [
    "run",
    "web",
    "limits",
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
pub(super) fn build_calendar(
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
pub(super) struct EntryIndex {
    pub(super) units: Vec<usize>,
    pub(super) sources: Vec<usize>,
}

pub(super) fn from_table(mut table: Table, problems: &mut Vec<Problem>) -> (Config, EntryIndex) {
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
        && let Some(s) = section::<ObligationsConfig>("obligations", v, problems)
    {
        cfg.obligations = s;
    }
    if let Some(v) = table.remove("report")
        && let Some(s) = section::<ReportConfig>("report", v, problems)
    {
        cfg.report = s;
    }
    if let Some(v) = table.remove("run")
        && let Some(s) = section::<RunConfig>("run", v, problems)
    {
        cfg.run = s;
    }
    if let Some(v) = table.remove("limits")
        && let Some(s) = section::<LimitsConfig>("limits", v, problems)
    {
        cfg.limits = s;
    }
    if let Some(v) = table.remove("web")
        && let Some(s) = section::<WebConfig>("web", v, problems)
    {
        cfg.web = s;
    }
    if let Some(v) = table.remove("rules")
        && let Some(s) = section::<RulesConfig>("rules", v, problems)
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

#[cfg(test)]
mod tests {
    use crate::config::load_with;

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
}
