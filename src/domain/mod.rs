//! Pure domain types and parsers for outside data: no I/O, no clock.
pub mod calendar;
pub mod case_no;
pub mod rule;
pub mod text;
pub mod values;
