//! Strongly connected components, iteratively (no recursion, so a ring of millions of
//! objects needs no deep stack).
//!
//! The algorithm is Pearce's space-efficient variant of Tarjan's ("A space-efficient
//! algorithm for finding strongly connected components", Information Processing Letters
//! 116(1), 2016, algorithm PEA_FIND_SCC2): one `u32` per node (`rindex`) replaces Tarjan's
//! index, lowlink and on-stack arrays. On heaps of millions of objects the graph does not
//! fit in cache, and one array instead of three means one cache miss per edge instead of
//! up to three. The explicit call stack holds (node, next edge, root flag).
//!
//! Before it, on graphs of 16k nodes or more, a large component is looked for by
//! reachability from a pivot (the forward-backward idea of Fleischer, Hendrickson and
//! Pınar, "On identifying strongly connected components in parallel", 2000), with the
//! sets grown by sequential sweeps over the rows instead of searches: see
//! [`strongly_connected_components`]. A dense heap of 1M objects and 8M references is
//! one component; the search took ~1 s on it, the sweeps ~0.1 s.

use crate::graph::Graph;

/// The components of a graph. Ids are in the order the components are completed: a
/// large component found by reachability first, then the others in the order Pearce's
/// search completes them (reverse topological order among themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Components {
    /// Per node, its component; empty when there is one component (a ring, a dense heap):
    /// 4 bytes per node of a million-node graph, all zeros.
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
        if self.component_of.is_empty() {
            0
        } else {
            self.component_of[node as usize]
        }
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
        for node in 0..self.members.len() as u32 {
            let id = self.component_of(node);
            if !std::mem::replace(&mut seen[id as usize], true) && self.is_cyclic(id, graph) {
                ids.push(id);
            }
        }
        ids
    }
}

/// Loads `rindex` of each successor of `node`, up front. The loads are independent, so
/// the CPU overlaps their cache misses instead of paying them one by one as the DFS
/// reaches each edge. Safe Rust's stand-in for a prefetch instruction.
#[inline]
fn touch_successors(graph: &Graph, rindex: &[u32], node: u32) {
    let mut any = 0u32;
    for &w in graph.successors(node) {
        any |= rindex[w as usize];
    }
    std::hint::black_box(any);
}

/// Loads the first successor of `node`: brings its row (and row offset) into cache ahead
/// of use, like [`touch_successors`].
#[inline]
fn touch_row(graph: &Graph, node: u32) {
    std::hint::black_box(graph.successors(node).first());
}

/// Graphs smaller than this go straight to the depth-first search: they fit in cache,
/// where the search is fast and the reachability passes would only add work.
const GIANT_MIN_NODES: usize = 1 << 14;

/// Computes the strongly connected components of `graph`.
///
/// Two stages. First, the component of one pivot node is found by reachability when
/// that component is large (see `giant_component`): on a heap of millions of objects
/// that all refer to each other (one big component, the common shape of a leaking
/// cache or a dense object graph) the depth-first search below pays a cache miss per
/// edge in a chain of dependent loads, while the reachability passes read the graph
/// sequentially and test bits of a set that fits in the L2 cache. Then Pearce's
/// depth-first search finds every other component; the pivot's component is marked as
/// complete up front, which is exact because no cycle leaves a strongly connected
/// component, so edges into it never lower a node's value.
pub fn strongly_connected_components(graph: &Graph) -> Components {
    components_from(graph, GIANT_MIN_NODES)
}

/// [`strongly_connected_components`], looking for a large component by reachability
/// first when the graph has at least `giant_min_nodes` nodes (tests lower it to 0).
fn components_from(graph: &Graph, giant_min_nodes: usize) -> Components {
    let n = graph.node_count();
    // rindex[v]: 0 = unvisited; 1..=index while v is active (on the DFS path or the stack);
    // a component number c (counting down from n) once v's component is complete. Active
    // values always stay below every assigned component number (index is decremented as
    // nodes are assigned), so "rindex[w] < rindex[v]" ignores completed nodes.
    let mut next_component = n as u32; // component numbers n, n-1, ... (0 is "unvisited")
    let mut component_sizes: Vec<u32> = Vec::new();
    let giant = if n >= giant_min_nodes.max(1) {
        giant_component(graph)
    } else {
        None
    };
    if let Some((_, size)) = giant {
        if size == n {
            // One component (a ring, a dense heap): nothing left to search.
            return Components {
                component_of: Vec::new(),
                offsets: vec![0, n as u32],
                members: (0..n as u32).collect(),
            };
        }
    }
    // Allocated only now: a graph of one component needs none of it.
    let mut rindex = vec![0u32; n];
    if let Some((giant, size)) = giant {
        for (word_index, &word) in giant.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let v = word_index * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                rindex[v] = next_component;
            }
        }
        next_component -= 1;
        component_sizes.push(size as u32);
    }
    pearce(
        graph,
        &mut rindex,
        &mut next_component,
        &mut component_sizes,
    );
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
    let mut members = vec![0u32; n];
    let mut cursor: Vec<u32> = offsets[..offsets.len() - 1].to_vec();
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

/// Pearce's search over the nodes whose `rindex` is 0, numbering their components from
/// `next_component` down.
fn pearce(
    graph: &Graph,
    rindex: &mut [u32],
    next_component: &mut u32,
    component_sizes: &mut Vec<u32>,
) {
    let n = graph.node_count();
    let mut index = 1u32;
    let mut stack: Vec<u32> = Vec::new();
    // (node, position of the next successor to look at, node is still a root candidate)
    let mut calls: Vec<(u32, u32, bool)> = Vec::new();
    for start in 0..n as u32 {
        if rindex[start as usize] != 0 {
            continue;
        }
        rindex[start as usize] = index;
        index += 1;
        touch_successors(graph, rindex, start);
        calls.push((start, 0, true));
        while let Some(&mut (v, ref mut position, ref mut root)) = calls.last_mut() {
            let successors = graph.successors(v);
            // Edges to nodes already visited only lower v's value: take them in one tight
            // loop (independent loads the CPU overlaps) up to the next unvisited node.
            let mut low = rindex[v as usize];
            let mut descend = None;
            let mut at = *position as usize;
            while let Some(&w) = successors.get(at) {
                at += 1;
                let value = rindex[w as usize];
                if value == 0 {
                    descend = Some(w);
                    break;
                }
                low = low.min(value);
            }
            *position = at as u32;
            if low < rindex[v as usize] {
                rindex[v as usize] = low;
                *root = false;
            }
            if let Some(w) = descend {
                rindex[w as usize] = index;
                index += 1;
                touch_successors(graph, rindex, w);
                calls.push((w, 0, true));
                continue;
            }
            let is_root = *root;
            calls.pop();
            // The next node to resume is the new top; bring a later one's row in now.
            if let Some(&(ahead, _, _)) = calls.len().checked_sub(8).map(|i| &calls[i]) {
                touch_row(graph, ahead);
            }
            if is_root {
                index -= 1;
                let mut size = 1u32;
                while let Some(&top) = stack.last() {
                    if rindex[v as usize] > rindex[top as usize] {
                        break;
                    }
                    stack.pop();
                    rindex[top as usize] = *next_component;
                    index -= 1;
                    size += 1;
                }
                rindex[v as usize] = *next_component;
                *next_component -= 1;
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
}

/// Bit set over node ids.
fn bit(set: &[u64], v: u32) -> bool {
    set[v as usize / 64] & (1 << (v % 64)) != 0
}

fn set_bit(set: &mut [u64], v: u32) {
    set[v as usize / 64] |= 1 << (v % 64);
}

/// Nodes the forward pass reaches by a breadth-first search before it turns to sweeps.
const SEARCH_BEFORE_SWEEPS: usize = 4096;

/// Sweeps in a row that may mark few nodes before the backward pass gives up.
const SLOW_SWEEPS_ALLOWED: u32 = 2;

/// The strongly connected component of a pivot node that reaches at least a quarter of
/// the graph, as a bit set; `None` when there is no such pivot or the sweeps
/// give up (then nothing is decided).
///
/// The component is the set of nodes both reachable from the pivot (a breadth-first
/// search, "forward") and reaching it ("backward"). Without a reversed graph, the
/// backward set is grown by sweeps over the rows in node order, alternately ascending
/// and descending: a node is added when one of its successors is in the set. A sweep
/// reads the rows sequentially and tests bits of a set of n/8 bytes, so it costs little
/// even when every edge is a cache miss for a depth-first search. Nodes outside the
/// forward set cannot reach the pivot through it and are skipped. The sweeps stop when a
/// sweep adds nothing (the set is exact) or every forward node is in; the pass gives up
/// if sweeps keep adding only a small share (a long chain against the sweep order, where
/// the depth-first search is the better tool), so its cost stays a few sequential passes.
fn giant_component(graph: &Graph) -> Option<(Vec<u64>, usize)> {
    let n = graph.node_count();
    let words = n.div_ceil(64);
    // Pivots: the first node (gc lists objects in allocation order: usually the head of
    // what was built) and two others, in case the first is a leaf.
    for pivot in [0, n / 3, 2 * n / 3] {
        let pivot = pivot as u32;
        let mut forward = vec![0u64; words];
        let (reached, upward) = forward_reach(graph, pivot, &mut forward)?;
        if reached < n / 4 {
            continue;
        }
        return backward_within(graph, pivot, &forward, reached, !upward);
    }
    None
}

/// Marks in `reached` the nodes reachable from `pivot`; returns how many, and whether
/// an ascending sweep marked the most (edges mostly go from lower to higher ids: the
/// backward pass then starts descending).
///
/// By sweeps first, as the backward pass does: a node in the set whose successors are
/// not yet marked marks them (each row is read once, in node order). A breadth-first
/// search would fetch each row at a random place, one dependent miss after another. When
/// sweeps stop paying (a chain running against the sweep order) the pass gives up and
/// returns `None`: then no pivot is tried further, as the others would stall the same way.
fn forward_reach(graph: &Graph, pivot: u32, reached: &mut [u64]) -> Option<(usize, bool)> {
    let n = graph.node_count() as u32;
    let mut expanded = vec![0u64; reached.len()];
    set_bit(reached, pivot);
    // A small reach (the pivot's component is a pair, a frame's few objects) costs a
    // short breadth-first search; the sweeps start only when it grows.
    let mut queue = vec![pivot];
    let mut head = 0;
    while head < queue.len() && queue.len() < SEARCH_BEFORE_SWEEPS {
        let v = queue[head];
        head += 1;
        set_bit(&mut expanded, v);
        for &w in graph.successors(v) {
            if !bit(reached, w) {
                set_bit(reached, w);
                queue.push(w);
            }
        }
    }
    let mut count = queue.len();
    if head == queue.len() {
        return Some((count, true));
    }
    drop(queue);
    let mut slow_sweeps = 0;
    let mut ascending = true;
    let (mut best_added, mut upward) = (0, true);
    loop {
        let (before, mut expanded_now) = (count, 0usize);
        let mut sweep = |v: u32| {
            if bit(reached, v) && !bit(&expanded, v) {
                set_bit(&mut expanded, v);
                expanded_now += 1;
                for &w in graph.successors(v) {
                    if !bit(reached, w) {
                        set_bit(reached, w);
                        count += 1;
                    }
                }
            }
        };
        if ascending {
            (0..n).for_each(&mut sweep);
        } else {
            (0..n).rev().for_each(&mut sweep);
        }
        let added = count - before;
        if added > best_added {
            (best_added, upward) = (added, ascending);
        }
        ascending = !ascending;
        if expanded_now == 0 || count == n as usize {
            // closed: every reached node is expanded, or every node reached
            return Some((count, upward));
        }
        if added < (n as usize - count) / 8 {
            slow_sweeps += 1;
            if slow_sweeps > SLOW_SWEEPS_ALLOWED {
                break;
            }
        } else {
            slow_sweeps = 0;
        }
    }
    // A chain against the sweep order (a ring linked in shuffled order): finishing
    // with a breadth-first search would pay a dependent miss per node, and the backward
    // sweeps would stall the same way. The depth-first search alone does better.
    None
}

/// The nodes of `forward` (the `forward_count` nodes reachable from `pivot`) that reach
/// `pivot` and how many they are, or `None` when the sweeps make too little progress.
/// The first sweep is ascending when `ascending`.
fn backward_within(
    graph: &Graph,
    pivot: u32,
    forward: &[u64],
    forward_count: usize,
    mut ascending: bool,
) -> Option<(Vec<u64>, usize)> {
    let n = graph.node_count() as u32;
    let mut backward = vec![0u64; forward.len()];
    set_bit(&mut backward, pivot);
    let mut count = 1usize;
    let mut slow_sweeps = 0;
    loop {
        let before = count;
        let mut sweep = |v: u32| {
            if bit(forward, v)
                && !bit(&backward, v)
                && graph.successors(v).iter().any(|&w| bit(&backward, w))
            {
                set_bit(&mut backward, v);
                count += 1;
            }
        };
        if ascending {
            (0..n).for_each(&mut sweep);
        } else {
            (0..n).rev().for_each(&mut sweep);
        }
        ascending = !ascending;
        let added = count - before;
        if added == 0 || count == forward_count {
            break;
        }
        // Progress is judged against what is left: a sweep that adds an eighth of it
        // is worth another.
        if added < (forward_count - count) / 8 {
            slow_sweeps += 1;
            if slow_sweeps > SLOW_SWEEPS_ALLOWED {
                return None;
            }
        } else {
            slow_sweeps = 0;
        }
    }
    Some((backward, count))
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

    /// A ring through `n` nodes in a shuffled order plus `extra` random edges per node
    /// (the end-to-end "dense" shape when `extra` is 7).
    fn shuffled_ring(n: u32, extra: u32, seed: u64) -> Vec<(u32, u32)> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut order: Vec<u32> = (0..n).collect();
        for i in (1..n as usize).rev() {
            order.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        let mut edges = Vec::new();
        for i in 0..n as usize {
            edges.push((order[i], order[(i + 1) % n as usize]));
            for _ in 0..extra {
                edges.push((order[i], (next() % n as u64) as u32));
            }
        }
        edges
    }

    /// Same partition as the depth-first search alone (ids may differ).
    fn assert_same_partition(a: &Components, b: &Components, n: usize) {
        assert_eq!(a.count(), b.count());
        let mut map = vec![u32::MAX; a.count()];
        for v in 0..n as u32 {
            let (ca, cb) = (a.component_of(v), b.component_of(v));
            if map[ca as usize] == u32::MAX {
                map[ca as usize] = cb;
            }
            assert_eq!(map[ca as usize], cb, "node {v}");
        }
    }

    #[test]
    fn a_dense_heap_is_found_by_reachability() {
        let n = 50_000;
        let edges = shuffled_ring(n, 7, 0x2545_F491_4F6C_DD1D);
        let g = Graph::from_edges(n as usize, &edges).unwrap();
        let c = strongly_connected_components(&g);
        assert_eq!(c.count(), 1);
        assert_eq!(c.members(0).len(), n as usize);
        assert!(giant_component(&g).is_some());
    }

    #[test]
    fn a_shuffled_ring_falls_back_to_the_depth_first_search_exactly() {
        // Sweeps make little progress against a shuffled ring: the forward pass gives up.
        let n = 40_000;
        let ring = shuffled_ring(n, 0, 99);
        let g = Graph::from_edges(n as usize, &ring).unwrap();
        assert!(giant_component(&g).is_none());
        let c = strongly_connected_components(&g);
        assert_eq!(c.count(), 1);
        // Cut into a chain: every node its own component, one with a self-loop.
        let mut chain: Vec<(u32, u32)> = ring.into_iter().filter(|&(a, _)| a != 17).collect();
        chain.push((5, 5));
        let g = Graph::from_edges(n as usize, &chain).unwrap();
        let c = strongly_connected_components(&g);
        assert_same_partition(&c, &components_from(&g, usize::MAX), n as usize);
        assert_eq!(c.count(), n as usize);
        assert_eq!(c.cyclic_ids(&g).len(), 1);
    }

    #[test]
    fn a_giant_component_with_a_tail_and_side_cycles() {
        // A shuffled dense component over the first half, and in the second half a chain
        // into it and 2-cycles hanging off it: only the first half is the giant.
        let half = 30_000u32;
        let mut edges = shuffled_ring(half, 3, 7);
        for v in half..2 * half - 1 {
            edges.push((v, v + 1));
            edges.push((v, v % half));
            if v % 2 == 0 {
                edges.push((v + 1, v));
            }
        }
        let n = 2 * half as usize;
        let g = Graph::from_edges(n, &edges).unwrap();
        let c = strongly_connected_components(&g);
        assert_same_partition(&c, &components_from(&g, usize::MAX), n);
        assert_eq!(c.members(0).len(), half as usize);
    }

    /// Two nodes share a component exactly when each reaches the other, and every node is
    /// in one component.
    fn check_mutual_reachability(
        c: &Components,
        n: usize,
        edges: &[(u32, u32)],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let reach = reachability(n, edges);
        for u in 0..n {
            for v in 0..n {
                let same = c.component_of(u as u32) == c.component_of(v as u32);
                prop_assert_eq!(same, reach[u][v] && reach[v][u], "nodes {} and {}", u, v);
            }
        }
        let total: usize = (0..c.count() as u32).map(|id| c.members(id).len()).sum();
        prop_assert_eq!(total, n);
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_the_depth_first_search_on_large_random_graphs(
            n in 20_000usize..24_000,
            extra in 0u32..3,
            seed in 1u64..u64::MAX,
            cut in 0usize..100,
        ) {
            let mut edges = shuffled_ring(n as u32, extra, seed);
            // Cutting some edges splits the ring into chains and smaller components.
            edges.retain(|&(a, b)| (a as usize * 31 + b as usize) % 100 >= cut / 10);
            let g = Graph::from_edges(n, &edges).unwrap();
            assert_same_partition(
                &strongly_connected_components(&g),
                &components_from(&g, usize::MAX),
                n,
            );
        }

        #[test]
        fn matches_mutual_reachability_through_the_reachability_pass(
            n in 1usize..40,
            raw in proptest::collection::vec((0u32..40, 0u32..40), 0..120),
        ) {
            let edges: Vec<(u32, u32)> =
                raw.into_iter().map(|(a, b)| (a % n as u32, b % n as u32)).collect();
            let g = Graph::from_edges(n, &edges).unwrap();
            let c = components_from(&g, 0);
            check_mutual_reachability(&c, n, &edges)?;
        }

        #[test]
        fn matches_mutual_reachability(
            n in 1usize..40,
            raw in proptest::collection::vec((0u32..40, 0u32..40), 0..120),
        ) {
            let edges: Vec<(u32, u32)> =
                raw.into_iter().map(|(a, b)| (a % n as u32, b % n as u32)).collect();
            let g = Graph::from_edges(n, &edges).unwrap();
            let c = strongly_connected_components(&g);
            check_mutual_reachability(&c, n, &edges)?;
            for id in 0..c.count() as u32 {
                let m = c.members(id);
                let cyclic = m.len() > 1 || edges.contains(&(m[0], m[0]));
                prop_assert_eq!(c.is_cyclic(id, &g), cyclic);
            }
        }
    }
}
