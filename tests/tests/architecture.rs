//! The architecture, checked. Cargo forbids cycles between crates; inside a crate nothing does,
//! so this test does: it reads every source file of the library crates, finds the modules each
//! one refers to (`crate::a::b`, `super::c`; test modules excluded), and fails on any cycle
//! between files. It also holds the layering the README draws: the core uses no async runtime,
//! HTTP or cloud SDK, and only the HTTP edge speaks HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use stream_tests::repo_root;

/// The module path of a source file under `src` (`segments/mod.rs` → `segments`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let parts: Vec<&str> = parts
        .iter()
        .map(String::as_str)
        .filter(|p| *p != "mod" && *p != "lib")
        .collect();
    parts.join("::")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its test-only items: each `#[cfg(test)]` and the item after it
/// (a `mod tests;` line, or a block up to its matching brace) is dropped; the rest is kept.
fn non_test_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "#[cfg(test)]".len()..];
        // The item ends at the first `;` before any `{`, or at the brace matching the first `{`.
        let (semi, open) = (after.find(';'), after.find('{'));
        let end = match (semi, open) {
            (Some(s), Some(o)) if s < o => s + 1,
            (Some(s), None) => s + 1,
            (_, Some(o)) => {
                let mut depth = 0usize;
                let mut end = after.len();
                for (j, c) in after[o..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + j + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, None) => after.len(),
        };
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Paths through child modules or `self::`: `use args::x` in `transcode/mod.rs` names
/// `transcode::args`.
fn child_references(module: &str, children: &[&str], code: &str) -> Vec<Vec<String>> {
    let own: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let mut out = vec![];
    for name in children.iter().copied().chain(std::iter::once("self")) {
        let needle = format!("{name}::");
        for (i, _) in code.match_indices(&needle) {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[i + needle.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let mut path = own.clone();
            if name != "self" {
                path.push(name.to_string());
            }
            if end > 0 {
                path.push(rest[..end].to_string());
            }
            out.push(path);
        }
    }
    out
}

/// Every path the code names that starts with `crate::` or `super::`, resolved to module paths.
fn references(module: &str, is_mod_rs: bool, code: &str) -> Vec<Vec<String>> {
    let mut out = vec![];
    let own: Vec<&str> = if module.is_empty() {
        vec![]
    } else {
        module.split("::").collect()
    };
    // `super` of `a::b` (a file `a/b.rs`) is `a`; of `a` written as `a/mod.rs` it is the root.
    let parent: Vec<&str> = if is_mod_rs || own.is_empty() {
        own[..own.len().saturating_sub(1)].to_vec()
    } else {
        own[..own.len() - 1].to_vec()
    };
    for (prefix, base) in [("crate::", Vec::<&str>::new()), ("super::", parent)] {
        for (i, _) in code.match_indices(prefix) {
            if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let path: Vec<String> = base
                .iter()
                .map(|s| s.to_string())
                .chain(
                    rest[..end]
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                )
                .collect();
            // `use super::{a, b}` / `crate::{a, b}`: each name of the group.
            if rest[end..].starts_with('{') {
                let group = &rest[end + 1..rest[end..].find('}').map_or(rest.len(), |j| end + j)];
                for item in group.split(',') {
                    let name = item.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty() {
                        out.push(
                            path.iter()
                                .cloned()
                                .chain(std::iter::once(name.to_string()))
                                .collect(),
                        );
                    }
                }
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The dependency graph between the files (modules) of one crate.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut all = vec![];
    files(src, &mut all);
    let modules: BTreeSet<String> = all.iter().map(|f| module_of(src, f)).collect();
    let mut g = BTreeMap::new();
    for f in &all {
        let module = module_of(src, f);
        let is_mod_rs = f
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        let text = std::fs::read_to_string(f).unwrap();
        let code = non_test_code(&text);
        let prefix = if module.is_empty() {
            String::new()
        } else {
            format!("{module}::")
        };
        // Child modules are declared only by a module's own file (`mod.rs`/`lib.rs`).
        let children: Vec<&str> = if is_mod_rs {
            modules
                .iter()
                .filter_map(|m| m.strip_prefix(&prefix))
                .filter(|c| !c.is_empty() && !c.contains("::"))
                .collect()
        } else {
            vec![]
        };
        let mut deps = BTreeSet::new();
        let mut paths = references(&module, is_mod_rs, &code);
        paths.extend(child_references(&module, &children, &code));
        for path in paths {
            // The deepest module the path names (the rest is an item inside it).
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains(m));
            if let Some(t) =
                target.filter(|t| *t != module && !module.starts_with(&format!("{t}::")))
            {
                deps.insert(t);
            }
        }
        g.insert(module, deps);
    }
    g
}

/// A cycle of `g`, if there is one.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == m).unwrap();
                    return Some(
                        stack[from..]
                            .iter()
                            .cloned()
                            .chain(std::iter::once(m.clone()))
                            .collect(),
                    );
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, g, &mut state, &mut vec![]) {
                return Some(c);
            }
        }
    }
    None
}

const CRATES: &[&str] = &["core", "media", "storage", "service", "http"];

#[test]
fn no_module_cycles_inside_a_crate() {
    for krate in CRATES {
        let g = graph(&repo_root().join("crates").join(krate).join("src"));
        assert!(g.len() > 1, "{krate}: no modules found");
        if let Some(cycle) = find_cycle(&g) {
            panic!("crates/{krate}: module cycle {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_check_finds_cycles() {
    let g: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .iter()
        .map(|(x, y)| (x.to_string(), BTreeSet::from([y.to_string()])))
        .collect();
    assert_eq!(find_cycle(&g).map(|c| c.len()), Some(4));
    let refs = references(
        "segments::request",
        false,
        "use super::claims::{self, Standing};\nuse crate::state::AppState;",
    );
    let claims: Vec<String> = vec!["segments".into(), "claims".into()];
    assert!(refs.iter().any(|r| r.starts_with(&claims)), "{refs:?}");
    // Test-only items are dropped, and only they.
    let code = non_test_code(
        "use a::b;\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\nfn f() { g(); { h(); } }\nuse c::d;",
    );
    assert_eq!(
        code.split_whitespace().collect::<Vec<_>>(),
        ["use", "a::b;", "use", "c::d;"]
    );
    let kids = child_references("transcode", &["args"], "use args::{x}; self::y(); margs::z");
    assert_eq!(
        kids,
        vec![
            vec!["transcode".to_string(), "args".into()],
            vec!["transcode".into(), "y".into()]
        ]
    );
    assert!(
        refs.contains(&vec!["state".into(), "AppState".into()]),
        "{refs:?}"
    );
}

/// Which crates a crate's manifest names as normal dependencies.
fn dependencies(krate: &str) -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(repo_root().join("crates").join(krate).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn layers_hold() {
    let core = dependencies("core");
    for banned in [
        "tokio",
        "http",
        "aws-config",
        "aws-sdk-s3",
        "aws-sdk-dynamodb",
        "rusqlite",
        "reqwest",
        "lambda_http",
        "ffmpeg-sidecar",
    ] {
        assert!(!core.contains(banned), "the core depends on {banned}");
    }
    for krate in ["core", "media", "storage", "service"] {
        let deps = dependencies(krate);
        assert!(
            !deps.contains("http") && !deps.contains("lambda_http") && !deps.contains("axum"),
            "{krate} speaks HTTP"
        );
    }
    assert!(
        !dependencies("media")
            .iter()
            .any(|d| d.starts_with("aws-") || d == "rusqlite"),
        "the engine knows storage"
    );
}
