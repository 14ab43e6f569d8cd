//! JSON rendering, format `refscope.report` version 1.
//!
//! The schema is `python/refscope/schema/report-v1.json` (JSON Schema draft 2020-12),
//! documented in `docs/json-schema.md`. Field names are stable within a version: a field
//! may be added in a minor release (readers ignore what they do not know), a field is
//! never renamed, removed or given another meaning without bumping [`FORMAT_VERSION`].
//! Every field is always present (`null` or `[]` when empty), so readers need no
//! existence checks. Strings are user data and escaped by `serde_json`.

use super::groups::{CycleGroup, Signature};
use super::{CycleRecord, ObjectRecord, Report, StackEntry};
use serde::Serialize;

/// Value of the `format` field.
pub const FORMAT_NAME: &str = "refscope.report";
/// Value of the `version` field; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// Widest indentation `render` accepts; wider is clamped (the binding refuses it first).
pub const MAX_INDENT: usize = 64;

/// How to render JSON.
#[derive(Debug, Clone, Copy)]
pub struct JsonOptions {
    /// Spaces of indentation (at most [`MAX_INDENT`]); `None` for the most compact form.
    pub indent: Option<usize>,
    /// At most this many groups, the largest, listed (0 = all); `groups_omitted` counts
    /// the rest.
    pub max_groups: usize,
    /// At most this many cycles listed per group (0 = all); `count` still counts all.
    pub max_cycles_per_group: usize,
    /// At most this many objects listed per cycle (0 = all); `length` counts them all.
    pub max_objects_per_cycle: usize,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            indent: None,
            max_groups: 1000,
            max_cycles_per_group: 10,
            max_objects_per_cycle: 1000,
        }
    }
}

#[derive(Serialize)]
struct Document<'a> {
    format: &'static str,
    version: u32,
    generator: String,
    summary: Summary,
    groups: Vec<Group<'a>>,
}

#[derive(Serialize)]
struct Summary {
    cycle_count: u64,
    group_count: u64,
    analysed_count: u64,
    edge_count: u64,
    objects_in_cycles: u64,
    groups_omitted: u64,
}

#[derive(Serialize)]
struct Group<'a> {
    key: &'a str,
    signature: &'a Signature,
    count: u64,
    total_size: u64,
    has_finalizer: bool,
    hint: Option<Hint<'a>>,
    cycles_omitted: u64,
    cycles: Vec<Cycle<'a>>,
}

#[derive(Serialize)]
struct Hint<'a> {
    edge_index: u32,
    label: &'a str,
    fix: &'static str,
    advice: &'a str,
    why: &'a str,
}

#[derive(Serialize)]
struct Cycle<'a> {
    index: u32,
    length: u64,
    component_size: u64,
    has_finalizer: bool,
    objects_omitted: u64,
    objects: Vec<Object<'a>>,
}

#[derive(Serialize)]
struct Object<'a> {
    address: u64,
    #[serde(rename = "type")]
    type_name: &'a str,
    description: &'a str,
    kind: &'static str,
    size: u64,
    has_finalizer: bool,
    label: &'a str,
    frame: Option<Frame<'a>>,
    allocated_at: Vec<Location<'a>>,
}

#[derive(Serialize)]
struct Frame<'a> {
    location: Location<'a>,
    locals: Vec<Local<'a>>,
    stack: Vec<Location<'a>>,
}

#[derive(Serialize)]
struct Local<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct Location<'a> {
    filename: &'a str,
    lineno: i64,
    function: &'a str,
}

fn location(entry: &StackEntry) -> Location<'_> {
    Location {
        filename: &entry.filename,
        lineno: entry.lineno,
        function: &entry.function,
    }
}

fn object<'a>(record: &'a ObjectRecord, label: &'a str) -> Object<'a> {
    Object {
        address: record.address,
        type_name: &record.type_name,
        description: &record.description,
        kind: record.kind.as_str(),
        size: record.size,
        has_finalizer: record.has_finalizer,
        label,
        frame: record.frame.as_ref().map(|frame| Frame {
            location: location(&frame.location),
            locals: frame
                .locals
                .iter()
                .map(|(name, value)| Local { name, value })
                .collect(),
            // Innermost first, as `FrameInfo` stores it (the reverse of print_stack).
            stack: frame.stack.iter().map(location).collect(),
        }),
        allocated_at: record.allocated_at.iter().map(location).collect(),
    }
}

fn cycle<'a>(
    report: &'a Report,
    index: u32,
    cycle: &'a CycleRecord,
    options: &JsonOptions,
) -> Cycle<'a> {
    let length = cycle.objects.len();
    let shown = if options.max_objects_per_cycle == 0 {
        length
    } else {
        options.max_objects_per_cycle.min(length)
    };
    Cycle {
        index,
        length: length as u64,
        component_size: cycle.component_size,
        has_finalizer: report.cycle_has_finalizer(cycle),
        objects_omitted: (length - shown) as u64,
        objects: cycle.objects[..shown]
            .iter()
            .zip(&cycle.labels)
            .map(|(&i, label)| object(report.object(i), label))
            .collect(),
    }
}

/// Renders the report; `groups` is [`super::groups::group_cycles`] of `report`.
pub fn render(report: &Report, groups: &[CycleGroup], options: &JsonOptions) -> String {
    let shown_groups = if options.max_groups == 0 {
        groups.len()
    } else {
        options.max_groups.min(groups.len())
    };
    let document = Document {
        format: FORMAT_NAME,
        version: FORMAT_VERSION,
        generator: format!("refscope {}", env!("CARGO_PKG_VERSION")),
        summary: Summary {
            cycle_count: report.cycles.len() as u64,
            group_count: groups.len() as u64,
            analysed_count: report.analysed_count,
            edge_count: report.edge_count,
            objects_in_cycles: report.objects_in_cycles(),
            groups_omitted: (groups.len() - shown_groups) as u64,
        },
        groups: groups[..shown_groups]
            .iter()
            .map(|group| {
                let shown = if options.max_cycles_per_group == 0 {
                    group.cycles.len()
                } else {
                    options.max_cycles_per_group.min(group.cycles.len())
                };
                Group {
                    key: &group.key,
                    signature: &group.signature,
                    count: group.count(),
                    total_size: group.total_size,
                    has_finalizer: group.has_finalizer,
                    hint: group.hint.as_ref().map(|hint| Hint {
                        edge_index: hint.edge_index,
                        label: &hint.label,
                        fix: hint.fix.as_str(),
                        advice: &hint.advice,
                        why: &hint.why,
                    }),
                    cycles_omitted: (group.cycles.len() - shown) as u64,
                    cycles: group.cycles[..shown]
                        .iter()
                        .map(|&index| cycle(report, index, &report.cycles[index as usize], options))
                        .collect(),
                }
            })
            .collect(),
    };
    let mut out = Vec::new();
    let written = match options.indent {
        None => serde_json::to_writer(&mut out, &document),
        Some(width) => {
            let indent = vec![b' '; width.min(MAX_INDENT)];
            let formatter = serde_json::ser::PrettyFormatter::with_indent(&indent);
            let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
            document.serialize(&mut serializer)
        }
    };
    // Serialising plain structs of strings and integers into memory cannot fail.
    written.expect("serialising a report to memory");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::groups::group_cycles;
    use crate::report::thin_vec;
    use crate::report::{FrameInfo, ObjectKind};
    use serde_json::Value;

    fn report() -> Report {
        let object = |t: &str, kind| ObjectRecord {
            address: 0x1000,
            type_name: t.into(),
            description: "say \"hi\"\\\n</script>\u{1b}".into(),
            kind,
            size: 48,
            ..Default::default()
        };
        let mut frame = object("frame", ObjectKind::Frame);
        let at = StackEntry {
            filename: "a.py".into(),
            lineno: 3,
            function: "f".into(),
        };
        frame.frame = Some(FrameInfo {
            location: at.clone(),
            locals: vec![("x".into(), "int 1".into())],
            stack: vec![at],
        });
        let mut report = Report {
            objects: vec![object("m.A", ObjectKind::Instance), frame],
            analysed_count: 2,
            edge_count: 2,
            ..Default::default()
        };
        for _ in 0..3 {
            report.cycles.push(CycleRecord {
                objects: thin_vec![0, 1],
                labels: thin_vec![".f".into(), "local self".into()].into(),
                component_size: 2,
            });
        }
        report
    }

    fn parsed(options: &JsonOptions) -> Value {
        let report = report();
        serde_json::from_str(&render(&report, &group_cycles(&report), options)).expect("valid JSON")
    }

    #[test]
    fn document_names_its_format_and_version() {
        let doc = parsed(&JsonOptions::default());
        assert_eq!(doc["format"], "refscope.report");
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["summary"]["cycle_count"], 3);
        assert_eq!(doc["summary"]["group_count"], 1);
    }

    #[test]
    fn user_text_round_trips_through_escaping() {
        let doc = parsed(&JsonOptions::default());
        let object = &doc["groups"][0]["cycles"][0]["objects"][0];
        assert_eq!(object["description"], "say \"hi\"\\\n</script>\u{1b}");
        assert_eq!(object["type"], "m.A");
        assert_eq!(object["frame"], Value::Null);
        let frame = &doc["groups"][0]["cycles"][0]["objects"][1]["frame"];
        assert_eq!(frame["locals"][0]["name"], "x");
        assert_eq!(frame["stack"][0]["lineno"], 3);
    }

    #[test]
    fn cycles_and_objects_are_capped_with_counts_of_what_was_left_out() {
        let doc = parsed(&JsonOptions {
            max_cycles_per_group: 2,
            max_objects_per_cycle: 1,
            indent: Some(2),
            max_groups: 0,
        });
        let group = &doc["groups"][0];
        assert_eq!(group["count"], 3);
        assert_eq!(group["cycles"].as_array().unwrap().len(), 2);
        assert_eq!(group["cycles_omitted"], 1);
        assert_eq!(group["cycles"][0]["objects"].as_array().unwrap().len(), 1);
        assert_eq!(group["cycles"][0]["objects_omitted"], 1);
        assert_eq!(group["cycles"][0]["length"], 2);
    }

    #[test]
    fn groups_beyond_the_limit_are_counted_in_the_summary() {
        let mut report = report();
        report.objects.push(ObjectRecord {
            type_name: "m.Z".into(),
            ..Default::default()
        });
        report.cycles.push(CycleRecord {
            objects: thin_vec![2],
            labels: thin_vec![".z".into()].into(),
            component_size: 1,
        });
        let groups = group_cycles(&report);
        let options = JsonOptions {
            max_groups: 1,
            ..Default::default()
        };
        let doc: Value = serde_json::from_str(&render(&report, &groups, &options)).unwrap();
        assert_eq!(doc["summary"]["group_count"], 2);
        assert_eq!(doc["summary"]["groups_omitted"], 1);
        assert_eq!(doc["groups"].as_array().unwrap().len(), 1);
        assert_eq!(doc["groups"][0]["count"], 3);
    }

    #[test]
    fn indentation_is_optional() {
        let report = report();
        let groups = group_cycles(&report);
        let compact = render(&report, &groups, &JsonOptions::default());
        assert!(!compact.contains('\n'));
        let pretty = render(
            &report,
            &groups,
            &JsonOptions {
                indent: Some(2),
                ..Default::default()
            },
        );
        assert!(pretty.contains("\n  \"version\": 1,"));
    }
}
