//! Chrome DevTools `.heapsnapshot` export, so DevTools, memlab and other V8 heap tools
//! open Python heaps.
//!
//! The format (V8's `HeapSnapshotJSONSerializer`, `src/profiler/heap-snapshot-generator.cc`)
//! is one JSON object: `snapshot.meta` names the fields, `nodes` and `edges` are flat
//! integer arrays (7 numbers per node, 3 per edge), `strings` holds every name. Every
//! section V8 writes is present, empty where Python has nothing to put (allocation traces,
//! samples, locations).
//!
//! Node 0 is a synthetic root with one `property` edge per named root (named by the
//! root's label) — not `shortcut` edges, which DevTools leaves out of dominators. Every
//! other node is an object: type `object`, name its Python type (DevTools groups its
//! summary by it), id its address (`id()`). Edges: `property` for named references,
//! `element` for sequence items, `internal` for dict keys and unnamed references.

use super::{EdgeLabel, HeapSnapshot};
use std::io::{self, Write};

const NODE_TYPES: &[&str] = &[
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
    "object shape",
];
const NODE_OBJECT: u32 = 3;
const NODE_SYNTHETIC: u32 = 9;
const EDGE_TYPES: &[&str] = &[
    "context", "element", "property", "internal", "hidden", "shortcut", "weak",
];
const EDGE_ELEMENT: u32 = 1;
const EDGE_PROPERTY: u32 = 2;
const EDGE_INTERNAL: u32 = 3;
/// Numbers per node in `nodes`.
pub const NODE_FIELD_COUNT: usize = 7;

impl HeapSnapshot {
    /// Writes the snapshot as a Chrome DevTools `.heapsnapshot`.
    pub fn write_heapsnapshot(&self, out: &mut impl Write) -> io::Result<()> {
        let n = self.node_count();
        let base = self.strings.len() as u32;
        let root_name = base;
        let unnamed = base + 1;
        let key = base + 2;
        // One edge per distinct root node (DevTools' distance BFS queues every root edge's
        // target without checking for repeats, and fails when they outnumber the nodes).
        let mut seen = rustc_hash::FxHashSet::default();
        let roots: Vec<_> = self
            .roots()
            .iter()
            .filter(|r| seen.insert(r.node))
            .collect();
        let root_edges = roots.len();
        write!(
            out,
            r#"{{"snapshot":{{"meta":{{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[{},"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[{},"string_or_number","node"],"trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"trace_node_fields":["id","function_info_index","count","size","children"],"sample_fields":["timestamp_us","last_assigned_id"],"location_fields":["object_index","script_id","line","column"]}},"node_count":{},"edge_count":{},"trace_function_count":0}},"#,
            serde_json::to_string(NODE_TYPES).map_err(io::Error::other)?,
            serde_json::to_string(EDGE_TYPES).map_err(io::Error::other)?,
            n + 1,
            self.edge_count() + root_edges,
        )?;
        out.write_all(b"\n\"nodes\":[")?;
        write!(out, "{NODE_SYNTHETIC},{root_name},0,0,{root_edges},0,0")?;
        for v in 0..n as u32 {
            write!(
                out,
                ",\n{NODE_OBJECT},{},{},{},{},0,0",
                self.type_names[self.type_id(v) as usize],
                self.address(v),
                self.shallow_size(v),
                self.successors(v).len()
            )?;
        }
        out.write_all(b"],\n\"edges\":[")?;
        let mut first = true;
        let mut sep = |out: &mut dyn Write| -> io::Result<()> {
            if first {
                first = false;
                Ok(())
            } else {
                out.write_all(b",\n")
            }
        };
        for root in roots {
            sep(out)?;
            write!(
                out,
                "{EDGE_PROPERTY},{},{}",
                root.label,
                (root.node as usize + 1) * NODE_FIELD_COUNT
            )?;
        }
        for v in 0..n as u32 {
            for (to, label) in self.edges(v) {
                sep(out)?;
                let to = (to as usize + 1) * NODE_FIELD_COUNT;
                match label {
                    EdgeLabel::Name(id) => write!(out, "{EDGE_PROPERTY},{id},{to}")?,
                    EdgeLabel::Index(i) => write!(out, "{EDGE_ELEMENT},{i},{to}")?,
                    EdgeLabel::DictKey => write!(out, "{EDGE_INTERNAL},{key},{to}")?,
                    EdgeLabel::Unnamed => write!(out, "{EDGE_INTERNAL},{unnamed},{to}")?,
                }
            }
        }
        out.write_all(
            b"],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n\"locations\":[],\n\"strings\":[",
        )?;
        for (i, s) in self
            .strings
            .iter()
            .chain(["(Python heap)", "?", "(key)"])
            .enumerate()
        {
            if i > 0 {
                out.write_all(b",\n")?;
            }
            serde_json::to_writer(&mut *out, s).map_err(io::Error::other)?;
        }
        out.write_all(b"]}\n")?;
        Ok(())
    }

    /// Writes the `.heapsnapshot` to `path`.
    pub fn export_heapsnapshot(&self, path: &std::path::Path) -> io::Result<()> {
        let file = std::fs::File::create(path)?;
        let mut out = io::BufWriter::with_capacity(1 << 20, file);
        self.write_heapsnapshot(&mut out)?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{RootKind, SnapshotBuilder};
    use super::*;

    #[test]
    fn export_is_valid_json_with_every_section() {
        let mut b = SnapshotBuilder::default();
        let t = b.type_named("Holder \"quoted\"");
        let name = b.intern(".child");
        b.add_node(0x1000, t, 48).unwrap();
        b.push_edge(1, EdgeLabel::Name(name));
        b.push_edge(1, EdgeLabel::Index(2));
        b.add_node(0x2000, t, 16).unwrap();
        b.add_root(RootKind::ModuleGlobals, 0, "module __main__", 0);
        let s = b.finish().unwrap();
        let mut out = Vec::new();
        s.write_heapsnapshot(&mut out).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        for section in [
            "snapshot",
            "nodes",
            "edges",
            "trace_function_infos",
            "trace_tree",
            "samples",
            "locations",
            "strings",
        ] {
            assert!(json.get(section).is_some(), "{section} missing");
        }
        let nodes = json["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 3 * NODE_FIELD_COUNT);
        assert_eq!(json["snapshot"]["node_count"], 3);
        assert_eq!(json["snapshot"]["edge_count"], 3);
        assert_eq!(nodes[NODE_FIELD_COUNT + 2], 0x1000);
        let strings = json["strings"].as_array().unwrap();
        let name_of =
            |i: usize| strings[nodes[i * NODE_FIELD_COUNT + 1].as_u64().unwrap() as usize].clone();
        assert_eq!(name_of(1), "Holder \"quoted\"");
        let edges = json["edges"].as_array().unwrap();
        // Root edge: property named after the root, to node 1.
        assert_eq!(edges[0], EDGE_PROPERTY);
        assert_eq!(
            strings[edges[1].as_u64().unwrap() as usize],
            "module __main__"
        );
        assert_eq!(edges[2], NODE_FIELD_COUNT as u64);
        assert_eq!(edges[6], EDGE_ELEMENT);
        assert_eq!(edges[7], 2);
    }
}
