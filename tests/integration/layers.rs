//! The layer table in `docs/architecture.md` is the rule; this test reads
//! it and every `crate::…` path in `src/`, and fails when a module uses one
//! from a higher row, when two modules of one row use each other (directly
//! or around a loop), or when a top-level module is missing from the table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Row index (0 = top) of every module named in the table.
type Layers = BTreeMap<String, usize>;
/// Top-level module → the top-level modules it uses.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// Reads the rows between the `<!-- layers -->` markers: each row's second
/// cell lists its modules in backticks.
fn parse_layers(doc: &str) -> Layers {
    let start = doc.find("<!-- layers -->").expect("layers marker");
    let end = doc.find("<!-- /layers -->").expect("end of layers marker");
    let mut layers = Layers::new();
    let rows = doc[start..end]
        .lines()
        .filter(|l| l.starts_with('|') && !l.contains("---"))
        .skip(1);
    for (row, line) in rows.enumerate() {
        let cell = line.split('|').nth(2).expect("modules cell");
        for name in cell.split('`').skip(1).step_by(2) {
            layers.insert(name.to_owned(), row);
        }
    }
    layers
}

/// The top-level module names a source file refers to through `crate::`.
fn referenced_modules(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in source.match_indices("crate::") {
        let rest = &source[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::X, b};`
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for part in inner.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module graph of `src/` (the crate root's files are not modules).
fn module_graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let first = rel.components().next().expect("component");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let source = std::fs::read_to_string(&file).expect("read source");
        let uses = graph.entry(module.clone()).or_default();
        uses.extend(
            referenced_modules(&source)
                .into_iter()
                .filter(|m| *m != module),
        );
    }
    graph
}

/// Every broken rule, as a sentence.
fn violations(layers: &Layers, graph: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for (module, uses) in graph {
        let Some(&row) = layers.get(module) else {
            out.push(format!("`{module}` is not in the layer table"));
            continue;
        };
        for used in uses {
            match layers.get(used) {
                Some(&used_row) if used_row < row => out.push(format!(
                    "`{module}` (row {row}) uses `{used}` from a higher row ({used_row})"
                )),
                Some(_) => {}
                None => out.push(format!("`{module}` uses `{used}`, which the table lacks")),
            }
        }
    }
    out.extend(cycles(graph));
    out
}

/// Modules that reach themselves again (depth-first search).
fn cycles(graph: &Graph) -> Vec<String> {
    fn visit<'a>(
        node: &'a str,
        graph: &'a Graph,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        out: &mut Vec<String>,
    ) {
        if let Some(pos) = path.iter().position(|n| *n == node) {
            out.push(format!("cycle: {} → {node}", path[pos..].join(" → ")));
            return;
        }
        if !done.insert(node) {
            return;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, out);
        }
        path.pop();
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut out);
    }
    out
}

#[test]
fn modules_use_only_their_own_row_or_lower_rows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("architecture");
    let layers = parse_layers(&doc);
    assert!(
        layers.len() >= 10,
        "the table names the modules: {layers:?}"
    );
    let graph = module_graph(&root.join("src"));
    let broken = violations(&layers, &graph);
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
    for module in layers.keys() {
        assert!(
            graph.contains_key(module),
            "the table names `{module}`, which src/ does not have"
        );
    }
}

#[test]
fn the_check_catches_an_upward_use_a_cycle_and_an_unlisted_module() {
    let layers = parse_layers(
        "<!-- layers -->\n| row | modules |\n|---|---|\n| 0 | `web` |\n| 1 | `store`, `soak` |\n<!-- /layers -->",
    );
    let graph = |edges: &[(&str, &str)]| {
        let mut g = Graph::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert!(violations(&layers, &graph(&[("web", "store"), ("soak", "store")])).is_empty());
    let upward = violations(&layers, &graph(&[("store", "web")]));
    assert!(upward[0].contains("higher row"), "{upward:?}");
    let cycle = violations(&layers, &graph(&[("store", "soak"), ("soak", "store")]));
    assert!(cycle.iter().any(|v| v.starts_with("cycle")), "{cycle:?}");
    let unlisted = violations(&layers, &graph(&[("web", "metrics")]));
    assert!(
        unlisted.iter().any(|v| v.contains("`metrics`")),
        "{unlisted:?}"
    );
    assert_eq!(
        referenced_modules("use crate::{store::Store, units};\nlet x = crate::protocol::parse();"),
        ["protocol", "store", "units"].map(String::from).into()
    );
}
