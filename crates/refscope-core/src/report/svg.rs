//! SVG pictures of cycles, drawn here in Rust: no graphviz binary, no layout engine.
//!
//! A cycle is a ring, so it is drawn as one. Up to [`CIRCLE_MAX`] objects sit on an
//! ellipse (a circle widened by one box width, as boxes are wide) that grows until no
//! box, arrow or label overlaps another; longer cycles become
//! a racetrack (two columns joined by curves), which stays readable at 50 objects because
//! its height grows linearly and every label sits in its own row gap. Cycles longer than
//! [`SvgOptions::max_objects`] are drawn as a capped ring whose elided stretch is a dashed
//! "… N more …" marker. objgraph's convention is kept: objects with a finaliser are red;
//! frames are blue hexagons. Arrowheads are explicit paths rather than `<marker>`s, so a
//! picture stays intact when it is inlined in HTML next to others or hidden by CSS.
//!
//! Every type name, description and label is user data: it goes through [`escape_xml`],
//! which escapes `& < > " '` and drops characters XML 1.0 forbids.

use super::groups::CycleGroup;
use super::{CycleRecord, ObjectKind, ObjectRecord, Report};
use std::f64::consts::PI;
use std::fmt::Write;

/// Rings with at most this many slots are circles; longer ones are racetracks.
pub const CIRCLE_MAX: usize = 6;

/// How pictures are drawn.
#[derive(Debug, Clone, Copy)]
pub struct SvgOptions {
    /// At most this many objects drawn per ring (0 = all, at least 3 otherwise); longer
    /// cycles show their first objects, a "… N more …" marker and their last object.
    pub max_objects: usize,
    /// At most this many cycles in a whole-report picture (0 = all).
    pub max_cycles: usize,
}

impl Default for SvgOptions {
    fn default() -> Self {
        SvgOptions {
            max_objects: 50,
            max_cycles: 100,
        }
    }
}

const MONO: &str = "ui-monospace, Menlo, Consolas, 'DejaVu Sans Mono', monospace";
const SANS: &str = "system-ui, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif";

// Geometry, in CSS pixels.
const NODE_HEIGHT: f64 = 42.0;
const NODE_MIN_WIDTH: f64 = 110.0;
const NODE_MAX_WIDTH: f64 = 230.0;
const NODE_PADDING: f64 = 10.0;
const TYPE_FONT: f64 = 12.0;
const DESCRIPTION_FONT: f64 = 11.0;
const LABEL_FONT: f64 = 11.5;
const LABEL_HEIGHT: f64 = 15.0;
const LABEL_MAX_CHARS: usize = 30;
const ROW_GAP: f64 = 34.0;
/// Least space between two boxes on a circle, in one direction at least.
const BOX_SPACING: f64 = 30.0;
const COLUMN_GAP: f64 = 80.0;
const MARGIN: f64 = 14.0;
const HEADING_HEIGHT: f64 = 30.0;
const ARROW_LENGTH: f64 = 9.0;
const ARROW_HALF_WIDTH: f64 = 4.5;
/// Space kept between an arrow's end and the box it points at.
const ARROW_GAP: f64 = 2.0;

// Colours: dark text on light fills; red for finalisers, blue for frames.
const TEXT: &str = "#0f172a";
const MUTED_TEXT: &str = "#475569";
const FAINT_TEXT: &str = "#94a3b8";
const EDGE: &str = "#475569";
/// The reference a fix hint says to break.
const BREAK_EDGE: &str = "#ea580c";

struct NodeStyle {
    fill: &'static str,
    stroke: &'static str,
    text: &'static str,
    muted_text: &'static str,
}

fn node_style(object: &ObjectRecord) -> NodeStyle {
    if object.has_finalizer {
        return NodeStyle {
            fill: "#dc2626",
            stroke: "#7f1d1d",
            text: "#ffffff",
            muted_text: "#fee2e2",
        };
    }
    let (fill, stroke) = match object.kind {
        ObjectKind::Frame => ("#dbeafe", "#1d4ed8"),
        ObjectKind::Instance => ("#ffffff", "#334155"),
        ObjectKind::Exception | ObjectKind::Traceback => ("#fef3c7", "#b45309"),
        ObjectKind::Function
        | ObjectKind::Method
        | ObjectKind::Cell
        | ObjectKind::Code
        | ObjectKind::Generator => ("#ecfdf5", "#047857"),
        _ => ("#f1f5f9", "#64748b"),
    };
    NodeStyle {
        fill,
        stroke,
        text: TEXT,
        muted_text: MUTED_TEXT,
    }
}

/// Escapes text for XML content and attribute values: `& < > " '` become entities, tab,
/// newline and carriage return become character references (so attribute values keep
/// them), and characters outside XML 1.0's `Char` production are dropped.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// XML 1.0 `Char`: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
/// (Rust strings cannot hold surrogates, so only controls and U+FFFE/U+FFFF fail).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// One line of display text: controls become spaces, then it is escaped.
fn escape_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    escape_xml(&flat)
}

/// Width of a character in ems: wide (East Asian) characters count twice.
fn char_ems(c: char, mono: bool) -> f64 {
    let wide = matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1FAFF | 0x20000..);
    match (wide, mono) {
        (true, _) => 1.0,
        (false, true) => 0.6,
        (false, false) => 0.56,
    }
}

/// Estimated rendered width of `text` (no font metrics are available: a deliberate
/// over-estimate for proportional fonts, exact for monospace).
fn text_width(text: &str, font_size: f64, mono: bool) -> f64 {
    text.chars().map(|c| char_ems(c, mono)).sum::<f64>() * font_size
}

/// `text` cut to fit `width`, with an ellipsis at the end (or at the start, which keeps
/// the class name of a long dotted type name).
fn fit(text: &str, width: f64, font_size: f64, mono: bool, keep_end: bool) -> String {
    if text_width(text, font_size, mono) <= width {
        return text.to_string();
    }
    let budget = width - text_width("…", font_size, mono);
    let mut used = 0.0;
    let mut kept: Vec<char> = Vec::new();
    let chars: Vec<char> = if keep_end {
        text.chars().rev().collect()
    } else {
        text.chars().collect()
    };
    for c in chars {
        used += char_ems(c, mono) * font_size;
        if used > budget {
            break;
        }
        kept.push(c);
    }
    if keep_end {
        kept.reverse();
        format!("…{}", kept.into_iter().collect::<String>())
    } else {
        format!("{}…", kept.into_iter().collect::<String>())
    }
}

fn fit_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max_chars - 1).collect();
        cut.push('…');
        cut
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

impl Point {
    fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }
}

#[derive(Debug, Clone, Copy)]
struct Rect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Rect {
    fn centred(centre: Point, width: f64, height: f64) -> Self {
        Rect {
            x0: centre.x - width / 2.0,
            y0: centre.y - height / 2.0,
            x1: centre.x + width / 2.0,
            y1: centre.y + height / 2.0,
        }
    }

    fn grown(self, by: f64) -> Self {
        Rect {
            x0: self.x0 - by,
            y0: self.y0 - by,
            x1: self.x1 + by,
            y1: self.y1 + by,
        }
    }

    fn contains(&self, p: Point) -> bool {
        p.x >= self.x0 && p.x <= self.x1 && p.y >= self.y0 && p.y <= self.y1
    }

    fn intersects(&self, other: &Rect) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }

    fn include(&mut self, other: &Rect) {
        self.x0 = self.x0.min(other.x0);
        self.y0 = self.y0.min(other.y0);
        self.x1 = self.x1.max(other.x1);
        self.y1 = self.y1.max(other.y1);
    }

    fn width(&self) -> f64 {
        self.x1 - self.x0
    }

    fn height(&self) -> f64 {
        self.y1 - self.y0
    }
}

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
    let label = |i: usize| Some(cycle.labels.get(i).cloned().unwrap_or_else(|| "?".into()));
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

/// Where the text of a label starts relative to its anchor point.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn rect(self, at: Point, width: f64) -> Rect {
        let x0 = match self {
            Anchor::Start => at.x,
            Anchor::Middle => at.x - width / 2.0,
            Anchor::End => at.x - width,
        };
        Rect {
            x0,
            y0: at.y - LABEL_HEIGHT / 2.0,
            x1: x0 + width,
            y1: at.y + LABEL_HEIGHT / 2.0,
        }
    }
}

/// A drawn reference: its path, arrowhead and label placement.
struct EdgeShape {
    path: String,
    tip: Point,
    /// Unit direction of travel at the tip.
    direction: Point,
    label_at: Point,
    anchor: Anchor,
    /// Points the curve passes near, for the bounding box.
    extent: Vec<Point>,
}

/// Slot centres and edge shapes of one ring, in coordinates around the origin.
struct Layout {
    centres: Vec<Point>,
    edges: Vec<EdgeShape>,
}

/// A coordinate written with at most one decimal, formatted straight into the output.
#[derive(Clone, Copy)]
struct Num(f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rounded = (self.0 * 10.0).round() / 10.0;
        if rounded == rounded.trunc() {
            write!(f, "{}", rounded as i64)
        } else {
            write!(f, "{rounded:.1}")
        }
    }
}

fn fmt(v: f64) -> Num {
    Num(v)
}

/// The ring: an ellipse wider than tall by the width of a box, so that boxes, which are
/// wide, get the same room beside each other as above each other.
#[derive(Clone, Copy)]
struct Ellipse {
    rx: f64,
    ry: f64,
}

impl Ellipse {
    fn at(self, angle: f64) -> Point {
        Point::new(self.rx * angle.cos(), self.ry * angle.sin())
    }

    /// Unit direction of travel (increasing angle: clockwise on screen) at `angle`.
    fn tangent(self, angle: f64) -> Point {
        let (dx, dy) = (-self.rx * angle.sin(), self.ry * angle.cos());
        let length = (dx * dx + dy * dy).sqrt().max(1e-9);
        Point::new(dx / length, dy / length)
    }

    /// Length of the arc from `from` to `to` (a sum of chords: plenty for layout).
    fn arc_length(self, from: f64, to: f64) -> f64 {
        let steps = 16;
        (0..steps)
            .map(|k| {
                let a = self.at(from + (to - from) * k as f64 / steps as f64);
                let b = self.at(from + (to - from) * (k + 1) as f64 / steps as f64);
                ((b.x - a.x).powi(2) + (b.y - a.y).powi(2)).sqrt()
            })
            .sum()
    }
}

/// The angle at which a clockwise arc starting at `from` (inside `rect`) leaves `rect`,
/// or at which an arc ending at `to` enters it when `leaving` is false.
fn arc_boundary(ring: Ellipse, from: f64, to: f64, rect: &Rect, leaving: bool) -> f64 {
    // The box is convex and the arc short, so "inside" flips once: bisect on it.
    let (mut inside, mut outside) = if leaving { (from, to) } else { (to, from) };
    if rect.contains(ring.at(outside)) {
        return outside;
    }
    // 24 halvings of an arc shorter than a half turn: far below a tenth of a pixel.
    for _ in 0..24 {
        let middle = (inside + outside) / 2.0;
        if rect.contains(ring.at(middle)) {
            inside = middle;
        } else {
            outside = middle;
        }
    }
    outside
}

/// Ring layout for up to [`CIRCLE_MAX`] slots: the smallest radius at which no boxes
/// overlap, every arc is long enough for its arrow and label, and labels touch nothing.
fn circle_layout(count: usize, box_width: f64, label_widths: &[f64]) -> Layout {
    if count == 1 {
        return self_loop_layout(box_width, label_widths[0]);
    }
    let start = if count == 2 { PI } else { -PI / 2.0 };
    let step = 2.0 * PI / count as f64;
    // Start where neighbouring boxes stop overlapping vertically: no smaller radius fits.
    let mut radius = ((NODE_HEIGHT + BOX_SPACING) / (2.0 * (PI / count as f64).sin())).max(56.0);
    loop {
        let ring = Ellipse {
            rx: radius + box_width / 2.0,
            ry: radius,
        };
        let centres: Vec<Point> = (0..count)
            .map(|i| ring.at(start + step * i as f64))
            .collect();
        let boxes: Vec<Rect> = centres
            .iter()
            .map(|&c| Rect::centred(c, box_width, NODE_HEIGHT))
            .collect();
        let mut fits = radius > 4000.0
            || boxes.iter().enumerate().all(|(i, a)| {
                boxes[i + 1..]
                    .iter()
                    .all(|b| !a.grown(BOX_SPACING).intersects(b))
            });
        // Arc ends and label boxes; strings are only built once the radius fits.
        let mut arcs: Vec<(f64, f64, Point)> = Vec::with_capacity(count);
        let mut label_rects: Vec<Rect> = Vec::with_capacity(count);
        for i in 0..count {
            if !fits {
                break;
            }
            let next = (i + 1) % count;
            let (from, to) = (start + step * i as f64, start + step * (i as f64 + 1.0));
            let begin = arc_boundary(ring, from, to, &boxes[i].grown(ARROW_GAP), true);
            let end = arc_boundary(ring, from, to, &boxes[next].grown(ARROW_GAP), false);
            let visible = ring.arc_length(begin, end);
            let label_at = ring.at((begin + end) / 2.0);
            let label = Anchor::Middle.rect(label_at, label_widths[i]);
            // Labels are horizontal, so what they need is room around them, not arc
            // length: clear of every box by more than an arrowhead (so none is hidden).
            if visible < 5.0 * ARROW_LENGTH
                || boxes
                    .iter()
                    .any(|b| b.grown(ARROW_LENGTH + ARROW_GAP + 3.0).intersects(&label))
                || label_rects
                    .iter()
                    .any(|other| other.grown(4.0).intersects(&label))
            {
                fits = radius > 4000.0;
            }
            label_rects.push(label);
            arcs.push((begin, end, label_at));
        }
        if fits {
            let edges = arcs
                .into_iter()
                .map(|(begin, end, label_at)| {
                    let (a, b) = (ring.at(begin), ring.at(end));
                    let large_arc = if end - begin > PI { 1 } else { 0 };
                    EdgeShape {
                        path: format!(
                            "M{} {} A{} {} 0 {large_arc} 1 {} {}",
                            fmt(a.x),
                            fmt(a.y),
                            fmt(ring.rx),
                            fmt(ring.ry),
                            fmt(b.x),
                            fmt(b.y)
                        ),
                        tip: b,
                        direction: ring.tangent(end),
                        label_at,
                        anchor: Anchor::Middle,
                        extent: (0..=8)
                            .map(|k| ring.at(begin + (end - begin) * k as f64 / 8.0))
                            .collect(),
                    }
                })
                .collect();
            return Layout { centres, edges };
        }
        radius += 6.0;
    }
}

/// A cubic Bézier curve: path text, the point at t = 0.5 and sample points.
fn cubic(p0: Point, p1: Point, p2: Point, p3: Point) -> (String, Point, Vec<Point>) {
    let at = |t: f64| {
        let u = 1.0 - t;
        Point::new(
            u * u * u * p0.x + 3.0 * u * u * t * p1.x + 3.0 * u * t * t * p2.x + t * t * t * p3.x,
            u * u * u * p0.y + 3.0 * u * u * t * p1.y + 3.0 * u * t * t * p2.y + t * t * t * p3.y,
        )
    };
    let path = format!(
        "M{} {} C{} {} {} {} {} {}",
        fmt(p0.x),
        fmt(p0.y),
        fmt(p1.x),
        fmt(p1.y),
        fmt(p2.x),
        fmt(p2.y),
        fmt(p3.x),
        fmt(p3.y)
    );
    (path, at(0.5), (0..=8).map(|k| at(k as f64 / 8.0)).collect())
}

fn unit(from: Point, to: Point) -> Point {
    let (dx, dy) = (to.x - from.x, to.y - from.y);
    let length = (dx * dx + dy * dy).sqrt().max(1e-9);
    Point::new(dx / length, dy / length)
}

/// One object referring to itself: a loop above its box.
fn self_loop_layout(box_width: f64, label_width: f64) -> Layout {
    let top = -NODE_HEIGHT / 2.0 - ARROW_GAP;
    let reach = (box_width / 4.0).min(50.0);
    let (p0, p3) = (Point::new(reach, top), Point::new(-reach, top));
    let (p1, p2) = (
        Point::new(reach + 40.0, top - 70.0),
        Point::new(-reach - 40.0, top - 70.0),
    );
    let (path, middle, extent) = cubic(p0, p1, p2, p3);
    let _ = label_width;
    Layout {
        centres: vec![Point::new(0.0, 0.0)],
        edges: vec![EdgeShape {
            path,
            tip: p3,
            direction: unit(p2, p3),
            label_at: Point::new(middle.x, middle.y - LABEL_HEIGHT / 2.0 - 3.0),
            anchor: Anchor::Middle,
            extent,
        }],
    }
}

/// Racetrack layout: slots go down the right column, across the bottom, up the left
/// column and back across the top. Labels of vertical arrows sit outside the track in
/// the row gaps, so nothing overlaps however long the ring is.
fn racetrack_layout(count: usize, box_width: f64) -> Layout {
    let down = count.div_ceil(2);
    let row_step = NODE_HEIGHT + ROW_GAP;
    let right_x = (box_width + COLUMN_GAP) / 2.0;
    let left_x = -right_x;
    let centres: Vec<Point> = (0..count)
        .map(|slot| {
            if slot < down {
                Point::new(right_x, slot as f64 * row_step)
            } else {
                Point::new(left_x, (down - 1 - (slot - down)) as f64 * row_step)
            }
        })
        .collect();
    let half = NODE_HEIGHT / 2.0 + ARROW_GAP;
    let bulge = 46.0;
    let edges = (0..count)
        .map(|slot| {
            let (a, b) = (centres[slot], centres[(slot + 1) % count]);
            if slot + 1 < down || (slot >= down && slot + 1 < count) {
                // Straight, within a column: down on the right, up on the left.
                let sign = if b.y > a.y { 1.0 } else { -1.0 };
                let (from, to) = (
                    Point::new(a.x, a.y + sign * half),
                    Point::new(b.x, b.y - sign * half),
                );
                let middle = Point::new(a.x, (from.y + to.y) / 2.0);
                let (label_at, anchor) = if a.x > 0.0 {
                    (Point::new(a.x + 8.0, middle.y), Anchor::Start)
                } else {
                    (Point::new(a.x - 8.0, middle.y), Anchor::End)
                };
                EdgeShape {
                    path: format!(
                        "M{} {} L{} {}",
                        fmt(from.x),
                        fmt(from.y),
                        fmt(to.x),
                        fmt(to.y)
                    ),
                    tip: to,
                    direction: Point::new(0.0, sign),
                    label_at,
                    anchor,
                    extent: vec![from, to],
                }
            } else if slot + 1 == down {
                // Across the bottom, right to left.
                let bottom = a.y.max(b.y) + half;
                let p0 = Point::new(a.x, a.y + half);
                let p3 = Point::new(b.x, b.y + half);
                let (path, middle, extent) = cubic(
                    p0,
                    Point::new(a.x, bottom + bulge),
                    Point::new(b.x, bottom + bulge),
                    p3,
                );
                EdgeShape {
                    path,
                    tip: p3,
                    direction: Point::new(0.0, -1.0),
                    label_at: middle,
                    anchor: Anchor::Middle,
                    extent,
                }
            } else {
                // Across the top, left to right, back to the first slot.
                let top = a.y.min(b.y) - half;
                let p0 = Point::new(a.x, a.y - half);
                let p3 = Point::new(b.x, b.y - half);
                let (path, middle, extent) = cubic(
                    p0,
                    Point::new(a.x, top - bulge),
                    Point::new(b.x, top - bulge),
                    p3,
                );
                EdgeShape {
                    path,
                    tip: p3,
                    direction: Point::new(0.0, 1.0),
                    label_at: middle,
                    anchor: Anchor::Middle,
                    extent,
                }
            }
        })
        .collect();
    Layout { centres, edges }
}

/// A drawn ring: its SVG elements (in coordinates around the origin) and bounding box.
struct Ring {
    body: String,
    bounds: Rect,
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

/// `512 B`, `1.5 KiB`, `2.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
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
fn draw_ring(
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
            s.label
                .as_ref()
                .map(|l| fit_chars(&l.replace(char::is_control, " "), LABEL_MAX_CHARS))
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
                    "#fff7ed",
                    BREAK_EDGE,
                    "700",
                    " (refscope suggests breaking this reference)",
                )
            } else {
                ("#ffffff", "none", "400", "")
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
                escape_line(label),
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
                let style = node_style(record);
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
                    escape_line(&type_text),
                    fmt(centre.x),
                    fmt(centre.y + 13.0),
                    style.muted_text,
                    escape_line(&description),
                );
            }
            Slot::Elision { hidden } => {
                let _ = write!(
                    nodes_svg,
                    r##"<g class="elision" data-hidden="{hidden}"><title>{hidden} more objects of this cycle are not drawn</title><rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="#f8fafc" stroke="#94a3b8" stroke-width="1.3" stroke-dasharray="4 3"/><text x="{}" y="{}" text-anchor="middle" dominant-baseline="central" font-family="{SANS}" font-size="{TYPE_FONT}" font-style="italic" fill="{MUTED_TEXT}">… {hidden} more …</text></g>"##,
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
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="ring" width="{w}" height="{h}" viewBox="{x} {y} {w} {h}" role="img"><title>{}</title><rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#ffffff"/>{}</svg>"##,
        escape_xml(&cycle_caption(report, cycle)),
        ring.body,
        x = fmt(b.x0),
        y = fmt(b.y0),
        w = fmt(b.width()),
        h = fmt(b.height()),
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
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

/// Digits grouped by thousands: `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

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
        let highlight = super::html::breakable_edge(group);
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
            escape_line(&heading),
        );
        y += HEADING_HEIGHT;
        if let Some(hint) = &group.hint {
            let advice = fit(&hint.advice, 900.0, 12.0, false, false);
            let lead = if super::html::breakable_edge(group).is_some() {
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
<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><rect width="{w}" height="{h}" fill="#ffffff"/>{body}</svg>
"##,
        w = fmt(width),
        h = fmt(height),
    )
}

/// One line of text in which `code spans` (as fix hints write them) are monospace.
fn code_spans_as_tspans(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(
                out,
                r#"<tspan font-family="{MONO}" fill="{TEXT}">{}</tspan>"#,
                escape_line(part)
            );
        } else {
            out.push_str(&escape_line(part));
        }
    }
    out
}

/// The key to the colours and shapes, as an SVG fragment one line high at (x, y).
pub fn legend(out: &mut String, x: f64, y: f64) {
    let items: [(&str, &str, &str, bool); 3] = [
        ("#dc2626", "#7f1d1d", "has a finaliser (__del__)", false),
        ("#dbeafe", "#1d4ed8", "frame", true),
        ("#ffffff", "#334155", "instance", false),
    ];
    let mut x = x;
    let middle = y + 8.0;
    for (fill, stroke, text, hexagon) in items {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::groups::group_cycles;

    fn object(type_name: &str, kind: ObjectKind, finalizer: bool) -> ObjectRecord {
        ObjectRecord {
            type_name: type_name.into(),
            description: format!("{type_name} object"),
            kind,
            has_finalizer: finalizer,
            size: 48,
            address: 0x1000,
            ..Default::default()
        }
    }

    fn ring_of(n: usize) -> Report {
        let objects: Vec<ObjectRecord> = (0..n)
            .map(|i| match i % 3 {
                0 => object("__main__.Node", ObjectKind::Instance, i == 0),
                1 => object("dict", ObjectKind::Dict, false),
                _ => object("frame", ObjectKind::Frame, false),
            })
            .collect();
        Report {
            cycles: vec![CycleRecord {
                objects: (0..n as u32).collect(),
                labels: (0..n).map(|i| format!(".next{i}")).collect(),
                component_size: n as u64,
            }],
            objects,
            analysed_count: n as u64,
            edge_count: n as u64,
        }
    }

    fn boxes_of(svg: &str) -> Vec<Rect> {
        svg.split(r#"<rect class="shape" x=""#)
            .skip(1)
            .map(|rest| {
                let numbers: Vec<f64> = rest
                    .split('"')
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 0)
                    .take(4)
                    .map(|(_, v)| v.parse().unwrap())
                    .collect();
                Rect {
                    x0: numbers[0],
                    y0: numbers[1],
                    x1: numbers[0] + numbers[2],
                    y1: numbers[1] + numbers[3],
                }
            })
            .collect()
    }

    #[test]
    fn escaping_covers_markup_quotes_and_invalid_characters() {
        assert_eq!(
            escape_xml(r#"<script>"&'"#),
            "&lt;script&gt;&quot;&amp;&#39;"
        );
        assert_eq!(escape_xml("a\u{0}b\u{1b}c\u{FFFE}d"), "abcd");
        assert_eq!(escape_xml("tab\there\nline"), "tab&#9;here&#10;line");
        assert_eq!(escape_xml("ünï 中文 😀"), "ünï 中文 😀");
    }

    #[test]
    fn every_member_is_drawn_with_its_label_for_short_and_fifty_object_rings() {
        for n in [1, 2, 3, 6, 7, 50] {
            let report = ring_of(n);
            let svg = render_cycle(&report, &report.cycles[0], &SvgOptions::default(), None);
            assert_eq!(svg.matches(r#"<g class="node"#).count(), n, "n={n}");
            for i in 0..n {
                assert!(
                    svg.contains(&format!(">.next{i}</text>")),
                    "label {i} missing for n={n}"
                );
            }
            assert!(!svg.contains("more …"), "n={n}");
        }
    }

    #[test]
    fn boxes_never_overlap() {
        for n in [2, 3, 4, 5, 6, 7, 8, 13, 50] {
            let report = ring_of(n);
            let svg = render_cycle(&report, &report.cycles[0], &SvgOptions::default(), None);
            let boxes = boxes_of(&svg);
            assert!(!boxes.is_empty());
            for (i, a) in boxes.iter().enumerate() {
                for b in &boxes[i + 1..] {
                    assert!(!a.intersects(b), "n={n}: {a:?} overlaps {b:?}");
                }
            }
        }
    }

    #[test]
    fn labels_touch_no_box_and_no_other_label_at_any_ring_length() {
        for count in 1..=60 {
            for label_chars in [1usize, 8, LABEL_MAX_CHARS] {
                let label_width = text_width(&"x".repeat(label_chars), LABEL_FONT, true) + 6.0;
                for box_width in [NODE_MIN_WIDTH, NODE_MAX_WIDTH] {
                    let widths = vec![label_width; count];
                    let layout = if count <= CIRCLE_MAX {
                        circle_layout(count, box_width, &widths)
                    } else {
                        racetrack_layout(count, box_width)
                    };
                    let boxes: Vec<Rect> = layout
                        .centres
                        .iter()
                        .map(|&c| Rect::centred(c, box_width, NODE_HEIGHT))
                        .collect();
                    let labels: Vec<Rect> = layout
                        .edges
                        .iter()
                        .map(|e| e.anchor.rect(e.label_at, label_width))
                        .collect();
                    for (i, label) in labels.iter().enumerate() {
                        let context = format!(
                            "count {count}, label {label_chars}, box {box_width}, edge {i}"
                        );
                        assert!(boxes.iter().all(|b| !b.intersects(label)), "{context}");
                        assert!(
                            labels[i + 1..].iter().all(|other| !other.intersects(label)),
                            "{context}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn long_rings_are_capped_with_an_elision_marker_and_keep_the_closing_reference() {
        let report = ring_of(120);
        let svg = render_cycle(
            &report,
            &report.cycles[0],
            &SvgOptions {
                max_objects: 20,
                max_cycles: 0,
            },
            None,
        );
        assert_eq!(svg.matches(r#"<g class="node"#).count(), 19);
        assert!(svg.contains("… 101 more …"), "{svg}");
        assert!(svg.contains(">.next119</text>"));
        assert!(svg.contains(r#"data-position="119""#));
        assert!(!svg.contains(">.next18</text>"));
    }

    #[test]
    fn finalisers_are_red_and_frames_are_hexagons() {
        let report = ring_of(3);
        let svg = render_cycle(&report, &report.cycles[0], &SvgOptions::default(), None);
        let finalizer = svg.split(r#"data-finalizer="true""#).nth(1).unwrap();
        assert!(finalizer
            .split("</g>")
            .next()
            .unwrap()
            .contains(r##"fill="#dc2626""##));
        let frame = svg.split("kind-frame").nth(1).unwrap();
        assert!(frame
            .split("</g>")
            .next()
            .unwrap()
            .contains(r#"<path class="shape""#));
    }

    #[test]
    fn hostile_labels_and_names_are_escaped() {
        let mut report = ring_of(2);
        report.objects[0].type_name = "<script>\"&".into();
        report.objects[0].description = "</svg><b>'".into();
        report.cycles[0].labels[0] = "['</script><b>']".into();
        let groups = group_cycles(&report);
        let svg = render(&report, &groups, &SvgOptions::default());
        assert!(!svg.contains("<script"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("&lt;/script&gt;&lt;b&gt;"));
        assert_eq!(svg.matches("</svg>").count(), 2);
    }

    #[test]
    fn whole_report_draws_groups_up_to_the_limit() {
        let mut report = ring_of(2);
        let shape = report.cycles[0].clone();
        report.cycles = (0..5)
            .map(|i| CycleRecord {
                labels: vec![format!(".shape{i}"), ".back".into()],
                ..shape.clone()
            })
            .chain(std::iter::repeat_n(shape.clone(), 3))
            .collect();
        let groups = group_cycles(&report);
        let svg = render(
            &report,
            &groups,
            &SvgOptions {
                max_objects: 50,
                max_cycles: 3,
            },
        );
        assert!(svg.contains("Group 1: ×3 · 2 objects"), "{svg}");
        assert!(svg.contains("Group 3: ×1"));
        assert!(!svg.contains("Group 4:"));
        assert!(svg.contains("… 3 more groups not drawn"));
        assert!(svg.starts_with("<?xml"));
    }

    #[test]
    fn the_reference_to_break_is_drawn_in_orange() {
        let report = ring_of(3);
        let svg = render_cycle(&report, &report.cycles[0], &SvgOptions::default(), Some(1));
        let edge = svg
            .split(r#"class="edge break" data-edge="1""#)
            .nth(1)
            .unwrap();
        assert!(edge.split("</g>").next().unwrap().contains(BREAK_EDGE));
        assert_eq!(svg.matches("edge break").count(), 1);
    }
}
