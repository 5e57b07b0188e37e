//! The application core: what liandong does, as plain async functions over an [`App`] — the
//! configuration, the store and the clock. The command line (`cli`), the daemon (`daemon`) and
//! the web console are thin shells over it: they parse what people ask, call a job or a query
//! here, and present the outcome. Nothing below this module knows about them.
//!
//! - [`jobs`]: sync the sources, evaluate the rules, queue and send the notices, the weekly
//!   report, the administrator's alerts — each an `async fn(&App, …)` returning what it did.
//! - [`preflight`]: what a configuration needs before anything runs (secrets readable, files
//!   present, templates that parse, a holiday table for the months ahead).
//! - [`alerts`]: what the administrator must hear of.
//! - [`accounts`]: the web console's accounts, sign-in (throttled) and sessions.

pub mod accounts;
pub mod alerts;
pub mod jobs;
pub mod preflight;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::clock::Clock;
use crate::store::Store;

/// The configuration, the store and the clock a job runs with.
#[derive(Clone)]
pub struct App {
    pub cfg: Config,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
}

impl App {
    /// Opens (and migrates) the configured store.
    pub async fn open(cfg: Config, clock: Clock) -> anyhow::Result<App> {
        let store: Arc<dyn Store> = Arc::from(crate::store::open(&cfg.store).await?);
        Ok(App { cfg, store, clock })
    }

    /// The time the rules are evaluated at.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
}
