//! The obligations on the calendar (SPEC §4): the quarterly case-file review sampling, the
//! annual joint meeting and the annual training.

pub mod annual;
pub mod draws;
pub mod sampling;
pub mod status;

pub use crate::config::ObligationsConfig;
