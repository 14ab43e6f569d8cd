//! Graphviz DOT rendering.
//!
//! One cluster per drawn cycle (the example cycle of each group, largest group first, and
//! more of its cycles when asked), labelled with the group's count, size and key. Objects
//! with a finaliser are red (objgraph's convention), frames are hexagons, and the edge the
//! group's fix hint says to break is orange and bold, its tooltip the advice.
//!
//! Every string is user data and goes through [`escape_dot`] (see there); colours come from
//! [`super::style`], so a picture made with Graphviz reads like refscope's own SVG.

use super::format::{escape_dot, human_size, plural};
use super::groups::CycleGroup;
use super::hints::FixHint;
use super::style::{self, node_style, BREAK_EDGE, EDGE, FAINT_TEXT, TEXT};
use super::{CycleRecord, ObjectKind, ObjectRecord, Report};
use std::fmt::Write;

/// How to render DOT.
#[derive(Debug, Clone, Copy)]
pub struct DotOptions {
    /// At most this many groups drawn (0 = all).
    pub max_groups: usize,
    /// At most this many cycles drawn per group (0 = all).
    pub max_cycles_per_group: usize,
    /// At most this many objects drawn per cycle (0 = all); the rest become one node.
    pub max_objects_per_cycle: usize,
}

impl Default for DotOptions {
    fn default() -> Self {
        DotOptions {
            max_groups: 100,
            max_cycles_per_group: 1,
            max_objects_per_cycle: 50,
        }
    }
}

fn limit(max: usize, len: usize) -> usize {
    if max == 0 {
        len
    } else {
        max.min(len)
    }
}

/// Renders the report; `groups` is [`super::groups::group_cycles`] of `report`.
pub fn render(report: &Report, groups: &[CycleGroup], options: &DotOptions) -> String {
    let mut out = String::new();
    let shown_groups = limit(options.max_groups, groups.len());
    let title = format!(
        "refscope: {} cycle{} in {} group{}{}",
        report.cycles.len(),
        plural(report.cycles.len() as u64),
        groups.len(),
        plural(groups.len() as u64),
        if shown_groups < groups.len() {
            format!(" ({shown_groups} largest drawn)")
        } else {
            String::new()
        },
    );
    out.push_str("digraph refscope {\n");
    let _ = writeln!(
        out,
        "  graph [label=\"{}\", labelloc=t, fontname=\"Helvetica\", fontsize=14, rankdir=LR];",
        escape_dot(&title)
    );
    let _ = writeln!(
        out,
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"{}\", color=\"{}\", \
         fontcolor=\"{TEXT}\", fontname=\"Helvetica\", fontsize=10];",
        style::OTHER.fill,
        style::OTHER.stroke,
    );
    let _ = writeln!(
        out,
        "  edge [fontname=\"Helvetica\", fontsize=9, color=\"{EDGE}\", fontcolor=\"{TEXT}\"];"
    );
    // With rankdir=LR, Graphviz stacks clusters bottom-up in source order: emitting them
    // last-first puts the largest group at the top of the picture.
    let mut clusters: Vec<String> = Vec::new();
    for (group_number, group) in groups.iter().take(shown_groups).enumerate() {
        let shown_cycles = limit(options.max_cycles_per_group, group.cycles.len());
        for (nth, &cycle_index) in group.cycles[..shown_cycles].iter().enumerate() {
            let cycle = &report.cycles[cycle_index as usize];
            let hint_edge = if nth == 0 {
                group.breakable_edge().zip(group.hint.as_ref())
            } else {
                None
            };
            let id = format!("g{}c{}", group_number + 1, nth + 1);
            let mut label = format!(
                "Group {} ×{} · {} · key {}",
                group_number + 1,
                group.count(),
                human_size(group.total_size),
                group.key
            );
            if shown_cycles > 1 {
                let _ = write!(label, " · cycle {}", cycle_index + 1);
            }
            if group.has_finalizer {
                label.push_str(" · holds a finaliser (__del__)");
            }
            let mut out = String::new();
            let _ = writeln!(out, "  subgraph cluster_{id} {{");
            let _ = writeln!(
                out,
                "    graph [label=\"{}\", style=\"rounded\", color=\"{}\", fontsize=11];",
                escape_dot(&label),
                if group.has_finalizer {
                    style::FINALIZER.fill
                } else {
                    FAINT_TEXT
                }
            );
            render_cycle(&mut out, report, cycle, &id, hint_edge, options);
            out.push_str("  }\n");
            clusters.push(out);
        }
    }
    for cluster in clusters.iter().rev() {
        out.push_str(cluster);
    }
    out.push_str("}\n");
    out
}

fn node_attributes(object: &ObjectRecord) -> String {
    let mut label = object.type_name.clone();
    if !object.description.is_empty() && object.description != object.type_name {
        label.push('\n');
        label.push_str(&object.description);
    }
    if object.has_finalizer {
        label.push_str("\n[__del__]");
    }
    // The label keeps its own line breaks (as DOT's \n) while user text's are escaped.
    let label = label
        .split('\n')
        .map(escape_dot)
        .collect::<Vec<_>>()
        .join("\\n");
    let mut attributes = format!(
        "label=\"{label}\", tooltip=\"{}\"",
        escape_dot(&object.description)
    );
    // Every object gets its kind's colours (the defaults are those of "other" objects).
    let colours = node_style(object.kind, object.has_finalizer);
    if colours != style::OTHER {
        let _ = write!(
            attributes,
            ", fillcolor=\"{}\", color=\"{}\", fontcolor=\"{}\"",
            colours.fill, colours.stroke, colours.text
        );
    }
    if object.kind == ObjectKind::Frame {
        attributes.push_str(", shape=hexagon, style=filled");
    }
    if object.has_finalizer {
        attributes.push_str(", penwidth=2");
    }
    attributes
}

fn render_cycle(
    out: &mut String,
    report: &Report,
    cycle: &CycleRecord,
    id: &str,
    hint_edge: Option<(usize, &FixHint)>,
    options: &DotOptions,
) {
    let len = cycle.objects.len();
    let shown = limit(options.max_objects_per_cycle, len);
    for (position, &index) in cycle.objects[..shown].iter().enumerate() {
        let _ = writeln!(
            out,
            "    {id}o{position} [{}];",
            node_attributes(report.object(index))
        );
    }
    if shown < len {
        let _ = writeln!(
            out,
            "    {id}more [label=\"… {} more objects …\", shape=plaintext, style=\"\"];",
            len - shown
        );
    }
    for position in 0..shown {
        let from = format!("{id}o{position}");
        let (to, label) = if position + 1 < shown {
            (
                format!("{id}o{}", position + 1),
                cycle.labels[position].as_str(),
            )
        } else if shown < len {
            (format!("{id}more"), cycle.labels[position].as_str())
        } else {
            (format!("{id}o0"), cycle.labels[position].as_str())
        };
        let mut attributes = format!("label=\"{}\"", escape_dot(label));
        if let Some((edge, hint)) = hint_edge {
            if edge == position {
                let _ = write!(
                    attributes,
                    ", color=\"{BREAK_EDGE}\", fontcolor=\"{BREAK_EDGE}\", penwidth=2.5, style=bold, tooltip=\"break here: {}\"",
                    escape_dot(&hint.advice)
                );
            }
        }
        let _ = writeln!(out, "    {from} -> {to} [{attributes}];");
    }
    if shown < len {
        let _ = writeln!(
            out,
            "    {id}more -> {id}o0 [label=\"{}\"];",
            escape_dot(&cycle.labels[len - 1])
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::groups::group_cycles;
    use crate::report::thin_vec;

    fn report() -> Report {
        let object = |t: &str, kind, fin| ObjectRecord {
            type_name: t.into(),
            description: format!("{t} object"),
            kind,
            has_finalizer: fin,
            size: 10,
            ..Default::default()
        };
        Report {
            objects: vec![
                object("m.Res", ObjectKind::Instance, true),
                object("frame", ObjectKind::Frame, false),
                object("m.\"Q\"\\N<b>&amp;\n", ObjectKind::Instance, false),
            ],
            cycles: vec![CycleRecord {
                objects: thin_vec![0, 1, 2],
                labels: thin_vec![".f".into(), "local x".into(), "['a\"b']".into()].into(),
                component_size: 3,
            }],
            analysed_count: 3,
            edge_count: 3,
        }
    }

    fn dot(options: &DotOptions) -> String {
        let report = report();
        render(&report, &group_cycles(&report), options)
    }

    #[test]
    fn finalisers_are_red_frames_hexagons_and_the_hint_edge_orange() {
        let text = dot(&DotOptions::default());
        let line = |needle: &str| {
            text.lines()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("{needle}: {text}"))
        };
        assert!(line("m.Res").contains(style::FINALIZER.fill));
        assert!(line("label=\"frame").contains("shape=hexagon"));
        assert!(text.contains(BREAK_EDGE), "{text}");
        assert!(text.contains("subgraph cluster_g1c1"));
        assert!(text.contains("m.\\\"Q\\\"\\\\N<b>&amp;amp;\\\\n"), "{text}");
    }

    #[test]
    fn long_cycles_are_capped_with_a_node_for_the_rest() {
        let text = dot(&DotOptions {
            max_objects_per_cycle: 2,
            ..Default::default()
        });
        assert!(text.contains("… 1 more objects …"));
        assert!(text.contains("g1c1more -> g1c1o0"));
        assert!(!text.contains("g1c1o2"));
    }
}
