//! One cycle drawn as a ring: its boxes, arrows and labels as SVG elements.
//!
//! Both whole-report pictures ([`super::document`]) and the HTML page inline these rings,
//! so this module is the one place that turns a cycle into SVG. Cycles longer than
//! [`SvgOptions::max_objects`] are drawn as a capped ring whose elided stretch is a
//! dashed "… N more …" marker. Objects with a finaliser are red, frames are blue
//! hexagons (colours from [`crate::report::style`]). Arrowheads are explicit paths rather
//! than `<marker>`s, so a picture stays intact when it is inlined in HTML next to others
//! or hidden by CSS. Every type name, description and label goes through
//! [`escape_xml`] or [`escape_xml_line`].

use super::layout::{
    circle_layout, fit, fmt, racetrack_layout, text_width, Point, Rect, ARROW_HALF_WIDTH,
    ARROW_LENGTH, CIRCLE_MAX, DESCRIPTION_FONT, LABEL_FONT, LABEL_MAX_CHARS, MARGIN, NODE_HEIGHT,
    NODE_MAX_WIDTH, NODE_MIN_WIDTH, NODE_PADDING, TYPE_FONT,
};
use super::SvgOptions;
use crate::report::format::{escape_xml, escape_xml_line, human_size, plural, truncate_chars};
use crate::report::style::{
    self, node_style, NodeStyle, BACKGROUND, BREAK_EDGE, BREAK_LABEL_FILL, EDGE, ELISION_FILL,
    FAINT_TEXT, MONO_FONTS as MONO, MUTED_TEXT, SANS_FONTS as SANS, TEXT,
};
use crate::report::{CycleRecord, ObjectKind, ObjectRecord, Report};
use std::fmt::Write;

/// What sits at one place of the ring.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Object `object` (an index into [`Report::objects`]), at `position` in the cycle.
    Member { position: usize, object: u32 },
    /// Stands for `hidden` objects left out of the picture.
    Elision { hidden: usize },
}

/// A reference drawn from one slot to the next.
struct EdgeSpec {
    label: Option<String>,
    dashed: bool,
    /// Position in the cycle of the object the reference leaves (None for the elision).
    position: Option<usize>,
}

/// Positions of the objects of a cycle of `len` objects that a picture draws.
pub fn drawn_positions(len: usize, max_objects: usize) -> Vec<usize> {
    let cap = if max_objects == 0 {
        len
    } else {
        max_objects.max(3)
    };
    if len <= cap {
        (0..len).collect()
    } else {
        (0..cap - 2).chain(std::iter::once(len - 1)).collect()
    }
}

/// The slots of a (possibly capped) cycle and the edge leaving each slot for the next.
fn slots_of(cycle: &CycleRecord, max_objects: usize) -> (Vec<Slot>, Vec<EdgeSpec>) {
    let n = cycle.objects.len();
    let label = |i: usize| {
        Some(
            cycle
                .labels
                .get(i)
                .map_or_else(|| "?".to_owned(), |l| l.to_string()),
        )
    };
    let member = |i: usize| Slot::Member {
        position: i,
        object: cycle.objects[i],
    };
    let cap = if max_objects == 0 {
        n
    } else {
        max_objects.max(3)
    };
    if n <= cap {
        let slots = (0..n).map(member).collect();
        let edges = (0..n)
            .map(|i| EdgeSpec {
                label: label(i),
                dashed: false,
                position: Some(i),
            })
            .collect();
        return (slots, edges);
    }
    // The first cap-2 objects, the marker, and the last object (whose reference closes the ring).
    let front = cap - 2;
    let mut slots: Vec<Slot> = (0..front).map(member).collect();
    let mut edges: Vec<EdgeSpec> = (0..front)
        .map(|i| EdgeSpec {
            label: label(i),
            dashed: false,
            position: Some(i),
        })
        .collect();
    slots.push(Slot::Elision {
        hidden: n - (cap - 1),
    });
    edges.push(EdgeSpec {
        label: None,
        dashed: true,
        position: None,
    });
    slots.push(member(n - 1));
    edges.push(EdgeSpec {
        label: label(n - 1),
        dashed: false,
        position: Some(n - 1),
    });
    (slots, edges)
}

/// A drawn ring: its SVG elements (in coordinates around the origin) and bounding box.
pub(super) struct Ring {
    pub(super) body: String,
    pub(super) bounds: Rect,
}

fn node_shape(
    out: &mut String,
    kind: ObjectKind,
    rect: &Rect,
    style: &NodeStyle,
    stroke_width: f64,
) {
    if kind == ObjectKind::Frame {
        let inset = 11.0;
        let middle = (rect.y0 + rect.y1) / 2.0;
        let _ = write!(
            out,
            r#"<path class="shape" d="M{} {} L{} {} L{} {} L{} {} L{} {} L{} {} Z" fill="{}" stroke="{}" stroke-width="{}"/>"#,
            fmt(rect.x0),
            fmt(middle),
            fmt(rect.x0 + inset),
            fmt(rect.y0),
            fmt(rect.x1 - inset),
            fmt(rect.y0),
            fmt(rect.x1),
            fmt(middle),
            fmt(rect.x1 - inset),
            fmt(rect.y1),
            fmt(rect.x0 + inset),
            fmt(rect.y1),
            style.fill,
            style.stroke,
            fmt(stroke_width),
        );
    } else {
        let _ = write!(
            out,
            r#"<rect class="shape" x="{}" y="{}" width="{}" height="{}" rx="7" fill="{}" stroke="{}" stroke-width="{}"/>"#,
            fmt(rect.x0),
            fmt(rect.y0),
            fmt(rect.width()),
            fmt(rect.height()),
            style.fill,
            style.stroke,
            fmt(stroke_width),
        );
    }
}

/// Tooltip text of an object: everything the box may have had to cut.
fn object_tooltip(object: &ObjectRecord, position: usize) -> String {
    let mut text = format!(
        "#{} {}\n{}\n{}",
        position + 1,
        object.type_name,
        object.description,
        human_size(object.size)
    );
    if object.has_finalizer {
        text.push_str(", has a finaliser (__del__)");
    }
    if object.address != 0 {
        let _ = write!(text, "\nat 0x{:x}", object.address);
    }
    text
}

/// Draws one ring; the reference leaving the object at position `highlight` (the edge
/// a fix hint says to break) is drawn in orange.
pub(super) fn draw_ring(
    report: &Report,
    cycle: &CycleRecord,
    options: &SvgOptions,
    highlight: Option<usize>,
) -> Ring {
    let (slots, specs) = slots_of(cycle, options.max_objects);
    let count = slots.len();
    if count == 0 {
        let text = r#"<text x="0" y="0" text-anchor="middle" font-size="12">(empty cycle)</text>"#;
        return Ring {
            body: text.into(),
            bounds: Rect {
                x0: -60.0,
                y0: -12.0,
                x1: 60.0,
                y1: 6.0,
            },
        };
    }
    // One box width for the whole ring, from the widest text, within limits.
    let inner = |slot: &Slot| -> f64 {
        match *slot {
            Slot::Member { object, .. } => {
                let o = report.object(object);
                text_width(&o.type_name, TYPE_FONT, true).max(text_width(
                    &o.description,
                    DESCRIPTION_FONT,
                    false,
                ))
            }
            Slot::Elision { hidden } => text_width(&format!("… {hidden} more …"), TYPE_FONT, false),
        }
    };
    let box_width = (slots.iter().map(inner).fold(0.0, f64::max) + 2.0 * NODE_PADDING)
        .clamp(NODE_MIN_WIDTH, NODE_MAX_WIDTH);
    let labels: Vec<Option<String>> = specs
        .iter()
        .map(|s| {
            s.label.as_ref().map(|l| {
                truncate_chars(&l.replace(char::is_control, " "), LABEL_MAX_CHARS).into_owned()
            })
        })
        .collect();
    let label_widths: Vec<f64> = labels
        .iter()
        .map(|l| {
            l.as_ref()
                .map_or(0.0, |l| text_width(l, LABEL_FONT, true) + 6.0)
        })
        .collect();
    let layout = if count <= CIRCLE_MAX {
        circle_layout(count, box_width, &label_widths)
    } else {
        racetrack_layout(count, box_width)
    };

    let mut bounds = Rect::centred(layout.centres[0], box_width, NODE_HEIGHT);
    let mut edges_svg = String::new();
    let mut labels_svg = String::new();
    for (i, (edge, spec)) in layout.edges.iter().zip(&specs).enumerate() {
        let dash = if spec.dashed {
            r#" stroke-dasharray="5 4""#
        } else {
            ""
        };
        let hot = spec.position.is_some() && spec.position == highlight;
        let (colour, stroke_width, class) = if hot {
            (BREAK_EDGE, 2.6, "edge break")
        } else {
            (EDGE, 1.4, "edge")
        };
        let position = spec
            .position
            .map_or(String::new(), |p| format!(r#" data-edge="{p}""#));
        let d = edge.direction;
        let base = Point::new(
            edge.tip.x - d.x * ARROW_LENGTH,
            edge.tip.y - d.y * ARROW_LENGTH,
        );
        let _ = write!(
            edges_svg,
            r#"<g class="{class}"{position}><path d="{}" fill="none" stroke="{colour}" stroke-width="{stroke_width}"{dash}/><path d="M{} {} L{} {} L{} {} Z" fill="{colour}"/></g>"#,
            edge.path,
            fmt(edge.tip.x),
            fmt(edge.tip.y),
            fmt(base.x - d.y * ARROW_HALF_WIDTH),
            fmt(base.y + d.x * ARROW_HALF_WIDTH),
            fmt(base.x + d.y * ARROW_HALF_WIDTH),
            fmt(base.y - d.x * ARROW_HALF_WIDTH),
        );
        for p in &edge.extent {
            bounds.include(&Rect::centred(
                *p,
                2.0 * ARROW_HALF_WIDTH,
                2.0 * ARROW_HALF_WIDTH,
            ));
        }
        if let (Some(label), Some(full)) = (&labels[i], &spec.label) {
            let back = edge.anchor.rect(edge.label_at, label_widths[i]);
            bounds.include(&back);
            // An opaque backing rather than a text halo: a halo leaves the line visible
            // between words.
            let (back_fill, back_stroke, weight, tip) = if hot {
                (
                    BREAK_LABEL_FILL,
                    BREAK_EDGE,
                    "700",
                    " (refscope suggests breaking this reference)",
                )
            } else {
                (BACKGROUND, "none", "400", "")
            };
            let _ = write!(
                labels_svg,
                r#"<g class="label"><title>{}{tip}</title><rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="{back_fill}" fill-opacity="0.94" stroke="{back_stroke}"/><text x="{}" y="{}" text-anchor="middle" dominant-baseline="central" font-size="{LABEL_FONT}" font-weight="{weight}" fill="{TEXT}">{}</text></g>"#,
                escape_xml(full),
                fmt(back.x0),
                fmt(back.y0),
                fmt(back.width()),
                fmt(back.height()),
                fmt((back.x0 + back.x1) / 2.0),
                fmt((back.y0 + back.y1) / 2.0),
                escape_xml_line(label),
            );
        }
    }
    let mut nodes_svg = String::new();
    let text_room = box_width - 2.0 * NODE_PADDING;
    for (slot, &centre) in slots.iter().zip(&layout.centres) {
        let rect = Rect::centred(centre, box_width, NODE_HEIGHT);
        bounds.include(&rect);
        match *slot {
            Slot::Member { position, object } => {
                let record = report.object(object);
                let style = node_style(record.kind, record.has_finalizer);
                let classes = format!(
                    "node kind-{}{}",
                    record.kind.as_str(),
                    if record.has_finalizer {
                        " finalizer"
                    } else {
                        ""
                    }
                );
                let _ = write!(
                    nodes_svg,
                    r#"<g class="{classes}" data-object="{object}" data-position="{position}" data-finalizer="{}" tabindex="0"><title>{}</title>"#,
                    record.has_finalizer,
                    escape_xml(&object_tooltip(record, position)),
                );
                if count > CIRCLE_MAX {
                    // Long rings number their objects, outside the track.
                    let (x, anchor) = if centre.x > 0.0 {
                        (rect.x1 + 6.0, "start")
                    } else {
                        (rect.x0 - 6.0, "end")
                    };
                    let number = format!("{}", position + 1);
                    let width = text_width(&number, 10.0, false);
                    let x0 = if anchor == "start" { x } else { x - width };
                    bounds.include(&Rect {
                        x0,
                        y0: centre.y - 6.0,
                        x1: x0 + width,
                        y1: centre.y + 6.0,
                    });
                    let _ = write!(
                        nodes_svg,
                        r#"<text class="position" x="{}" y="{}" text-anchor="{anchor}" dominant-baseline="central" font-family="{SANS}" font-size="10" fill="{FAINT_TEXT}">{number}</text>"#,
                        fmt(x),
                        fmt(centre.y),
                    );
                }
                node_shape(
                    &mut nodes_svg,
                    record.kind,
                    &rect,
                    &style,
                    if record.has_finalizer { 2.0 } else { 1.3 },
                );
                let type_text = fit(&record.type_name, text_room, TYPE_FONT, true, true);
                let description = fit(
                    &record.description,
                    text_room,
                    DESCRIPTION_FONT,
                    false,
                    false,
                );
                let _ = write!(
                    nodes_svg,
                    r#"<text x="{}" y="{}" text-anchor="middle" font-size="{TYPE_FONT}" font-weight="600" fill="{}">{}</text><text x="{}" y="{}" text-anchor="middle" font-family="{SANS}" font-size="{DESCRIPTION_FONT}" fill="{}">{}</text></g>"#,
                    fmt(centre.x),
                    fmt(centre.y - 3.0),
                    style.text,
                    escape_xml_line(&type_text),
                    fmt(centre.x),
                    fmt(centre.y + 13.0),
                    style.muted_text,
                    escape_xml_line(&description),
                );
            }
            Slot::Elision { hidden } => {
                let _ = write!(
                    nodes_svg,
                    r##"<g class="elision" data-hidden="{hidden}"><title>{hidden} more objects of this cycle are not drawn</title><rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="{ELISION_FILL}" stroke="{FAINT_TEXT}" stroke-width="1.3" stroke-dasharray="4 3"/><text x="{}" y="{}" text-anchor="middle" dominant-baseline="central" font-family="{SANS}" font-size="{TYPE_FONT}" font-style="italic" fill="{MUTED_TEXT}">… {hidden} more …</text></g>"##,
                    fmt(rect.x0),
                    fmt(rect.y0),
                    fmt(rect.width()),
                    fmt(rect.height()),
                    fmt(NODE_HEIGHT / 2.0),
                    fmt(centre.x),
                    fmt(centre.y),
                );
            }
        }
    }
    // Type names and labels are code: monospace is the ring's default font.
    Ring {
        body: format!(r#"<g font-family="{MONO}">{edges_svg}{nodes_svg}{labels_svg}</g>"#),
        bounds: bounds.grown(MARGIN),
    }
}

/// A complete SVG document of one cycle, its ring only (as the HTML report inlines it).
/// `highlight` is the position of the object whose outgoing reference is drawn as the
/// one to break (a fix hint's `edge_index`).
pub fn render_cycle(
    report: &Report,
    cycle: &CycleRecord,
    options: &SvgOptions,
    highlight: Option<usize>,
) -> String {
    let ring = draw_ring(report, cycle, options, highlight);
    let b = ring.bounds;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="ring" width="{w}" height="{h}" viewBox="{x} {y} {w} {h}" role="img"><title>{}</title><rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{BACKGROUND}"/>{}</svg>"##,
        escape_xml(&cycle_caption(report, cycle)),
        ring.body,
        x = fmt(b.x0),
        y = fmt(b.y0),
        w = fmt(b.width()),
        h = fmt(b.height()),
    )
}

/// "2 objects (component of 2), holds a finaliser": one line about a cycle.
pub fn cycle_caption(report: &Report, cycle: &CycleRecord) -> String {
    let n = cycle.objects.len() as u64;
    let mut caption = format!(
        "{n} object{} (component of {})",
        plural(n),
        cycle.component_size
    );
    if report.cycle_has_finalizer(cycle) {
        caption.push_str(", holds a finaliser (__del__)");
    }
    caption
}

/// The key to the colours and shapes, as an SVG fragment one line high at (x, y).
pub fn legend(out: &mut String, x: f64, y: f64) {
    let items: [(NodeStyle, &str, bool); 3] = [
        (style::FINALIZER, "has a finaliser (__del__)", false),
        (style::FRAME, "frame", true),
        (style::INSTANCE, "instance", false),
    ];
    let mut x = x;
    let middle = y + 8.0;
    for (NodeStyle { fill, stroke, .. }, text, hexagon) in items {
        if hexagon {
            let _ = write!(
                out,
                r#"<path d="M{} {} L{} {} L{} {} L{} {} L{} {} L{} {} Z" fill="{fill}" stroke="{stroke}" stroke-width="1.3"/>"#,
                fmt(x),
                fmt(middle),
                fmt(x + 5.0),
                fmt(middle - 7.0),
                fmt(x + 19.0),
                fmt(middle - 7.0),
                fmt(x + 24.0),
                fmt(middle),
                fmt(x + 19.0),
                fmt(middle + 7.0),
                fmt(x + 5.0),
                fmt(middle + 7.0),
            );
        } else {
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="24" height="14" rx="4" fill="{fill}" stroke="{stroke}" stroke-width="1.3"/>"#,
                fmt(x),
                fmt(middle - 7.0),
            );
        }
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" dominant-baseline="central" font-family="{SANS}" font-size="12" fill="{MUTED_TEXT}">{text}</text>"#,
            fmt(x + 30.0),
            fmt(middle),
        );
        x += 30.0 + text_width(text, 12.0, false) + 18.0;
    }
    let _ = write!(
        out,
        r#"<path d="M{} {} L{} {}" stroke="{BREAK_EDGE}" stroke-width="2.6"/><path d="M{} {} L{} {} L{} {} Z" fill="{BREAK_EDGE}"/><text x="{}" y="{}" dominant-baseline="central" font-family="{SANS}" font-size="12" fill="{MUTED_TEXT}">reference to break</text>"#,
        fmt(x),
        fmt(middle),
        fmt(x + 16.0),
        fmt(middle),
        fmt(x + 24.0),
        fmt(middle),
        fmt(x + 15.0),
        fmt(middle - 4.5),
        fmt(x + 15.0),
        fmt(middle + 4.5),
        fmt(x + 30.0),
        fmt(middle),
    );
}
