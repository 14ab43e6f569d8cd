//! [`AddressIndex`]: maps object addresses to dense node ids.
//!
//! Every lookup of the heap walk goes through this map (one per reference visited), and on
//! heaps of millions of objects a random memory access costs ~90 ns on our machines, more
//! than the rest of the work per reference. Two layouts, chosen from the addresses:
//!
//! * **Paged** (the usual case): pymalloc packs objects into pools, so the analysed objects
//!   sit densely in few memory pages, and objects that refer to each other were usually
//!   allocated close together. A map from 2 KiB page to a block of 128 slots (one per 16
//!   bytes, the allocation granularity) keeps address order: inserting objects in
//!   allocation order writes memory sequentially, and a lookup of a neighbour hits a cache
//!   line that is already loaded. The page map is a table per 1 MiB region (small enough
//!   to stay in cache), not a hash map per page. Used when it costs at most 20 bytes per
//!   object.
//! * **Hashed** (sparse addresses): open addressing with Fibonacci hashing over two flat
//!   arrays sized to 1.5× the object count (≈18 bytes per object). Why not
//!   `HashMap<u64, u32>`: hashbrown rounds capacity to a power of two and stores 16-byte
//!   entries, ~34 bytes per object at one million objects.

use crate::CoreError;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::atomic::{AtomicU64, Ordering};

const EMPTY: u64 = 0;

/// Open-addressing map from a non-zero address to a `u32` node id.
#[derive(Debug, Clone)]
pub struct HashedIndex {
    keys: Vec<u64>,
    values: Vec<u32>,
    len: usize,
    /// Lowest and highest address stored: most references that leave the analysed set
    /// (types, modules, code, interned strings: objects made early) fall outside and are
    /// answered without touching the table.
    bounds: (u64, u64),
}

impl HashedIndex {
    /// A table able to hold `expected` addresses without growing.
    pub fn with_capacity(expected: usize) -> Self {
        let capacity = (expected + expected / 2).max(16);
        HashedIndex {
            keys: vec![EMPTY; capacity],
            values: vec![0; capacity],
            len: 0,
            bounds: (u64::MAX, 0),
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
        // Hash the 2 KiB page, not the address: objects of one page get consecutive home
        // slots (one per 16-byte granule, objects being 16-byte aligned), so inserting in
        // allocation order and looking up neighbours stay within a few cache lines, as in
        // the paged layout. Fibonacci hashing spreads the pages; the 128-bit product maps
        // the hash onto 0..capacity without needing a power-of-two capacity.
        let capacity = self.keys.len();
        let hash = (key >> PAGE_SHIFT).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let base = ((hash as u128 * capacity as u128) >> 64) as usize;
        let granule = ((key >> GRANULE_SHIFT) as usize) & (PAGE_SLOTS - 1);
        (base + granule) % capacity
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
                self.bounds = (self.bounds.0.min(key), self.bounds.1.max(key));
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
        if key < self.bounds.0 || key > self.bounds.1 {
            return None;
        }
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

/// Address → node id, in the layout that suits the addresses (see the module docs).
// One index per walk, so its size does not matter; a box would add a pointer to follow
// on every lookup.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AddressIndex {
    Hashed(HashedIndex),
    Paged(PagedIndex),
}

impl AddressIndex {
    /// An empty hashed index able to hold `expected` addresses without growing.
    pub fn with_capacity(expected: usize) -> Self {
        AddressIndex::Hashed(HashedIndex::with_capacity(expected))
    }

    /// An empty index in the layout that suits `addresses` (which it does not insert).
    pub fn for_addresses(addresses: impl IntoIterator<Item = u64>) -> Self {
        let (paged_bytes, count) = paged_layout_cost(addresses);
        if paged_bytes <= (PAGED_MAX_BYTES_PER_OBJECT * count).max(1 << 20) {
            AddressIndex::Paged(PagedIndex::with_pages(paged_bytes / (PAGE_SLOTS * 4)))
        } else {
            AddressIndex::with_capacity(count)
        }
    }

    /// An empty index for a walk that starts from `addresses` and will insert about
    /// `growth` times as many objects as it finds (a heap walk adds the untracked objects
    /// that the tracked ones refer to). Judged on the expected total: the untracked
    /// objects mostly share pymalloc pools (and so pages) with tracked ones of the same
    /// size class, which costs the paged layout nothing more, while a hashed table sized
    /// for the start would grow twice.
    pub fn for_walk(addresses: impl IntoIterator<Item = u64>, growth: usize) -> Self {
        let (paged_bytes, count) = paged_layout_cost(addresses);
        let growth = growth.max(1);
        if paged_bytes <= (PAGED_MAX_BYTES_PER_OBJECT * count * growth).max(1 << 20) {
            // Room for the pages of the untracked objects too (floats and ints have
            // pools of their own): address space, not memory, until used.
            AddressIndex::Paged(PagedIndex::with_pages(paged_bytes / (PAGE_SLOTS * 4) * 2))
        } else {
            AddressIndex::with_capacity(count * growth)
        }
    }

    /// Inserts `key → value` unless `key` is present; returns the id stored for `key`.
    #[inline]
    pub fn insert(&mut self, key: u64, value: u32) -> Result<u32, CoreError> {
        match self {
            AddressIndex::Hashed(index) => index.insert(key, value),
            AddressIndex::Paged(index) => index.insert(key, value),
        }
    }

    /// The id stored for `key`, if any.
    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        match self {
            AddressIndex::Hashed(index) => index.get(key),
            AddressIndex::Paged(index) => index.get(key),
        }
    }

    /// Number of addresses stored.
    pub fn len(&self) -> usize {
        match self {
            AddressIndex::Hashed(index) => index.len(),
            AddressIndex::Paged(index) => index.len,
        }
    }

    /// True when no address is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the index.
    pub fn memory_bytes(&self) -> usize {
        match self {
            AddressIndex::Hashed(index) => index.memory_bytes(),
            AddressIndex::Paged(index) => index.memory_bytes(),
        }
    }
}

/// Bytes the paged layout needs for `addresses`, and how many there are.
fn paged_layout_cost(addresses: impl IntoIterator<Item = u64>) -> (usize, usize) {
    let mut pages: FxHashSet<u64> = FxHashSet::default();
    let mut regions: FxHashSet<u64> = FxHashSet::default();
    let mut last = u64::MAX;
    let mut count = 0usize;
    for address in addresses {
        count += 1;
        let page = address >> PAGE_SHIFT;
        if page != last {
            if pages.insert(page) {
                regions.insert(address >> REGION_SHIFT);
            }
            last = page;
        }
    }
    let bytes = pages.len() * PAGE_SLOTS * 4 + regions.len() * (REGION_PAGES * 4 + 16);
    (bytes, count)
}

const PAGE_SHIFT: u32 = 11; // 2 KiB pages
/// The paged layout is used while it costs at most this much per object (the hashed one
/// costs ~18 bytes); it keeps the walk's peak memory near 32 bytes per object.
const PAGED_MAX_BYTES_PER_OBJECT: usize = 20;
const GRANULE_SHIFT: u32 = 4; // pymalloc and glibc malloc align objects to 16 bytes
const GRANULE_MASK: u64 = (1 << GRANULE_SHIFT) - 1;
const PAGE_SLOTS: usize = 1 << (PAGE_SHIFT - GRANULE_SHIFT);

/// Page → block of slots; slot value is node id + 1 (0 = empty). See the module docs.
///
/// The page → block map has two levels: a hash map from 1 MiB region (a pymalloc arena
/// is 1 MiB on 3.10+, Objects/obmalloc.c `ARENA_BITS`) to a row of 512 entries, one per
/// page of the region. A heap walk looks up a random neighbour per reference; the rows
/// (2 KiB per region) and the small region map stay in cache where a map with one entry
/// per page would miss it on most lookups.
#[derive(Debug, Default)]
pub struct PagedIndex {
    regions: FxHashMap<u64, u32>,
    /// `REGION_PAGES` entries per region: block + 1 of each page (0: no block).
    page_blocks: Vec<u32>,
    slots: Vec<u32>,
    /// Addresses that are not 16-byte aligned (CPython 3.11+ allocates some objects
    /// statically, 8-byte aligned: small ints, `_Py_STR` strings, the empty tuple): two
    /// could share a 16-byte granule with a heap object's slot, so they are kept apart.
    unaligned: FxHashMap<u64, u32>,
    len: usize,
    /// Regions looked up recently, by region number modulo `REGION_CACHE`, each as
    /// `(region + 1) << ROW_BITS | row` (0: none): a walk's lookups alternate between a
    /// few regions (an object, its list, its str... come from different pymalloc pools),
    /// and this skips the region map for them. Atomic (relaxed: plain loads and stores on
    /// x86-64 and arm64) so that an index kept in a snapshot can be shared by threads.
    recent_regions: [AtomicU64; REGION_CACHE],
    /// Lowest and highest address stored (see [`HashedIndex`]).
    bounds: (u64, u64),
}

const REGION_SHIFT: u32 = 20; // 1 MiB regions
const REGION_PAGES: usize = 1 << (REGION_SHIFT - PAGE_SHIFT);
const REGION_CACHE: usize = 32;
const ROW_BITS: u32 = 20;

impl Clone for PagedIndex {
    fn clone(&self) -> Self {
        PagedIndex {
            regions: self.regions.clone(),
            page_blocks: self.page_blocks.clone(),
            slots: self.slots.clone(),
            unaligned: self.unaligned.clone(),
            len: self.len,
            recent_regions: Default::default(),
            bounds: self.bounds,
        }
    }
}

impl PagedIndex {
    fn with_pages(pages: usize) -> Self {
        PagedIndex {
            regions: FxHashMap::default(),
            page_blocks: Vec::new(),
            slots: Vec::with_capacity(pages * PAGE_SLOTS),
            unaligned: FxHashMap::default(),
            len: 0,
            recent_regions: Default::default(),
            bounds: (u64::MAX, 0),
        }
    }

    #[inline]
    fn slot(key: u64) -> usize {
        ((key >> GRANULE_SHIFT) as usize) & (PAGE_SLOTS - 1)
    }

    #[inline]
    fn page_in_region(key: u64) -> usize {
        ((key >> PAGE_SHIFT) as usize) & (REGION_PAGES - 1)
    }

    /// Row of `key`'s region, if the region has one.
    #[inline]
    fn row(&self, key: u64) -> Option<u32> {
        let region = key >> REGION_SHIFT;
        let recent = &self.recent_regions[region as usize % REGION_CACHE];
        let cached = recent.load(Ordering::Relaxed);
        if cached >> ROW_BITS == region + 1 {
            return Some((cached & ((1 << ROW_BITS) - 1)) as u32);
        }
        let row = *self.regions.get(&region)?;
        self.remember(region, row);
        Some(row)
    }

    #[inline]
    fn remember(&self, region: u64, row: u32) {
        // Regions and rows too large to pack are not cached (no real heap has them).
        if region + 1 < 1 << (64 - ROW_BITS) && row < 1 << ROW_BITS {
            self.recent_regions[region as usize % REGION_CACHE]
                .store(((region + 1) << ROW_BITS) | row as u64, Ordering::Relaxed);
        }
    }

    fn memory_bytes(&self) -> usize {
        self.slots.capacity() * 4
            + self.page_blocks.capacity() * 4
            + (self.regions.capacity() + self.unaligned.capacity()) * 16
    }

    fn insert(&mut self, key: u64, value: u32) -> Result<u32, CoreError> {
        if key == EMPTY {
            return Err(CoreError::NullAddress);
        }
        if value == u32::MAX {
            return Err(CoreError::TooLarge {
                what: "node id",
                limit: u32::MAX as u64 - 1,
            });
        }
        if key & GRANULE_MASK != 0 {
            let stored = *self.unaligned.entry(key).or_insert(value);
            if stored == value {
                self.len += 1;
                self.bounds = (self.bounds.0.min(key), self.bounds.1.max(key));
            }
            return Ok(stored);
        }
        let row = match self.row(key) {
            Some(row) => row,
            None => {
                let row = (self.page_blocks.len() / REGION_PAGES) as u32;
                self.regions.insert(key >> REGION_SHIFT, row);
                self.page_blocks
                    .resize(self.page_blocks.len() + REGION_PAGES, 0);
                self.remember(key >> REGION_SHIFT, row);
                row
            }
        };
        let entry = row as usize * REGION_PAGES + Self::page_in_region(key);
        let block = match self.page_blocks[entry] {
            0 => {
                let block = self.slots.len() / PAGE_SLOTS;
                self.slots.resize(self.slots.len() + PAGE_SLOTS, 0);
                self.page_blocks[entry] = block as u32 + 1;
                block
            }
            b => b as usize - 1,
        };
        let slot = &mut self.slots[block * PAGE_SLOTS + Self::slot(key)];
        if *slot != 0 {
            return Ok(*slot - 1);
        }
        *slot = value + 1;
        self.len += 1;
        self.bounds = (self.bounds.0.min(key), self.bounds.1.max(key));
        Ok(value)
    }

    #[inline]
    fn get(&self, key: u64) -> Option<u32> {
        if key < self.bounds.0 || key > self.bounds.1 {
            return None;
        }
        if key & GRANULE_MASK != 0 {
            return self.unaligned.get(&key).copied();
        }
        let row = self.row(key)?;
        let block = self.page_blocks[row as usize * REGION_PAGES + Self::page_in_region(key)];
        let block = block.checked_sub(1)? as usize;
        self.slots[block * PAGE_SLOTS + Self::slot(key)].checked_sub(1)
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

    #[test]
    fn dense_addresses_get_the_paged_layout_and_sparse_ones_the_hashed() {
        let dense: Vec<u64> = (1..=10_000u64).map(|i| 0x7f00_0000_0000 + i * 48).collect();
        assert!(matches!(
            AddressIndex::for_addresses(dense.iter().copied()),
            AddressIndex::Paged(_)
        ));
        let sparse: Vec<u64> = (1..=100_000u64).map(|i| i << 20).collect();
        assert!(matches!(
            AddressIndex::for_addresses(sparse.iter().copied()),
            AddressIndex::Hashed(_)
        ));
    }

    #[test]
    fn paged_layout_rejects_zero_and_keeps_unaligned_addresses_apart() {
        let mut index = AddressIndex::for_addresses([0x1000]);
        assert_eq!(index.insert(0, 1), Err(CoreError::NullAddress));
        index.insert(0x1000, 3).unwrap();
        assert_eq!(index.get(0x1000), Some(3));
        assert_eq!(index.get(0x1008), None);
        assert_eq!(index.get(0x1010), None);
        // An 8-byte aligned (static) object next to a heap one keeps its own id.
        assert_eq!(index.insert(0x1008, 4), Ok(4));
        assert_eq!(index.insert(0x1008, 5), Ok(4));
        assert_eq!(index.get(0x1008), Some(4));
        assert_eq!(index.get(0x1000), Some(3));
        assert_eq!(index.len(), 2);
    }

    /// Inserts `keys` (ids = positions) and compares every answer, and the answer for
    /// each key shifted by `probe_offset` (mostly absent), with a HashMap's.
    fn check_against_hash_map(
        mut index: AddressIndex,
        keys: &[u64],
        probe_offset: u64,
    ) -> Result<(), TestCaseError> {
        let mut oracle = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            let expected = *oracle.entry(*key).or_insert(i as u32);
            prop_assert_eq!(index.insert(*key, i as u32).unwrap(), expected);
        }
        prop_assert_eq!(index.len(), oracle.len());
        for (key, value) in &oracle {
            prop_assert_eq!(index.get(*key), Some(*value));
            let probe = key + probe_offset;
            prop_assert_eq!(index.get(probe), oracle.get(&probe).copied());
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn paged_layout_behaves_like_a_hash_map(
            slots in proptest::collection::vec(1u64..4096, 0..500),
            base in 1u64..1 << 30,
        ) {
            let keys: Vec<u64> = slots.iter().map(|s| (base << 12) + s * 16).collect();
            check_against_hash_map(AddressIndex::Paged(PagedIndex::default()), &keys, 32 * 4096)?;
        }

        #[test]
        fn paged_layout_behaves_like_a_hash_map_across_regions(
            granules in proptest::collection::vec(1u64..1 << 22, 0..500),
            base in 1u64..1 << 20,
        ) {
            // Addresses spread over 64 MiB (64 regions), probed 1 MiB and 16 bytes away.
            let keys: Vec<u64> = granules.iter().map(|g| (base << 26) + g * 16).collect();
            check_against_hash_map(AddressIndex::Paged(PagedIndex::default()), &keys, 1 << 20)?;
            check_against_hash_map(AddressIndex::Paged(PagedIndex::default()), &keys, 16)?;
        }

        #[test]
        fn walk_index_behaves_like_a_hash_map(
            keys in proptest::collection::vec(1u64..1 << 40, 0..500),
            dense in proptest::bool::ANY,
        ) {
            let keys: Vec<u64> = if dense { keys.iter().map(|k| (k % 100_000) * 16 + 16).collect() } else { keys };
            let start = &keys[..keys.len() / 4];
            check_against_hash_map(AddressIndex::for_walk(start.iter().copied(), 2), &keys, 1 << 41)?;
        }

        #[test]
        fn behaves_like_a_hash_map(keys in proptest::collection::vec(1u64..1 << 40, 0..500)) {
            check_against_hash_map(AddressIndex::with_capacity(keys.len() / 3), &keys, 1 << 41)?;
        }
    }
}
