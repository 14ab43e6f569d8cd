//! Strongly connected components, iteratively (no recursion, so a ring of millions of
//! objects needs no deep stack).
//!
//! The algorithm is Pearce's space-efficient variant of Tarjan's ("A space-efficient
//! algorithm for finding strongly connected components", Information Processing Letters
//! 116(1), 2016, algorithm PEA_FIND_SCC2): one `u32` per node (`rindex`) replaces Tarjan's
//! index, lowlink and on-stack arrays. On heaps of millions of objects the graph does not
//! fit in cache, and one array instead of three means one cache miss per edge instead of
//! up to three. The explicit call stack holds (node, next edge, root flag).

use crate::graph::Graph;

/// The components of a graph; ids are in the order Tarjan completes them (reverse
/// topological order of the condensation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Components {
    component_of: Vec<u32>,
    offsets: Vec<u32>,
    members: Vec<u32>,
}

impl Components {
    /// Number of components (every node is in exactly one).
    pub fn count(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The component holding `node`.
    #[inline]
    pub fn component_of(&self, node: u32) -> u32 {
        self.component_of[node as usize]
    }

    /// Members of component `id`, in ascending node order.
    pub fn members(&self, id: u32) -> &[u32] {
        &self.members[self.offsets[id as usize] as usize..self.offsets[id as usize + 1] as usize]
    }

    /// True when component `id` holds a cycle: two or more members, or one with a self-loop.
    pub fn is_cyclic(&self, id: u32, graph: &Graph) -> bool {
        let members = self.members(id);
        members.len() > 1 || graph.has_edge(members[0], members[0])
    }

    /// Ids of the components that hold a cycle, ordered by their smallest member so the
    /// result follows the input order of the objects.
    pub fn cyclic_ids(&self, graph: &Graph) -> Vec<u32> {
        // One pass over the nodes in order meets each component first at its smallest
        // member: linear, where sorting the ids would be O(c log c).
        let mut seen = vec![false; self.count()];
        let mut ids = Vec::new();
        for node in 0..self.component_of.len() as u32 {
            let id = self.component_of(node);
            if !std::mem::replace(&mut seen[id as usize], true) && self.is_cyclic(id, graph) {
                ids.push(id);
            }
        }
        ids
    }
}

/// Loads `rindex` of each successor of `node` once, up front. The loads are independent,
/// so the CPU overlaps their cache misses instead of paying them one by one as the DFS
/// reaches each edge (on a dense random heap this is most of the time spent). Safe Rust's
/// stand-in for a prefetch instruction.
#[inline]
fn touch_successors(graph: &Graph, rindex: &[u32], node: u32) {
    let mut any = 0u32;
    for &w in graph.successors(node) {
        any |= rindex[w as usize];
    }
    std::hint::black_box(any);
}

/// Computes the strongly connected components of `graph`.
pub fn strongly_connected_components(graph: &Graph) -> Components {
    let n = graph.node_count();
    // rindex[v]: 0 = unvisited; 1..=index while v is active (on the DFS path or the stack);
    // a component number c (counting down from n) once v's component is complete. Active
    // values always stay below every assigned component number (index is decremented as
    // nodes are assigned), so "rindex[w] < rindex[v]" ignores completed nodes.
    let mut rindex = vec![0u32; n];
    let mut index = 1u32;
    let mut next_component = n as u32; // component numbers n, n-1, ... (0 is "unvisited")
    let mut stack: Vec<u32> = Vec::new();
    // (node, position of the next successor to look at, node is still a root candidate)
    let mut calls: Vec<(u32, u32, bool)> = Vec::new();
    let mut component_sizes: Vec<u32> = Vec::new();

    for start in 0..n as u32 {
        if rindex[start as usize] != 0 {
            continue;
        }
        rindex[start as usize] = index;
        index += 1;
        touch_successors(graph, &rindex, start);
        calls.push((start, 0, true));
        while let Some(&mut (v, ref mut position, ref mut root)) = calls.last_mut() {
            let successors = graph.successors(v);
            if let Some(&w) = successors.get(*position as usize) {
                *position += 1;
                if rindex[w as usize] == 0 {
                    rindex[w as usize] = index;
                    index += 1;
                    touch_successors(graph, &rindex, w);
                    calls.push((w, 0, true));
                } else if rindex[w as usize] < rindex[v as usize] {
                    rindex[v as usize] = rindex[w as usize];
                    *root = false;
                }
                continue;
            }
            let is_root = *root;
            calls.pop();
            if is_root {
                index -= 1;
                let mut size = 1u32;
                while let Some(&top) = stack.last() {
                    if rindex[v as usize] > rindex[top as usize] {
                        break;
                    }
                    stack.pop();
                    rindex[top as usize] = next_component;
                    index -= 1;
                    size += 1;
                }
                rindex[v as usize] = next_component;
                next_component -= 1;
                component_sizes.push(size);
            } else {
                stack.push(v);
            }
            // Back in the parent: the child's value may lower the parent's.
            if let Some(&mut (parent, _, ref mut parent_root)) = calls.last_mut() {
                if rindex[v as usize] < rindex[parent as usize] {
                    rindex[parent as usize] = rindex[v as usize];
                    *parent_root = false;
                }
            }
        }
    }
    // Component numbers count down from n; ids count up from 0 in completion order.
    let component_of: Vec<u32> = rindex.into_iter().map(|c| n as u32 - c).collect();

    // Bucket members by component (counting sort keeps them in ascending node order).
    let mut offsets = Vec::with_capacity(component_sizes.len() + 1);
    offsets.push(0u32);
    let mut total = 0u32;
    for size in &component_sizes {
        total += size;
        offsets.push(total);
    }
    let mut cursor: Vec<u32> = offsets[..offsets.len() - 1].to_vec();
    let mut members = vec![0u32; n];
    for node in 0..n as u32 {
        let c = component_of[node as usize] as usize;
        members[cursor[c] as usize] = node;
        cursor[c] += 1;
    }
    Components {
        component_of,
        offsets,
        members,
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // the oracle reads best as matrix indexing
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Brute-force oracle: u and v share a component iff each reaches the other.
    fn reachability(n: usize, edges: &[(u32, u32)]) -> Vec<Vec<bool>> {
        let mut reach = vec![vec![false; n]; n];
        for (i, row) in reach.iter_mut().enumerate() {
            row[i] = true;
        }
        for &(a, b) in edges {
            reach[a as usize][b as usize] = true;
        }
        for k in 0..n {
            for i in 0..n {
                if reach[i][k] {
                    for j in 0..n {
                        if reach[k][j] {
                            reach[i][j] = true;
                        }
                    }
                }
            }
        }
        reach
    }

    #[test]
    fn a_ring_is_one_component() {
        let n = 100_000u32;
        let edges: Vec<(u32, u32)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
        let g = Graph::from_edges(n as usize, &edges).unwrap();
        let c = strongly_connected_components(&g);
        assert_eq!(c.count(), 1);
        assert_eq!(c.cyclic_ids(&g), vec![0]);
    }

    #[test]
    fn a_chain_has_no_cyclic_component() {
        let edges: Vec<(u32, u32)> = (0..9).map(|i| (i, i + 1)).collect();
        let g = Graph::from_edges(10, &edges).unwrap();
        let c = strongly_connected_components(&g);
        assert_eq!(c.count(), 10);
        assert!(c.cyclic_ids(&g).is_empty());
    }

    #[test]
    fn a_self_loop_is_cyclic() {
        let g = Graph::from_edges(2, &[(1, 1), (0, 1)]).unwrap();
        let c = strongly_connected_components(&g);
        let cyclic = c.cyclic_ids(&g);
        assert_eq!(cyclic.len(), 1);
        assert_eq!(c.members(cyclic[0]), &[1]);
    }

    proptest! {
        #[test]
        fn matches_mutual_reachability(
            n in 1usize..40,
            raw in proptest::collection::vec((0u32..40, 0u32..40), 0..120),
        ) {
            let edges: Vec<(u32, u32)> =
                raw.into_iter().map(|(a, b)| (a % n as u32, b % n as u32)).collect();
            let g = Graph::from_edges(n, &edges).unwrap();
            let c = strongly_connected_components(&g);
            let reach = reachability(n, &edges);
            for u in 0..n {
                for v in 0..n {
                    let same = c.component_of(u as u32) == c.component_of(v as u32);
                    prop_assert_eq!(same, reach[u][v] && reach[v][u], "nodes {} and {}", u, v);
                }
            }
            let total: usize = (0..c.count() as u32).map(|id| c.members(id).len()).sum();
            prop_assert_eq!(total, n);
            for id in 0..c.count() as u32 {
                let m = c.members(id);
                let cyclic = m.len() > 1 || edges.contains(&(m[0], m[0]));
                prop_assert_eq!(c.is_cyclic(id, &g), cyclic);
            }
        }
    }
}
