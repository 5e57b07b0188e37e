//! liandong keeps a county's government–procuratorate linkage (府检联动) honest.
//!
//! The flow: **sources** (department systems, the two-law linkage platform, records people enter)
//! are read by `sources` connectors and land in the **store** (`store`, SQLite or PostgreSQL) as
//! canonical records (`records`), keyed by unit and normalised case number (`domain`). Later
//! stages evaluate rules and obligations over the store, notify people and build the weekly
//! report. `sync` runs the sources; `cli` is the command line; `config` loads and validates the
//! layered TOML configuration.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod evaluate;
pub mod mask;
pub mod notify;
pub mod obligations;
pub mod output;
pub mod random;
pub mod record;
pub mod records;
pub mod report;
pub mod rules;
pub mod schedule;
pub mod sources;
pub mod store;
pub mod sync;
pub mod units;
pub mod web;
