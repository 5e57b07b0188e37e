//! The configured units and how a name found in outside data resolves to one.
//!
//! Source data spells units many ways (全称, 简称, old names, full-width brackets); each unit's
//! `id`, `name` and `aliases` are compared after `text::squeeze`, so spacing and character width
//! do not matter. A name that resolves to nothing is kept by the caller as an unknown unit.

use std::collections::HashMap;

use crate::config::{UnitConfig, UnitKind};
use crate::domain::text;

/// The liaison office's name, as configured (the unit of kind `liaison`), for texts people read.
pub fn office_name(units: &[UnitConfig]) -> String {
    units
        .iter()
        .find(|u| u.kind == UnitKind::Liaison)
        .map_or_else(|| "府检联动办公室".to_string(), |u| u.name.clone())
}

#[derive(Debug, Clone, Default)]
pub struct Units {
    units: Vec<UnitConfig>,
    by_key: HashMap<String, usize>,
    by_id: HashMap<String, usize>,
}

impl Units {
    pub fn new(units: &[UnitConfig]) -> Units {
        let mut by_key = HashMap::new();
        for (i, u) in units.iter().enumerate() {
            by_key.entry(u.id.to_ascii_lowercase()).or_insert(i);
            for n in std::iter::once(&u.name).chain(u.aliases.iter()) {
                let k = text::squeeze(n);
                if !k.is_empty() {
                    by_key.entry(k).or_insert(i);
                }
            }
        }
        let by_id = units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.clone(), i))
            .rev()
            .collect();
        Units {
            units: units.to_vec(),
            by_key,
            by_id,
        }
    }

    /// The unit named by `name` (id, full name or alias), if configured.
    pub fn resolve(&self, name: &str) -> Option<&UnitConfig> {
        let k = text::squeeze(name);
        self.by_key
            .get(&k)
            .or_else(|| self.by_key.get(&k.to_ascii_lowercase()))
            .and_then(|&i| self.units.get(i))
    }

    /// The unit id that rows naming `name` are stored under: the configured unit's id, or for a
    /// unit that is not configured its name as written (normalised), as ingest keeps it.
    pub fn stored_id(&self, name: &str) -> String {
        match self.resolve(name) {
            Some(u) => u.id.clone(),
            None => text::normalize(name),
        }
    }

    /// The unit with this id (the first, should two share it).
    pub fn get(&self, id: &str) -> Option<&UnitConfig> {
        self.by_id.get(id).and_then(|&i| self.units.get(i))
    }

    /// Display name of a stored unit id: the configured name, or the id itself when unknown.
    pub fn display_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.get(id).map(|u| u.name.as_str()).unwrap_or(id)
    }

    pub fn all(&self) -> &[UnitConfig] {
        &self.units
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_resolve_by_id_name_or_alias_whatever_the_spacing_and_width() {
        let units = Units::new(&[UnitConfig {
            id: "scjg".into(),
            name: "稻城县市场监督管理局".into(),
            aliases: vec!["县市场监管局".into()],
            ..Default::default()
        }]);
        for n in [
            "scjg",
            "SCJG",
            "稻城县市场监督管理局",
            " 稻城县 市场监督管理局 ",
            "县市场监管局",
            "县市场监管局\u{3000}",
        ] {
            assert_eq!(
                units.resolve(n).map(|u| u.id.as_str()),
                Some("scjg"),
                "{n:?}"
            );
        }
        assert!(units.resolve("县公安局").is_none());
        assert_eq!(units.stored_id("县市场监管局"), "scjg");
        assert_eq!(units.stored_id(" 县公安局 "), "县公安局");
        assert_eq!(units.display_name("scjg"), "稻城县市场监督管理局");
        assert_eq!(units.display_name("县公安局"), "县公安局");
    }

    use proptest::prelude::*;

    fn spaced(name: &str, gaps: &[u8]) -> String {
        // Insert ASCII, ideographic or no-break spaces between characters, as pasted text has.
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            match gaps.get(i).copied().unwrap_or(0) % 4 {
                1 => out.push(' '),
                2 => out.push('\u{3000}'),
                3 => out.push('\u{00A0}'),
                _ => {}
            }
            out.push(c);
        }
        out
    }

    proptest! {
        #[test]
        fn a_configured_name_or_alias_resolves_however_it_is_spaced(
            which in 0usize..4,
            gaps in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let units = Units::new(&[
                UnitConfig { id: "scjg".into(), name: "稻城县市场监督管理局".into(), aliases: vec!["县市场监管局".into()], ..Default::default() },
                UnitConfig { id: "jtys".into(), name: "稻城县交通运输局".into(), aliases: vec!["县交通局".into()], ..Default::default() },
            ]);
            let (text, id) = [("稻城县市场监督管理局", "scjg"), ("县市场监管局", "scjg"), ("稻城县交通运输局", "jtys"), ("县交通局", "jtys")][which];
            let written = spaced(text, &gaps);
            prop_assert_eq!(units.resolve(&written).map(|u| u.id.as_str()), Some(id));
        }

        #[test]
        fn resolving_never_panics_and_unknown_names_stay_unknown(s in "\\PC{0,30}") {
            let units = Units::new(&[UnitConfig { id: "scjg".into(), name: "稻城县市场监督管理局".into(), ..Default::default() }]);
            if let Some(u) = units.resolve(&s) {
                prop_assert_eq!(u.id.as_str(), "scjg");
            }
        }
    }
}
