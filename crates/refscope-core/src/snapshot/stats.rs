//! Summaries of a snapshot: objects per type, growth and diff between two snapshots, and
//! the heap's cycle groups.

use super::HeapSnapshot;
use crate::graph::GraphBuilder;
use crate::scc::strongly_connected_components;
use rustc_hash::{FxHashMap, FxHashSet};

/// Objects of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeStat {
    pub name: String,
    pub count: u64,
    /// Sum of shallow sizes.
    pub shallow_bytes: u64,
    /// Bytes freed if every object of the type were gone: the retained sizes of the
    /// objects of this type that no other object of this type dominates.
    pub retained_bytes: u64,
}

/// Change of one type between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDiff {
    pub name: String,
    pub count: u64,
    pub count_delta: i64,
    pub bytes_delta: i64,
    /// Objects present now and not before (matched by address and type).
    pub added: u64,
    pub added_bytes: u64,
    pub removed: u64,
    pub removed_bytes: u64,
}

/// Cyclic components whose members have the same set of types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleGroupSummary {
    /// The member types, sorted: `Node ↔ dict`.
    pub signature: String,
    pub components: u64,
    pub objects: u64,
    pub bytes: u64,
    /// Members of the group's first component (at most 50).
    pub example: Vec<u32>,
}

/// What changed between an older snapshot and this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotDiff {
    /// Types with objects added or removed, most added bytes first.
    pub types: Vec<TypeDiff>,
    pub added: u64,
    pub added_bytes: u64,
    pub removed: u64,
    pub removed_bytes: u64,
    /// Cycle groups that are new, or have more components than before.
    pub new_cycle_groups: Vec<CycleGroupSummary>,
}

impl TypeDiff {
    fn empty(name: &str) -> TypeDiff {
        TypeDiff {
            name: name.to_string(),
            count: 0,
            count_delta: 0,
            bytes_delta: 0,
            added: 0,
            added_bytes: 0,
            removed: 0,
            removed_bytes: 0,
        }
    }
}

impl HeapSnapshot {
    /// Per type name: (count, shallow bytes), keyed by the name's string id.
    fn counts_by_name(&self) -> FxHashMap<u32, (u64, u64)> {
        let mut counts: FxHashMap<u32, (u64, u64)> = FxHashMap::default();
        for v in 0..self.node_count() as u32 {
            let entry = counts
                .entry(self.type_names[self.type_id(v) as usize])
                .or_default();
            entry.0 += 1;
            entry.1 += self.shallow_size(v);
        }
        counts
    }

    /// Every type with its count, shallow and retained bytes, most retained bytes first.
    pub fn top_types(&self) -> Vec<TypeStat> {
        let counts = self.counts_by_name();
        let retained = self.retained_by_type_name();
        let mut stats: Vec<TypeStat> = counts
            .into_iter()
            .map(|(name, (count, shallow))| TypeStat {
                name: self.strings.get(name).to_string(),
                count,
                shallow_bytes: shallow,
                retained_bytes: retained.get(&name).copied().unwrap_or(0),
            })
            .collect();
        stats.sort_by(|a, b| {
            b.retained_bytes
                .cmp(&a.retained_bytes)
                .then(b.shallow_bytes.cmp(&a.shallow_bytes))
                .then(a.name.cmp(&b.name))
        });
        stats
    }

    /// Retained bytes per type name: a depth-first walk of the dominator tree counts how
    /// many objects of each type are on the current branch, and an object adds its
    /// retained size only when none of its dominators has its type (no double counting).
    fn retained_by_type_name(&self) -> FxHashMap<u32, u64> {
        let dominators = self.dominators();
        let (offsets, children) = dominators.tree();
        let n = self.node_count();
        let name_of = |v: u32| self.type_names[self.type_id(v) as usize];
        let mut active: FxHashMap<u32, u32> = FxHashMap::default();
        let mut totals: FxHashMap<u32, u64> = FxHashMap::default();
        // Stack entries: (node, next child position); node `n` is the super-root.
        let mut stack: Vec<(u32, u32)> = vec![(n as u32, offsets[n])];
        while let Some(top) = stack.last_mut() {
            let (v, pos) = *top;
            if pos < offsets[v as usize + 1] {
                top.1 += 1;
                let child = children[pos as usize];
                let name = name_of(child);
                let depth = active.entry(name).or_insert(0);
                if *depth == 0 {
                    *totals.entry(name).or_insert(0) += dominators.retained(child);
                }
                *depth += 1;
                stack.push((child, offsets[child as usize]));
            } else {
                stack.pop();
                if (v as usize) < n {
                    if let Some(depth) = active.get_mut(&name_of(v)) {
                        *depth -= 1;
                    }
                }
            }
        }
        totals
    }

    /// Nodes whose type is called `name` (the qualified name, or the part after the last
    /// dot).
    pub fn nodes_of_type(&self, name: &str) -> Vec<u32> {
        let wanted: FxHashSet<u32> = (0..self.type_names.len() as u32)
            .filter(|&t| {
                let full = self.type_name(t);
                full == name || full.rsplit('.').next() == Some(name)
            })
            .collect();
        (0..self.node_count() as u32)
            .filter(|&v| wanted.contains(&self.type_id(v)))
            .collect()
    }

    /// The `n` objects with the largest retained sizes (ties: lower node first).
    pub fn largest_retainers(&self, n: usize) -> Vec<(u32, u64)> {
        let retained = self.dominators().retained_sizes();
        let mut order: Vec<u32> = (0..self.node_count() as u32).collect();
        let key = |v: &u32| std::cmp::Reverse(retained[*v as usize]);
        if n < order.len() {
            order.select_nth_unstable_by_key(n, key);
            order.truncate(n);
        }
        order.sort_by_key(|&v| (std::cmp::Reverse(retained[v as usize]), v));
        order
            .into_iter()
            .map(|v| (v, retained[v as usize]))
            .collect()
    }

    /// Per type, the increase in count (and bytes) since `older`; only types that grew,
    /// largest increase first (objgraph's `show_growth`).
    pub fn growth(&self, older: &HeapSnapshot) -> Vec<TypeDiff> {
        let now = self.named_counts();
        let before = older.named_counts();
        let mut out: Vec<TypeDiff> = now
            .iter()
            .filter_map(|(name, &(count, bytes))| {
                let (old_count, old_bytes) = before.get(name).copied().unwrap_or((0, 0));
                (count > old_count).then(|| TypeDiff {
                    name: name.clone(),
                    count,
                    count_delta: count as i64 - old_count as i64,
                    bytes_delta: bytes as i64 - old_bytes as i64,
                    added: 0,
                    added_bytes: 0,
                    removed: 0,
                    removed_bytes: 0,
                })
            })
            .collect();
        out.sort_by(|a, b| b.count_delta.cmp(&a.count_delta).then(a.name.cmp(&b.name)));
        out
    }

    fn named_counts(&self) -> FxHashMap<String, (u64, u64)> {
        self.counts_by_name()
            .into_iter()
            .map(|(name, v)| (self.strings.get(name).to_string(), v))
            .collect()
    }

    /// Objects added and removed since `older`, matched by address and type name (an
    /// address reused by an object of another type counts as removed and added), and the
    /// cycle groups that are new.
    pub fn diff(&self, older: &HeapSnapshot) -> SnapshotDiff {
        let mut old_by_address: FxHashMap<u64, u32> = FxHashMap::default();
        old_by_address.reserve(older.node_count());
        for v in 0..older.node_count() as u32 {
            old_by_address.insert(older.address(v), v);
        }
        let mut matched = vec![false; older.node_count()];
        let mut result = SnapshotDiff {
            types: Vec::new(),
            added: 0,
            added_bytes: 0,
            removed: 0,
            removed_bytes: 0,
            new_cycle_groups: Vec::new(),
        };
        let mut stats: FxHashMap<&str, TypeDiff> = FxHashMap::default();
        for v in 0..self.node_count() as u32 {
            let name = self.node_type_name(v);
            let same = old_by_address
                .get(&self.address(v))
                .filter(|&&o| older.node_type_name(o) == name)
                .copied();
            let size = self.shallow_size(v);
            let e = stats.entry(name).or_insert_with(|| TypeDiff::empty(name));
            e.count += 1;
            e.count_delta += 1;
            e.bytes_delta += size as i64;
            match same {
                Some(o) => matched[o as usize] = true,
                None => {
                    e.added += 1;
                    e.added_bytes += size;
                    result.added += 1;
                    result.added_bytes += size;
                }
            }
        }
        for o in 0..older.node_count() as u32 {
            let name = older.node_type_name(o);
            let size = older.shallow_size(o);
            let e = stats.entry(name).or_insert_with(|| TypeDiff::empty(name));
            e.count_delta -= 1;
            e.bytes_delta -= size as i64;
            if !matched[o as usize] {
                e.removed += 1;
                e.removed_bytes += size;
                result.removed += 1;
                result.removed_bytes += size;
            }
        }
        let mut types: Vec<TypeDiff> = stats
            .into_values()
            .filter(|t| t.added > 0 || t.removed > 0)
            .collect();
        types.sort_by(|a, b| {
            b.added_bytes
                .cmp(&a.added_bytes)
                .then(b.added.cmp(&a.added))
                .then(a.name.cmp(&b.name))
        });
        result.types = types;
        let before: FxHashMap<String, u64> = older
            .cycle_groups()
            .into_iter()
            .map(|g| (g.signature, g.components))
            .collect();
        result.new_cycle_groups = self
            .cycle_groups()
            .into_iter()
            .filter(|g| before.get(&g.signature).is_none_or(|&c| g.components > c))
            .collect();
        result
    }

    /// The heap's cyclic strongly connected components, grouped by their member types,
    /// most bytes first.
    pub fn cycle_groups(&self) -> Vec<CycleGroupSummary> {
        let n = self.node_count();
        let mut builder = GraphBuilder::with_capacity(n, self.edge_count());
        for v in 0..n as u32 {
            if builder.start_node().is_err() {
                return Vec::new();
            }
            for &w in self.successors(v) {
                builder.push_edge(w);
            }
        }
        let Ok(graph) = builder.finish() else {
            return Vec::new();
        };
        let components = strongly_connected_components(&graph);
        let mut groups: FxHashMap<String, CycleGroupSummary> = FxHashMap::default();
        for id in components.cyclic_ids(&graph) {
            let members = components.members(id);
            let mut names: Vec<&str> = members.iter().map(|&v| self.node_type_name(v)).collect();
            names.sort_unstable();
            names.dedup();
            let signature = names.join(" ↔ ");
            let bytes: u64 = members.iter().map(|&v| self.shallow_size(v)).sum();
            let group = groups
                .entry(signature.clone())
                .or_insert_with(|| CycleGroupSummary {
                    signature,
                    components: 0,
                    objects: 0,
                    bytes: 0,
                    example: members.iter().take(50).copied().collect(),
                });
            group.components += 1;
            group.objects += members.len() as u64;
            group.bytes += bytes;
        }
        let mut out: Vec<CycleGroupSummary> = groups.into_values().collect();
        out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.signature.cmp(&b.signature)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{from_parts, RootKind};

    #[test]
    fn retained_by_type_does_not_double_count() {
        // 0(T0) -> 1(T1) -> 2(T1) -> 3(T2); T1's retained = retained(1) only.
        let s = from_parts(
            &[1, 10, 100, 1000],
            &[0, 1, 1, 2],
            &[vec![1], vec![2], vec![3], vec![]],
            &[(RootKind::ModuleGlobals, 0)],
        )
        .unwrap();
        let top = s.top_types();
        let t1 = top.iter().find(|t| t.name == "T1").unwrap();
        assert_eq!(t1.count, 2);
        assert_eq!(t1.shallow_bytes, 110);
        assert_eq!(t1.retained_bytes, 1110);
        assert_eq!(top[0].name, "T0");
        assert_eq!(top[0].retained_bytes, 1111);
        assert_eq!(s.largest_retainers(2), vec![(0, 1111), (1, 1110)]);
        assert_eq!(s.nodes_of_type("T1"), vec![1, 2]);
    }

    #[test]
    fn growth_and_diff_see_new_objects_and_cycles() {
        let old = from_parts(
            &[8, 8],
            &[0, 1],
            &[vec![1], vec![]],
            &[(RootKind::ModuleGlobals, 0)],
        )
        .unwrap();
        let new = from_parts(
            &[8, 8, 16, 16],
            &[0, 1, 1, 1],
            &[vec![1, 2], vec![], vec![3], vec![2]],
            &[(RootKind::ModuleGlobals, 0)],
        )
        .unwrap();
        let growth = new.growth(&old);
        assert_eq!(growth.len(), 1);
        assert_eq!(growth[0].name, "T1");
        assert_eq!(growth[0].count_delta, 2);
        assert_eq!(growth[0].bytes_delta, 32);
        let diff = new.diff(&old);
        assert_eq!(diff.added, 2);
        assert_eq!(diff.removed, 0);
        assert_eq!(diff.new_cycle_groups.len(), 1);
        assert_eq!(diff.new_cycle_groups[0].signature, "T1");
        assert!(old.diff(&new).new_cycle_groups.is_empty());
        assert_eq!(old.diff(&new).removed, 2);
    }
}
