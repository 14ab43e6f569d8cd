//! The renderers' layering, checked on their source: no renderer uses another renderer.
//!
//! Renderers (`text`, `json`, `dot`, `svg::document`, `html`) may use the report model,
//! `groups`, `hints`, the shared `format` and `style` modules and the SVG drawing parts
//! (`svg::layout`, `svg::ring`: a ring is a component the SVG document and the HTML page
//! both draw with); the shared modules use no renderer. A renderer-to-renderer import
//! (as `html.rs` using `svg.rs` helpers and `svg.rs` calling `html::breakable_edge` once
//! did) fails this test.

use std::path::{Path, PathBuf};

const RENDERERS: [&str; 5] = ["text", "json", "dot", "html", "svg::document"];

fn report_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/report")
}

/// The file's code without `//` comments (doc comments name other modules freely).
fn code_of(relative: &str) -> String {
    let text = std::fs::read_to_string(report_dir().join(relative))
        .unwrap_or_else(|error| panic!("{relative}: {error}"));
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Paths by which code in the report module or below could name `module`.
fn spellings(module: &str) -> Vec<String> {
    let mut paths = vec![
        format!("super::{module}"),
        format!("super::super::{module}"),
        format!("crate::report::{module}"),
        format!("report::{module}"),
    ];
    if let Some(inner) = module.strip_prefix("svg::") {
        // From inside svg/: its sibling.
        paths.push(format!("super::{inner}"));
    }
    paths
}

fn uses(code: &str, module: &str) -> bool {
    spellings(module).iter().any(|path| {
        code.match_indices(path.as_str()).any(|(at, _)| {
            // `super::text` but not `super::text_width` or `super::texts`.
            let next = code[at + path.len()..].chars().next();
            !matches!(next, Some(c) if c.is_alphanumeric() || c == '_')
        })
    })
}

#[test]
fn no_renderer_uses_another_renderer() {
    let files = [
        ("text", "text.rs"),
        ("json", "json.rs"),
        ("dot", "dot.rs"),
        ("html", "html.rs"),
        ("svg::document", "svg/document.rs"),
    ];
    let mut problems = Vec::new();
    for (name, file) in files {
        let code = code_of(file);
        for other in RENDERERS.iter().filter(|&&other| other != name) {
            if uses(&code, other) {
                problems.push(format!("{file} uses the {other} renderer"));
            }
        }
        // The whole-report SVG renderer, by its re-exported name.
        if name != "svg::document"
            && (code.contains("svg::render(") || code.contains("svg::render,"))
        {
            problems.push(format!("{file} uses the SVG document renderer"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn shared_modules_use_no_renderer() {
    let mut problems = Vec::new();
    for file in ["format.rs", "style.rs", "svg/layout.rs", "svg/ring.rs"] {
        let code = code_of(file);
        for renderer in RENDERERS {
            if uses(&code, renderer) {
                problems.push(format!("{file} uses the {renderer} renderer"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_renderer_module_says_what_it_is_for() {
    for file in [
        "text.rs",
        "json.rs",
        "dot.rs",
        "html.rs",
        "format.rs",
        "style.rs",
        "svg/mod.rs",
        "svg/layout.rs",
        "svg/ring.rs",
        "svg/document.rs",
    ] {
        let text = std::fs::read_to_string(report_dir().join(file)).unwrap();
        assert!(
            text.starts_with("//! "),
            "{file} has no `//!` header saying what it is for"
        );
    }
}

#[test]
fn the_check_sees_a_renderer_import() {
    // A test that cannot fail is a defect: the detector itself on a known import.
    assert!(uses("use super::html::breakable_edge;", "html"));
    assert!(uses(
        "use crate::report::text::{self, TextOptions};",
        "text"
    ));
    assert!(uses("use super::document::render;", "svg::document"));
    assert!(!uses("use super::layout::text_width;", "text"));
    assert!(!uses("let x = super::text_width(1);", "text"));
}
