//! Configuration: TOML layered as defaults → file → `conf.d/*.toml` → `LIANDONG__…` environment.
//!
//! Loading is two explicit phases. First every layer is merged into one TOML table; then each
//! section (and each `[[units]]` / `[[sources]]` entry on its own) is deserialized into the raw
//! structs of `model` while unknown keys are collected, so that `check-config` can report *every*
//! problem at once with its key path instead of stopping at the first. Secrets are never values in
//! the file: a `*_file` key names a file, a `*_credential` key names a systemd credential under
//! `$CREDENTIALS_DIRECTORY`. They are read into [`secrecy::SecretString`] and never printed.
//!
//! This file holds the loaded [`Config`], how it is loaded ([`Config::load`],
//! [`Config::from_toml_str`]) and the [`Problem`]s found; the raw sections and their defaults are
//! in `model` (store, units, sources, notify, run) and `sections` (the rules', obligations' and
//! report's), reading and merging the layers in `layers`, the checks serde cannot make in
//! `validate`, secrets in `secrets`, and the SMS template parameters' names in [`sms_params`].
//! Everything is re-exported here: callers name `crate::config::X`.
//!
//! `config` sits below the features: it imports only `domain` (text, the calendar, the rules'
//! identifiers), `records` (the feeds a source can carry and their fields) and `schedule` (cron
//! expressions and durations). The features — `sources`, `store`, `rules`, `obligations`,
//! `notify`, `report`, `daemon` — read their sections from [`Config`]; none is imported here.

mod layers;
mod model;
mod secrets;
mod sections;
pub mod sms_params;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use toml::Table;

use crate::records::Feed;
use layers::{apply_env, build_calendar, from_table, read_layer};
use validate::validate;

pub use layers::{ENV_PREFIX, Origins};
pub use model::*;
pub use secrets::{DatabaseUrl, Redactor, SecretError, read_secret, redact_url};
pub use sections::*;

/// The documented example configuration, printed by `liandong default-config`.
pub const EXAMPLE: &str = include_str!("../../config/liandong.example.toml");

/// One problem found in the configuration, with the key path to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key in the merged configuration (`sources[2].schedule`).
    pub path: String,
    pub message: String,
    /// Where to fix it, when a file or variable wrote it: `conf.d/20-sources.toml:
    /// sources.x.schedule` (see [`Origins::locate`]). Shown instead of `path`.
    pub at: Option<String>,
}

impl Problem {
    /// A problem of the key `path` (in the merged configuration).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
            at: None,
        }
    }

    /// Names the file (or variable) that wrote the key, as `origins` knows it.
    pub fn located(mut self, origins: &Origins) -> Problem {
        self.at = origins.locate(&self.path);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.at, self.path.is_empty()) {
            (Some(at), _) => write!(f, "{at}: {}", self.message),
            (None, true) => write!(f, "{}", self.message),
            (None, false) => write!(f, "{}: {}", self.path, self.message),
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
    Problem::new(path, message)
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub store: StoreConfig,
    pub units: Vec<UnitConfig>,
    pub sources: Vec<SourceConfig>,
    pub notify: NotifyConfig,
    /// The numbers of the rules (SPEC §3).
    pub rules: RulesConfig,
    /// The obligations of SPEC §4 (`[obligations]`).
    pub obligations: ObligationsConfig,
    /// The weekly report of SPEC §6 (`[report]`).
    pub report: ReportConfig,
    /// The daemon (`[run]`, SPEC §7).
    pub run: RunConfig,
    /// How much one piece of outside data may weigh (`[limits]`).
    pub limits: LimitsConfig,
    /// The web console (`[web]`, SPEC §10).
    pub web: WebConfig,
    /// Holiday overlays (`[calendar]`): (where it came from, TOML text in the form of
    /// `data/holidays.toml`), applied over the shipped tables in order.
    pub calendar_overlays: Vec<(String, String)>,
    /// The files that were read, in order (for `check-config` and logs).
    pub files: Vec<PathBuf>,
    /// Which file or variable wrote each key (for the problems found after loading).
    pub origins: Origins,
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
    pub fn effective_rules(&self) -> RulesConfig {
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
        let (cfg, problems) = Config::load_all(opts);
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError { problems })
        }
    }

    /// Loads and validates, and returns what could be loaded with every problem found, each
    /// naming the file or variable to fix: with problems, the configuration lacks what they
    /// concern (a section or entry that could not be read is left at its defaults or out), but
    /// the rest can still be checked further (`check-config` looks for missing files in it).
    pub fn load_all(opts: &LoadOptions) -> (Config, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut files = Vec::new();
        let mut origins = Origins::default();
        let main = match &opts.path {
            Some(p) => {
                if !p.exists() {
                    let missing = format!("configuration file {} does not exist", p.display());
                    return (Config::default(), vec![problem("", missing)]);
                }
                Some(p.clone())
            }
            None => DEFAULT_PATHS.iter().map(PathBuf::from).find(|p| p.exists()),
        };
        let mut merged = Table::new();
        if let Some(main) = &main {
            read_layer(main, &mut merged, &mut files, &mut problems, &mut origins);
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
                    read_layer(&p, &mut merged, &mut files, &mut problems, &mut origins);
                }
            }
        }
        apply_env(&mut merged, &opts.env, &mut problems, &mut origins);
        let (mut cfg, index) = from_table(merged, &mut problems);
        cfg.files = files;
        validate(&cfg, &index, &mut problems);
        origins.set_index(index);
        let problems = problems.into_iter().map(|p| p.located(&origins)).collect();
        cfg.origins = origins;
        (cfg, problems)
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
        let (mut cfg, index) = from_table(table, &mut problems);
        validate(&cfg, &index, &mut problems);
        cfg.origins.set_index(index);
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

/// Loads `text` as the one configuration file, with `env` as the environment (tests).
#[cfg(test)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_valid() {
        let cfg = Config::from_toml_str(EXAMPLE).expect("example must load");
        assert!(!cfg.units.is_empty());
        assert!(!cfg.sources.is_empty());
        assert!(!cfg.rules.r6_thresholds.is_empty(), "R6 thresholds ship");
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
}
