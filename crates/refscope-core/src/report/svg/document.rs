//! The SVG renderer: one document with a ring per group of cycles, largest first, under
//! a title and a legend, each with its fix hint.

use super::layout::{fit, fmt, text_width, MARGIN};
use super::ring::{cycle_caption, draw_ring, legend};
use super::SvgOptions;
use crate::report::format::{code_spans, escape_xml, escape_xml_line, plural, thousands};
use crate::report::groups::CycleGroup;
use crate::report::style::{BACKGROUND, MONO_FONTS as MONO, MUTED_TEXT, SANS_FONTS as SANS, TEXT};
use crate::report::Report;
use std::fmt::Write;

/// Height of a heading line of the document.
const HEADING_HEIGHT: f64 = 30.0;

/// One SVG document with a ring per group of cycles (its example, with the edge its
/// hint says to break in orange), largest group first, under a title and a legend.
pub fn render(report: &Report, groups: &[CycleGroup], options: &SvgOptions) -> String {
    let shown = if options.max_cycles == 0 {
        groups.len()
    } else {
        groups.len().min(options.max_cycles)
    };
    let mut body = String::new();
    let mut y = MARGIN;
    let mut width: f64 = 520.0;
    let cycles = report.cycles.len() as u64;
    let title = format!(
        "refscope: {} cycle{} in {} group{}, among {} objects",
        thousands(cycles),
        plural(cycles),
        thousands(groups.len() as u64),
        plural(groups.len() as u64),
        thousands(report.analysed_count),
    );
    let _ = write!(
        body,
        r#"<text x="{}" y="{}" font-family="{SANS}" font-size="16" font-weight="700" fill="{TEXT}">{}</text>"#,
        fmt(MARGIN),
        fmt(y + 16.0),
        escape_xml(&title),
    );
    y += HEADING_HEIGHT;
    legend(&mut body, MARGIN, y);
    y += HEADING_HEIGHT;
    for (number, group) in groups[..shown].iter().enumerate() {
        let cycle = &report.cycles[group.example() as usize];
        let highlight = group.breakable_edge();
        let ring = draw_ring(report, cycle, options, highlight);
        let b = ring.bounds;
        let heading = format!(
            "Group {}: ×{} · {}",
            number + 1,
            thousands(group.count()),
            cycle_caption(report, cycle)
        );
        let _ = write!(
            body,
            r#"<text x="{}" y="{}" font-family="{SANS}" font-size="13" font-weight="600" fill="{TEXT}">{}</text>"#,
            fmt(MARGIN),
            fmt(y + 18.0),
            escape_xml_line(&heading),
        );
        y += HEADING_HEIGHT;
        if let Some(hint) = &group.hint {
            let advice = fit(&hint.advice, 900.0, 12.0, false, false);
            let lead = if highlight.is_some() {
                "Fix:"
            } else {
                "Nothing to fix:"
            };
            let _ = write!(
                body,
                r#"<text x="{}" y="{}" font-family="{SANS}" font-size="12" fill="{MUTED_TEXT}"><title>{}</title><tspan font-weight="600" fill="{TEXT}">{lead}</tspan> {}</text>"#,
                fmt(MARGIN),
                fmt(y + 6.0),
                escape_xml(&format!("{} {}", hint.advice, hint.why)),
                code_spans_as_tspans(&advice),
            );
            y += 18.0;
            width = width.max(text_width(&advice, 12.0, false) + 40.0 + 2.0 * MARGIN);
        }
        let _ = write!(
            body,
            r#"<svg x="{}" y="{}" width="{}" height="{}" viewBox="{} {} {} {}">{}</svg>"#,
            fmt(MARGIN),
            fmt(y),
            fmt(b.width()),
            fmt(b.height()),
            fmt(b.x0),
            fmt(b.y0),
            fmt(b.width()),
            fmt(b.height()),
            ring.body,
        );
        y += b.height() + MARGIN;
        width = width.max(b.width() + 2.0 * MARGIN);
    }
    if shown < groups.len() {
        let _ = write!(
            body,
            r#"<text x="{}" y="{}" font-family="{SANS}" font-size="13" font-style="italic" fill="{MUTED_TEXT}">… {} more groups not drawn</text>"#,
            fmt(MARGIN),
            fmt(y + 16.0),
            thousands((groups.len() - shown) as u64),
        );
        y += HEADING_HEIGHT;
    }
    if groups.is_empty() {
        let _ = write!(
            body,
            r#"<text x="{}" y="{}" font-family="{SANS}" font-size="13" fill="{MUTED_TEXT}">No reference cycles found.</text>"#,
            fmt(MARGIN),
            fmt(y + 16.0),
        );
        y += HEADING_HEIGHT;
    }
    let height = y + MARGIN;
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><rect width="{w}" height="{h}" fill="{BACKGROUND}"/>{body}</svg>
"##,
        w = fmt(width),
        h = fmt(height),
    )
}

/// One line of text in which `code spans` (as fix hints write them) are monospace.
fn code_spans_as_tspans(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    for (is_code, part) in code_spans(text) {
        if is_code {
            let _ = write!(
                out,
                r#"<tspan font-family="{MONO}" fill="{TEXT}">{}</tspan>"#,
                escape_xml_line(part)
            );
        } else {
            out.push_str(&escape_xml_line(part));
        }
    }
    out
}
