//! Golden files for every renderer: text, JSON, DOT, SVG and HTML of a few representative
//! reports built here in Rust, compared byte for byte with `tests/golden/*`.
//!
//! Checked-in files rather than a snapshot crate: the expected output is plain text that
//! reviews well in a diff, needs no extra tool, and the Python side keeps its golden files
//! the same way. After an intended change of a format, rewrite them with
//!
//! ```text
//! REFSCOPE_UPDATE_GOLDEN=1 cargo test -p refscope-core --test golden
//! ```
//!
//! and review `git diff crates/refscope-core/tests/golden`. In the HTML files the page's
//! static stylesheet and script (and so their hashes) are replaced by markers: they are
//! tested in `report::html`'s unit tests and in a browser; these files pin what is rendered
//! from the report.

use refscope_core::report::dot::{self, DotOptions};
use refscope_core::report::groups::group_cycles;
use refscope_core::report::html::{self, HtmlOptions};
use refscope_core::report::json::{self, JsonOptions};
use refscope_core::report::svg::{self, SvgOptions};
use refscope_core::report::text::{self, TextOptions};
use refscope_core::report::{CycleRecord, FrameInfo, ObjectKind, ObjectRecord, Report, StackEntry};
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

/// Markup broken into lines after each closing tag of a picture's or a page's parts, so
/// that a change reads as a diff of a few lines (the renderers write them on one line).
fn one_element_per_line(markup: &str) -> String {
    let mut out = markup.to_string();
    for tag in ["</g>", "</tr>", "</section>", "</text>", "</svg>", "</div>"] {
        out = out.replace(tag, &format!("{tag}\n"));
    }
    out
}

/// Compares `actual` with the golden file `name`, or rewrites it when asked.
fn check(name: &str, actual: &str) {
    let markup;
    let actual = if name.ends_with(".svg") || name.ends_with(".html") {
        markup = one_element_per_line(actual);
        markup.as_str()
    } else {
        actual
    };
    let path = golden_dir().join(name);
    if std::env::var_os("REFSCOPE_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).expect("create the golden directory");
        std::fs::write(&path, actual).expect("write a golden file");
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; create it with REFSCOPE_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    if actual != expected {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
        panic!(
            "{name} differs from {} from line {}:\n  actual:   {:?}\n  expected: {:?}\n\
             (see this file's docs to update the golden files after an intended change)",
            path.display(),
            line + 1,
            actual.lines().nth(line),
            expected.lines().nth(line),
        );
    }
}

fn at(filename: &str, lineno: i64, function: &str) -> StackEntry {
    StackEntry {
        filename: filename.into(),
        lineno,
        function: function.into(),
    }
}

fn object(type_name: &str, description: &str, kind: ObjectKind, size: u64) -> ObjectRecord {
    ObjectRecord {
        type_name: type_name.into(),
        description: description.into(),
        kind,
        size,
        ..Default::default()
    }
}

/// Test setup: the typed label a binding would build for `text`.
fn typed(text: &str) -> refscope_core::report::EdgeLabel {
    use refscope_core::report::{DictKey, EdgeLabel, LabelKind};
    let kind = if let Some(name) = text.strip_prefix("local ") {
        LabelKind::Local(name.into())
    } else if let Some(name) = text.strip_prefix('.') {
        LabelKind::Attribute(name.into())
    } else if let Some(i) = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .and_then(|t| t.parse().ok())
    {
        LabelKind::Index(i)
    } else if let Some(key) = text.strip_prefix("['").and_then(|t| t.strip_suffix("']")) {
        LabelKind::DictValue(DictKey::Str(key.into()))
    } else {
        LabelKind::Text(text.into())
    };
    let label = EdgeLabel::new(kind);
    if label.as_str() != text {
        // Keys with escapes read back differently: keep such text verbatim.
        return EdgeLabel::from(text);
    }
    label
}

/// Adds a cycle through `members` (type, description, kind, size, label) to `report`.
fn add_cycle(report: &mut Report, members: Vec<(ObjectRecord, &str)>) {
    let first = report.objects.len() as u32;
    let mut labels = Vec::new();
    for (offset, (mut record, label)) in members.into_iter().enumerate() {
        record.address = 0x7f00_0000_0000 + 0x40 * u64::from(first + offset as u32);
        report.objects.push(record);
        labels.push(typed(label));
    }
    let objects: Vec<u32> = (first..report.objects.len() as u32).collect();
    report.cycles.push(CycleRecord {
        component_size: objects.len() as u64,
        objects: objects.into(),
        labels: labels.into(),
    });
}

/// The shapes users meet most: a parent/child back-pointer (three times), a resource with
/// a finaliser (twice, 1.5 GiB each, so sizes need the largest unit), an exception kept
/// by a frame local (with locals, a stack and an allocation site), a class's own cycle
/// (nothing to fix) and a dict whose key needs escaping in every format.
fn everyday_report() -> Report {
    let mut report = Report::default();
    for _ in 0..3 {
        add_cycle(
            &mut report,
            vec![
                (
                    object("app.Parent", "Parent object", ObjectKind::Instance, 56),
                    ".child",
                ),
                (
                    object("app.Child", "Child object", ObjectKind::Instance, 56),
                    ".parent",
                ),
            ],
        );
    }
    for _ in 0..2 {
        let mut connection = object(
            "app.Connection",
            "Connection object",
            ObjectKind::Instance,
            3 << 29,
        );
        connection.has_finalizer = true;
        connection.allocated_at = vec![at("app/db.py", 12, "connect"), at("app/db.py", 40, "")];
        add_cycle(
            &mut report,
            vec![
                (connection, ".cursor"),
                (
                    object("app.Cursor", "Cursor object", ObjectKind::Instance, 48),
                    ".connection",
                ),
            ],
        );
    }
    let mut frame = object(
        "frame",
        "frame of handle at app/views.py:7",
        ObjectKind::Frame,
        432,
    );
    frame.frame = Some(FrameInfo {
        location: at("app/views.py", 7, "handle"),
        locals: vec![
            ("request".into(), "app.Request object".into()),
            ("error".into(), "ValueError exception".into()),
        ],
        stack: vec![
            at("app/views.py", 7, "handle"),
            at("app/server.py", 88, "dispatch"),
        ],
    });
    add_cycle(
        &mut report,
        vec![
            (frame, "local error"),
            (
                object(
                    "ValueError",
                    "ValueError('bad input')",
                    ObjectKind::Exception,
                    72,
                ),
                ".__traceback__",
            ),
            (
                object(
                    "traceback",
                    "traceback at app/views.py:7",
                    ObjectKind::Traceback,
                    64,
                ),
                ".tb_frame",
            ),
        ],
    );
    add_cycle(
        &mut report,
        vec![
            (
                object("type", "class app.Model", ObjectKind::Type, 1072),
                ".__mro__",
            ),
            (
                object("tuple", "tuple (2 items)", ObjectKind::Tuple, 56),
                "[0]",
            ),
        ],
    );
    add_cycle(
        &mut report,
        vec![(
            object("dict", "dict (1 key) \u{1b}[2J", ObjectKind::Dict, 184),
            "['say \"hi\"\\\n<b>&amp;</b>']",
        )],
    );
    report.analysed_count = report.objects.len() as u64 + 990;
    report.edge_count = 2 * report.analysed_count;
    report
}

/// One ring of 60 objects: the SVG racetrack, capped pictures and "… more" lines.
fn long_ring_report() -> Report {
    let mut report = Report::default();
    let labels: Vec<String> = (0..60).map(|i| format!(".next_{i}")).collect();
    let members = (0..60)
        .map(|i| {
            (
                object(
                    "app.Node",
                    &format!("Node object #{i}"),
                    ObjectKind::Instance,
                    48,
                ),
                labels[i].as_str(),
            )
        })
        .collect();
    add_cycle(&mut report, members);
    report.analysed_count = 60;
    report.edge_count = 60;
    report
}

/// The version appears in JSON's `generator`: not a format change when it is bumped.
fn without_version(text: String) -> String {
    text.replace(
        &format!("refscope {}", env!("CARGO_PKG_VERSION")),
        "refscope <version>",
    )
}

/// The page with its static stylesheet, script and their hashes replaced by markers.
fn html_without_static_parts(page: String) -> String {
    let mut page = page.replace(html::content_security_policy(), "<content security policy>");
    for (open, close, marker) in [
        ("<style>", "</style>", "/* html_page.css */"),
        ("<script>", "</script>", "/* html_page.js */"),
    ] {
        let start = page.find(open).expect(open) + open.len();
        let end = start + page[start..].find(close).expect(close);
        page.replace_range(start..end, marker);
    }
    page
}

fn render_all(name: &str, report: &Report, capped: bool) {
    let groups = group_cycles(report);
    let limit = |n: usize| if capped { n } else { 0 };
    check(
        &format!("{name}.txt"),
        &text::render(
            report,
            &groups,
            &TextOptions {
                max_objects_per_cycle: limit(10),
                ..Default::default()
            },
        ),
    );
    check(
        &format!("{name}.color.txt"),
        &text::render(
            report,
            &groups,
            &TextOptions {
                color: true,
                max_objects_per_cycle: limit(10),
                ..Default::default()
            },
        ),
    );
    check(
        &format!("{name}.json"),
        &without_version(json::render(
            report,
            &groups,
            &JsonOptions {
                indent: Some(2),
                max_objects_per_cycle: limit(10),
                ..Default::default()
            },
        )),
    );
    check(
        &format!("{name}.dot"),
        &dot::render(
            report,
            &groups,
            &DotOptions {
                max_objects_per_cycle: limit(10),
                ..Default::default()
            },
        ),
    );
    let svg_options = SvgOptions {
        max_objects: limit(20),
        ..Default::default()
    };
    check(
        &format!("{name}.svg"),
        &svg::render(report, &groups, &svg_options),
    );
    check(
        &format!("{name}.html"),
        &html_without_static_parts(html::render(
            report,
            &groups,
            &HtmlOptions {
                title: format!("refscope: {name} <report>"),
                subtitle: "Generated at a fixed time by the golden tests".into(),
                svg: svg_options,
                ..Default::default()
            },
        )),
    );
}

#[test]
fn everyday_report_in_every_format() {
    render_all("everyday", &everyday_report(), false);
}

#[test]
fn long_ring_capped_in_every_format() {
    render_all("long-ring", &long_ring_report(), true);
}

#[test]
fn empty_report_in_every_format() {
    render_all("empty", &Report::default(), false);
}

#[test]
fn one_size_format_everywhere() {
    // 2 × 1.5 GiB: every format that shows the group's size says so the same way.
    let report = everyday_report();
    let groups = group_cycles(&report);
    let size = "3.0 GiB";
    let text = text::render(&report, &groups, &TextOptions::default());
    let dot = dot::render(&report, &groups, &DotOptions::default());
    let page = html::render(&report, &groups, &HtmlOptions::default());
    for (format, output) in [("text", &text), ("DOT", &dot), ("HTML", &page)] {
        assert!(output.contains(size), "{format} does not say {size}");
        assert!(
            !output.contains("MiB"),
            "{format} still uses MiB for GiB sizes"
        );
    }
    // The page's object details carry the same text for one object's 1.5 GiB.
    assert!(page.contains(r#""size_text":"1.5 GiB""#));
}
