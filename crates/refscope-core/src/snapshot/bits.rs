//! [`NodeBits`]: one bit per node, for the marks of graph searches.
//!
//! A search over millions of nodes touches its marks at random; a bit each keeps them in
//! an eighth of the memory of a `Vec<bool>` (128 KiB per million nodes: mostly in cache).

/// A fixed-size set of node ids.
#[derive(Debug, Clone, Default)]
pub struct NodeBits {
    words: Vec<u64>,
}

impl NodeBits {
    /// An empty set for ids below `n`.
    pub fn new(n: usize) -> Self {
        NodeBits {
            words: vec![0; n.div_ceil(64)],
        }
    }

    /// Adds `node`; true if it was not in the set.
    #[inline]
    pub fn insert(&mut self, node: u32) -> bool {
        let (word, bit) = (node as usize / 64, 1u64 << (node % 64));
        let was = self.words[word] & bit;
        self.words[word] |= bit;
        was == 0
    }

    #[inline]
    pub fn contains(&self, node: u32) -> bool {
        self.words[node as usize / 64] & (1u64 << (node % 64)) != 0
    }

    /// Removes every node.
    pub fn clear(&mut self) {
        self.words.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_clear() {
        let mut bits = NodeBits::new(130);
        assert!(!bits.contains(129));
        assert!(bits.insert(129));
        assert!(!bits.insert(129));
        assert!(bits.insert(0) && bits.insert(64) && bits.contains(64) && !bits.contains(63));
        bits.clear();
        assert!(!bits.contains(129) && !bits.contains(0));
    }
}
