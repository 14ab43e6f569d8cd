//! [`Graph`]: a directed graph over dense `u32` node ids in compressed sparse rows.
//!
//! Four bytes per node (row offsets) and four per edge (targets). Rows are filled in node
//! order by [`GraphBuilder`], which matches how the heap walker visits objects: traverse
//! object 0, then object 1, and so on.

use crate::CoreError;

/// Directed graph in CSR form. Node `v`'s successors are `targets[offsets[v]..offsets[v+1]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl Graph {
    /// Builds a graph from an edge list (for tests and small inputs).
    pub fn from_edges(node_count: usize, edges: &[(u32, u32)]) -> Result<Graph, CoreError> {
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); node_count];
        for &(from, to) in edges {
            for id in [from, to] {
                if id as usize >= node_count {
                    return Err(CoreError::NodeOutOfRange {
                        id,
                        count: node_count as u32,
                    });
                }
            }
            rows[from as usize].push(to);
        }
        let mut builder = GraphBuilder::with_capacity(node_count, edges.len());
        for row in rows {
            builder.start_node()?;
            for to in row {
                builder.push_edge(to);
            }
        }
        builder.finish()
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Number of edges (parallel edges counted).
    pub fn edge_count(&self) -> usize {
        self.targets.len()
    }

    /// Successors of `node`.
    #[inline]
    pub fn successors(&self, node: u32) -> &[u32] {
        let start = self.offsets[node as usize] as usize;
        let end = self.offsets[node as usize + 1] as usize;
        &self.targets[start..end]
    }

    /// Edges into each node (parallel edges counted), saturating at `u8::MAX`: one byte
    /// per node, for callers that only need to know small counts exactly.
    pub fn in_degrees_saturating(&self) -> Vec<u8> {
        let mut degrees = vec![0u8; self.node_count()];
        for &target in &self.targets {
            let degree = &mut degrees[target as usize];
            *degree = degree.saturating_add(1);
        }
        degrees
    }

    /// True when `from` has an edge to `to`.
    pub fn has_edge(&self, from: u32, to: u32) -> bool {
        self.successors(from).contains(&to)
    }

    /// Renames every edge target `t` to `names[t]`, where `names` is a permutation of
    /// the node ids (a walk that looked referents up under other ids than its nodes').
    pub fn rename_targets(&mut self, names: &[u32]) -> Result<(), CoreError> {
        let count = self.node_count() as u32;
        if names.len() != count as usize {
            return Err(CoreError::NodeOutOfRange {
                id: names.len() as u32,
                count,
            });
        }
        if let Some(&bad) = names.iter().find(|&&name| name >= count) {
            return Err(CoreError::NodeOutOfRange { id: bad, count });
        }
        // Independent loads in a tight loop: the CPU overlaps their cache misses.
        for target in &mut self.targets {
            *target = names[*target as usize];
        }
        Ok(())
    }

    /// Bytes held by the graph.
    pub fn memory_bytes(&self) -> usize {
        (self.offsets.capacity() + self.targets.capacity()) * 4
    }
}

/// Fills a [`Graph`] row by row.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl GraphBuilder {
    /// Reserves room for `nodes` rows and `edges` edges.
    pub fn with_capacity(nodes: usize, edges: usize) -> Self {
        let mut offsets = Vec::with_capacity(nodes + 1);
        offsets.push(0);
        GraphBuilder {
            offsets,
            targets: Vec::with_capacity(edges),
        }
    }

    /// Starts the next node's row; edges pushed after this belong to it.
    pub fn start_node(&mut self) -> Result<(), CoreError> {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let count = self.offsets.len() - 1;
        if count >= u32::MAX as usize {
            return Err(CoreError::TooLarge {
                what: "node count",
                limit: u32::MAX as u64 - 1,
            });
        }
        if count > 0 {
            self.close_row()?;
        }
        self.offsets.push(u32::MAX); // placeholder, closed by the next start or finish
        Ok(())
    }

    fn close_row(&mut self) -> Result<(), CoreError> {
        if self.targets.len() >= u32::MAX as usize {
            return Err(CoreError::TooLarge {
                what: "edge count",
                limit: u32::MAX as u64 - 1,
            });
        }
        if let Some(last) = self.offsets.last_mut() {
            *last = self.targets.len() as u32;
        }
        Ok(())
    }

    /// Adds an edge from the current node to `to`.
    #[inline]
    pub fn push_edge(&mut self, to: u32) {
        self.targets.push(to);
    }

    /// Makes room for `edges` edges in all (pushed or to come), at once: a vector that
    /// grows by doubling up to tens of megabytes may keep the old and the new buffer at
    /// the same time, and end up to twice as large as needed.
    pub fn reserve_edges(&mut self, edges: usize) {
        self.targets
            .reserve_exact(edges.saturating_sub(self.targets.len()));
    }

    /// Edges pushed so far (all rows).
    pub fn edge_count(&self) -> usize {
        self.targets.len()
    }

    /// Closes the last row and checks every target names a node.
    pub fn finish(mut self) -> Result<Graph, CoreError> {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        if self.offsets.len() > 1 {
            self.close_row()?;
        }
        let count = (self.offsets.len() - 1) as u32;
        if let Some(&bad) = self.targets.iter().find(|&&t| t >= count) {
            return Err(CoreError::NodeOutOfRange { id: bad, count });
        }
        self.targets.shrink_to_fit();
        Ok(Graph {
            offsets: self.offsets,
            targets: self.targets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_hold_their_successors() {
        let g = Graph::from_edges(3, &[(0, 1), (1, 2), (2, 0), (0, 2)]).unwrap();
        assert_eq!(g.node_count(), 3);
        assert_eq!(g.edge_count(), 4);
        assert_eq!(g.successors(0), &[1, 2]);
        assert_eq!(g.successors(2), &[0]);
        assert!(g.has_edge(1, 2));
        assert!(!g.has_edge(2, 1));
    }

    #[test]
    fn in_degrees_count_parallel_edges_and_saturate() {
        let g = Graph::from_edges(3, &[(0, 1), (0, 1), (2, 1), (1, 1), (2, 0)]).unwrap();
        assert_eq!(g.in_degrees_saturating(), vec![1, 4, 0]);
        let many: Vec<(u32, u32)> = (0..300).map(|_| (0, 1)).collect();
        let g = Graph::from_edges(2, &many).unwrap();
        assert_eq!(g.in_degrees_saturating(), vec![0, 255]);
    }

    #[test]
    fn targets_are_renamed() {
        let mut g = Graph::from_edges(3, &[(0, 1), (1, 2), (2, 0)]).unwrap();
        g.rename_targets(&[2, 0, 1]).unwrap();
        assert_eq!(g.successors(0), &[0]);
        assert_eq!(g.successors(1), &[1]);
        assert_eq!(g.successors(2), &[2]);
        assert!(g.rename_targets(&[0, 1]).is_err());
        assert!(g.rename_targets(&[0, 1, 3]).is_err());
    }

    #[test]
    fn empty_graph_has_no_nodes() {
        let g = Graph::from_edges(0, &[]).unwrap();
        assert_eq!(g.node_count(), 0);
        assert_eq!(GraphBuilder::default().finish().unwrap().node_count(), 0);
    }

    #[test]
    fn out_of_range_target_is_an_error() {
        assert_eq!(
            Graph::from_edges(2, &[(0, 5)]),
            Err(CoreError::NodeOutOfRange { id: 5, count: 2 })
        );
        let mut b = GraphBuilder::default();
        b.start_node().unwrap();
        b.push_edge(3);
        assert!(b.finish().is_err());
    }

    #[test]
    fn builder_handles_empty_rows() {
        let mut b = GraphBuilder::with_capacity(3, 1);
        b.start_node().unwrap();
        b.start_node().unwrap();
        b.push_edge(0);
        b.start_node().unwrap();
        let g = b.finish().unwrap();
        assert_eq!(g.successors(0), &[] as &[u32]);
        assert_eq!(g.successors(1), &[0]);
        assert_eq!(g.successors(2), &[] as &[u32]);
    }
}
