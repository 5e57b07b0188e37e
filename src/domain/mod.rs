//! Pure domain types and parsers for outside data: no I/O. Time comes from [`clock::Clock`],
//! whose [`clock::wall`] is the program's one reading of the system clock.
pub mod calendar;
pub mod case_no;
pub mod clock;
pub mod rule;
pub mod text;
pub mod values;
