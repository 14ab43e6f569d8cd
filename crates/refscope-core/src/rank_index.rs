//! [`RankIndex`]: address → rank for a fixed set of 16-byte aligned addresses, small
//! enough to stay in the L2 cache while the heap walk looks up every reference.
//!
//! [`crate::index::AddressIndex`] stores an id per address (a 4-byte slot per 16-byte
//! granule, or a 12-byte hashed entry), 18–24 bytes per object: at a million objects the
//! table is far larger than the L2 cache, and on a heap whose objects refer to random
//! others (a dense component) every lookup is a cache miss, most of the walk's time.
//! This index keeps one bit per granule instead: per 2 KiB page, a 128-bit map of the
//! granules that start an indexed object and the rank of the page's first object. An
//! address's rank is the page's base plus the number of indexed granules below it in the
//! page (a popcount). About 24 bytes per *page*, not per object: 1.1 MiB of pages for a
//! million objects of 96 bytes, 1.4 MiB with the region rows.
//!
//! Ranks run page by page (pages in the order first inserted), not in insertion order;
//! the caller maps them to its own ids afterwards (a permutation, see [`RankIndex::rank`]).
//! Only for sets known up front: every address is inserted before the first lookup.

use rustc_hash::FxHashMap;

const GRANULE_SHIFT: u32 = 4; // pymalloc and glibc malloc align objects to 16 bytes
const PAGE_SHIFT: u32 = 11; // 2 KiB pages: 128 granules, one u128 map
const REGION_SHIFT: u32 = 20; // 1 MiB regions (a pymalloc arena, Objects/obmalloc.c)
const REGION_PAGES: usize = 1 << (REGION_SHIFT - PAGE_SHIFT);
/// A region's row of page numbers costs 2 KiB; more than this per indexed address on
/// average (objects scattered over many regions) and the caller is better served by
/// [`crate::index::AddressIndex`].
const MAX_ROW_BYTES_PER_ADDRESS: usize = 64;
/// Regions spanning up to this many (16 GiB) get a direct table (64 KiB at most).
const MAX_REGION_TABLE: usize = 1 << 14;

#[derive(Debug, Clone, Copy, Default)]
struct Page {
    /// Bit g of word g / 64: granule g starts an indexed object. Two words, not a
    /// `u128`, so that a page takes 24 bytes, not 32.
    granules: [u64; 2],
    /// Rank of the page's first indexed granule (set by [`RankIndexBuilder::finish`]).
    base: u32,
}

/// Collects the addresses of a [`RankIndex`].
#[derive(Debug, Default)]
pub struct RankIndexBuilder {
    regions: FxHashMap<u64, u32>,
    /// `REGION_PAGES` entries per region row: page number + 1 (0: no page).
    rows: Vec<u32>,
    pages: Vec<Page>,
    last_region: Option<(u64, u32)>,
    len: usize,
    bounds: (u64, u64),
}

impl RankIndexBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        RankIndexBuilder {
            bounds: (u64::MAX, 0),
            ..Default::default()
        }
    }

    /// Adds `address`; `Some(true)` when it is new, `Some(false)` when already added,
    /// `None` when it cannot be indexed (zero or not 16-byte aligned).
    pub fn insert(&mut self, address: u64) -> Option<bool> {
        if address == 0 || address & ((1 << GRANULE_SHIFT) - 1) != 0 {
            return None;
        }
        let region = address >> REGION_SHIFT;
        let row = match self.last_region {
            Some((r, row)) if r == region => row,
            _ => {
                let next_row = self.regions.len() as u32;
                let row = *self.regions.entry(region).or_insert(next_row);
                if row == next_row {
                    self.rows.resize(self.rows.len() + REGION_PAGES, 0);
                }
                self.last_region = Some((region, row));
                row
            }
        };
        let entry = &mut self.rows[row as usize * REGION_PAGES + page_in_region(address)];
        if *entry == 0 {
            self.pages.push(Page::default());
            *entry = self.pages.len() as u32;
        }
        let page = &mut self.pages[*entry as usize - 1];
        let granule = granule_in_page(address);
        let word = &mut page.granules[granule as usize / 64];
        let bit = 1u64 << (granule % 64);
        if *word & bit != 0 {
            return Some(false);
        }
        *word |= bit;
        self.len += 1;
        self.bounds = (self.bounds.0.min(address), self.bounds.1.max(address));
        Some(true)
    }

    /// Bytes the finished index would hold per address added so far.
    fn row_bytes_per_address(&self) -> usize {
        self.rows.len() * 4 / self.len.max(1)
    }

    /// The index, or `None` when its region rows would cost more than a hashed index
    /// (addresses spread thinly over many 1 MiB regions) or there are `u32::MAX` or
    /// more addresses.
    pub fn finish(mut self) -> Option<RankIndex> {
        if self.len >= u32::MAX as usize
            || (self.rows.len() > REGION_PAGES * 4
                && self.row_bytes_per_address() > MAX_ROW_BYTES_PER_ADDRESS)
        {
            return None;
        }
        self.pages.shrink_to_fit();
        let mut rank = 0u32;
        for page in &mut self.pages {
            page.base = rank;
            rank += page.granules[0].count_ones() + page.granules[1].count_ones();
        }
        // Regions are usually close together (pymalloc's arenas are mapped near each
        // other): then a table indexed by region number replaces the hash map.
        let first_region = self.regions.keys().copied().min().unwrap_or(0);
        let span = self
            .regions
            .keys()
            .map(|&r| r - first_region + 1)
            .max()
            .unwrap_or(0);
        let region_table = if span <= MAX_REGION_TABLE as u64 {
            let mut table = vec![0u32; span as usize];
            for (&region, &row) in &self.regions {
                table[(region - first_region) as usize] = row + 1;
            }
            table
        } else {
            Vec::new()
        };
        Some(RankIndex {
            first_region,
            region_table,
            regions: self.regions,
            rows: self.rows,
            pages: self.pages,
            len: self.len,
            bounds: self.bounds,
        })
    }
}

/// Address → rank in `0..len()` for the addresses given to its [`RankIndexBuilder`].
#[derive(Debug, Clone)]
pub struct RankIndex {
    /// Row + 1 of region `first_region + i` (0: none), when the regions span at most
    /// `MAX_REGION_TABLE` of them; empty otherwise (then `regions` answers).
    region_table: Vec<u32>,
    first_region: u64,
    regions: FxHashMap<u64, u32>,
    rows: Vec<u32>,
    pages: Vec<Page>,
    len: usize,
    bounds: (u64, u64),
}

#[inline]
fn page_in_region(address: u64) -> usize {
    ((address >> PAGE_SHIFT) as usize) & (REGION_PAGES - 1)
}

#[inline]
fn granule_in_page(address: u64) -> u32 {
    ((address >> GRANULE_SHIFT) & ((1 << (PAGE_SHIFT - GRANULE_SHIFT)) - 1)) as u32
}

impl RankIndex {
    /// The index of `addresses` (repeats allowed), or `None` when one of them cannot be
    /// indexed or the set does not suit this layout (see [`RankIndexBuilder::finish`]).
    pub fn of(addresses: impl IntoIterator<Item = u64>) -> Option<RankIndex> {
        let mut builder = RankIndexBuilder::new();
        for address in addresses {
            builder.insert(address)?;
        }
        builder.finish()
    }

    /// Number of distinct addresses (ranks are `0..len()`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no address is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The rank of `address`, if it was indexed. Distinct addresses have distinct ranks.
    #[inline]
    pub fn rank(&self, address: u64) -> Option<u32> {
        // Most references out of the indexed set (types, interned strings, modules:
        // objects made early) fall outside the bounds.
        if address < self.bounds.0 || address > self.bounds.1 || address & 15 != 0 {
            return None;
        }
        let region = address >> REGION_SHIFT;
        let row = if self.region_table.is_empty() {
            *self.regions.get(&region)?
        } else {
            // In bounds, so region >= first_region.
            let slot = (region - self.first_region) as usize;
            self.region_table.get(slot)?.checked_sub(1)?
        };
        let entry = self.rows[row as usize * REGION_PAGES + page_in_region(address)];
        let page = self.pages[entry.checked_sub(1)? as usize];
        let granule = granule_in_page(address);
        let (word, bit) = ((granule / 64) as usize, granule % 64);
        if page.granules[word] & (1 << bit) == 0 {
            return None;
        }
        let below_in_word = (page.granules[word] & ((1 << bit) - 1)).count_ones();
        let below_in_first = if word == 1 {
            page.granules[0].count_ones()
        } else {
            0
        };
        Some(page.base + below_in_first + below_in_word)
    }

    /// Bytes held by the index.
    pub fn memory_bytes(&self) -> usize {
        (self.rows.capacity() + self.region_table.capacity()) * 4
            + self.pages.capacity() * std::mem::size_of::<Page>()
            + self.regions.capacity() * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn unaligned_and_zero_addresses_are_refused() {
        let mut b = RankIndexBuilder::new();
        assert_eq!(b.insert(0), None);
        assert_eq!(b.insert(0x1008), None);
        assert_eq!(b.insert(0x1010), Some(true));
        assert_eq!(b.insert(0x1010), Some(false));
        let index = b.finish().unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!(index.rank(0x1010), Some(0));
        assert_eq!(index.rank(0x1008), None);
        assert_eq!(index.rank(0x1020), None);
    }

    #[test]
    fn a_million_objects_of_96_bytes_take_under_one_and_a_half_mib() {
        let mut b = RankIndexBuilder::new();
        for i in 0..1_000_000u64 {
            assert_eq!(b.insert(0x7f00_0000_0000 + i * 96), Some(true));
        }
        let index = b.finish().unwrap();
        assert!(index.memory_bytes() < 1_500_000, "{}", index.memory_bytes());
        assert_eq!(index.rank(0x7f00_0000_0000 + 500_000 * 96), Some(500_000));
    }

    #[test]
    fn regions_far_apart_are_found_through_the_map() {
        let mut b = RankIndexBuilder::new();
        let low = 0x5555_0000_0000u64;
        let high = 0x7f00_0000_0000u64;
        for i in 0..10_000u64 {
            b.insert(low + i * 32);
            b.insert(high + i * 32);
        }
        let index = b.finish().unwrap();
        assert!(index.region_table.is_empty());
        let mut ranks: Vec<u32> = (0..10_000u64)
            .flat_map(|i| [index.rank(low + i * 32), index.rank(high + i * 32)])
            .map(Option::unwrap)
            .collect();
        ranks.sort_unstable();
        assert!(ranks.iter().copied().eq(0..20_000));
        assert_eq!(index.rank(low + 16), None);
        assert_eq!(index.rank(((low + high) / 2) & !15), None);
    }

    #[test]
    fn thinly_spread_addresses_are_left_to_the_hashed_index() {
        let mut b = RankIndexBuilder::new();
        for i in 1..=10_000u64 {
            b.insert(i << 24);
        }
        assert!(b.finish().is_none());
    }

    proptest! {
        #[test]
        fn ranks_are_a_bijection_onto_the_distinct_addresses(
            granules in proptest::collection::vec(1u64..1 << 19, 0..600),
            base in 1u64..1 << 20,
            probe in 1u64..1 << 22,
        ) {
            // Spread over 8 MiB: several regions, many pages, some shared.
            let addresses: Vec<u64> = granules.iter().map(|g| (base << 26) + g * 16).collect();
            let mut b = RankIndexBuilder::new();
            let mut seen = HashSet::new();
            for &a in &addresses {
                prop_assert_eq!(b.insert(a), Some(seen.insert(a)));
            }
            let Some(index) = b.finish() else {
                // Too thin for rows of 2 KiB: only with few addresses over many regions.
                prop_assert!(seen.len() < 9 * REGION_PAGES * 4 / MAX_ROW_BYTES_PER_ADDRESS);
                return Ok(());
            };
            prop_assert_eq!(index.len(), seen.len());
            let ranks: HashSet<u32> = seen.iter().map(|&a| index.rank(a).unwrap()).collect();
            prop_assert_eq!(ranks.len(), seen.len());
            prop_assert!(ranks.iter().all(|&r| (r as usize) < seen.len()));
            for offset in [probe * 16, 8, 1 << 20, 1 << 30] {
                for &a in &addresses {
                    let other = a.wrapping_add(offset);
                    prop_assert_eq!(index.rank(other).is_some(), seen.contains(&other));
                }
            }
        }
    }
}
