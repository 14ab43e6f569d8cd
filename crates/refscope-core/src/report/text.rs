//! Plain-text rendering for terminals and logs.
//!
//! Groups come first, largest first, one line each (`×10000`), so that ten thousand
//! identical leaks read as one line; then, per group, its fix hint and a capped number of
//! example cycles with every object, frame details (locals, the stack as
//! `traceback.print_stack` prints it) and allocation sites. User data (type names,
//! descriptions, labels) never carries raw control characters to the terminal.

use super::format::{escape_terminal, human_size, plural};
use super::groups::CycleGroup;
use super::style::{Ansi, ANSI_COLOR, ANSI_PLAIN};
use super::{CycleRecord, ObjectRecord, Report, StackEntry};
use std::fmt::Write;

/// How to render text.
#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    /// Use ANSI colours (the caller decides: TTY and no `NO_COLOR`).
    pub color: bool,
    /// At most this many objects listed per cycle (0 = all); the rest are summarised.
    pub max_objects_per_cycle: usize,
    /// At most this many example cycles shown per group (0 = all).
    pub max_cycles_per_group: usize,
    /// At most this many groups, the largest, listed and detailed (0 = all); the header
    /// still counts them all and a last line says how many were left out.
    pub max_groups: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            color: false,
            max_objects_per_cycle: 100,
            max_cycles_per_group: 1,
            max_groups: 100,
        }
    }
}

/// Steps of a signature shown in the one-line group summary before it is shortened.
const SUMMARY_STEPS: usize = 6;

/// Renders the whole report; `groups` is [`super::groups::group_cycles`] of `report`.
pub fn render(report: &Report, groups: &[CycleGroup], options: &TextOptions) -> String {
    let p = if options.color {
        &ANSI_COLOR
    } else {
        &ANSI_PLAIN
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}refscope: {} cycle{} in {} group{} among {} object{} ({} in cyclic components, {} reference{}){}",
        p.bold,
        report.cycles.len(),
        plural(report.cycles.len() as u64),
        groups.len(),
        plural(groups.len() as u64),
        report.analysed_count,
        plural(report.analysed_count),
        report.objects_in_cycles(),
        report.edge_count,
        plural(report.edge_count),
        p.reset,
    );
    if groups.is_empty() {
        return out;
    }
    let shown = if options.max_groups == 0 {
        groups.len()
    } else {
        options.max_groups.min(groups.len())
    };
    let groups_left_out = groups.len() - shown;
    let _ = writeln!(out, "\n{}Groups, largest first:{}", p.bold, p.reset);
    let count_width = groups[..shown]
        .iter()
        .map(|g| g.count().to_string().len())
        .max()
        .unwrap_or(1);
    for group in &groups[..shown] {
        let finalizer = if group.has_finalizer {
            format!("  {}[__del__]{}", p.red, p.reset)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  ×{:<count_width$}  {:>10}  {}{}{}  {}{finalizer}",
            group.count(),
            human_size(group.total_size),
            p.dim,
            group.key,
            p.reset,
            short_signature(report, group),
        );
    }
    if groups_left_out > 0 {
        let _ = writeln!(
            out,
            "  {}… {groups_left_out} more group{}, none larger than these (max_groups=0 shows all){}",
            p.dim,
            plural(groups_left_out as u64),
            p.reset
        );
    }
    for (number, group) in groups[..shown].iter().enumerate() {
        render_group(&mut out, report, group, number + 1, options, p);
    }
    out
}

/// The group's signature, shortened to its first steps for long cycles.
fn short_signature(report: &Report, group: &CycleGroup) -> String {
    let cycle = &report.cycles[group.example() as usize];
    let len = cycle.objects.len();
    if len <= SUMMARY_STEPS + 2 {
        return escape_terminal(&group.signature.to_text()).into_owned();
    }
    let mut text = String::new();
    for step in 0..SUMMARY_STEPS {
        let position = (group.rotation as usize + step) % len;
        let object = report.object(cycle.objects[position]);
        let _ = write!(
            text,
            "{} {} -> ",
            escape_terminal(&object.type_name),
            escape_terminal(&cycle.labels[position])
        );
    }
    let _ = write!(text, "… ({len} steps)");
    text
}

fn render_group(
    out: &mut String,
    report: &Report,
    group: &CycleGroup,
    number: usize,
    options: &TextOptions,
    p: &Ansi,
) {
    let finalizer = if group.has_finalizer {
        format!(", {}holds a finaliser (__del__){}", p.red, p.reset)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\n{}Group {number}{}: ×{}, {}, key {}{finalizer}",
        p.bold,
        p.reset,
        group.count(),
        human_size(group.total_size),
        group.key,
    );
    if let Some(hint) = &group.hint {
        let _ = writeln!(
            out,
            "  {}Fix{} (edge {}): {}",
            p.green,
            p.reset,
            escape_terminal(&hint.label),
            escape_terminal(&hint.advice)
        );
        let _ = writeln!(
            out,
            "  {}Why{}: {}",
            p.green,
            p.reset,
            escape_terminal(&hint.why)
        );
    }
    let shown = if options.max_cycles_per_group == 0 {
        group.cycles.len()
    } else {
        options.max_cycles_per_group.min(group.cycles.len())
    };
    for &index in &group.cycles[..shown] {
        render_cycle(
            out,
            report,
            &report.cycles[index as usize],
            index as usize + 1,
            options,
            p,
        );
    }
    if shown < group.cycles.len() {
        let rest = group.cycles.len() - shown;
        let _ = writeln!(
            out,
            "  {}… {rest} more cycle{} of this shape{}",
            p.dim,
            plural(rest as u64),
            p.reset
        );
    }
}

fn render_cycle(
    out: &mut String,
    report: &Report,
    cycle: &CycleRecord,
    number: usize,
    options: &TextOptions,
    p: &Ansi,
) {
    let len = cycle.objects.len();
    let _ = writeln!(
        out,
        "\n  {}Cycle {number}{}: {len} object{} (component of {})",
        p.bold,
        p.reset,
        plural(len as u64),
        cycle.component_size,
    );
    let limit = if options.max_objects_per_cycle == 0 {
        len
    } else {
        options.max_objects_per_cycle
    };
    for (position, &index) in cycle.objects.iter().enumerate() {
        if position == limit && len > limit {
            let _ = writeln!(
                out,
                "      {}… {} more objects …{}",
                p.dim,
                len - limit,
                p.reset
            );
            break;
        }
        let object = report.object(index);
        render_object(out, object, p);
        let target = if position + 1 == len {
            " (back to the first object)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "      {}--[{}]-->{}{target}",
            p.cyan,
            escape_terminal(&cycle.labels[position]),
            p.reset
        );
    }
}

fn render_object(out: &mut String, object: &ObjectRecord, p: &Ansi) {
    let (mark, color) = if object.has_finalizer {
        (" [__del__]", p.red)
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "    {color}{}{mark}{}  {}",
        escape_terminal(&object.type_name),
        if color.is_empty() { "" } else { p.reset },
        escape_terminal(&object.description)
    );
    if let Some(frame) = &object.frame {
        for (name, value) in &frame.locals {
            let _ = writeln!(
                out,
                "        {}local {} = {}{}",
                p.dim,
                escape_terminal(name),
                escape_terminal(value),
                p.reset
            );
        }
        if !frame.stack.is_empty() {
            let _ = writeln!(
                out,
                "        {}Stack (most recent call last):{}",
                p.dim, p.reset
            );
            render_stack(out, frame.stack.iter().rev(), p);
        }
    }
    if !object.allocated_at.is_empty() {
        let _ = writeln!(
            out,
            "        {}Allocated at (most recent call last):{}",
            p.dim, p.reset
        );
        render_stack(out, object.allocated_at.iter(), p);
    }
}

/// Lines as `traceback.print_stack` writes them, oldest call first.
fn render_stack<'a>(out: &mut String, entries: impl Iterator<Item = &'a StackEntry>, p: &Ansi) {
    for entry in entries {
        let _ = write!(
            out,
            "        {}  File \"{}\", line {}",
            p.dim,
            escape_terminal(&entry.filename),
            entry.lineno
        );
        if !entry.function.is_empty() {
            let _ = write!(out, ", in {}", escape_terminal(&entry.function));
        }
        let _ = writeln!(out, "{}", p.reset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::groups::group_cycles;
    use crate::report::thin_vec;
    use crate::report::{FrameInfo, ObjectKind, ObjectRecord};

    fn object(t: &str, fin: bool) -> ObjectRecord {
        ObjectRecord {
            type_name: t.into(),
            description: format!("{t} object"),
            kind: ObjectKind::Instance,
            has_finalizer: fin,
            size: 48,
            ..Default::default()
        }
    }

    fn pairs(n: usize) -> Report {
        let mut report = Report {
            analysed_count: 2 * n as u64,
            edge_count: 2 * n as u64,
            ..Default::default()
        };
        for _ in 0..n {
            let first = report.objects.len() as u32;
            report.objects.push(object("__main__.B", true));
            report.objects.push(object("__main__.A", false));
            report.cycles.push(CycleRecord {
                objects: thin_vec![first, first + 1],
                labels: thin_vec![".a".into(), ".b".into()].into(),
                component_size: 2,
            });
        }
        report
    }

    fn text(report: &Report, options: &TextOptions) -> String {
        render(report, &group_cycles(report), options)
    }

    #[test]
    fn plain_text_names_types_labels_and_finalisers() {
        let text = text(&pairs(1), &TextOptions::default());
        assert!(
            text.contains("refscope: 1 cycle in 1 group among 2 objects"),
            "{text}"
        );
        assert!(
            text.contains("__main__.B [__del__]  __main__.B object"),
            "{text}"
        );
        assert!(text.contains("--[.a]-->"), "{text}");
        assert!(
            text.contains("--[.b]--> (back to the first object)"),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn ten_thousand_identical_cycles_are_one_summary_line_and_one_example() {
        let text = text(&pairs(10_000), &TextOptions::default());
        assert!(text.contains("×10000"), "{text}");
        assert_eq!(text.matches("Cycle ").count(), 1, "{text}");
        assert!(text.contains("… 9999 more cycles of this shape"), "{text}");
        assert!(text.contains("937.5 KiB"), "{text}");
    }

    #[test]
    fn colour_only_when_asked() {
        let coloured = text(
            &pairs(1),
            &TextOptions {
                color: true,
                ..Default::default()
            },
        );
        assert!(coloured.contains("\x1b[31m"));
    }

    #[test]
    fn control_characters_in_user_data_are_escaped() {
        let mut report = pairs(1);
        report.objects[0].type_name = "evil\x1b[2J".into();
        let text = text(&report, &TextOptions::default());
        assert!(!text.contains('\x1b'), "{text}");
        assert!(text.contains("evil\\u{1b}[2J"), "{text}");
    }

    #[test]
    fn long_cycles_are_summarised_when_capped() {
        let mut report = pairs(1);
        report.cycles[0].objects = thin_vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1];
        report.cycles[0].labels = thin_vec!["[0]".into(); 10].into();
        let options = TextOptions {
            max_objects_per_cycle: 2,
            ..Default::default()
        };
        let text = text(&report, &options);
        assert!(text.contains("… 8 more objects …"), "{text}");
        assert!(text.contains("… (10 steps)"), "{text}");
    }

    #[test]
    fn frames_show_locals_and_stack_oldest_call_first() {
        let mut report = pairs(1);
        report.objects[1].kind = ObjectKind::Frame;
        let at = |f: &str, line| StackEntry {
            filename: "app.py".into(),
            lineno: line,
            function: f.into(),
        };
        report.objects[1].frame = Some(FrameInfo {
            location: at("inner", 7),
            locals: vec![("err".into(), "ValueError exception".into())],
            stack: vec![at("inner", 7), at("main", 20)],
        });
        report.objects[0].allocated_at = vec![StackEntry {
            filename: "app.py".into(),
            lineno: 3,
            function: String::new(),
        }];
        let text = text(&report, &TextOptions::default());
        let main = text.find("File \"app.py\", line 20, in main").expect(&text);
        let inner = text.find("File \"app.py\", line 7, in inner").expect(&text);
        assert!(main < inner, "{text}");
        assert!(text.contains("local err = ValueError exception"), "{text}");
        assert!(
            text.contains(
                "Allocated at (most recent call last):\n          File \"app.py\", line 3\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn groups_beyond_the_limit_are_counted_not_listed() {
        let mut report = pairs(2);
        report.objects[2].type_name = "__main__.C".into();
        report.objects[3].type_name = "__main__.D".into();
        let options = TextOptions {
            max_groups: 1,
            ..Default::default()
        };
        let text = text(&report, &options);
        assert!(text.contains("in 2 groups"), "{text}");
        assert_eq!(text.matches("  ×1 ").count(), 1, "{text}");
        assert!(
            text.contains("… 1 more group, none larger than these"),
            "{text}"
        );
        assert!(!text.contains("Group 2"), "{text}");
    }
}
