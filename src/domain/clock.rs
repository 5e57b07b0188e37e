//! What time it is. Every job and command takes a [`Clock`] from the application layer and asks
//! it; [`wall`] is the one place in the program that reads the system's clock.
//!
//! Two times are in play. `now()` is the time the rules, deadlines and reminders are evaluated
//! at: the wall clock, or an `--as-of` instant (fixed for a command, running on from there for a
//! replaying daemon). `wall()` is always the real time: leases between processes, audit stamps
//! and retry times must agree with other processes and with the database, whatever day is being
//! replayed.

use chrono::{DateTime, TimeDelta, Utc};

/// The wall clock, a fixed instant (`--as-of`), or the wall clock shifted (the daemon replaying
/// from an `--as-of`: its time starts there and runs on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    Wall,
    Fixed(DateTime<Utc>),
    Offset(TimeDelta),
}

impl Clock {
    /// A command's clock: `as_of` when given, else the wall clock.
    pub fn at(as_of: Option<DateTime<Utc>>) -> Clock {
        as_of.map_or(Clock::Wall, Clock::Fixed)
    }

    /// A daemon's clock: starts at `as_of` when given and runs on from there.
    pub fn starting_at(as_of: Option<DateTime<Utc>>) -> Clock {
        as_of.map_or(Clock::Wall, |t| Clock::Offset(t - wall()))
    }

    /// The time rules and reminders are evaluated at.
    pub fn now(self) -> DateTime<Utc> {
        match self {
            Clock::Wall => wall(),
            Clock::Fixed(t) => t,
            Clock::Offset(d) => wall() + d,
        }
    }

    /// The real time, for leases, audit stamps and retry times.
    pub fn wall(self) -> DateTime<Utc> {
        wall()
    }
}

/// The system's clock: the only place the program reads it.
pub fn wall() -> DateTime<Utc> {
    Utc::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stands_still_and_an_offset_clock_runs_on_from_its_start() {
        let t = DateTime::parse_from_rfc3339("2025-10-13T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(Clock::at(Some(t)).now(), t);
        assert_eq!(Clock::at(None), Clock::Wall);
        let replay = Clock::starting_at(Some(t));
        let first = replay.now();
        assert!((first - t).num_seconds().abs() < 5, "{first}");
        assert!(replay.now() >= first);
        assert!(replay.wall() > t + TimeDelta::days(300));
    }
}
