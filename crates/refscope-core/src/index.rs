//! [`AddressIndex`]: maps object addresses to dense node ids.
//!
//! Why not `HashMap<u64, u32>`: hashbrown rounds capacity to a power of two and stores
//! 16-byte entries, ~34 bytes per object at one million objects. This table stores keys
//! and values in two flat arrays sized to 1.5× the object count (≈18 bytes per object)
//! and uses linear probing; a miss (an edge leaving the analysed set, the common case for
//! references to types, modules and interned strings) touches only the key array.

use crate::CoreError;

const EMPTY: u64 = 0;

/// Open-addressing map from a non-zero address to a `u32` node id.
#[derive(Debug, Clone)]
pub struct AddressIndex {
    keys: Vec<u64>,
    values: Vec<u32>,
    len: usize,
}

impl AddressIndex {
    /// A table able to hold `expected` addresses without growing.
    pub fn with_capacity(expected: usize) -> Self {
        let capacity = (expected + expected / 2).max(16);
        AddressIndex {
            keys: vec![EMPTY; capacity],
            values: vec![0; capacity],
            len: 0,
        }
    }

    /// Number of addresses stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no address is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the table itself.
    pub fn memory_bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.values.capacity() * 4
    }

    #[inline]
    fn home_slot(&self, key: u64) -> usize {
        // Objects are 16-byte aligned, so the low bits carry no information; Fibonacci
        // hashing spreads the rest and the 128-bit product maps it onto 0..capacity
        // without needing a power-of-two capacity.
        let hash = (key >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        ((hash as u128 * self.keys.len() as u128) >> 64) as usize
    }

    /// Inserts `key → value` unless `key` is present; returns the id stored for `key`.
    pub fn insert(&mut self, key: u64, value: u32) -> Result<u32, CoreError> {
        if key == EMPTY {
            return Err(CoreError::NullAddress);
        }
        if (self.len + 1) * 4 > self.keys.len() * 3 {
            self.grow();
        }
        let capacity = self.keys.len();
        let mut slot = self.home_slot(key);
        loop {
            let found = self.keys[slot];
            if found == key {
                return Ok(self.values[slot]);
            }
            if found == EMPTY {
                self.keys[slot] = key;
                self.values[slot] = value;
                self.len += 1;
                return Ok(value);
            }
            slot += 1;
            if slot == capacity {
                slot = 0;
            }
        }
    }

    /// The id stored for `key`, if any.
    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        let capacity = self.keys.len();
        let mut slot = self.home_slot(key);
        loop {
            let found = self.keys[slot];
            if found == key && key != EMPTY {
                return Some(self.values[slot]);
            }
            if found == EMPTY {
                return None;
            }
            slot += 1;
            if slot == capacity {
                slot = 0;
            }
        }
    }

    fn grow(&mut self) {
        let old_keys = std::mem::take(&mut self.keys);
        let old_values = std::mem::take(&mut self.values);
        let capacity = old_keys.len() * 2;
        self.keys = vec![EMPTY; capacity];
        self.values = vec![0; capacity];
        self.len = 0;
        for (key, value) in old_keys.into_iter().zip(old_values) {
            if key != EMPTY {
                // Cannot fail: keys already stored are non-zero and the table has room.
                let _ = self.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn zero_address_is_rejected() {
        let mut index = AddressIndex::with_capacity(4);
        assert_eq!(index.insert(0, 1), Err(CoreError::NullAddress));
        assert_eq!(index.get(0), None);
    }

    #[test]
    fn duplicate_insert_returns_first_id() {
        let mut index = AddressIndex::with_capacity(4);
        assert_eq!(index.insert(0x1000, 7), Ok(7));
        assert_eq!(index.insert(0x1000, 9), Ok(7));
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn grows_past_initial_capacity() {
        let mut index = AddressIndex::with_capacity(1);
        for i in 1..=1000u64 {
            index.insert(i * 16, i as u32).unwrap();
        }
        for i in 1..=1000u64 {
            assert_eq!(index.get(i * 16), Some(i as u32));
        }
        assert_eq!(index.get(1001 * 16), None);
    }

    #[test]
    fn memory_is_about_eighteen_bytes_per_address() {
        let index = AddressIndex::with_capacity(1_000_000);
        assert!(index.memory_bytes() <= 18 * 1_000_000 + 1024);
    }

    proptest! {
        #[test]
        fn behaves_like_a_hash_map(keys in proptest::collection::vec(1u64..1 << 40, 0..500)) {
            let mut index = AddressIndex::with_capacity(keys.len() / 3);
            let mut oracle = HashMap::new();
            for (i, key) in keys.iter().enumerate() {
                let expected = *oracle.entry(*key).or_insert(i as u32);
                prop_assert_eq!(index.insert(*key, i as u32).unwrap(), expected);
            }
            prop_assert_eq!(index.len(), oracle.len());
            for (key, value) in &oracle {
                prop_assert_eq!(index.get(*key), Some(*value));
            }
        }
    }
}
