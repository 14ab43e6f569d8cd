//! The HTML renderer: one self-contained page, no network, opened straight from disk.
//!
//! The page is a template (`html_template.html`) with its stylesheet (`html_page.css`,
//! after the palette of [`super::style`]) and script (`html_page.js`) inline, plus what
//! this module renders: the groups list (largest first), one section per group with its
//! example cycle drawn by [`super::svg::ring`], and a JSON island (`<script type=
//! "application/json">`, written with serde) holding the details of every drawn object,
//! which the page shows when an object is clicked. Groups can be filtered by type.
//!
//! The page carries its own Content-Security-Policy (a `<meta>` element, so it also holds
//! when the file is opened from disk): nothing may load, and the only style and script
//! allowed are the page's own, by their SHA-256 hashes ([`content_security_policy`]);
//! a server sending the page should send the same policy as a header.
//!
//! Everything from the report is user data. In HTML it goes through
//! [`escape_xml`]; in the JSON island every `<`, `>` and `&` is written as a `\u` escape
//! ([`script_safe_json`]), so neither `</script>` nor `<!--` can appear inside it. The
//! page's script only ever inserts user text with `textContent`.

use super::format::{
    code_spans, escape_xml, human_size, plural, script_safe_json, thousands, truncate_chars,
};
use super::groups::CycleGroup;
use super::hints::FixKind;
use super::style;
use super::svg::ring::{drawn_positions, legend, render_cycle};
use super::svg::SvgOptions;
use super::{ObjectRecord, Report, StackEntry};
use base64::Engine as _;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::sync::OnceLock;

const TEMPLATE: &str = include_str!("html_template.html");
const STYLESHEET: &str = include_str!("html_page.css");
const SCRIPT: &str = include_str!("html_page.js");

/// Longest signature shown in full in a group's section (the groups list shows less).
const SIGNATURE_MAX_CHARS: usize = 400;
const SIGNATURE_SHORT_CHARS: usize = 110;

/// How the HTML report is rendered.
#[derive(Debug, Clone)]
pub struct HtmlOptions {
    /// Page title and main heading.
    pub title: String,
    /// One line under the title (when, where, by which version), may be empty.
    pub subtitle: String,
    /// At most this many groups are listed and drawn (0 = all); the page says how many
    /// were left out.
    pub max_groups: usize,
    /// How each group's example cycle is drawn.
    pub svg: SvgOptions,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        HtmlOptions {
            title: "refscope report".into(),
            subtitle: String::new(),
            max_groups: 1000,
            svg: SvgOptions::default(),
        }
    }
}

// --- the page's own style and script, and the policy that allows exactly them --------------

/// The text of the page's `<style>` element: the palette, then the stylesheet.
fn style_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| format!("\n{}\n{STYLESHEET}", style::css_variables()))
}

/// `'sha256-…'`: a CSP hash source for an inline element whose text is `text`.
fn hash_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The Content-Security-Policy of every page: nothing loads (`default-src 'none'`, no
/// `<base>`, no form), and only the page's own stylesheet and script apply, named by the
/// SHA-256 of their text (CSP Level 2 hash sources), so no `'unsafe-inline'` is needed.
/// The page states it in a `<meta>` element; a server should also send it as the
/// `Content-Security-Policy` header. The same for every report of one refscope build.
pub fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        format!(
            "default-src 'none'; style-src {}; script-src {}; base-uri 'none'; form-action 'none'",
            hash_source(style_text()),
            hash_source(SCRIPT),
        )
    })
}

// --- the data island ------------------------------------------------------------------------

/// What the page's script reads: per listed group its types (for the filter), and the
/// details of every drawn object, by object index.
#[derive(Serialize)]
struct Island<'a> {
    version: u32,
    groups: Vec<IslandGroup<'a>>,
    objects: DrawnObjects<'a>,
}

#[derive(Serialize)]
struct IslandGroup<'a> {
    types: Vec<&'a str>,
    finalizer: bool,
    key: &'a str,
}

/// `(filename, line, function)`.
type Place<'a> = (&'a str, i64, &'a str);

fn place(entry: &StackEntry) -> Place<'_> {
    (&entry.filename, entry.lineno, &entry.function)
}

#[derive(Serialize)]
struct DrawnObject<'a> {
    #[serde(rename = "type")]
    type_name: &'a str,
    description: &'a str,
    kind: &'static str,
    size: u64,
    /// [`human_size`] of `size`: the page shows the same text as every other format.
    size_text: String,
    address: String,
    finalizer: bool,
    position: usize,
    length: usize,
    label: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame: Option<DrawnFrame<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allocated_at: Vec<Place<'a>>,
}

#[derive(Serialize)]
struct DrawnFrame<'a> {
    location: [Place<'a>; 1],
    locals: Vec<(&'a str, &'a str)>,
    stack: Vec<Place<'a>>,
}

/// Objects keyed by their index in [`Report::objects`], in drawing order.
struct DrawnObjects<'a>(Vec<(u32, DrawnObject<'a>)>);

impl Serialize for DrawnObjects<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (index, object) in &self.0 {
            map.serialize_entry(&index.to_string(), object)?;
        }
        map.end()
    }
}

fn drawn_object<'a>(
    object: &'a ObjectRecord,
    position: usize,
    label: &'a str,
    length: usize,
) -> DrawnObject<'a> {
    DrawnObject {
        type_name: &object.type_name,
        description: &object.description,
        kind: object.kind.as_str(),
        size: object.size,
        size_text: human_size(object.size),
        address: format!("0x{:x}", object.address),
        finalizer: object.has_finalizer,
        position,
        length,
        label,
        frame: object.frame.as_ref().map(|frame| DrawnFrame {
            location: [place(&frame.location)],
            locals: frame
                .locals
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect(),
            stack: frame.stack.iter().map(place).collect(),
        }),
        allocated_at: object.allocated_at.iter().map(place).collect(),
    }
}

/// Fills `{{NAME}}` markers of the template in one left-to-right pass, so text that is
/// substituted is never searched for markers again.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = &after[..end];
                match values.iter().find(|(key, _)| *key == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push_str("{{");
                        out.push_str(name);
                        out.push_str("}}");
                    }
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escaped text in which `code spans` (as fix hints write them) become `<code>`.
fn with_code_spans(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (is_code, part) in code_spans(text) {
        if is_code {
            let _ = write!(out, "<code>{}</code>", escape_xml(part));
        } else {
            out.push_str(&escape_xml(part));
        }
    }
    out
}

fn finaliser_badge() -> &'static str {
    r#"<span class="badge finalizer" title="An object of these cycles defines __del__">__del__</span>"#
}

/// The whole page.
pub fn render(report: &Report, groups: &[CycleGroup], options: &HtmlOptions) -> String {
    let shown = if options.max_groups == 0 {
        groups.len()
    } else {
        groups.len().min(options.max_groups)
    };
    let groups_shown = &groups[..shown];
    let cycles = report.cycles.len() as u64;
    let with_finalizer = groups
        .iter()
        .filter(|g| g.has_finalizer)
        .map(|g| g.count())
        .sum::<u64>();

    let mut stats = String::new();
    for (value, name) in [
        (thousands(cycles), "cycles"),
        (thousands(groups.len() as u64), "groups"),
        (thousands(report.objects_in_cycles()), "objects in cycles"),
        (thousands(report.analysed_count), "objects analysed"),
        (thousands(with_finalizer), "cycles with __del__"),
    ] {
        let _ = write!(stats, "<div><dt>{name}</dt><dd>{value}</dd></div>");
    }

    let mut type_names: BTreeSet<&str> = BTreeSet::new();
    let mut rows = String::new();
    let mut sections = String::new();
    let mut island = Island {
        version: 1,
        groups: Vec::with_capacity(groups_shown.len()),
        objects: DrawnObjects(Vec::new()),
    };
    for (number, group) in groups_shown.iter().enumerate() {
        let id = number + 1;
        let cycle = &report.cycles[group.example() as usize];
        let types: BTreeSet<&str> = cycle
            .objects
            .iter()
            .map(|&o| report.object(o).type_name.as_str())
            .collect();
        type_names.extend(types.iter().copied());
        island.groups.push(IslandGroup {
            types: types.into_iter().collect(),
            finalizer: group.has_finalizer,
            key: &group.key,
        });

        let badge = if group.has_finalizer {
            finaliser_badge()
        } else {
            ""
        };
        let short_signature = group.signature.shortened(SIGNATURE_SHORT_CHARS);
        let advice = group
            .hint
            .as_ref()
            .map_or(String::new(), |h| h.advice.clone());
        let _ = write!(
            rows,
            r##"<tr class="group-row" data-group="{number}"><td class="num">{id}</td><td class="num count">×{}</td><td><a href="#group-{id}" title="{}"><code>{}</code></a> {badge}</td><td class="num">{}</td><td class="advice">{}</td></tr>"##,
            thousands(group.count()),
            escape_xml(&group.signature.shortened(SIGNATURE_MAX_CHARS)),
            escape_xml(&short_signature),
            human_size(group.total_size),
            with_code_spans(&truncate_chars(&advice, 160)),
        );

        let length = cycle.objects.len() as u64;
        // The whole signature as a tooltip, when the text shown is cut.
        let signature_title = if group.signature.is_longer_than(SIGNATURE_MAX_CHARS) {
            format!(
                r#" title="{}""#,
                escape_xml(&group.signature.shortened(4 * SIGNATURE_MAX_CHARS))
            )
        } else {
            String::new()
        };
        let _ = write!(
            sections,
            r#"<section class="group" id="group-{id}" data-group="{number}"><header><h2><span class="count">×{}</span> <span class="shape">{} object{} per cycle</span> {badge}</h2><p class="meta">Group {id} · total {} · example’s component: {} object{} · key <code>{}</code></p></header><p class="signature"><code{}>{}</code></p>"#,
            thousands(group.count()),
            thousands(length),
            plural(length),
            human_size(group.total_size),
            thousands(cycle.component_size),
            plural(cycle.component_size),
            escape_xml(&group.key),
            signature_title,
            escape_xml(&group.signature.shortened(SIGNATURE_MAX_CHARS)),
        );
        match &group.hint {
            Some(hint) if hint.fix == FixKind::NoneNeeded => {
                let _ = write!(
                    sections,
                    r#"<div class="hint note"><p><strong>Nothing to fix:</strong> {}</p><p class="why">{}</p></div>"#,
                    with_code_spans(&hint.advice),
                    with_code_spans(&hint.why),
                );
            }
            Some(hint) => {
                let _ = write!(
                    sections,
                    r#"<div class="hint"><p><strong>Fix:</strong> break <code class="edge-label">{}</code> — {}</p><p class="why">{}</p><p class="fix-kind">fix: <code>{}</code></p></div>"#,
                    escape_xml(&hint.label),
                    with_code_spans(&hint.advice),
                    with_code_spans(&hint.why),
                    hint.fix.as_str(),
                );
            }
            None => {}
        }
        let picture = render_cycle(report, cycle, &options.svg, group.breakable_edge());
        let _ = write!(
            sections,
            r#"<figure class="picture">{picture}</figure></section>"#,
        );

        for position in drawn_positions(cycle.objects.len(), options.svg.max_objects) {
            let object = cycle.objects[position];
            let label = cycle.labels.get(position).map_or("?", |l| l.as_str());
            island.objects.0.push((
                object,
                drawn_object(report.object(object), position, label, cycle.objects.len()),
            ));
        }
    }

    let mut body = String::new();
    if groups.is_empty() {
        body.push_str(r#"<section class="empty"><h2>No reference cycles found</h2><p>None of the analysed objects is part of a reference cycle.</p></section>"#);
    } else {
        let _ = write!(
            body,
            r#"<section id="overview"><h2>Groups <small>cycles of the same shape, largest first</small></h2><table class="groups"><thead><tr><th class="num">#</th><th class="num">cycles</th><th>shape (type and reference, around the cycle)</th><th class="num">total size</th><th>fix</th></tr></thead><tbody>{rows}</tbody></table></section><div class="legend">{}<p>Each picture is a group’s example cycle: boxes are objects, arrows are references named by their labels. Click an object for its details.</p></div>{sections}"#,
            legend_svg(),
        );
        if shown < groups.len() {
            let _ = write!(
                body,
                r#"<p class="more">… {} more groups (of {} cycles) are not shown: this page lists the {} largest. <code>report.to_json()</code> has them all.</p>"#,
                thousands((groups.len() - shown) as u64),
                thousands(groups[shown..].iter().map(CycleGroup::count).sum()),
                thousands(shown as u64),
            );
        }
    }

    let mut datalist = String::new();
    for name in &type_names {
        let _ = write!(datalist, r#"<option value="{}">"#, escape_xml(name));
    }
    fill(
        TEMPLATE,
        &[
            ("CONTENT_SECURITY_POLICY", content_security_policy()),
            ("STYLE", style_text()),
            ("SCRIPT", SCRIPT),
            ("TITLE", &escape_xml(&options.title)),
            ("SUBTITLE", &escape_xml(&options.subtitle)),
            ("STATS", &stats),
            ("TYPE_OPTIONS", &datalist),
            ("BODY", &body),
            ("DATA", &script_safe_json(&island)),
        ],
    )
}

fn legend_svg() -> String {
    let mut inner = String::new();
    legend(&mut inner, 2.0, 3.0);
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="640" height="22" viewBox="0 0 640 22" role="img" aria-label="Legend">{inner}</svg>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::groups::group_cycles;
    use crate::report::thin_vec;
    use crate::report::{CycleRecord, FrameInfo, ObjectKind};

    fn hostile_report() -> Report {
        let object = |t: &str, finalizer: bool| ObjectRecord {
            type_name: t.into(),
            description: "</script><!-- 'x' & \"y\"".into(),
            kind: ObjectKind::Instance,
            has_finalizer: finalizer,
            size: 56,
            address: 0xdead_beef,
            ..Default::default()
        };
        let mut frame = object("frame", false);
        frame.kind = ObjectKind::Frame;
        frame.frame = Some(FrameInfo {
            location: StackEntry {
                filename: "app.py".into(),
                lineno: 3,
                function: "<module>".into(),
            },
            locals: vec![("x".into(), "</script>".into())],
            stack: vec![],
        });
        Report {
            objects: vec![
                object("<script>\"&", true),
                object("__main__.A", false),
                frame,
            ],
            cycles: vec![
                CycleRecord {
                    objects: thin_vec![0, 1],
                    labels: thin_vec!["['</script><b>']".into(), ".b".into()].into(),
                    component_size: 2,
                },
                CycleRecord {
                    objects: thin_vec![2],
                    labels: thin_vec!["local self".into()].into(),
                    component_size: 1,
                },
            ],
            analysed_count: 3,
            edge_count: 3,
        }
    }

    #[test]
    fn user_data_never_appears_unescaped() {
        let report = hostile_report();
        let html = render(&report, &group_cycles(&report), &HtmlOptions::default());
        assert_eq!(
            html.matches("</script>").count(),
            2,
            "only the page's own two scripts close"
        );
        assert!(!html.contains("<b>"));
        assert!(!html.contains("<!-- '"));
        assert!(html.contains("&lt;script&gt;&quot;&amp;"));
    }

    #[test]
    fn page_lists_groups_and_embeds_object_details() {
        let report = hostile_report();
        let html = render(&report, &group_cycles(&report), &HtmlOptions::default());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(html.matches(r#"<section class="group""#).count(), 2);
        assert_eq!(html.matches(r#"<tr class="group-row""#).count(), 2);
        assert!(html.contains(r#""address":"0xdeadbeef""#));
        assert!(html.contains(r#""locals":[["x","\u003c/script\u003e"]]"#));
        assert!(!html.contains("{{"), "every template marker is filled");
        for remote in ["src=", "href=\"http", "url(", "@import"] {
            assert!(
                !html.contains(remote),
                "the page loads nothing: found {remote}"
            );
        }
    }

    #[test]
    fn groups_beyond_the_limit_are_counted_not_drawn() {
        let report = hostile_report();
        let options = HtmlOptions {
            max_groups: 1,
            ..Default::default()
        };
        let html = render(&report, &group_cycles(&report), &options);
        assert_eq!(html.matches(r#"<section class="group""#).count(), 1);
        assert!(html.contains("… 1 more groups (of 1 cycles) are not shown"));
    }

    #[test]
    fn an_empty_report_says_so() {
        let html = render(&Report::default(), &[], &HtmlOptions::default());
        assert!(html.contains("No reference cycles found"));
    }

    #[test]
    fn code_spans_become_code_elements_and_stay_escaped() {
        assert_eq!(
            with_code_spans("use `a<b>` or `c"),
            "use <code>a&lt;b&gt;</code> or <code>c</code>"
        );
    }

    #[test]
    fn template_markers_are_filled_once() {
        assert_eq!(
            fill("a{{X}}b{{Y}}c{{Z}}", &[("X", "{{Y}}"), ("Y", "1")]),
            "a{{Y}}b1c{{Z}}"
        );
    }

    #[test]
    fn the_page_allows_exactly_its_own_style_and_script() {
        let report = hostile_report();
        let html = render(&report, &group_cycles(&report), &HtmlOptions::default());
        let policy = content_security_policy();
        assert!(!policy.contains("unsafe"), "{policy}");
        assert!(policy.starts_with("default-src 'none'; "), "{policy}");
        assert!(html.contains(&format!(
            r#"<meta http-equiv="Content-Security-Policy" content="{policy}">"#
        )));
        let inner = |open: &str| {
            let start = html.find(open).expect(open) + open.len();
            &html[start..start + html[start..].find("</").unwrap()]
        };
        assert!(policy.contains(&format!("script-src {};", hash_source(inner("<script>")))));
        assert!(policy.contains(&format!("style-src {};", hash_source(inner("<style>")))));
    }

    #[test]
    fn hash_sources_are_base64_sha256() {
        // `printf '' | openssl dgst -sha256 -binary | base64`
        assert_eq!(
            hash_source(""),
            "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
        );
    }
}
