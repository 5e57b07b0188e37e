//! The rows one import has taken, to find a case listed again however far apart its rows are,
//! with where each row came from — without a store read more than the import makes anyway.
//!
//! One entry a row, in the order the rows come: the hash of its (unit, case key), and the entry
//! before it in its bucket's chain. An entry's position is its row's ordinal in the import; the
//! rows' places (location, row number) are kept as runs of rows that follow one another. That is
//! 12 bytes a row and 4 a bucket, and growing copies only the bucket heads: a million rows take
//! about 17 MB. (A `HashMap` from key hash to place took 52 MB with its growth and three times
//! as long, measured on a million keys with `rustc -O`.) Buckets are picked by multiplying with a
//! random odd number, so a hostile file cannot aim its rows at one chain.
//!
//! Two (unit, case key) pairs with one 64-bit hash (odds of about 10⁻⁸ in a million-case import)
//! would make the later row of the second look like a repeat of the first: the store then
//! compares it with its own case as stored, and reports a difference, if any, against the other
//! case's row.

use std::hash::{BuildHasher, RandomState};

/// No entry.
const NONE: u32 = u32::MAX;

#[derive(Debug)]
pub struct Seen {
    /// Per row taken, by ordinal: its key hash.
    keys: Vec<u64>,
    /// Per row taken: the previous entry of its bucket's chain.
    next: Vec<u32>,
    /// Per bucket: its latest entry. A power of two, at least as many as entries.
    heads: Vec<u32>,
    /// A random odd multiplier (multiply-shift hashing).
    multiplier: u64,
    /// The places of the rows: (first ordinal, location index, its row number), one a run of
    /// rows that follow one another in one location.
    runs: Vec<(u32, u32, u32)>,
    locations: Vec<String>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen::new()
    }
}

impl Seen {
    pub fn new() -> Seen {
        Seen {
            keys: Vec::new(),
            next: Vec::new(),
            heads: vec![NONE; 1024],
            multiplier: RandomState::new().hash_one(0x5eed_u64) | 1,
            runs: Vec::new(),
            locations: Vec::new(),
        }
    }

    /// Rows taken so far: the ordinal the next row gets.
    pub fn len(&self) -> u32 {
        self.keys.len().min(NONE as usize) as u32
    }

    fn bucket(&self, key: u64) -> usize {
        let bits = self.heads.len().trailing_zeros();
        (key.wrapping_mul(self.multiplier) >> (64 - bits)) as usize
    }

    /// Takes the row `row` of `location` listing the case whose (unit, case key) hashes to
    /// `key`; returns the ordinal of the latest earlier row with that key, if any.
    pub fn take(&mut self, key: u64, location: &str, row: i64) -> Option<u32> {
        let ordinal = self.keys.len();
        if ordinal >= NONE as usize {
            return None;
        }
        let ordinal = ordinal as u32;
        if ordinal as usize >= self.heads.len() {
            self.grow();
        }
        let b = self.bucket(key);
        let mut i = self.heads[b];
        while i != NONE && self.keys[i as usize] != key {
            i = self.next[i as usize];
        }
        self.keys.push(key);
        self.next.push(self.heads[b]);
        self.heads[b] = ordinal;
        self.place_row(ordinal, location, row);
        (i != NONE).then_some(i)
    }

    /// Twice the buckets, the chains rebuilt from the entries.
    fn grow(&mut self) {
        self.heads = vec![NONE; self.heads.len() * 2];
        for ordinal in 0..self.keys.len() {
            let b = self.bucket(self.keys[ordinal]);
            self.next[ordinal] = self.heads[b];
            self.heads[b] = ordinal as u32;
        }
    }

    fn place_row(&mut self, ordinal: u32, location: &str, row: i64) {
        let row = u32::try_from(row).unwrap_or(u32::MAX);
        if self.locations.last().is_none_or(|l| l != location) {
            self.locations.push(location.to_string());
        }
        let loc = (self.locations.len() - 1) as u32;
        let follows = self.runs.last().is_some_and(|&(first, l, start)| {
            l == loc && u64::from(start) + u64::from(ordinal - first) == u64::from(row)
        });
        if !follows {
            self.runs.push((ordinal, loc, row));
        }
    }

    /// Where the row with `ordinal` came from: its location and row number.
    pub fn place(&self, ordinal: u32) -> (&str, i64) {
        let at = self.runs.partition_point(|&(first, ..)| first <= ordinal);
        match at.checked_sub(1).and_then(|i| self.runs.get(i)) {
            Some(&(first, loc, start)) => (
                self.locations[loc as usize].as_str(),
                i64::from(start) + i64::from(ordinal - first),
            ),
            None => ("", 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_taken_again_names_its_latest_earlier_row_and_places_hold_across_growth() {
        let mut s = Seen::new();
        // 5,000 keys (the buckets grow several times), rows 2.. of a file with a gap at 100.
        let row = |i: u64| if i < 98 { i as i64 + 2 } else { i as i64 + 3 };
        for i in 0..5000u64 {
            assert_eq!(s.take(i * 7919, "a.csv", row(i)), None, "{i}");
        }
        assert_eq!(s.place(0), ("a.csv", 2));
        assert_eq!(s.place(97), ("a.csv", 99));
        assert_eq!(s.place(98), ("a.csv", 101));
        assert_eq!(s.place(4999), ("a.csv", 5002));
        // Key 10 again on page 2, then again: each time the latest earlier row.
        let first = s.take(10 * 7919, "page 2", 1).unwrap();
        assert_eq!(s.place(first), ("a.csv", 12));
        let second = s.take(10 * 7919, "page 2", 2).unwrap();
        assert_eq!(s.place(second), ("page 2", 1));
        assert_eq!(s.take(123_456_789, "page 2", 3), None);
    }
}
