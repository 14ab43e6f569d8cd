//! Shortest reference chains, breadth first: what objgraph's `find_ref_chain` and
//! `find_backref_chain` compute, over dense node ids instead of Python objects.
//!
//! [`ReverseEdges`] turns a walked [`Graph`] (object → what it refers to) into "who refers
//! to this object", in the order `gc.get_referrers` reports it: referrers in walk order,
//! each once. [`shortest_chain`] is the breadth-first search itself; it asks its caller
//! for a node's neighbours and whether a node ends the chain, so the same search serves
//! the forward direction (neighbours discovered lazily through `tp_traverse`) and the
//! backward one (neighbours from [`ReverseEdges`]).

use crate::graph::Graph;
use crate::CoreError;
use std::collections::VecDeque;

/// The transpose of a [`Graph`]: for each node, the nodes with an edge to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReverseEdges {
    offsets: Vec<usize>,
    sources: Vec<u32>,
}

fn reserve<T>(what: &'static str, len: usize) -> Result<Vec<T>, CoreError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| CoreError::TooLarge {
        what,
        limit: len as u64,
    })?;
    Ok(v)
}

impl ReverseEdges {
    /// Transposes `graph`. A source with several edges to one target (a list holding the
    /// same object twice) is listed once for that target, as `gc.get_referrers` does.
    pub fn of(graph: &Graph) -> Result<ReverseEdges, CoreError> {
        let n = graph.node_count();
        let mut last_source: Vec<u32> = reserve("reverse edge rows", n)?;
        last_source.resize(n, u32::MAX);
        let mut counts: Vec<usize> = reserve("reverse edge rows", n + 1)?;
        counts.resize(n + 1, 0);
        let mut total = 0usize;
        for source in 0..n as u32 {
            for &target in graph.successors(source) {
                let t = target as usize;
                if last_source[t] != source {
                    last_source[t] = source;
                    counts[t + 1] += 1;
                    total += 1;
                }
            }
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let offsets = counts;
        let mut fill: Vec<usize> = reserve("reverse edge rows", n)?;
        fill.extend_from_slice(&offsets[..n]);
        let mut sources: Vec<u32> = reserve("reverse edges", total)?;
        sources.resize(total, 0);
        last_source.fill(u32::MAX);
        for source in 0..n as u32 {
            for &target in graph.successors(source) {
                let t = target as usize;
                if last_source[t] != source {
                    last_source[t] = source;
                    sources[fill[t]] = source;
                    fill[t] += 1;
                }
            }
        }
        Ok(ReverseEdges { offsets, sources })
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The nodes that refer to `node`, in increasing node order (walk order).
    #[inline]
    pub fn referrers(&self, node: u32) -> &[u32] {
        let node = node as usize;
        &self.sources[self.offsets[node]..self.offsets[node + 1]]
    }

    /// Bytes held (for benchmarks).
    pub fn memory_bytes(&self) -> usize {
        self.offsets.capacity() * std::mem::size_of::<usize>() + self.sources.capacity() * 4
    }
}

const UNSEEN: u32 = u32::MAX;

/// Breadth-first search for the nearest node for which `is_end` holds, starting at
/// `start` (which is tested first) and expanding nodes at depth below `max_depth`.
///
/// `neighbours(node, out)` appends the neighbours of `node` to `out` (ignored nodes
/// already left out); nodes are tested in the order they were first reached, so among
/// equally short chains the one through earlier neighbours wins, as in objgraph.
/// Node ids may be discovered lazily: any `u32` below `u32::MAX` is accepted.
///
/// Returns the chain from the node found back to `start` (`[found, ..., start]`), or
/// `None` when no node within `max_depth` satisfies `is_end`. Errors of the callbacks
/// stop the search and are returned as they are.
pub fn shortest_chain<E>(
    start: u32,
    max_depth: u32,
    mut neighbours: impl FnMut(u32, &mut Vec<u32>) -> Result<(), E>,
    mut is_end: impl FnMut(u32) -> Result<bool, E>,
) -> Result<Option<Vec<u32>>, E> {
    // parent[v] == UNSEEN: not reached yet; the start is its own parent.
    let mut parent: Vec<u32> = Vec::new();
    fn slot(parent: &mut Vec<u32>, node: u32) -> &mut u32 {
        let i = node as usize;
        if i >= parent.len() {
            parent.resize((i + 1).max(parent.len() * 2), UNSEEN);
        }
        &mut parent[i]
    }
    *slot(&mut parent, start) = start;
    let mut queue: VecDeque<(u32, u32)> = VecDeque::new();
    queue.push_back((start, 0));
    let mut found_neighbours = Vec::new();
    while let Some((node, depth)) = queue.pop_front() {
        if is_end(node)? {
            let mut chain = vec![node];
            let mut at = node;
            while at != start {
                at = parent[at as usize];
                chain.push(at);
            }
            return Ok(Some(chain));
        }
        if depth >= max_depth {
            continue;
        }
        found_neighbours.clear();
        neighbours(node, &mut found_neighbours)?;
        for &next in &found_neighbours {
            if next == UNSEEN {
                continue;
            }
            let p = slot(&mut parent, next);
            if *p == UNSEEN {
                *p = node;
                queue.push_back((next, depth + 1));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn graph(n: usize, edges: &[(u32, u32)]) -> Graph {
        Graph::from_edges(n, edges).unwrap()
    }

    fn search(
        g: &Graph,
        start: u32,
        max_depth: u32,
        end: impl Fn(u32) -> bool,
    ) -> Option<Vec<u32>> {
        shortest_chain::<Infallible>(
            start,
            max_depth,
            |n, out| {
                out.extend_from_slice(g.successors(n));
                Ok(())
            },
            |n| Ok(end(n)),
        )
        .unwrap()
    }

    #[test]
    fn reverse_edges_list_each_referrer_once_in_walk_order() {
        let g = graph(4, &[(0, 1), (0, 1), (2, 1), (3, 1), (3, 0), (1, 0)]);
        let r = ReverseEdges::of(&g).unwrap();
        assert_eq!(r.referrers(1), &[0, 2, 3]);
        assert_eq!(r.referrers(0), &[1, 3]);
        assert!(r.referrers(2).is_empty());
        assert_eq!(r.node_count(), 4);
    }

    #[test]
    fn reverse_of_empty_graph() {
        let r = ReverseEdges::of(&graph(0, &[])).unwrap();
        assert_eq!(r.node_count(), 0);
    }

    #[test]
    fn start_is_tested_first() {
        let g = graph(2, &[(0, 1)]);
        assert_eq!(search(&g, 0, 5, |n| n == 0), Some(vec![0]));
    }

    #[test]
    fn finds_shortest_chain_and_returns_it_end_first() {
        // 0 -> 1 -> 2 -> 3 and a shortcut 0 -> 4 -> 3
        let g = graph(5, &[(0, 1), (1, 2), (2, 3), (0, 4), (4, 3)]);
        assert_eq!(search(&g, 0, 20, |n| n == 3), Some(vec![3, 4, 0]));
    }

    #[test]
    fn ties_go_to_the_earlier_neighbour() {
        let g = graph(4, &[(0, 1), (0, 2), (1, 3), (2, 3)]);
        assert_eq!(search(&g, 0, 20, |n| n == 3), Some(vec![3, 1, 0]));
    }

    #[test]
    fn max_depth_limits_expansion() {
        let g = graph(4, &[(0, 1), (1, 2), (2, 3)]);
        assert_eq!(search(&g, 0, 2, |n| n == 3), None);
        assert_eq!(search(&g, 0, 3, |n| n == 3), Some(vec![3, 2, 1, 0]));
        assert_eq!(search(&g, 0, 0, |n| n == 1), None);
    }

    #[test]
    fn cycles_terminate() {
        let g = graph(3, &[(0, 1), (1, 2), (2, 0)]);
        assert_eq!(search(&g, 0, 100, |_| false), None);
    }

    #[test]
    fn each_node_tested_once_in_bfs_order() {
        let g = graph(5, &[(0, 2), (0, 1), (2, 3), (1, 3), (3, 4), (4, 0)]);
        let mut tested = Vec::new();
        let _ = shortest_chain::<Infallible>(
            0,
            10,
            |n, out| {
                out.extend_from_slice(g.successors(n));
                Ok(())
            },
            |n| {
                tested.push(n);
                Ok(false)
            },
        );
        assert_eq!(tested, vec![0, 2, 1, 3, 4]);
    }

    #[test]
    fn errors_stop_the_search() {
        let g = graph(3, &[(0, 1), (1, 2)]);
        let result = shortest_chain(
            0,
            10,
            |n, out: &mut Vec<u32>| {
                out.extend_from_slice(g.successors(n));
                Ok(())
            },
            |n| if n == 1 { Err("boom") } else { Ok(false) },
        );
        assert_eq!(result, Err("boom"));
    }

    #[test]
    fn lazily_discovered_sparse_ids() {
        // ids far apart, as a caller that numbers objects on discovery might hand out
        let result = shortest_chain::<Infallible>(
            7,
            10,
            |n, out| {
                if n == 7 {
                    out.push(1_000_000);
                }
                if n == 1_000_000 {
                    out.push(3);
                }
                Ok(())
            },
            |n| Ok(n == 3),
        )
        .unwrap();
        assert_eq!(result, Some(vec![3, 1_000_000, 7]));
    }

    #[test]
    fn backward_search_over_reverse_edges() {
        // module(0) -> dict(1) -> list(2) -> target(3); other(4) -> target
        let g = graph(5, &[(0, 1), (1, 2), (2, 3), (4, 3)]);
        let r = ReverseEdges::of(&g).unwrap();
        let chain = shortest_chain::<Infallible>(
            3,
            20,
            |n, out| {
                out.extend_from_slice(r.referrers(n));
                Ok(())
            },
            |n| Ok(n == 0),
        )
        .unwrap();
        assert_eq!(chain, Some(vec![0, 1, 2, 3]));
    }
}
