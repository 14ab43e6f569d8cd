//! Dominator tree and retained sizes.
//!
//! Node `d` dominates `v` when every path from the roots to `v` passes through `d`: if `d`
//! were freed, `v` would be too. The retained size of `d` is the total shallow size of the
//! nodes it dominates (itself included). A virtual super-root has an edge to every root.
//!
//! Algorithm: semi-NCA (Georgiadis, "Linear-Time Algorithms for Dominators and Related
//! Problems", PhD thesis, Princeton 2005, §2.2.3; the variant LLVM uses in
//! `GenericDomTreeConstruction.h`): semidominators by Lengauer–Tarjan's `eval` with path
//! compression, then each immediate dominator as the nearest common ancestor of the DFS
//! parent and the semidominator, found by walking up the partially built tree. Every
//! array is indexed by DFS preorder number and holds `u32`; the DFS and the path
//! compression use explicit stacks, so a linked list of ten million objects needs no deep
//! call stack.

use super::progress::{self, due, Progress, Silent};
use super::HeapSnapshot;

const NONE: u32 = u32::MAX;

/// Immediate dominators and retained sizes of every node of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dominators {
    /// Immediate dominator of each node; `NONE` for nodes the super-root dominates
    /// directly (roots, and nodes two roots reach independently).
    idom: Vec<u32>,
    retained: Vec<u64>,
    /// Nodes in DFS preorder from the super-root (every idom precedes its nodes).
    preorder: Vec<u32>,
}

impl Dominators {
    /// Dominators of `snapshot` from `roots`.
    pub fn compute(snapshot: &HeapSnapshot, roots: &[u32]) -> Dominators {
        Dominators::compute_with_progress(snapshot, roots, &mut Silent)
    }

    /// [`Dominators::compute`], reporting its position (the steps of
    /// [`progress::dominators`]) to `progress`.
    pub fn compute_with_progress(
        snapshot: &HeapSnapshot,
        roots: &[u32],
        progress: &mut dyn Progress,
    ) -> Dominators {
        compute_with_progress(
            &snapshot.offsets,
            &snapshot.targets,
            |v| snapshot.shallow_size(v),
            roots,
            progress,
        )
    }

    /// Immediate dominator of `node`, or None when only the roots as a whole dominate it.
    pub fn idom(&self, node: u32) -> Option<u32> {
        match self.idom.get(node as usize) {
            Some(&NONE) | None => None,
            Some(&d) => Some(d),
        }
    }

    /// Retained size of `node` (0 for a node no root reaches).
    pub fn retained(&self, node: u32) -> u64 {
        self.retained.get(node as usize).copied().unwrap_or(0)
    }

    /// All retained sizes, by node.
    pub fn retained_sizes(&self) -> &[u64] {
        &self.retained
    }

    /// Reached nodes in DFS preorder: a node's immediate dominator always comes first.
    pub fn preorder(&self) -> &[u32] {
        &self.preorder
    }

    /// Children of each node in the dominator tree as CSR `(offsets, children)`, with the
    /// super-root's children (nodes without an idom) at index `node_count`.
    pub fn tree(&self) -> (Vec<u32>, Vec<u32>) {
        let n = self.idom.len();
        let mut offsets = vec![0u32; n + 2];
        for &v in &self.preorder {
            let parent = match self.idom[v as usize] {
                NONE => n,
                d => d as usize,
            };
            offsets[parent + 1] += 1;
        }
        for i in 0..n + 1 {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut children = vec![0u32; self.preorder.len()];
        for &v in &self.preorder {
            let parent = match self.idom[v as usize] {
                NONE => n,
                d => d as usize,
            };
            children[fill[parent] as usize] = v;
            fill[parent] += 1;
        }
        (offsets, children)
    }
}

/// Reverse CSR of `(offsets, targets)`: predecessors of each node.
pub(crate) fn reverse_csr(n: usize, offsets: &[u32], targets: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let mut rev_offsets = vec![0u32; n + 1];
    for &t in targets {
        rev_offsets[t as usize + 1] += 1;
    }
    for i in 0..n {
        rev_offsets[i + 1] += rev_offsets[i];
    }
    let mut fill = rev_offsets[..n].to_vec();
    let mut sources = vec![0u32; targets.len()];
    for v in 0..n {
        for &t in &targets[offsets[v] as usize..offsets[v + 1] as usize] {
            sources[fill[t as usize] as usize] = v as u32;
            fill[t as usize] += 1;
        }
    }
    (rev_offsets, sources)
}

/// Predecessors of each reached node as preorder numbers, indexed by preorder number
/// (CSR). The semidominator loop then reads its input in order instead of jumping
/// through the node-indexed reverse graph and `pre` for every predecessor.
fn predecessors_in_preorder(
    offsets: &[u32],
    targets: &[u32],
    pre: &[u32],
    count: usize,
    progress: &mut dyn Progress,
) -> (Vec<u32>, Vec<u32>) {
    let n = pre.len();
    // Two passes over the nodes: each counts as half of the step.
    let step = progress::dominators::REFERRERS;
    let mut rev_offsets = vec![0u32; count + 1];
    let mut edges = 0usize;
    for v in 0..n {
        if due(v) {
            progress.report(step, v as u64 / 2, n as u64);
        }
        if pre[v] == NONE {
            continue;
        }
        for &w in &targets[offsets[v] as usize..offsets[v + 1] as usize] {
            rev_offsets[pre[w as usize] as usize + 1] += 1;
            edges += 1;
        }
    }
    for i in 0..count {
        rev_offsets[i + 1] += rev_offsets[i];
    }
    let mut fill = rev_offsets[..count].to_vec();
    let mut sources = vec![0u32; edges];
    for v in 0..n {
        if due(v) {
            progress.report(step, (n + v) as u64 / 2, n as u64);
        }
        let pv = pre[v];
        if pv == NONE {
            continue;
        }
        for &w in &targets[offsets[v] as usize..offsets[v + 1] as usize] {
            let slot = &mut fill[pre[w as usize] as usize];
            sources[*slot as usize] = pv;
            *slot += 1;
        }
    }
    (rev_offsets, sources)
}

/// Semi-NCA over a CSR graph (`offsets.len() == n + 1`) from `roots`.
pub fn compute(
    offsets: &[u32],
    targets: &[u32],
    size: impl Fn(u32) -> u64,
    roots: &[u32],
) -> Dominators {
    compute_with_progress(offsets, targets, size, roots, &mut Silent)
}

/// [`compute`], reporting its position to `progress` once every
/// [`progress::EVERY_OBJECTS`] nodes of each step.
pub fn compute_with_progress(
    offsets: &[u32],
    targets: &[u32],
    size: impl Fn(u32) -> u64,
    roots: &[u32],
    progress: &mut dyn Progress,
) -> Dominators {
    let n = offsets.len().saturating_sub(1);
    progress.report(progress::dominators::NUMBER, 0, n as u64);
    // Preorder numbers; number 0 is the super-root.
    let mut pre = vec![NONE; n];
    let mut vertex: Vec<u32> = Vec::with_capacity(n + 1);
    let mut parent: Vec<u32> = Vec::with_capacity(n + 1);
    vertex.push(NONE);
    parent.push(0);
    let mut is_root = vec![false; n];
    let mut stack: Vec<(u32, u32)> = Vec::new();
    for &root in roots {
        let r = root as usize;
        if r >= n {
            continue;
        }
        is_root[r] = true;
        if pre[r] != NONE {
            continue;
        }
        pre[r] = vertex.len() as u32;
        vertex.push(root);
        parent.push(0);
        stack.push((root, offsets[r]));
        while let Some(top) = stack.last_mut() {
            let (v, pos) = *top;
            if pos < offsets[v as usize + 1] {
                top.1 += 1;
                let w = targets[pos as usize];
                if pre[w as usize] == NONE {
                    pre[w as usize] = vertex.len() as u32;
                    if due(vertex.len()) {
                        progress.report(
                            progress::dominators::NUMBER,
                            vertex.len() as u64,
                            n as u64,
                        );
                    }
                    vertex.push(w);
                    parent.push(pre[v as usize]);
                    stack.push((w, offsets[w as usize]));
                }
            } else {
                stack.pop();
            }
        }
    }
    drop(stack);
    let count = vertex.len();
    let (rev_offsets, sources) = predecessors_in_preorder(offsets, targets, &pre, count, progress);

    // Step 1: semidominators, in reverse preorder. `ancestor` is the forest of linked
    // nodes (a node is linked to its DFS parent once processed), compressed by `eval`.
    // The three per-node words `eval` reads together share one cache line (one miss per
    // predecessor on a heap much larger than the cache, instead of three).
    let mut idom = parent.clone();
    let mut info: Vec<Info> = parent
        .into_iter()
        .enumerate()
        .map(|(i, ancestor)| Info {
            ancestor,
            label: i as u32,
            semi: i as u32,
        })
        .collect();
    let mut eval_stack: Vec<u32> = Vec::new();
    let semi_step = progress::dominators::SEMI;
    for w in (1..count).rev() {
        if due(w) {
            progress.report(semi_step, (count - 1 - w) as u64, count as u64 - 1);
        }
        let node = vertex[w] as usize;
        let mut best = if is_root[node] { 0 } else { info[w].ancestor };
        if best != 0 {
            for &pv in &sources[rev_offsets[w] as usize..rev_offsets[w + 1] as usize] {
                let candidate = eval(pv, w as u32 + 1, &mut info, &mut eval_stack);
                if candidate < best {
                    best = candidate;
                    if best == 0 {
                        break;
                    }
                }
            }
        }
        info[w].semi = best;
    }
    let semi: Vec<u32> = info.iter().map(|i| i.semi).collect();
    drop(info);
    drop(sources);
    drop(rev_offsets);

    // Step 2: idom(w) = nearest ancestor of the DFS parent whose number is at most
    // semi(w); ancestors' idoms are final because they have smaller numbers.
    let tree_step = progress::dominators::TREE;
    for w in 1..count {
        if due(w) {
            progress.report(tree_step, (w - 1) as u64 / 2, count as u64 - 1);
        }
        let s = semi[w];
        let mut candidate = idom[w];
        while candidate > s {
            candidate = idom[candidate as usize];
        }
        idom[w] = candidate;
    }
    drop(semi);

    // Retained sizes: children have larger preorder numbers than their idom.
    let mut retained_pre: Vec<u64> = vertex
        .iter()
        .map(|&v| if v == NONE { 0 } else { size(v) })
        .collect();
    for w in (1..count).rev() {
        if due(w) {
            progress.report(tree_step, (2 * count - 2 - w) as u64 / 2, count as u64 - 1);
        }
        let d = idom[w] as usize;
        retained_pre[d] += retained_pre[w];
    }
    let mut idom_by_node = vec![NONE; n];
    let mut retained = vec![0u64; n];
    for w in 1..count {
        let v = vertex[w] as usize;
        retained[v] = retained_pre[w];
        let d = idom[w];
        idom_by_node[v] = if d == 0 { NONE } else { vertex[d as usize] };
    }
    vertex.remove(0);
    Dominators {
        idom: idom_by_node,
        retained,
        preorder: vertex,
    }
}

/// Per preorder number: forest ancestor, label, semidominator.
#[derive(Clone, Copy)]
struct Info {
    ancestor: u32,
    label: u32,
    semi: u32,
}

/// Lengauer–Tarjan `eval` with path compression: the minimum semidominator among the
/// labels on the forest path from `v` up to (not including) its forest root. Nodes
/// numbered below `last_linked` are not linked yet.
#[inline]
fn eval(v: u32, last_linked: u32, info: &mut [Info], stack: &mut Vec<u32>) -> u32 {
    let first = info[v as usize];
    if first.ancestor < last_linked {
        return info[first.label as usize].semi;
    }
    let mut x = v;
    loop {
        stack.push(x);
        x = info[x as usize].ancestor;
        if info[x as usize].ancestor < last_linked {
            break;
        }
    }
    let mut p = x;
    let mut p_label = info[p as usize].label;
    let mut last = v;
    while let Some(y) = stack.pop() {
        info[y as usize].ancestor = info[p as usize].ancestor;
        let y_label = info[y as usize].label;
        if info[p_label as usize].semi < info[y_label as usize].semi {
            info[y as usize].label = p_label;
        } else {
            p_label = y_label;
        }
        p = y;
        last = y;
    }
    info[info[last as usize].label as usize].semi
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn csr(n: usize, edges: &[(u32, u32)]) -> (Vec<u32>, Vec<u32>) {
        let mut rows = vec![Vec::new(); n];
        for &(a, b) in edges {
            rows[a as usize].push(b);
        }
        let mut offsets = vec![0u32];
        let mut targets = Vec::new();
        for row in rows {
            targets.extend(row);
            offsets.push(targets.len() as u32);
        }
        (offsets, targets)
    }

    /// Reachable set from `roots` avoiding `blocked`.
    fn reach(n: usize, rows: &[Vec<u32>], roots: &[u32], blocked: Option<u32>) -> Vec<bool> {
        let mut seen = vec![false; n];
        let mut stack: Vec<u32> = roots
            .iter()
            .copied()
            .filter(|&r| Some(r) != blocked)
            .collect();
        for &r in &stack {
            seen[r as usize] = true;
        }
        while let Some(v) = stack.pop() {
            for &w in &rows[v as usize] {
                if Some(w) != blocked && !seen[w as usize] {
                    seen[w as usize] = true;
                    stack.push(w);
                }
            }
        }
        seen
    }

    /// Naive dominators: d dominates v iff removing d makes v unreachable.
    fn naive(n: usize, edges: &[(u32, u32)], roots: &[u32]) -> (Vec<Option<u32>>, Vec<u64>) {
        let mut rows = vec![Vec::new(); n];
        for &(a, b) in edges {
            rows[a as usize].push(b);
        }
        let all = reach(n, &rows, roots, None);
        // doms[v] = set of strict dominators of v.
        let mut doms: Vec<Vec<u32>> = vec![Vec::new(); n];
        for d in 0..n as u32 {
            if !all[d as usize] {
                continue;
            }
            let without = reach(n, &rows, roots, Some(d));
            for v in 0..n {
                if v as u32 != d && all[v] && !without[v] {
                    doms[v].push(d);
                }
            }
        }
        // idom = the strict dominator dominated by all other strict dominators (the one
        // with the most dominators itself).
        let idom: Vec<Option<u32>> = (0..n)
            .map(|v| {
                doms[v]
                    .iter()
                    .copied()
                    .max_by_key(|&d| doms[d as usize].len())
            })
            .collect();
        let mut retained = vec![0u64; n];
        for v in 0..n {
            if !all[v] {
                continue;
            }
            retained[v] += (v as u64) + 1;
            for &d in &doms[v] {
                retained[d as usize] += (v as u64) + 1;
            }
        }
        (idom, retained)
    }

    #[test]
    fn diamond_and_chain() {
        // 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3, 3 -> 4
        let (o, t) = csr(5, &[(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)]);
        let d = compute(&o, &t, |_| 10, &[0]);
        assert_eq!(d.idom(0), None);
        assert_eq!(d.idom(1), Some(0));
        assert_eq!(d.idom(3), Some(0));
        assert_eq!(d.idom(4), Some(3));
        assert_eq!(d.retained(0), 50);
        assert_eq!(d.retained(3), 20);
        assert_eq!(d.retained(1), 10);
    }

    #[test]
    fn two_roots_share_an_object() {
        let (o, t) = csr(3, &[(0, 2), (1, 2)]);
        let d = compute(&o, &t, |_| 1, &[0, 1]);
        assert_eq!(d.idom(2), None);
        assert_eq!(d.retained(0), 1);
        assert_eq!(d.retained(2), 1);
    }

    #[test]
    fn long_chain_needs_no_recursion() {
        let n = 2_000_000u32;
        let edges: Vec<(u32, u32)> = (0..n - 1).map(|i| (i, i + 1)).collect();
        let (o, t) = csr(n as usize, &edges);
        let d = compute(&o, &t, |_| 1, &[0]);
        assert_eq!(d.retained(0), n as u64);
        assert_eq!(d.idom(n - 1), Some(n - 2));
    }

    #[test]
    fn tree_lists_children() {
        let (o, t) = csr(4, &[(0, 1), (0, 2), (2, 3)]);
        let d = compute(&o, &t, |_| 1, &[0]);
        let (offsets, children) = d.tree();
        let kids = |v: usize| &children[offsets[v] as usize..offsets[v + 1] as usize];
        assert_eq!(kids(4), &[0]);
        let mut k0 = kids(0).to_vec();
        k0.sort();
        assert_eq!(k0, vec![1, 2]);
        assert_eq!(kids(2), &[3]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn matches_naive_dominators(
            n in 1usize..24,
            raw_edges in proptest::collection::vec((0u32..24, 0u32..24), 0..60),
            raw_roots in proptest::collection::vec(0u32..24, 1..4),
        ) {
            let edges: Vec<(u32, u32)> = raw_edges
                .into_iter()
                .map(|(a, b)| (a % n as u32, b % n as u32))
                .collect();
            let roots: Vec<u32> = raw_roots.into_iter().map(|r| r % n as u32).collect();
            let (o, t) = csr(n, &edges);
            let d = compute(&o, &t, |v| v as u64 + 1, &roots);
            let (idom, retained) = naive(n, &edges, &roots);
            for v in 0..n as u32 {
                prop_assert_eq!(d.idom(v), idom[v as usize], "idom of {}", v);
                prop_assert_eq!(d.retained(v), retained[v as usize], "retained of {}", v);
            }
        }
    }
}
