//! Picks one short, readable cycle per cyclic component.
//!
//! The cycle goes through the component's most interesting member (highest priority:
//! the binding ranks finalisers over user-class instances over frames over plain
//! containers; ties go to the lowest node id, i.e. the earliest object in the input) and
//! is the shortest cycle through it: a breadth-first search from that member, restricted
//! to the component, stopped at the first edge back to it. Each BFS only touches its own
//! component, so all of them together are linear in the graph.

use crate::graph::Graph;
use crate::scc::Components;

const UNSEEN: u32 = u32::MAX;

/// A cycle as node ids: edge `i` goes from `nodes[i]` to `nodes[(i + 1) % len]`.
pub type NodeCycle = Vec<u32>;

/// One representative cycle per cyclic component, stored flat (no allocation per cycle).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepresentativeCycles {
    components: Vec<u32>,
    offsets: Vec<u32>,
    nodes: Vec<u32>,
}

impl RepresentativeCycles {
    /// Number of cycles.
    pub fn len(&self) -> usize {
        self.components.len()
    }

    /// True when no component holds a cycle.
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }

    /// Nodes of cycle `i`: edge `j` goes from `nodes[j]` to `nodes[(j + 1) % len]`.
    pub fn nodes(&self, i: usize) -> &[u32] {
        &self.nodes[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// The component cycle `i` stands for.
    pub fn component(&self, i: usize) -> u32 {
        self.components[i]
    }

    /// `(component, nodes)` of every cycle, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u32])> + '_ {
        (0..self.len()).map(move |i| (self.components[i], self.nodes(i)))
    }
}

/// One representative cycle per cyclic component, in the order of
/// [`Components::cyclic_ids`]. `priority[v]` ranks node `v` (higher is more interesting).
pub fn representative_cycles(
    graph: &Graph,
    components: &Components,
    priority: &[u8],
) -> RepresentativeCycles {
    // Allocated on the first breadth-first search (rings and pairs need none).
    let mut parent: Vec<u32> = Vec::new();
    let mut queue: Vec<u32> = Vec::new();
    let ids = components.cyclic_ids(graph);
    let mut cycles = RepresentativeCycles {
        components: Vec::with_capacity(ids.len()),
        offsets: Vec::with_capacity(ids.len() + 1),
        nodes: Vec::new(),
    };
    cycles.offsets.push(0);
    for id in ids {
        let members = components.members(id);
        // Members are in ascending order: the first of the highest priority is the
        // lowest id among them.
        let rank = |v: u32| priority.get(v as usize).copied().unwrap_or(0);
        let (mut root, mut best) = (members[0], rank(members[0]));
        for &v in &members[1..] {
            if rank(v) > best {
                (root, best) = (v, rank(v));
            }
        }
        shortest_cycle_through(
            graph,
            components,
            root,
            &mut parent,
            &mut queue,
            &mut cycles.nodes,
        );
        cycles.components.push(id);
        cycles.offsets.push(cycles.nodes.len() as u32);
    }
    cycles
}

/// Appends the shortest cycle through `root` (inside `root`'s component) to `out`.
fn shortest_cycle_through(
    graph: &Graph,
    components: &Components,
    root: u32,
    parent: &mut Vec<u32>,
    queue: &mut Vec<u32>,
    out: &mut Vec<u32>,
) {
    let component = components.component_of(root);
    if only_cycle_through(graph, components, root, out) {
        return;
    }
    if parent.is_empty() {
        parent.resize(graph.node_count(), UNSEEN);
    }
    queue.clear();
    queue.push(root);
    parent[root as usize] = root;
    let mut head = 0;
    while head < queue.len() {
        let node = queue[head];
        head += 1;
        for &next in graph.successors(node) {
            if next == root {
                // Walk parents back to the root, then reverse into root-first order.
                let start = out.len();
                let mut at = node;
                while at != root {
                    out.push(at);
                    at = parent[at as usize];
                }
                out.push(root);
                out[start..].reverse();
                return;
            }
            if parent[next as usize] == UNSEEN && components.component_of(next) == component {
                parent[next as usize] = node;
                queue.push(next);
            }
        }
    }
    // Unreachable for a cyclic component: every member reaches the root.
    out.push(root);
}

/// Appends the cycle through `root` and returns true when every node on it has exactly
/// one successor in the component (a ring, a pair): then it is the only cycle through
/// `root`, the one the breadth-first search would find, in the same order, without its
/// queue and parent links. Returns false, appending nothing, at the first node with
/// another successor in the component.
fn only_cycle_through(
    graph: &Graph,
    components: &Components,
    root: u32,
    out: &mut Vec<u32>,
) -> bool {
    let component = components.component_of(root);
    let start = out.len();
    let limit = components.members(component).len();
    let mut at = root;
    loop {
        let mut inside = graph
            .successors(at)
            .iter()
            .filter(|&&next| components.component_of(next) == component);
        let (Some(&next), None) = (inside.next(), inside.next()) else {
            out.truncate(start);
            return false;
        };
        out.push(at);
        if next == root {
            return true;
        }
        if out.len() - start >= limit {
            // Cannot happen in a strongly connected component; stay safe anyway.
            out.truncate(start);
            return false;
        }
        at = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scc::strongly_connected_components;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn cycles_of(n: usize, edges: &[(u32, u32)], priority: &[u8]) -> Vec<NodeCycle> {
        let g = Graph::from_edges(n, edges).unwrap();
        let c = strongly_connected_components(&g);
        let cycles = representative_cycles(&g, &c, priority);
        cycles.iter().map(|(_, nodes)| nodes.to_vec()).collect()
    }

    /// Brute-force oracle: length of the shortest cycle through `root` (plain BFS).
    fn shortest_len(n: usize, edges: &[(u32, u32)], root: u32) -> Option<usize> {
        let mut dist = vec![usize::MAX; n];
        let mut q = VecDeque::new();
        dist[root as usize] = 0;
        q.push_back(root);
        let mut best = None;
        while let Some(u) = q.pop_front() {
            for &(a, b) in edges {
                if a != u {
                    continue;
                }
                if b == root {
                    let len = dist[u as usize] + 1;
                    best = Some(best.map_or(len, |x: usize| x.min(len)));
                } else if dist[b as usize] == usize::MAX {
                    dist[b as usize] = dist[u as usize] + 1;
                    q.push_back(b);
                }
            }
        }
        best
    }

    #[test]
    fn self_reference_is_a_one_node_cycle() {
        assert_eq!(cycles_of(1, &[(0, 0)], &[0]), vec![vec![0]]);
    }

    #[test]
    fn two_node_cycle() {
        assert_eq!(cycles_of(2, &[(0, 1), (1, 0)], &[0, 0]), vec![vec![0, 1]]);
    }

    #[test]
    fn cycle_goes_through_the_highest_priority_member() {
        // 0 -> 1 -> 2 -> 0 and a short cycle 0 <-> 1; node 2 is the finaliser.
        let cycles = cycles_of(3, &[(0, 1), (1, 0), (1, 2), (2, 0)], &[0, 0, 3]);
        assert_eq!(cycles, vec![vec![2, 0, 1]]);
    }

    #[test]
    fn a_ring_is_walked_from_its_root() {
        // 0 -> 1 -> ... -> 9 -> 0, root 4 (highest priority), and a tail 10 -> 0.
        let mut edges: Vec<(u32, u32)> = (0..10).map(|i| (i, (i + 1) % 10)).collect();
        edges.push((10, 0));
        edges.push((3, 10)); // 10 joins: 3 has two successors in the component now
        let mut priority = vec![0u8; 11];
        priority[4] = 2;
        let bfs = cycles_of(11, &edges, &priority);
        assert_eq!(bfs, vec![vec![4, 5, 6, 7, 8, 9, 0, 1, 2, 3]]);
        edges.pop();
        let walked = cycles_of(11, &edges, &priority);
        assert_eq!(walked, vec![vec![4, 5, 6, 7, 8, 9, 0, 1, 2, 3]]);
    }

    #[test]
    fn shortest_cycle_is_chosen() {
        // ring 0..5 plus a shortcut 2 -> 0
        let cycles = cycles_of(
            5,
            &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 0), (2, 0)],
            &[0; 5],
        );
        assert_eq!(cycles, vec![vec![0, 1, 2]]);
    }

    #[test]
    fn one_cycle_per_component_in_input_order() {
        let cycles = cycles_of(5, &[(3, 4), (4, 3), (0, 1), (1, 0), (2, 0)], &[0; 5]);
        assert_eq!(cycles, vec![vec![0, 1], vec![3, 4]]);
    }

    proptest! {
        #[test]
        fn cycles_are_real_shortest_and_one_per_component(
            n in 1usize..30,
            raw in proptest::collection::vec((0u32..30, 0u32..30), 0..90),
            prio in proptest::collection::vec(0u8..4, 30),
        ) {
            let edges: Vec<(u32, u32)> =
                raw.into_iter().map(|(a, b)| (a % n as u32, b % n as u32)).collect();
            let g = Graph::from_edges(n, &edges).unwrap();
            let c = strongly_connected_components(&g);
            let cycles: Vec<NodeCycle> = representative_cycles(&g, &c, &prio[..n])
                .iter()
                .map(|(_, nodes)| nodes.to_vec())
                .collect();
            prop_assert_eq!(cycles.len(), c.cyclic_ids(&g).len());
            let mut seen_components = std::collections::HashSet::new();
            for cycle in &cycles {
                // every edge is real
                for i in 0..cycle.len() {
                    let (a, b) = (cycle[i], cycle[(i + 1) % cycle.len()]);
                    prop_assert!(edges.contains(&(a, b)), "edge {}->{} missing", a, b);
                }
                // no repeated node
                let distinct: std::collections::HashSet<_> = cycle.iter().collect();
                prop_assert_eq!(distinct.len(), cycle.len());
                // root is a most interesting member, and the cycle is shortest through it
                let comp = c.component_of(cycle[0]);
                prop_assert!(seen_components.insert(comp));
                let best = c.members(comp).iter().map(|&v| prio[v as usize]).max().unwrap();
                prop_assert_eq!(prio[cycle[0] as usize], best);
                prop_assert_eq!(Some(cycle.len()), shortest_len(n, &edges, cycle[0]));
            }
        }
    }
}
