//! The shape ARCHITECTURE.md promises, checked against the code: the top-level modules of
//! `src/` import each other without cycles, the wall clock is read in one function, Rust code is
//! not pasted in with `include!`, one SQLite driver, and a normal (position-independent) binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A file's code: comments removed, and the unit tests (from `#[cfg(test)]` on) left out.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to (`src/store/sqlite.rs` → `store`).
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// The top-level modules each module imports through `crate::…` paths.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for f in &files {
        let Some(from) = module_of(f) else { continue };
        let text = code(f);
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            // `crate::store::…` or `crate::{config::Config, store::{…}}`: the names that open
            // each path of a group.
            let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 1;
                let mut names = Vec::new();
                let mut word = String::new();
                let mut at_start = true;
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    if depth == 1 && (c == ',' || c.is_whitespace() || c == '{') {
                        if c == ',' {
                            at_start = true;
                        }
                        continue;
                    }
                    if depth == 1 && at_start && (c.is_alphanumeric() || c == '_') {
                        word.push(c);
                        continue;
                    }
                    if !word.is_empty() {
                        names.push(std::mem::take(&mut word));
                    }
                    at_start = false;
                }
                if !word.is_empty() {
                    names.push(word);
                }
                names
            } else {
                vec![
                    rest.chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect(),
                ]
            };
            for n in names {
                if modules.contains(&n) && n != from {
                    out.get_mut(&from).unwrap().insert(n);
                }
            }
        }
    }
    out
}

/// A cycle through `start`, if there is one: the modules along it.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in &graph[&at] {
            if next == start {
                let mut p = path.clone();
                p.push(start.to_string());
                return Some(p);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

#[test]
fn the_top_level_modules_import_each_other_without_cycles() {
    let graph = imports();
    assert!(graph.len() > 10, "{graph:?}");
    // The imports are seen, single paths and groups alike.
    assert!(
        graph["cli"].contains("app") && graph["daemon"].contains("app"),
        "{graph:?}"
    );
    assert!(graph["store"].contains("records"), "{graph:?}");
    // The layers ARCHITECTURE.md names: the domain imports nothing, the shells are on top.
    assert!(
        graph["domain"].is_empty(),
        "domain imports {:?}",
        graph["domain"]
    );
    for shell in ["cli", "daemon"] {
        for (m, deps) in &graph {
            assert!(
                !deps.contains(shell) || m == "cli",
                "{m} imports the shell {shell}"
            );
        }
    }
    let cycles: Vec<Vec<String>> = graph
        .keys()
        .filter_map(|m| cycle_through(&graph, m))
        .collect();
    assert!(cycles.is_empty(), "cycles between modules: {cycles:#?}");
}

#[test]
fn the_wall_clock_is_read_in_one_function() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut reads = Vec::new();
    for f in &files {
        for (n, line) in code(f).lines().enumerate() {
            for needle in ["Utc::now(", "Local::now(", "SystemTime::now("] {
                if line.contains(needle) {
                    reads.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert!(reads[0].contains("src/domain/clock.rs"), "{reads:#?}");
}

#[test]
fn no_rust_code_is_included_one_sqlite_driver_and_a_normal_binary() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for f in &files {
        assert!(
            !code(f).contains("include!("),
            "{} pastes code in with include!",
            f.display()
        );
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(!manifest.contains("rusqlite"), "a second SQLite driver");
    let build = std::fs::read_to_string(root.join("build.rs")).unwrap();
    assert!(!build.contains("no-pie"), "a position-dependent executable");
}
