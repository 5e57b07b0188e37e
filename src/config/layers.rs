//! The layers of the configuration and how they become one [`Config`]: each file read and merged
//! over the ones before (`conf.d` files add `[[units]]` and `[[sources]]`), `LIANDONG__…`
//! environment overrides, the `[calendar]` overlays, and the deserialization of each section and
//! each entry on its own, with every unknown key and type error collected as a [`Problem`] with
//! its key path. While merging, [`Origins`] notes which layer wrote each key, so that a problem
//! can name the file (or variable) to fix, and an entry as that file has it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::{
    Config, LimitsConfig, NotifyConfig, ObligationsConfig, Problem, ReportConfig, RulesConfig,
    RunConfig, SourceConfig, StoreConfig, UnitConfig, WebConfig, problem,
};

/// Prefix of environment overrides: `LIANDONG__STORE__URL=…` sets `store.url`.
pub const ENV_PREFIX: &str = "LIANDONG__";

/// Where the keys of the merged configuration were written: each key path (as problems name
/// them: `store.url`, `sources[2].schedule`) → the last layer that wrote its value, or for a
/// table or an array, the first layer that wrote it; and each entry of an array of tables (`sources[2]`) → its layer, its position among that
/// layer's entries and its name.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// A file's path as it was read, or an environment variable's name.
    layers: Vec<String>,
    keys: HashMap<String, usize>,
    entries: HashMap<String, EntryOrigin>,
    /// Where each loaded `[[units]]` / `[[sources]]` entry stood in the merged array.
    index: EntryIndex,
}

#[derive(Debug, Clone)]
struct EntryOrigin {
    layer: usize,
    /// The entry's position among its layer's entries of the same array.
    position: usize,
    /// Its `id` or, without one, its `name`.
    name: Option<String>,
}

impl Origins {
    fn layer(&mut self, name: String) -> usize {
        self.layers.push(name);
        self.layers.len() - 1
    }

    /// `path` and every key under `value` were written by `layer`; an array of tables' entries
    /// are entries of `layer`, from `position` on.
    fn record(&mut self, path: &str, value: &Value, layer: usize) {
        self.keys.insert(path.to_string(), layer);
        match value {
            Value::Table(t) => {
                for (k, v) in t {
                    self.record(&format!("{path}.{k}"), v, layer);
                }
            }
            Value::Array(items) if items.iter().all(Value::is_table) => {
                self.record_entries(path, 0, items, layer);
            }
            _ => {}
        }
    }

    /// `items` appended by `layer` to the array at `path`, which held `offset` entries.
    fn record_entries(&mut self, path: &str, offset: usize, items: &[Value], layer: usize) {
        self.keys.entry(path.to_string()).or_insert(layer);
        for (position, item) in items.iter().enumerate() {
            let at = format!("{path}[{}]", offset + position);
            let name = ["id", "name"]
                .iter()
                .find_map(|k| item.get(k).and_then(Value::as_str))
                .map(str::to_string);
            self.entries.insert(
                at.clone(),
                EntryOrigin {
                    layer,
                    position,
                    name,
                },
            );
            self.record(&at, item, layer);
        }
    }

    /// The merged index of `cfg.units[n]`.
    pub fn unit_index(&self, n: usize) -> usize {
        self.index.units.get(n).copied().unwrap_or(n)
    }

    /// The merged index of `cfg.sources[n]`.
    pub fn source_index(&self, n: usize) -> usize {
        self.index.sources.get(n).copied().unwrap_or(n)
    }

    pub(super) fn set_index(&mut self, index: EntryIndex) {
        self.index = index;
    }

    /// Where to fix the key `path`, as the person editing the configuration reads it: the file
    /// (or environment variable) that wrote it last, and the key as that file has it — a unit or
    /// source named by its `id` or `name` (`sources.x.schedule`) when that names one entry, any
    /// other entry of an array of tables by its position in that file (`sources[0].schedule`,
    /// `notify.robots[0].url`). `None` when
    /// no layer wrote it or anything above it (a built-in default).
    pub fn locate(&self, path: &str) -> Option<String> {
        let layer = prefixes(path).find_map(|p| self.keys.get(p))?;
        let origin = &self.layers[*layer];
        if origin.starts_with(super::ENV_PREFIX) {
            // Variables address the merged arrays: the path stays as it is.
            return Some(format!("{origin}: {path}"));
        }
        let shown = prefixes(path)
            .find_map(|p| self.entries.get(p).map(|e| (p, e)))
            .filter(|(_, e)| e.layer == *layer)
            .map(|(p, e)| {
                let array = &p[..p.rfind('[').unwrap_or(p.len())];
                let unique = |name: &str| {
                    self.entries
                        .iter()
                        .filter(|(k, o)| {
                            k.rfind('[').is_some_and(|i| &k[..i] == array)
                                && o.name.as_deref() == Some(name)
                        })
                        .count()
                        == 1
                };
                // Units and sources have identifiers for names; other entries (robots) go by
                // their position.
                let named = matches!(array, "units" | "sources");
                let entry = match e.name.as_deref() {
                    Some(n) if named && is_plain_name(n) && unique(n) => format!("{array}.{n}"),
                    _ => format!("{array}[{}]", e.position),
                };
                format!("{entry}{}", &path[p.len()..])
            })
            .unwrap_or_else(|| path.to_string());
        Some(format!("{origin}: {shown}"))
    }
}

/// `path` and its parents, longest first: `a.b[2].c`, `a.b[2]`, `a.b`, `a`.
fn prefixes(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let p = next?;
        next = p.rfind(['.', '[']).filter(|&i| i > 0).map(|i| &p[..i]);
        Some(p)
    })
}

/// A name that can stand in a key path without quoting.
fn is_plain_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars().count() <= 64
        && !n
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '.' | '[' | ']' | '"' | '\'' | ':'))
}

pub(super) fn read_layer(
    path: &Path,
    into: &mut Table,
    files: &mut Vec<PathBuf>,
    problems: &mut Vec<Problem>,
    origins: &mut Origins,
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
            let layer = origins.layer(path.display().to_string());
            merge(into, t, "", layer, origins);
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
/// `[[sources]]`) from a later file are appended, so a `conf.d` file can add one source. `at` is
/// the key path of `into`; what `layer` writes is noted in `origins`.
fn merge(into: &mut Table, from: Table, at: &str, layer: usize, origins: &mut Origins) {
    for (k, v) in from {
        let path = if at.is_empty() {
            k.clone()
        } else {
            format!("{at}.{k}")
        };
        match (into.get_mut(&k), v) {
            (Some(Value::Table(a)), Value::Table(b)) => merge(a, b, &path, layer, origins),
            (Some(Value::Array(a)), Value::Array(b))
                if b.iter().all(Value::is_table) && a.iter().all(Value::is_table) =>
            {
                origins.record_entries(&path, a.len(), &b, layer);
                a.extend(b)
            }
            (_, v) => {
                origins.record(&path, &v, layer);
                into.insert(k, v);
            }
        }
    }
}

/// `LIANDONG__NOTIFY__EMAIL__HOST=smtp.example` sets `notify.email.host`; a numeric segment
/// indexes an array (`LIANDONG__SOURCES__0__PATH`). A value that parses as a TOML value
/// (`25`, `true`, `[7, 3]`) is taken as one; anything else is a string.
pub(super) fn apply_env(
    table: &mut Table,
    env: &[(String, String)],
    problems: &mut Vec<Problem>,
    origins: &mut Origins,
) {
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
        let layer = origins.layer(key.clone());
        let mut written = Vec::new();
        match set_path(table, &segments, value, String::new(), &mut written) {
            Ok(()) => {
                // The variable's value is its own; the tables it went into are theirs, unless it
                // made them.
                if let Some(leaf) = written.pop() {
                    origins.keys.insert(leaf, layer);
                }
                for p in written {
                    origins.keys.entry(p).or_insert(layer);
                }
            }
            Err(msg) => problems.push(problem(key.clone(), msg)),
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

/// Sets the key `segments` below `table` (whose key path is `at`); `written` gets the key paths
/// it wrote, from the outermost.
fn set_path(
    table: &mut Table,
    segments: &[String],
    value: Value,
    at: String,
    written: &mut Vec<String>,
) -> Result<(), String> {
    let (first, rest) = match segments.split_first() {
        Some(x) => x,
        None => return Err("no key".into()),
    };
    let path = if at.is_empty() {
        first.clone()
    } else {
        format!("{at}.{first}")
    };
    written.push(path.clone());
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| Value::Table(Table::new()));
    set_in_value(entry, rest, value, path, written)
}

fn set_in_value(
    target: &mut Value,
    segments: &[String],
    value: Value,
    at: String,
    written: &mut Vec<String>,
) -> Result<(), String> {
    match target {
        Value::Table(t) => set_path(t, segments, value, at, written),
        Value::Array(items) => {
            let (first, rest) = segments.split_first().ok_or("no key")?;
            let idx: usize = first
                .parse()
                .map_err(|_| format!("`{first}` should be an index into the array"))?;
            let len = items.len();
            let item = items.get_mut(idx).ok_or_else(|| {
                format!("index {idx} is past the end of the array ({len} entries)")
            })?;
            let path = format!("{at}[{idx}]");
            written.push(path.clone());
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_in_value(item, rest, value, path, written)
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
#[derive(Debug, Clone, Default)]
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
        let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"sources[0].encoding"), "{paths:?}");
        assert!(paths.contains(&"sources[1].kind"), "{paths:?}");
        // Shown with the file, each entry by its name.
        let text = err.to_string();
        assert!(
            text.contains("liandong.toml: sources.a.encoding: "),
            "{text}"
        );
        assert!(text.contains("liandong.toml: sources.b.kind: "), "{text}");
    }

    /// Issue 22 item 9: a problem names the layer that wrote its key — the main file, a
    /// `conf.d` file, an environment variable — and an entry as that file has it: by its
    /// name when that names one entry, else by its position in that file; a key nobody wrote is
    /// found by its entry or section. The key path in the merged configuration stays as it is.
    #[test]
    fn problems_name_the_file_and_the_entry_as_that_file_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("liandong.toml");
        std::fs::write(
            &main,
            "[store]\nurl = \"sqlite://a.db\"\n[[units]]\nid = \"a\"\nname = \"甲\"\n\
             [[sources]]\nname = \"one\"\npath = \"a.csv\"\nencodng = \"gbk\"\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        let confd = dir.path().join("conf.d/20-sources.toml");
        std::fs::write(
            &confd,
            "[[sources]]\nname = \"x\"\nschedule = \"hourly\"\npath = \"b.csv\"\n\
             [[sources]]\nname = \"Not A Name\"\npath = \"c.csv\"\n\
             [[sources]]\nname = \"h\"\nkind = \"http\"\n\
             [store]\nbusy_timeout_secs = \"soon\"\n",
        )
        .unwrap();
        let err = crate::config::Config::load(&crate::config::LoadOptions {
            path: Some(main.clone()),
            env: vec![("LIANDONG__RUN__LEASE_SECS".into(), "2".into())],
        })
        .unwrap_err();
        let (m, c) = (main.display(), confd.display());
        let shown: Vec<(String, String)> = err
            .problems
            .iter()
            .map(|p| (p.path.clone(), p.to_string()))
            .collect();
        let want = |path: &str, text: String| {
            assert!(
                shown.iter().any(|(p, t)| p == path && *t == text),
                "missing {path} as {text:?} in {shown:#?}"
            );
        };
        want(
            "sources[0].encodng",
            format!("{m}: sources.one.encodng: unknown key"),
        );
        want(
            "store.busy_timeout_secs",
            format!(
                "{c}: store.busy_timeout_secs: invalid type: string \"soon\", expected u64 in `busy_timeout_secs`"
            ),
        );
        let schedule = err
            .problems
            .iter()
            .find(|p| p.path == "sources[1].schedule")
            .unwrap();
        assert!(
            schedule
                .to_string()
                .starts_with(&format!("{c}: sources.x.schedule: not a six-field cron")),
            "{schedule}"
        );
        want(
            "sources[2].name",
            format!(
                "{c}: sources[1].name: expected a short identifier of a-z, 0-9, '-' or '_', found \"Not A Name\""
            ),
        );
        // Not written at all: the entry's file.
        want(
            "sources[3].url",
            format!("{c}: sources.h.url: an http source needs a url"),
        );
        want(
            "run.lease_secs",
            "LIANDONG__RUN__LEASE_SECS: run.lease_secs: must be from 10 to 86400 (a day)".into(),
        );
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
