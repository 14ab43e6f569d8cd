//! SVG pictures of cycles, drawn here in Rust: no graphviz binary, no layout engine.
//!
//! * [`layout`]: where boxes, arrows and labels go (circle or racetrack), text widths;
//! * [`ring`]: one cycle as SVG elements, and the legend; shared with the HTML page;
//! * [`document`]: the SVG renderer, one document for a whole report.
//!
//! objgraph's convention is kept: objects with a finaliser are red; frames are blue
//! hexagons. Every type name, description and label is user data and goes through
//! [`crate::report::format::escape_xml`].

mod document;
mod layout;
pub mod ring;

pub use document::render;
pub use layout::CIRCLE_MAX;
pub use ring::{cycle_caption, drawn_positions, legend, render_cycle};

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

#[cfg(test)]
mod tests {
    use super::layout::{
        circle_layout, racetrack_layout, text_width, Rect, CIRCLE_MAX, LABEL_FONT, LABEL_MAX_CHARS,
        NODE_HEIGHT, NODE_MAX_WIDTH, NODE_MIN_WIDTH,
    };
    use super::*;
    use crate::report::groups::group_cycles;
    use crate::report::style::BREAK_EDGE;
    use crate::report::{thin_vec, CycleRecord, ObjectKind, ObjectRecord, Report};

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
                labels: (0..n).map(|i| format!(".next{i}").into()).collect(),
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
        report.cycles[0].labels.set(0, "['</script><b>']".into());
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
                labels: thin_vec![format!(".shape{i}").into(), ".back".into()].into(),
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
