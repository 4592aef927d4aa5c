//! The layout rule of `src/lib.rs`, held: every `.rs` file under `src/` is read, the top-level
//! modules it reaches (`use crate::x`, `crate::x::…` anywhere in code, `super::` paths that
//! climb out of their module) are checked against the table below, the module graph must be
//! acyclic, and `unsafe` code may only appear in `src/platform.rs`. The self-tests feed the
//! checker small synthetic files, so a broken import provably fails this test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Which other top-level modules each top-level module may import (its own is always allowed).
/// An entry `x::y` allows only paths under `crate::x::y`. Layers, bottom first:
/// `platform`, `model` ← `dsp` ← `engine`, `store` ← `audio` ← `control`, `keymap` ←
/// `sources` ← `app` ← `frontend` ← `cli` (clap declarations, whose argument structs live
/// with their frontends), which only `main.rs` imports; `main.rs` dispatches subcommands.
const ALLOWED: &[(&str, &[&str])] = &[
    ("platform", &[]),
    ("model", &[]),
    ("dsp", &["model", "platform"]),
    ("engine", &["dsp", "model", "platform"]),
    ("store", &["model", "platform"]),
    ("audio", &["engine", "dsp", "model", "store", "platform"]),
    // The recorder, never the cpal device code.
    (
        "control",
        &[
            "audio::recorder",
            "engine",
            "dsp",
            "model",
            "store",
            "platform",
        ],
    ),
    // The keymap file is read through the store's one reader of user files.
    ("keymap", &["control", "model", "store"]),
    (
        "sources",
        &["control", "keymap", "engine", "store", "model"],
    ),
    (
        "app",
        &[
            "sources", "keymap", "control", "audio", "engine", "store", "dsp", "model", "platform",
        ],
    ),
    (
        "frontend",
        &["app", "sources", "keymap", "control", "store", "model"],
    ),
    ("cli", &["frontend"]),
];

/// What the binary (`src/main.rs`) may name: the command line and the dispatch.
const MAIN_ALLOWED: &[&str] = &["cli", "frontend"];

/// Imports allowed in one file beyond its module's row in [`ALLOWED`], each with its reason.
/// An entry that no longer matches any import fails the test, so the list cannot go stale.
const FILE_EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// Edges left out of the cycle check (none: the subcommand dispatch lives in `main.rs`).
const DISPATCH_EDGES: &[(&str, &str)] = &[];

/// Files allowed to contain `unsafe` code besides `src/platform.rs`, each with its reason.
const UNSAFE_EXCEPTIONS: &[(&str, &str)] = &[];

const UNSAFE_HOME: &str = "src/platform.rs";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// The tokens of a Rust source with their line numbers; comments, strings, character
/// literals and lifetimes are dropped, so text in them never counts as an import.
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Skips a quoted string starting at `c[i] == '"'`; returns the index after it.
    let skip_string = |mut i: usize, line: &mut usize| -> usize {
        i += 1;
        while i < c.len() && c[i] != '"' {
            if c[i] == '\\' {
                i += 1;
            }
            if i < c.len() && c[i] == '\n' {
                *line += 1;
            }
            i += 1;
        }
        i + 1
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(i, &mut line);
        } else if ch == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if c.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // Raw and byte strings: r"…", r#"…"#, b"…", br#"…"#, b'x'.
            if matches!(word.as_str(), "r" | "br" | "b" | "c" | "cr")
                && matches!(c.get(i), Some('"') | Some('#'))
            {
                if word.ends_with('r') {
                    let mut hashes = 0;
                    while c.get(i) == Some(&'#') {
                        hashes += 1;
                        i += 1;
                    }
                    if c.get(i) == Some(&'"') {
                        i += 1;
                        loop {
                            if i >= c.len() {
                                break;
                            }
                            if c[i] == '\n' {
                                line += 1;
                            }
                            if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                                i += 1 + hashes;
                                break;
                            }
                            i += 1;
                        }
                        continue;
                    }
                } else if c.get(i) == Some(&'"') {
                    i = skip_string(i, &mut line);
                    continue;
                }
            }
            if word == "b" && c.get(i) == Some(&'\'') {
                // A byte literal: let the character-literal branch skip it.
                continue;
            }
            out.push((Tok::Ident(word), line));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                if c[i] == '.' && c.get(i + 1) == Some(&'.') {
                    break;
                }
                i += 1;
            }
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

/// Expands the path (or use tree) starting at `toks[i]` into its paths, each a list of
/// segments after `prefix`. `crate::a::{b::C, d}` gives `a::b::C` and `a::d`.
fn expand(
    toks: &[(Tok, usize)],
    mut i: usize,
    prefix: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    match toks.get(i).map(|t| &t.0) {
        Some(Tok::Ident(seg)) => {
            prefix.push(seg.clone());
            i += 1;
            if let (Some(Tok::PathSep), Some(Tok::Ident(_) | Tok::Punct('{') | Tok::Punct('*'))) =
                (toks.get(i).map(|t| &t.0), toks.get(i + 1).map(|t| &t.0))
            {
                expand(toks, i + 1, prefix, out);
            } else {
                out.push(prefix.clone());
            }
            prefix.pop();
        }
        Some(Tok::Punct('{')) => {
            i += 1;
            let mut depth = 0;
            let mut item_start = true;
            while let Some((tok, _)) = toks.get(i) {
                match tok {
                    Tok::Punct('{') => depth += 1,
                    Tok::Punct('}') if depth == 0 => break,
                    Tok::Punct('}') => depth -= 1,
                    Tok::Punct(',') if depth == 0 => {
                        item_start = true;
                        i += 1;
                        continue;
                    }
                    _ => {}
                }
                if item_start && depth == 0 {
                    expand(toks, i, prefix, out);
                }
                item_start = false;
                i += 1;
            }
        }
        _ => out.push(prefix.clone()),
    }
}

/// One path from a file into a top-level module of the crate.
#[derive(Debug, Clone)]
struct Import {
    file: String,
    line: usize,
    /// The top-level module it reaches (`engine`).
    module: String,
    /// The path as written from the crate root (`crate::engine::link::EngineLink`).
    path: String,
}

/// The module path of a file under `src/`: `src/frontend/tui/mod.rs` is `[frontend, tui]`;
/// `src/lib.rs` and `src/main.rs` are the root.
fn module_path(file: &str) -> Vec<String> {
    let rel = file.trim_start_matches("src/").trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Every path in `source` (the text of `file`) that reaches a top-level module of the crate.
fn imports_of(file: &str, source: &str) -> Vec<Import> {
    let toks = tokens(source);
    let own = module_path(file);
    let is_main = file == "src/main.rs";
    let mut found = Vec::new();
    // Inline modules (`mod tests { … }`) open at a brace depth, which `super::` must count.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let (tok, line) = &toks[i];
        let prev = i.checked_sub(1).map(|p| &toks[p].0);
        match tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some(Tok::Ident(_)), Some(Tok::Punct('{'))) =
                    (toks.get(i + 1).map(|t| &t.0), toks.get(i + 2).map(|t| &t.0))
                {
                    inline.push(depth);
                }
            }
            _ => {}
        }
        let starts_path = prev != Some(&Tok::PathSep);
        let mut record = |root: &str, from: usize, line: usize| {
            let mut paths = Vec::new();
            expand(&toks, from, &mut Vec::new(), &mut paths);
            for p in paths {
                if let Some(first) = p.first() {
                    found.push(Import {
                        file: file.to_string(),
                        line,
                        module: first.clone(),
                        path: format!("{root}::{}", p.join("::")),
                    });
                }
            }
        };
        if let Tok::Ident(w) = tok
            && starts_path
            && toks.get(i + 1).map(|t| &t.0) == Some(&Tok::PathSep)
        {
            if w == "crate" || (is_main && w == "chronus") {
                record(w, i + 2, *line);
            } else if w == "super" {
                // Count the chain, then see whether it climbs to the crate root.
                let mut ups = 0;
                let mut j = i;
                while toks.get(j).map(|t| &t.0) == Some(&Tok::Ident("super".into()))
                    && toks.get(j + 1).map(|t| &t.0) == Some(&Tok::PathSep)
                {
                    ups += 1;
                    j += 2;
                }
                let here = own.len() + inline.len();
                if ups >= here {
                    let root = vec!["super"; ups].join("::");
                    record(&root, j, *line);
                }
                i = j;
                continue;
            }
        }
        i += 1;
    }
    // Paths into the file's own module are not imports.
    let own_top = own.first().cloned();
    found.retain(|imp| Some(&imp.module) != own_top.as_ref() && imp.module != "self");
    found
}

/// True where `source` has the keyword `unsafe` in code (not in comments or strings).
fn unsafe_lines(source: &str) -> Vec<usize> {
    tokens(source)
        .into_iter()
        .filter(|(t, _)| *t == Tok::Ident("unsafe".into()))
        .map(|(_, line)| line)
        .collect()
}

fn allowed_row(module: &str) -> Option<&'static [&'static str]> {
    ALLOWED
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, row)| *row)
}

/// Whether `imp` is allowed by its module's row (not counting file exceptions).
fn allowed_by_rule(imp: &Import) -> bool {
    if imp.file == "src/main.rs" {
        return MAIN_ALLOWED.contains(&imp.module.as_str());
    }
    let Some(from) = module_path(&imp.file).first().cloned() else {
        return true; // lib.rs declares the modules; it imports none
    };
    let Some(row) = allowed_row(&from) else {
        return false; // a new top-level module must be given a row
    };
    let rest = imp.path.split_once("::").map_or("", |(_, r)| r);
    row.iter().any(|entry| {
        let entry_path: Vec<&str> = entry.split("::").collect();
        let path: Vec<&str> = rest.split("::").collect();
        path.len() >= entry_path.len() && path[..entry_path.len()] == entry_path[..]
    })
}

fn file_exception(imp: &Import) -> Option<usize> {
    FILE_EXCEPTIONS
        .iter()
        .position(|(f, m, _)| *f == imp.file && *m == imp.module)
}

/// The layout violations among `files` (path under the package, source text), each naming
/// file, line and import; with `used` the file exceptions that excused something.
fn layout_violations(files: &[(String, String)], used: &mut BTreeSet<usize>) -> Vec<String> {
    let mut bad = Vec::new();
    for (file, source) in files {
        for imp in imports_of(file, source) {
            if allowed_by_rule(&imp) {
                continue;
            }
            if let Some(k) = file_exception(&imp) {
                used.insert(k);
                continue;
            }
            let from = module_path(file)
                .first()
                .cloned()
                .unwrap_or_else(|| "main".into());
            let row = if from == "main" {
                Some(MAIN_ALLOWED)
            } else {
                allowed_row(&from)
            };
            bad.push(format!(
                "{}:{}: `{}` imports `{}`, which the layout forbids ({from} may import: {})",
                imp.file,
                imp.line,
                from,
                imp.path,
                row.map_or("no row in ALLOWED".to_string(), |r| r.join(", ")),
            ));
        }
    }
    bad
}

/// The graph of imports between top-level modules (dispatch edges left out), each edge with
/// one place that makes it.
fn module_graph(files: &[(String, String)]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (file, source) in files {
        let Some(from) = module_path(file).first().cloned() else {
            continue;
        };
        for imp in imports_of(file, source) {
            if DISPATCH_EDGES.contains(&(imp.file.as_str(), imp.module.as_str())) {
                continue;
            }
            graph
                .entry(from.clone())
                .or_default()
                .entry(imp.module.clone())
                .or_insert_with(|| format!("{}:{} {}", imp.file, imp.line, imp.path));
        }
    }
    graph
}

/// One cycle in `graph`, as the modules on it with the import that makes each edge.
fn find_cycle(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
            match state.get(next.as_str()) {
                Some(1) => {
                    let start = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle: Vec<String> = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(
                        cycle
                            .windows(2)
                            .map(|w| format!("{} -> {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
                            .collect(),
                    );
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str())
            && let Some(c) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// Every `.rs` file under `src/`, as (`src/…` path, text), sorted.
fn source_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    walk(&root.join("src"), root, &mut out);
    out.sort();
    out
}

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(f, s)| (f.to_string(), s.to_string()))
        .collect()
}

#[test]
fn every_import_follows_the_layout_rule() {
    let src = source_files();
    assert!(src.len() > 40, "read only {} files under src/", src.len());
    let mut used = BTreeSet::new();
    let bad = layout_violations(&src, &mut used);
    assert!(
        bad.is_empty(),
        "imports that break the layout rule of src/lib.rs:\n{}",
        bad.join("\n")
    );
    let stale: Vec<String> = FILE_EXCEPTIONS
        .iter()
        .enumerate()
        .filter(|(k, _)| !used.contains(k))
        .map(|(_, (f, m, why))| format!("{f} -> {m} ({why})"))
        .collect();
    assert!(
        stale.is_empty(),
        "exceptions no import needs any more; delete them from FILE_EXCEPTIONS:\n{}",
        stale.join("\n")
    );
}

#[test]
fn the_top_level_modules_import_each_other_without_cycles() {
    let graph = module_graph(&source_files());
    // The checker would see nothing if parsing broke: the engine must be seen importing dsp.
    assert!(graph["engine"].contains_key("dsp"), "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle between top-level modules:\n{}",
            cycle.join("\n")
        );
    }
}

#[test]
fn the_allowed_table_is_itself_layered() {
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (from, row) in ALLOWED {
        for to in *row {
            let to = to.split("::").next().unwrap();
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string(), "ALLOWED".into());
        }
    }
    assert_eq!(find_cycle(&graph), None);
    // Every top-level module declared in lib.rs has a row.
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(name) = line.strip_prefix("pub mod ") {
            let name = name.trim_end_matches(';');
            assert!(allowed_row(name).is_some(), "no ALLOWED row for `{name}`");
        }
    }
}

#[test]
fn unsafe_code_appears_only_in_platform() {
    let mut bad = Vec::new();
    let mut excused = BTreeSet::new();
    let mut seen_home = false;
    for (file, source) in source_files() {
        let lines = unsafe_lines(&source);
        if file == UNSAFE_HOME {
            seen_home = !lines.is_empty();
            continue;
        }
        if lines.is_empty() {
            continue;
        }
        if UNSAFE_EXCEPTIONS.iter().any(|(f, _)| *f == file) {
            excused.insert(file);
            continue;
        }
        bad.extend(lines.iter().map(|l| format!("{file}:{l}: unsafe")));
    }
    assert!(seen_home, "the checker found no unsafe in {UNSAFE_HOME}");
    assert!(
        bad.is_empty(),
        "unsafe code outside {UNSAFE_HOME}:\n{}",
        bad.join("\n")
    );
    for (f, why) in UNSAFE_EXCEPTIONS {
        assert!(
            excused.contains(*f),
            "{f} has no unsafe code any more; delete its UNSAFE_EXCEPTIONS entry ({why})"
        );
    }
}

#[test]
fn self_test_a_frontend_importing_the_engine_is_flagged() {
    let fake = files(&[(
        "src/frontend/x.rs",
        "//! A frontend.\nuse crate::model::Slot;\nuse crate::engine::Engine;\n",
    )]);
    let bad = layout_violations(&fake, &mut BTreeSet::new());
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].starts_with("src/frontend/x.rs:3: `frontend` imports `crate::engine::Engine`"),
        "{bad:?}"
    );
}

#[test]
fn self_test_grouped_inline_and_super_paths_are_all_seen() {
    let fake = files(&[
        (
            "src/frontend/a.rs",
            "use crate::{model::Slot, audio::{self, AudioArgs}};\n",
        ),
        (
            "src/frontend/tui/b.rs",
            "fn f() {\n    let _ = super::super::super::engine::Engine::new(1.0, 1);\n}\n",
        ),
        (
            "src/dsp/c.rs",
            "#[cfg(test)]\nmod tests {\n    use super::super::super::control::Controller;\n    use super::super::testutil::x;\n}\n",
        ),
        (
            "src/model/d.rs",
            "fn f() -> crate::store::Store {\n    todo!()\n}\n",
        ),
        (
            "src/main.rs",
            "fn main() { chronus::engine::Engine::new(1.0, 1); }\n",
        ),
    ]);
    let bad = layout_violations(&fake, &mut BTreeSet::new());
    let places: Vec<&str> = bad.iter().map(|b| b.split(": ").next().unwrap()).collect();
    assert_eq!(
        places,
        [
            "src/frontend/a.rs:1",
            "src/frontend/a.rs:1",
            "src/frontend/tui/b.rs:2",
            "src/dsp/c.rs:3",
            "src/model/d.rs:1",
            "src/main.rs:1",
        ],
        "{bad:#?}"
    );
    assert!(bad[0].contains("`crate::audio::self`"), "{bad:?}");
    assert!(
        bad[2].contains("`super::super::super::engine::Engine::new`"),
        "{bad:?}"
    );
}

#[test]
fn self_test_control_may_use_the_recorder_but_not_the_device_code() {
    let fake = files(&[(
        "src/control/x.rs",
        "use crate::audio::recorder::Recorder;\nuse crate::audio::AudioOutput;\n\
         use crate::audio::{recorder::RecordingInfo, list_devices};\n",
    )]);
    let bad = layout_violations(&fake, &mut BTreeSet::new());
    assert_eq!(bad.len(), 2, "{bad:#?}");
    assert!(bad[0].contains("x.rs:2: `control` imports `crate::audio::AudioOutput`"));
    assert!(bad[1].contains("x.rs:3: `control` imports `crate::audio::list_devices`"));
}

#[test]
fn self_test_comments_strings_and_own_module_paths_are_not_imports() {
    let src = "//! See [`Engine`](crate::engine::Engine).\n\
               // use crate::engine::Engine;\n\
               /* crate::audio::x /* nested */ crate::app */\n\
               const A: &str = \"crate::engine::Engine\";\n\
               const B: &str = r#\"crate::engine \"quoted\" \"#;\n\
               const C: char = '{';\n\
               fn f<'a>(x: &'a str) -> &'a str { x }\n\
               use crate::frontend::tui::Thing;\nuse super::sibling;\n";
    let imports = imports_of("src/frontend/x.rs", src);
    assert!(imports.is_empty(), "{imports:?}");
    assert!(
        unsafe_lines("// unsafe\n#![deny(unsafe_code)]\nconst S: &str = \"unsafe\";").is_empty()
    );
    assert_eq!(unsafe_lines("fn f() {\n    unsafe { g() }\n}"), [2]);
}

#[test]
fn self_test_a_cycle_is_found_and_named() {
    let fake = files(&[
        ("src/dsp/x.rs", "use crate::engine::Engine;\n"),
        ("src/engine/y.rs", "use crate::dsp::Delay;\n"),
        ("src/model/z.rs", "use crate::platform::f;\n"),
    ]);
    let cycle = find_cycle(&module_graph(&fake)).expect("a cycle");
    assert_eq!(
        cycle,
        [
            "dsp -> engine (src/dsp/x.rs:1 crate::engine::Engine)",
            "engine -> dsp (src/engine/y.rs:1 crate::dsp::Delay)",
        ]
    );
    let acyclic = files(&[("src/engine/y.rs", "use crate::dsp::Delay;\n")]);
    assert_eq!(find_cycle(&module_graph(&acyclic)), None);
}
