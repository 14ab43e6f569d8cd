//! Plain-text rendering for terminals and logs.

use super::{CycleRecord, Report};
use std::fmt::Write;

/// How to render text.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// Use ANSI colours (the caller decides: TTY and no `NO_COLOR`).
    pub color: bool,
    /// At most this many objects listed per cycle (0 = all); the rest are summarised.
    pub max_objects_per_cycle: usize,
}

struct Palette {
    bold: &'static str,
    red: &'static str,
    dim: &'static str,
    cyan: &'static str,
    reset: &'static str,
}

const COLOR: Palette = Palette {
    bold: "\x1b[1m",
    red: "\x1b[31m",
    dim: "\x1b[2m",
    cyan: "\x1b[36m",
    reset: "\x1b[0m",
};
const PLAIN: Palette = Palette {
    bold: "",
    red: "",
    dim: "",
    cyan: "",
    reset: "",
};

/// Renders the whole report.
pub fn render(report: &Report, options: &TextOptions) -> String {
    let p = if options.color { &COLOR } else { &PLAIN };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}refscope: {} cycle{} among {} object{} ({} in cyclic components, {} references){}",
        p.bold,
        report.cycles.len(),
        plural(report.cycles.len() as u64),
        report.analysed_count,
        plural(report.analysed_count),
        report.objects_in_cycles(),
        report.edge_count,
        p.reset,
    );
    for (number, cycle) in report.cycles.iter().enumerate() {
        render_cycle(&mut out, report, cycle, number + 1, options, p);
    }
    out
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn render_cycle(
    out: &mut String,
    report: &Report,
    cycle: &CycleRecord,
    number: usize,
    options: &TextOptions,
    p: &Palette,
) {
    let len = cycle.objects.len();
    let finalizer = if report.cycle_has_finalizer(cycle) {
        format!(", {}holds a finaliser (__del__){}", p.red, p.reset)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\n{}Cycle {number}{}: {len} object{} (component of {}){finalizer}",
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
                "    {}… {} more objects …{}",
                p.dim,
                len - limit,
                p.reset
            );
            break;
        }
        let object = report.object(index);
        let (mark, color) = if object.has_finalizer {
            (" [__del__]", p.red)
        } else {
            ("", "")
        };
        let _ = writeln!(
            out,
            "  {color}{}{mark}{}  {}",
            object.type_name, p.reset, object.description,
        );
        if let Some(frame) = &object.frame {
            for (name, value) in &frame.locals {
                let _ = writeln!(out, "      {}local {name} = {value}{}", p.dim, p.reset);
            }
        }
        let target = if position + 1 == len {
            " (back to the first object)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "    {}--[{}]-->{}{target}",
            p.cyan, cycle.labels[position], p.reset
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ObjectKind, ObjectRecord};

    fn pair() -> Report {
        let object = |t: &str, fin: bool| ObjectRecord {
            type_name: t.into(),
            description: format!("{t} object"),
            kind: ObjectKind::Instance,
            has_finalizer: fin,
            ..Default::default()
        };
        Report {
            objects: vec![object("__main__.B", true), object("__main__.A", false)],
            cycles: vec![CycleRecord {
                objects: vec![0, 1],
                labels: vec![".a".into(), ".b".into()],
                component_size: 2,
            }],
            analysed_count: 2,
            edge_count: 2,
        }
    }

    #[test]
    fn plain_text_names_types_labels_and_finalisers() {
        let text = render(&pair(), &TextOptions::default());
        assert!(text.contains("refscope: 1 cycle among 2 objects"), "{text}");
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
    fn colour_only_when_asked() {
        let text = render(
            &pair(),
            &TextOptions {
                color: true,
                ..Default::default()
            },
        );
        assert!(text.contains("\x1b[31m"));
    }

    #[test]
    fn long_cycles_are_summarised_when_capped() {
        let mut report = pair();
        report.cycles[0].objects = vec![0, 1, 0, 1, 0, 1];
        report.cycles[0].labels = vec!["[0]".into(); 6];
        let text = render(
            &report,
            &TextOptions {
                color: false,
                max_objects_per_cycle: 2,
            },
        );
        assert!(text.contains("… 4 more objects …"), "{text}");
    }
}
