//! Black-box tests: one binary, a module per concern. They run the real pieces against real
//! things: SQLite files, PostgreSQL and MariaDB on 127.0.0.1, HTTP servers on port 0, the built
//! `liandong` binary. Tests needing PostgreSQL or MariaDB print what they did not run when the
//! server is unreachable, and fail instead when LIANDONG_REQUIRE_DBS=1 (CI).

mod common;

mod architecture;
mod browser;
mod cli;
mod daemon;
mod evaluation;
mod file_sources;
mod http_source;
mod job_runs;
pub(crate) mod leaks;
mod notify;
mod obligations;
mod outbox_store;
mod print;
mod report;
mod scheduler;
mod source_properties;
mod sql_source;
mod store_conformance;
mod web;
mod webdriver;
