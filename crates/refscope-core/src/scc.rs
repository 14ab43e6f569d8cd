//! Strongly connected components by an iterative Tarjan (no recursion, so a ring of
//! millions of objects needs no deep stack). Tarjan, "Depth-first search and linear graph
//! algorithms", SIAM J. Comput. 1972; the explicit call stack holds (node, next edge).

use crate::graph::Graph;

const UNVISITED: u32 = u32::MAX;

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
        let mut ids: Vec<u32> = (0..self.count() as u32)
            .filter(|&id| self.is_cyclic(id, graph))
            .collect();
        ids.sort_by_key(|&id| self.members(id)[0]);
        ids
    }
}

/// Computes the strongly connected components of `graph`.
pub fn strongly_connected_components(graph: &Graph) -> Components {
    let n = graph.node_count();
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    // (node, position of the next successor to look at)
    let mut calls: Vec<(u32, u32)> = Vec::new();
    let mut component_of = vec![UNVISITED; n];
    let mut component_sizes: Vec<u32> = Vec::new();
    let mut next_index = 0u32;

    for root in 0..n as u32 {
        if index[root as usize] != UNVISITED {
            continue;
        }
        index[root as usize] = next_index;
        low[root as usize] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        calls.push((root, 0));

        while let Some(&mut (node, ref mut position)) = calls.last_mut() {
            let successors = graph.successors(node);
            if let Some(&next) = successors.get(*position as usize) {
                *position += 1;
                let v = next as usize;
                if index[v] == UNVISITED {
                    index[v] = next_index;
                    low[v] = next_index;
                    next_index += 1;
                    stack.push(next);
                    on_stack[v] = true;
                    calls.push((next, 0));
                } else if on_stack[v] {
                    let u = node as usize;
                    low[u] = low[u].min(index[v]);
                }
                continue;
            }
            calls.pop();
            let u = node as usize;
            if low[u] == index[u] {
                let id = component_sizes.len() as u32;
                let mut size = 0u32;
                while let Some(member) = stack.pop() {
                    on_stack[member as usize] = false;
                    component_of[member as usize] = id;
                    size += 1;
                    if member == node {
                        break;
                    }
                }
                component_sizes.push(size);
            }
            if let Some(&(parent, _)) = calls.last() {
                let p = parent as usize;
                low[p] = low[p].min(low[u]);
            }
        }
    }
    drop((index, low, on_stack));

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
