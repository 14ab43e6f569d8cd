//! Layered drawings of reference graphs (Sugiyama style), for objgraph-like pictures.
//!
//! [`layout`] places boxes of given sizes and routes the edges between them:
//! 1. cycle removal: edges that close a cycle in a depth-first search are reversed;
//! 2. layering: each node goes one layer below its lowest predecessor (longest path);
//! 3. edges spanning several layers get a dummy node per crossed layer;
//! 4. crossing reduction: alternating downward and upward sweeps order each layer by
//!    the barycenter of its neighbours in the layer just placed; the ordering with the
//!    fewest crossings is kept;
//! 5. coordinates: nodes move toward the mean x of their neighbours, then are pushed
//!    apart in layer order so that boxes never overlap; layers stack top to bottom.
//!
//! [`render_svg`] draws a [`Diagram`] (boxes with lines of text, coloured, and labelled
//! edges) with that layout; [`render_html`] wraps the SVG in a standalone page. Every
//! string of a diagram is user data and is escaped (control characters are shown as
//! `\xNN`, which XML could not carry at all).

use super::format::escape_xml;
use std::fmt::Write as _;

/// The shape of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeShape {
    Box,
    DoubleCircle,
}

/// A node of a diagram: lines of text, colours (`#rrggbb`) and a font size in px.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagramNode {
    pub lines: Vec<String>,
    pub fill: String,
    pub font_color: String,
    pub border_color: String,
    pub shape: NodeShape,
    pub font_size: f64,
}

/// An edge `from -> to` (node indices) with an optional label (lines joined by `\n`).
#[derive(Debug, Clone, PartialEq)]
pub struct DiagramEdge {
    pub from: usize,
    pub to: usize,
    pub label: String,
    pub color: String,
    pub dotted: bool,
}

/// A graph to draw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagram {
    pub nodes: Vec<DiagramNode>,
    pub edges: Vec<DiagramEdge>,
}

/// Where everything goes: node centres, one polyline per edge (from the source's border
/// to the target's), and the size of the whole drawing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    pub centers: Vec<(f64, f64)>,
    pub routes: Vec<Vec<(f64, f64)>>,
    pub layers: Vec<usize>,
    pub width: f64,
    pub height: f64,
}

const MARGIN: f64 = 16.0;
const NODE_GAP: f64 = 24.0;
const LAYER_GAP: f64 = 56.0;
const SWEEPS: usize = 12;
const COORD_ROUNDS: usize = 8;
/// Crossings are counted exactly (pairwise) only below this many edges between two
/// layers; larger layers keep the last sweep's order.
const MAX_COUNTED_EDGES: usize = 3000;

/// Cycle removal: which edges to reverse so that the graph becomes acyclic (back edges
/// of an iterative depth-first search in node order). Self-loops are left to the caller.
fn back_edges(n: usize, edges: &[(usize, usize)]) -> Vec<bool> {
    let mut out: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (i, &(a, b)) in edges.iter().enumerate() {
        if a != b {
            out[a].push((b, i));
        }
    }
    // 0 unvisited, 1 on stack, 2 done
    let mut state = vec![0u8; n];
    let mut reversed = vec![false; edges.len()];
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if *next < out[v].len() {
                let (w, e) = out[v][*next];
                *next += 1;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => reversed[e] = true,
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    reversed
}

/// Longest-path layering of the acyclic graph `dag` (edges as (upper, lower)).
fn layering(n: usize, dag: &[(usize, usize)]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in dag {
        out[a].push(b);
        indegree[b] += 1;
    }
    let mut layer = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&v| indegree[v] == 0).rev().collect();
    while let Some(v) = ready.pop() {
        for &w in &out[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                ready.push(w);
            }
        }
    }
    layer
}

fn crossings(upper_pos: &[f64], lower_pos: &[f64], between: &[(usize, usize)]) -> usize {
    if between.len() > MAX_COUNTED_EDGES {
        return 0;
    }
    let mut count = 0;
    for (i, &(a1, b1)) in between.iter().enumerate() {
        for &(a2, b2) in &between[i + 1..] {
            let du = upper_pos[a1] - upper_pos[a2];
            let dl = lower_pos[b1] - lower_pos[b2];
            if du * dl < 0.0 {
                count += 1;
            }
        }
    }
    count
}

/// Lays out nodes of the given `(width, height)` with the given edges (node indices).
pub fn layout(sizes: &[(f64, f64)], edges: &[(usize, usize)]) -> Layout {
    let n = sizes.len();
    if n == 0 {
        return Layout {
            width: 2.0 * MARGIN,
            height: 2.0 * MARGIN,
            routes: vec![Vec::new(); edges.len()],
            ..Layout::default()
        };
    }
    let reversed = back_edges(n, edges);
    let dag: Vec<(usize, usize)> = edges
        .iter()
        .zip(&reversed)
        .filter(|(&(a, b), _)| a != b)
        .map(|(&(a, b), &r)| if r { (b, a) } else { (a, b) })
        .collect();
    let layer_of_real = layering(n, &dag);

    // Real nodes 0..n, then dummies; every segment joins consecutive layers.
    let mut layer_of = layer_of_real.clone();
    let mut width_of: Vec<f64> = sizes.iter().map(|s| s.0).collect();
    let mut segments: Vec<(usize, usize)> = Vec::new();
    // For each edge: the vertex chain from its upper to its lower end.
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(edges.len());
    for (i, &(a, b)) in edges.iter().enumerate() {
        if a == b {
            chains.push(vec![a]);
            continue;
        }
        let (top, bottom) = if reversed[i] { (b, a) } else { (a, b) };
        let mut chain = vec![top];
        let mut prev = top;
        for l in layer_of[top] + 1..layer_of[bottom] {
            let dummy = layer_of.len();
            layer_of.push(l);
            width_of.push(2.0);
            segments.push((prev, dummy));
            chain.push(dummy);
            prev = dummy;
        }
        segments.push((prev, bottom));
        chain.push(bottom);
        chains.push(chain);
    }
    let total = layer_of.len();
    let layer_count = layer_of.iter().max().map_or(0, |&m| m + 1);
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); total];
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); total];
    for &(a, b) in &segments {
        down[a].push(b);
        up[b].push(a);
    }

    // Initial order: depth-first discovery from the top layer keeps related nodes close.
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); layer_count];
    let mut placed = vec![false; total];
    let mut starts: Vec<usize> = (0..total).collect();
    starts.sort_by_key(|&v| (layer_of[v], v));
    for s in starts {
        if placed[s] {
            continue;
        }
        let mut stack = vec![s];
        while let Some(v) = stack.pop() {
            if placed[v] {
                continue;
            }
            placed[v] = true;
            order[layer_of[v]].push(v);
            for &w in down[v].iter().rev() {
                if !placed[w] {
                    stack.push(w);
                }
            }
        }
    }
    let mut pos = vec![0.0f64; total];
    let set_positions = |order: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
        for row in order {
            for (i, &v) in row.iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    };
    set_positions(&order, &mut pos);
    let segments_between: Vec<Vec<(usize, usize)>> = {
        let mut by_layer = vec![Vec::new(); layer_count];
        for &(a, b) in &segments {
            by_layer[layer_of[a]].push((a, b));
        }
        by_layer
    };
    let total_crossings = |pos: &Vec<f64>| -> usize {
        segments_between
            .iter()
            .map(|between| crossings(pos, pos, between))
            .sum()
    };
    let mut best = order.clone();
    let mut best_crossings = total_crossings(&pos);
    for sweep in 0..SWEEPS {
        if best_crossings == 0 {
            break;
        }
        let downward = sweep % 2 == 0;
        let layers: Vec<usize> = if downward {
            (1..layer_count).collect()
        } else {
            (0..layer_count.saturating_sub(1)).rev().collect()
        };
        for l in layers {
            let neighbours = if downward { &up } else { &down };
            let mut keyed: Vec<(f64, usize)> = order[l]
                .iter()
                .map(|&v| {
                    let ns = &neighbours[v];
                    let key = if ns.is_empty() {
                        pos[v]
                    } else {
                        ns.iter().map(|&w| pos[w]).sum::<f64>() / ns.len() as f64
                    };
                    (key, v)
                })
                .collect();
            keyed.sort_by(|x, y| x.0.total_cmp(&y.0));
            order[l] = keyed.into_iter().map(|(_, v)| v).collect();
            for (i, &v) in order[l].iter().enumerate() {
                pos[v] = i as f64;
            }
        }
        let c = total_crossings(&pos);
        if c < best_crossings {
            best_crossings = c;
            best = order.clone();
        }
    }
    let order = best;

    // Coordinates.
    let height_of = |v: usize| if v < n { sizes[v].1 } else { 0.0 };
    let mut x = vec![0.0f64; total];
    for row in &order {
        let mut left = 0.0;
        for &v in row {
            x[v] = left + width_of[v] / 2.0;
            left += width_of[v] + NODE_GAP;
        }
    }
    let pack = |row: &[usize], x: &mut Vec<f64>, desired: &[f64]| {
        // Left-to-right: no node left of its desired place would overlap its left
        // neighbour; then right-to-left the same, and average the two passes.
        let mut from_left = vec![0.0; row.len()];
        let mut limit = f64::NEG_INFINITY;
        for (i, &v) in row.iter().enumerate() {
            let half = width_of[v] / 2.0;
            let at = desired[i].max(limit + half);
            from_left[i] = at;
            limit = at + half + NODE_GAP;
        }
        let mut from_right = vec![0.0; row.len()];
        let mut limit = f64::INFINITY;
        for (i, &v) in row.iter().enumerate().rev() {
            let half = width_of[v] / 2.0;
            let at = desired[i].min(limit - half);
            from_right[i] = at;
            limit = at - half - NODE_GAP;
        }
        // Both passes are overlap-free and keep the order, so their mean is too.
        for (i, &v) in row.iter().enumerate() {
            x[v] = (from_left[i] + from_right[i]) / 2.0;
        }
    };
    for round in 0..COORD_ROUNDS {
        let layers: Vec<usize> = if round % 2 == 0 {
            (0..layer_count).collect()
        } else {
            (0..layer_count).rev().collect()
        };
        for l in layers {
            let row = &order[l];
            let desired: Vec<f64> = row
                .iter()
                .map(|&v| {
                    let ns: Vec<usize> = up[v].iter().chain(&down[v]).copied().collect();
                    if ns.is_empty() {
                        x[v]
                    } else {
                        ns.iter().map(|&w| x[w]).sum::<f64>() / ns.len() as f64
                    }
                })
                .collect();
            pack(row, &mut x, &desired);
        }
    }
    let min_left = (0..total)
        .map(|v| x[v] - width_of[v] / 2.0)
        .fold(f64::INFINITY, f64::min);
    let shift = MARGIN - min_left;
    let mut max_right: f64 = 0.0;
    for v in 0..total {
        x[v] += shift;
        max_right = max_right.max(x[v] + width_of[v] / 2.0);
    }
    let mut layer_height = vec![0.0f64; layer_count];
    for v in 0..n {
        layer_height[layer_of[v]] = layer_height[layer_of[v]].max(sizes[v].1);
    }
    let mut layer_top = vec![0.0f64; layer_count];
    let mut top = MARGIN;
    for l in 0..layer_count {
        layer_top[l] = top;
        top += layer_height[l] + LAYER_GAP;
    }
    let y: Vec<f64> = (0..total)
        .map(|v| layer_top[layer_of[v]] + layer_height[layer_of[v]] / 2.0)
        .collect();

    let centers: Vec<(f64, f64)> = (0..n).map(|v| (x[v], y[v])).collect();
    let routes = edges
        .iter()
        .zip(&chains)
        .zip(&reversed)
        .map(|((&(a, b), chain), &rev)| {
            if a == b {
                let (cx, cy) = centers[a];
                let (w, h) = sizes[a];
                let right = cx + w / 2.0;
                return vec![
                    (right, cy - h / 4.0),
                    (right + 20.0, cy - h / 2.0),
                    (right + 20.0, cy + h / 2.0),
                    (right, cy + h / 4.0),
                ];
            }
            let mut points: Vec<(f64, f64)> = chain.iter().map(|&v| (x[v], y[v])).collect();
            // Start and end on the boxes' borders, not their centres.
            let last = points.len() - 1;
            let (top, bottom) = (chain[0], chain[last]);
            points[0].1 += height_of(top) / 2.0;
            points[last].1 -= height_of(bottom) / 2.0;
            if rev {
                points.reverse();
            }
            points
        })
        .collect();
    Layout {
        centers,
        routes,
        layers: layer_of_real,
        width: max_right + MARGIN + 24.0,
        height: top - LAYER_GAP + MARGIN,
    }
}

/// Width of one character of the drawing's monospace font, in font-size units
/// (DejaVu Sans Mono and the usual monospace fonts advance 0.6 em).
const CHAR_EM: f64 = 0.6;
const LINE_EM: f64 = 1.25;
const PAD_X: f64 = 8.0;
const PAD_Y: f64 = 5.0;
const FONT_FAMILY: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";

/// A label line as drawn: control characters become `\xNN` (XML cannot carry them).
fn visible(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{fffe}' || c == '\u{ffff}' {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn text_width(line: &str, font_size: f64) -> f64 {
    visible(line).chars().count() as f64 * CHAR_EM * font_size
}

/// A colour for an attribute: `#rgb`/`#rrggbb` as given, anything else black.
fn color(value: &str) -> &str {
    let hex = value.strip_prefix('#').unwrap_or("");
    if (hex.len() == 3 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        value
    } else {
        "#000000"
    }
}

fn node_size(node: &DiagramNode) -> (f64, f64) {
    let lines = node.lines.len().max(1) as f64;
    let widest = node
        .lines
        .iter()
        .map(|l| text_width(l, node.font_size))
        .fold(0.0, f64::max);
    match node.shape {
        NodeShape::Box => (
            widest + 2.0 * PAD_X,
            lines * LINE_EM * node.font_size + 2.0 * PAD_Y,
        ),
        NodeShape::DoubleCircle => {
            let d = widest.max(lines * LINE_EM * node.font_size) + 12.0;
            (d, d)
        }
    }
}

fn write_text_lines(out: &mut String, lines: &[String], cx: f64, cy: f64, size: f64, fill: &str) {
    let total = lines.len() as f64 * LINE_EM * size;
    let first = cy - total / 2.0 + LINE_EM * size / 2.0;
    let _ = write!(
        out,
        r#"<text font-family="{FONT_FAMILY}" font-size="{size:.1}" fill="{}" text-anchor="middle" dominant-baseline="central">"#,
        color(fill)
    );
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            r#"<tspan x="{cx:.1}" y="{:.1}">{}</tspan>"#,
            first + i as f64 * LINE_EM * size,
            escape_xml(&visible(line))
        );
    }
    out.push_str("</text>");
}

/// The diagram as a standalone SVG document.
pub fn render_svg(diagram: &Diagram) -> String {
    let sizes: Vec<(f64, f64)> = diagram.nodes.iter().map(node_size).collect();
    let edges: Vec<(usize, usize)> = diagram
        .edges
        .iter()
        .filter(|e| e.from < diagram.nodes.len() && e.to < diagram.nodes.len())
        .map(|e| (e.from, e.to))
        .collect();
    let drawn_edges: Vec<&DiagramEdge> = diagram
        .edges
        .iter()
        .filter(|e| e.from < diagram.nodes.len() && e.to < diagram.nodes.len())
        .collect();
    let layout = layout(&sizes, &edges);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.1} {h:.1}" class="refscope-objgraph">"#,
        w = layout.width,
        h = layout.height
    );
    out.push_str("<title>object reference graph</title>");
    // One arrowhead marker per edge colour.
    let mut colors: Vec<&str> = drawn_edges.iter().map(|e| color(&e.color)).collect();
    colors.sort_unstable();
    colors.dedup();
    out.push_str("<defs>");
    for (i, c) in colors.iter().enumerate() {
        let _ = write!(
            out,
            r#"<marker id="arrow{i}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>"#
        );
    }
    out.push_str("</defs>");
    let _ = write!(
        out,
        r##"<rect x="0" y="0" width="{:.1}" height="{:.1}" fill="#ffffff"/>"##,
        layout.width, layout.height
    );
    // Edges under nodes.
    out.push_str(r#"<g class="edges">"#);
    for (edge, route) in drawn_edges.iter().zip(&layout.routes) {
        if route.len() < 2 {
            continue;
        }
        let c = color(&edge.color);
        let marker = colors.iter().position(|x| *x == c).unwrap_or(0);
        let mut d = String::new();
        let _ = write!(d, "M{:.1},{:.1}", route[0].0, route[0].1);
        if route.len() == 2 {
            let _ = write!(d, " L{:.1},{:.1}", route[1].0, route[1].1);
        } else {
            // Quadratic curves through the midpoints of the polyline: smooth bends at
            // the dummy nodes, ending exactly on the last point.
            for i in 1..route.len() - 1 {
                let (px, py) = route[i];
                let (nx, ny) = route[i + 1];
                let (mx, my) = if i + 1 == route.len() - 1 {
                    (nx, ny)
                } else {
                    ((px + nx) / 2.0, (py + ny) / 2.0)
                };
                let _ = write!(d, " Q{px:.1},{py:.1} {mx:.1},{my:.1}");
            }
        }
        let dash = if edge.dotted {
            r#" stroke-dasharray="2,3""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<path d="{d}" fill="none" stroke="{c}" stroke-width="1.2"{dash} marker-end="url(#arrow{marker})"/>"#
        );
        if !edge.label.is_empty() {
            let mid = route.len() / 2;
            let (ax, ay) = route[mid - 1];
            let (bx, by) = route[mid];
            let lines: Vec<String> = edge.label.split('\n').map(str::to_string).collect();
            let (lx, ly) = ((ax + bx) / 2.0 + 4.0, (ay + by) / 2.0);
            let size = 10.0;
            let total = lines.len() as f64 * LINE_EM * size;
            let first = ly - total / 2.0 + LINE_EM * size / 2.0;
            let _ = write!(
                out,
                r##"<text font-family="{FONT_FAMILY}" font-size="{size:.1}" fill="#333333" stroke="#ffffff" stroke-width="3" paint-order="stroke" dominant-baseline="central">"##
            );
            for (i, line) in lines.iter().enumerate() {
                let _ = write!(
                    out,
                    r#"<tspan x="{lx:.1}" y="{:.1}">{}</tspan>"#,
                    first + i as f64 * LINE_EM * size,
                    escape_xml(&visible(line))
                );
            }
            out.push_str("</text>");
        }
    }
    out.push_str("</g>");
    out.push_str(r#"<g class="nodes">"#);
    for (i, node) in diagram.nodes.iter().enumerate() {
        let (cx, cy) = layout.centers[i];
        let (w, h) = sizes[i];
        let _ = write!(out, r#"<g class="node" data-index="{i}">"#);
        match node.shape {
            NodeShape::Box => {
                let _ = write!(
                    out,
                    r#"<rect x="{:.1}" y="{:.1}" width="{w:.1}" height="{h:.1}" fill="{}" stroke="{}" stroke-width="1"/>"#,
                    cx - w / 2.0,
                    cy - h / 2.0,
                    color(&node.fill),
                    color(&node.border_color)
                );
            }
            NodeShape::DoubleCircle => {
                let r = w / 2.0;
                let _ = write!(
                    out,
                    r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="{r:.1}" fill="{}" stroke="{}"/><circle cx="{cx:.1}" cy="{cy:.1}" r="{:.1}" fill="none" stroke="{}"/>"#,
                    color(&node.fill),
                    color(&node.border_color),
                    (r - 3.0).max(1.0),
                    color(&node.border_color)
                );
            }
        }
        write_text_lines(
            &mut out,
            &node.lines,
            cx,
            cy,
            node.font_size,
            &node.font_color,
        );
        out.push_str("</g>");
    }
    out.push_str("</g></svg>\n");
    out
}

/// The diagram in a standalone HTML page (the SVG inline, no script, no external file).
pub fn render_html(diagram: &Diagram, title: &str) -> String {
    let svg = render_svg(diagram);
    let title = escape_xml(&visible(title));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>body{{margin:0;font-family:system-ui,sans-serif;background:#f8fafc}}\
header{{padding:8px 16px;border-bottom:1px solid #e2e8f0;background:#fff}}\
h1{{font-size:16px;margin:0}}main{{overflow:auto;padding:16px}}\
svg{{background:#fff;box-shadow:0 1px 3px #0002}}</style></head>\
<body><header><h1>{title}</h1><p>{} objects, {} references</p></header><main>{svg}</main></body></html>\n",
        diagram.nodes.len(),
        diagram.edges.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxes(n: usize) -> Vec<(f64, f64)> {
        vec![(40.0, 20.0); n]
    }

    fn overlaps(l: &Layout, sizes: &[(f64, f64)]) -> bool {
        for i in 0..sizes.len() {
            for j in i + 1..sizes.len() {
                let (a, b) = (l.centers[i], l.centers[j]);
                if (a.0 - b.0).abs() < (sizes[i].0 + sizes[j].0) / 2.0
                    && (a.1 - b.1).abs() < (sizes[i].1 + sizes[j].1) / 2.0
                {
                    return true;
                }
            }
        }
        false
    }

    #[test]
    fn chain_is_layered_top_down() {
        let l = layout(&boxes(3), &[(0, 1), (1, 2)]);
        assert_eq!(l.layers, vec![0, 1, 2]);
        assert!(l.centers[0].1 < l.centers[1].1 && l.centers[1].1 < l.centers[2].1);
        assert_eq!(l.routes.len(), 2);
    }

    #[test]
    fn cycles_are_layered_and_routed() {
        let l = layout(&boxes(3), &[(0, 1), (1, 2), (2, 0)]);
        assert_eq!(l.layers, vec![0, 1, 2]);
        // the reversed edge still runs from 2 to 0
        let r = &l.routes[2];
        assert!(r.first().unwrap().1 > r.last().unwrap().1);
    }

    #[test]
    fn long_edges_bend_through_dummies() {
        let l = layout(&boxes(3), &[(0, 1), (1, 2), (0, 2)]);
        assert_eq!(l.routes[2].len(), 3);
    }

    #[test]
    fn no_overlaps_in_a_wide_layer() {
        let mut edges = Vec::new();
        for i in 1..30 {
            edges.push((0, i));
        }
        let sizes = boxes(30);
        let l = layout(&sizes, &edges);
        assert!(!overlaps(&l, &sizes));
    }

    #[test]
    fn barycenter_removes_crossings() {
        // 0,1 on top; 2,3 below, edges 0->3 and 1->2 cross in discovery order
        let sizes = boxes(4);
        let l = layout(&sizes, &[(0, 3), (1, 2), (0, 2)]);
        let x = |i: usize| l.centers[i].0;
        // 1 -> 2 only, 0 -> 2 and 3: 2 sits between or under in a crossing-free way
        let crossing = (x(0) - x(1)) * (x(3) - x(2)) < 0.0;
        assert!(!crossing, "{:?}", l.centers);
    }

    #[test]
    fn empty_and_self_loop() {
        let l = layout(&[], &[]);
        assert!(l.centers.is_empty());
        let l = layout(&boxes(1), &[(0, 0)]);
        assert_eq!(l.routes[0].len(), 4);
    }

    fn node(lines: &[&str]) -> DiagramNode {
        DiagramNode {
            lines: lines.iter().map(|s| s.to_string()).collect(),
            fill: "#ffffff".into(),
            font_color: "#000000".into(),
            border_color: "#000000".into(),
            shape: NodeShape::Box,
            font_size: 14.0,
        }
    }

    #[test]
    fn svg_escapes_hostile_labels() {
        let d = Diagram {
            nodes: vec![
                node(&["dict", "<script>alert('x')</script> & \"q\"", "\0\x07"]),
                node(&["]]><!--"]),
            ],
            edges: vec![DiagramEdge {
                from: 0,
                to: 1,
                label: "a<b>\nc&d".into(),
                color: "red\" onload=\"x".into(),
                dotted: true,
            }],
        };
        let svg = render_svg(&d);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("\\x00\\x07"));
        assert!(!svg.contains("onload"));
        assert!(!svg.contains("]]>"));
        assert!(!svg.contains('\0'));
        let html = render_html(&d, "<title>");
        assert!(html.contains("&lt;title&gt;"));
    }

    #[test]
    fn colors_are_validated() {
        assert_eq!(color("#a0b1c2"), "#a0b1c2");
        assert_eq!(color("#fff"), "#fff");
        assert_eq!(color("url(#x)"), "#000000");
        assert_eq!(color("#12345g"), "#000000");
    }
}
