//! The self-contained HTML report: one file, no network, opened straight from disk.
//!
//! The page is a template (`html_template.html`, with its CSS and JavaScript inline)
//! plus what this module renders: the groups list (largest first), one section per group
//! with its example cycle drawn by [`super::svg`], and a JSON island
//! (`<script type="application/json">`) holding the details of every drawn object, which
//! the page shows when an object is clicked. Groups can be filtered by type.
//!
//! Everything from the report is user data. In HTML it goes through
//! [`super::svg::escape_xml`]; in the JSON island every `<`, `>` and `&` is written as a
//! `\u` escape, so neither `</script>` nor `<!--` can appear inside it. The page's
//! script only ever inserts user text with `textContent`.

use super::groups::CycleGroup;
use super::hints::FixKind;
use super::svg::{self, escape_xml, human_size, thousands, SvgOptions};
use super::{ObjectRecord, Report, StackEntry};
use std::collections::BTreeSet;
use std::fmt::Write;

const TEMPLATE: &str = include_str!("html_template.html");

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

/// Writes `text` as a JSON string literal that is also safe inside an HTML `<script>`
/// element: `<`, `>` and `&` are `\u` escapes, as are U+2028 and U+2029 (line
/// terminators in older JavaScript) and every control character.
pub fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_stack(out: &mut String, stack: &[StackEntry]) {
    out.push('[');
    for (i, entry) in stack.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        json_string(out, &entry.filename);
        let _ = write!(out, ",{},", entry.lineno);
        json_string(out, &entry.function);
        out.push(']');
    }
    out.push(']');
}

/// The details of one drawn object, as a JSON object.
fn json_object(
    out: &mut String,
    object: &ObjectRecord,
    position: usize,
    label: &str,
    length: usize,
) {
    out.push_str("{\"type\":");
    json_string(out, &object.type_name);
    out.push_str(",\"description\":");
    json_string(out, &object.description);
    out.push_str(",\"kind\":");
    json_string(out, object.kind.as_str());
    let _ = write!(
        out,
        ",\"size\":{},\"address\":\"0x{:x}\",\"finalizer\":{},\"position\":{},\"length\":{},\"label\":",
        object.size, object.address, object.has_finalizer, position, length
    );
    json_string(out, label);
    if let Some(frame) = &object.frame {
        out.push_str(",\"frame\":{\"location\":");
        json_stack(out, std::slice::from_ref(&frame.location));
        out.push_str(",\"locals\":[");
        for (i, (name, value)) in frame.locals.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            json_string(out, name);
            out.push(',');
            json_string(out, value);
            out.push(']');
        }
        out.push_str("],\"stack\":");
        json_stack(out, &frame.stack);
        out.push('}');
    }
    if !object.allocated_at.is_empty() {
        out.push_str(",\"allocated_at\":");
        json_stack(out, &object.allocated_at);
    }
    out.push('}');
}

fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(max_chars - 1).collect();
        short.push('…');
        short
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
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape_xml(part));
        } else {
            out.push_str(&escape_xml(part));
        }
    }
    out
}

/// The edge a group's hint says to break, if it says to break one.
pub fn breakable_edge(group: &CycleGroup) -> Option<usize> {
    group
        .hint
        .as_ref()
        .filter(|hint| hint.fix != FixKind::NoneNeeded)
        .map(|hint| hint.edge_index as usize)
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
    let mut data = String::from("{\"version\":1,\"groups\":[");
    let mut objects_json = String::new();
    for (number, group) in groups_shown.iter().enumerate() {
        let id = number + 1;
        let cycle = &report.cycles[group.example() as usize];
        let types: BTreeSet<&str> = cycle
            .objects
            .iter()
            .map(|&o| report.object(o).type_name.as_str())
            .collect();
        type_names.extend(types.iter().copied());
        if number > 0 {
            data.push(',');
        }
        data.push_str("{\"types\":[");
        for (i, name) in types.iter().enumerate() {
            if i > 0 {
                data.push(',');
            }
            json_string(&mut data, name);
        }
        let _ = write!(data, "],\"finalizer\":{},\"key\":", group.has_finalizer);
        json_string(&mut data, &group.key);
        data.push('}');

        let badge = if group.has_finalizer {
            finaliser_badge()
        } else {
            ""
        };
        let short_signature = cut(&group.signature, SIGNATURE_SHORT_CHARS);
        let advice = group
            .hint
            .as_ref()
            .map_or(String::new(), |h| h.advice.clone());
        let _ = write!(
            rows,
            r##"<tr class="group-row" data-group="{number}"><td class="num">{id}</td><td class="num count">×{}</td><td><a href="#group-{id}" title="{}"><code>{}</code></a> {badge}</td><td class="num">{}</td><td class="advice">{}</td></tr>"##,
            thousands(group.count()),
            escape_xml(&cut(&group.signature, SIGNATURE_MAX_CHARS)),
            escape_xml(&short_signature),
            human_size(group.total_size),
            with_code_spans(&cut(&advice, 160)),
        );

        let length = cycle.objects.len() as u64;
        // The whole signature as a tooltip, when the text shown is cut.
        let signature_title = if group.signature.chars().count() > SIGNATURE_MAX_CHARS {
            format!(
                r#" title="{}""#,
                escape_xml(&cut(&group.signature, 4 * SIGNATURE_MAX_CHARS))
            )
        } else {
            String::new()
        };
        let _ = write!(
            sections,
            r#"<section class="group" id="group-{id}" data-group="{number}"><header><h2><span class="count">×{}</span> <span class="shape">{} object{} per cycle</span> {badge}</h2><p class="meta">Group {id} · total {} · example’s component: {} object{} · key <code>{}</code></p></header><p class="signature"><code{}>{}</code></p>"#,
            thousands(group.count()),
            thousands(length),
            if length == 1 { "" } else { "s" },
            human_size(group.total_size),
            thousands(cycle.component_size),
            if cycle.component_size == 1 { "" } else { "s" },
            escape_xml(&group.key),
            signature_title,
            escape_xml(&cut(&group.signature, SIGNATURE_MAX_CHARS)),
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
        let highlight = breakable_edge(group);
        let picture = svg::render_cycle(report, cycle, &options.svg, highlight);
        let _ = write!(
            sections,
            r#"<figure class="picture">{picture}</figure></section>"#,
        );

        for position in svg::drawn_positions(cycle.objects.len(), options.svg.max_objects) {
            let object = cycle.objects[position];
            if !objects_json.is_empty() {
                objects_json.push(',');
            }
            let _ = write!(objects_json, "\"{object}\":");
            let label = cycle.labels.get(position).map_or("?", String::as_str);
            json_object(
                &mut objects_json,
                report.object(object),
                position,
                label,
                cycle.objects.len(),
            );
        }
    }
    data.push_str("],\"objects\":{");
    data.push_str(&objects_json);
    data.push_str("}}");

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
            ("TITLE", &escape_xml(&options.title)),
            ("SUBTITLE", &escape_xml(&options.subtitle)),
            ("STATS", &stats),
            ("TYPE_OPTIONS", &datalist),
            ("BODY", &body),
            ("DATA", &data),
        ],
    )
}

fn legend_svg() -> String {
    let mut inner = String::new();
    svg::legend(&mut inner, 2.0, 3.0);
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="640" height="22" viewBox="0 0 640 22" role="img" aria-label="Legend">{inner}</svg>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::groups::group_cycles;
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
                    objects: vec![0, 1],
                    labels: vec!["['</script><b>']".into(), ".b".into()],
                    component_size: 2,
                },
                CycleRecord {
                    objects: vec![2],
                    labels: vec!["local self".into()],
                    component_size: 1,
                },
            ],
            analysed_count: 3,
            edge_count: 3,
        }
    }

    #[test]
    fn json_strings_cannot_close_a_script_element() {
        let mut out = String::new();
        json_string(&mut out, "</script><!--\u{2028}\"\\\n\u{1}");
        assert_eq!(out, r#""\u003c/script\u003e\u003c!--\u2028\"\\\n\u0001""#);
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
}
