//! Where things go in a ring picture: geometry, text measurement, and the two layouts.
//!
//! A cycle is a ring, so it is drawn as one. Up to [`CIRCLE_MAX`] objects sit on an
//! ellipse (a circle widened by one box width, as boxes are wide) that grows until no
//! box, arrow or label overlaps another; longer cycles become a racetrack (two columns
//! joined by curves), which stays readable at 50 objects because its height grows
//! linearly and every label sits in its own row gap. Everything here is arithmetic on
//! sizes and estimated text widths: nothing reads a report or writes SVG text.

use std::f64::consts::PI;

/// Rings with at most this many slots are circles; longer ones are racetracks.
pub const CIRCLE_MAX: usize = 6;

// Geometry, in CSS pixels.
pub(super) const NODE_HEIGHT: f64 = 42.0;
pub(super) const NODE_MIN_WIDTH: f64 = 110.0;
pub(super) const NODE_MAX_WIDTH: f64 = 230.0;
pub(super) const NODE_PADDING: f64 = 10.0;
pub(super) const TYPE_FONT: f64 = 12.0;
pub(super) const DESCRIPTION_FONT: f64 = 11.0;
pub(super) const LABEL_FONT: f64 = 11.5;
pub(super) const LABEL_HEIGHT: f64 = 15.0;
pub(super) const LABEL_MAX_CHARS: usize = 30;
pub(super) const ROW_GAP: f64 = 34.0;
/// Least space between two boxes on a circle, in one direction at least.
pub(super) const BOX_SPACING: f64 = 30.0;
pub(super) const COLUMN_GAP: f64 = 80.0;
pub(super) const MARGIN: f64 = 14.0;
pub(super) const ARROW_LENGTH: f64 = 9.0;
pub(super) const ARROW_HALF_WIDTH: f64 = 4.5;
/// Space kept between an arrow's end and the box it points at.
pub(super) const ARROW_GAP: f64 = 2.0;

/// Width of a character in ems: wide (East Asian) characters count twice.
pub(super) fn char_ems(c: char, mono: bool) -> f64 {
    let wide = matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1FAFF | 0x20000..);
    match (wide, mono) {
        (true, _) => 1.0,
        (false, true) => 0.6,
        (false, false) => 0.56,
    }
}

/// Estimated rendered width of `text` (no font metrics are available: a deliberate
/// over-estimate for proportional fonts, exact for monospace).
pub(super) fn text_width(text: &str, font_size: f64, mono: bool) -> f64 {
    text.chars().map(|c| char_ems(c, mono)).sum::<f64>() * font_size
}

/// `text` cut to fit `width`, with an ellipsis at the end (or at the start, which keeps
/// the class name of a long dotted type name).
pub(super) fn fit(text: &str, width: f64, font_size: f64, mono: bool, keep_end: bool) -> String {
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

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Point {
    pub(super) x: f64,
    pub(super) y: f64,
}

impl Point {
    pub(super) fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Rect {
    pub(super) x0: f64,
    pub(super) y0: f64,
    pub(super) x1: f64,
    pub(super) y1: f64,
}

impl Rect {
    pub(super) fn centred(centre: Point, width: f64, height: f64) -> Self {
        Rect {
            x0: centre.x - width / 2.0,
            y0: centre.y - height / 2.0,
            x1: centre.x + width / 2.0,
            y1: centre.y + height / 2.0,
        }
    }

    pub(super) fn grown(self, by: f64) -> Self {
        Rect {
            x0: self.x0 - by,
            y0: self.y0 - by,
            x1: self.x1 + by,
            y1: self.y1 + by,
        }
    }

    pub(super) fn contains(&self, p: Point) -> bool {
        p.x >= self.x0 && p.x <= self.x1 && p.y >= self.y0 && p.y <= self.y1
    }

    pub(super) fn intersects(&self, other: &Rect) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }

    pub(super) fn include(&mut self, other: &Rect) {
        self.x0 = self.x0.min(other.x0);
        self.y0 = self.y0.min(other.y0);
        self.x1 = self.x1.max(other.x1);
        self.y1 = self.y1.max(other.y1);
    }

    pub(super) fn width(&self) -> f64 {
        self.x1 - self.x0
    }

    pub(super) fn height(&self) -> f64 {
        self.y1 - self.y0
    }
}

/// Where the text of a label starts relative to its anchor point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    pub(super) fn rect(self, at: Point, width: f64) -> Rect {
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
pub(super) struct EdgeShape {
    pub(super) path: String,
    pub(super) tip: Point,
    /// Unit direction of travel at the tip.
    pub(super) direction: Point,
    pub(super) label_at: Point,
    pub(super) anchor: Anchor,
    /// Points the curve passes near, for the bounding box.
    pub(super) extent: Vec<Point>,
}

/// Slot centres and edge shapes of one ring, in coordinates around the origin.
pub(super) struct Layout {
    pub(super) centres: Vec<Point>,
    pub(super) edges: Vec<EdgeShape>,
}

/// A coordinate written with at most one decimal, formatted straight into the output.
#[derive(Clone, Copy)]
pub(super) struct Num(pub(super) f64);

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

pub(super) fn fmt(v: f64) -> Num {
    Num(v)
}

/// The ring: an ellipse wider than tall by the width of a box, so that boxes, which are
/// wide, get the same room beside each other as above each other.
#[derive(Clone, Copy)]
pub(super) struct Ellipse {
    pub(super) rx: f64,
    pub(super) ry: f64,
}

impl Ellipse {
    pub(super) fn at(self, angle: f64) -> Point {
        Point::new(self.rx * angle.cos(), self.ry * angle.sin())
    }

    /// Unit direction of travel (increasing angle: clockwise on screen) at `angle`.
    pub(super) fn tangent(self, angle: f64) -> Point {
        let (dx, dy) = (-self.rx * angle.sin(), self.ry * angle.cos());
        let length = (dx * dx + dy * dy).sqrt().max(1e-9);
        Point::new(dx / length, dy / length)
    }

    /// Length of the arc from `from` to `to` (a sum of chords: plenty for layout).
    pub(super) fn arc_length(self, from: f64, to: f64) -> f64 {
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
pub(super) fn arc_boundary(ring: Ellipse, from: f64, to: f64, rect: &Rect, leaving: bool) -> f64 {
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
pub(super) fn circle_layout(count: usize, box_width: f64, label_widths: &[f64]) -> Layout {
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
pub(super) fn cubic(p0: Point, p1: Point, p2: Point, p3: Point) -> (String, Point, Vec<Point>) {
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

pub(super) fn unit(from: Point, to: Point) -> Point {
    let (dx, dy) = (to.x - from.x, to.y - from.y);
    let length = (dx * dx + dy * dy).sqrt().max(1e-9);
    Point::new(dx / length, dy / length)
}

/// One object referring to itself: a loop above its box.
pub(super) fn self_loop_layout(box_width: f64, label_width: f64) -> Layout {
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
pub(super) fn racetrack_layout(count: usize, box_width: f64) -> Layout {
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
