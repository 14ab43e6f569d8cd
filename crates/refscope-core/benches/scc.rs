//! Criterion benchmarks of the strongly-connected-components stage and the walk's index
//! on graphs shaped like the end-to-end workloads at one million nodes. Run:
//! `cargo bench -p refscope-core --bench scc`.
//!
//! * `ring`: one ring in node order (gc lists a ring's objects in allocation order);
//! * `ring-reversed`: the same ring with edges from higher to lower ids;
//! * `ring-shuffled`: a ring through the nodes in random order (the reachability sweeps
//!   give up: the depth-first search alone decides);
//! * `dense`: the end-to-end dense shape, a shuffled ring plus 7 random edges per node;
//! * `pairs`: 500k 2-cycles (the recipe's `__del__` pairs);
//! * `giant+pairs`: a dense half and 2-cycles hanging off it.
//!
//! The index group compares [`RankIndex`] with [`AddressIndex`] on the walk's access
//! pattern for a dense heap: lookups of random objects among 1M of 96 bytes.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use refscope_core::graph::Graph;
use refscope_core::index::AddressIndex;
use refscope_core::rank_index::RankIndexBuilder;

#[path = "shared/scc_and_cycles.rs"]
mod scc_and_cycles;

const N: u32 = 1_000_000;

/// Deterministic xorshift so the bench needs no rand crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % n as u64) as u32
    }
}

fn shuffled(n: u32, rng: &mut XorShift) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n).collect();
    for i in (1..n as usize).rev() {
        order.swap(i, rng.below(i as u32 + 1) as usize);
    }
    order
}

fn ring_edges(order: &[u32]) -> Vec<(u32, u32)> {
    (0..order.len())
        .map(|i| (order[i], order[(i + 1) % order.len()]))
        .collect()
}

fn graphs() -> Vec<(&'static str, Graph)> {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let n = N as usize;
    let ring: Vec<u32> = (0..N).collect();
    let reversed: Vec<u32> = (0..N).rev().collect();
    let shuffled_order = shuffled(N, &mut rng);
    let mut dense = ring_edges(&shuffled_order);
    for v in 0..N {
        for _ in 0..7 {
            dense.push((v, rng.below(N)));
        }
    }
    let pairs: Vec<(u32, u32)> = (0..N).map(|v| (v, v ^ 1)).collect();
    let half = N / 2;
    let mut giant_pairs = ring_edges(&shuffled(half, &mut rng));
    for v in 0..half {
        for _ in 0..3 {
            giant_pairs.push((v, rng.below(half)));
        }
    }
    for v in half..N {
        giant_pairs.push((v, v ^ 1));
        giant_pairs.push((v, rng.below(half)));
    }
    vec![
        ("ring", Graph::from_edges(n, &ring_edges(&ring)).unwrap()),
        (
            "ring-reversed",
            Graph::from_edges(n, &ring_edges(&reversed)).unwrap(),
        ),
        (
            "ring-shuffled",
            Graph::from_edges(n, &ring_edges(&shuffled_order)).unwrap(),
        ),
        ("dense", Graph::from_edges(n, &dense).unwrap()),
        ("pairs", Graph::from_edges(n, &pairs).unwrap()),
        ("giant+pairs", Graph::from_edges(n, &giant_pairs).unwrap()),
    ]
}

fn bench_scc(c: &mut Criterion) {
    let mut group = c.benchmark_group("scc-1M");
    group.sample_size(10);
    for (name, graph) in graphs() {
        scc_and_cycles::bench_graph(&mut group, name, &graph);
    }
    group.finish();
}

fn bench_walk_index(c: &mut Criterion) {
    let base = 0x7f00_0000_0000u64;
    let addresses: Vec<u64> = (0..N as u64).map(|i| base + i * 96).collect();
    let mut rng = XorShift(7);
    let probes: Vec<u64> = (0..8 * N)
        .map(|_| addresses[rng.below(N) as usize])
        .collect();
    let mut address_index = AddressIndex::for_addresses(addresses.iter().copied());
    for (i, &a) in addresses.iter().enumerate() {
        address_index.insert(a, i as u32).unwrap();
    }
    let mut builder = RankIndexBuilder::new();
    for &a in &addresses {
        builder.insert(a);
    }
    let rank_index = builder.finish().unwrap();
    let mut group = c.benchmark_group("walk-index-1M-objects");
    group.sample_size(10);
    group.throughput(Throughput::Elements(probes.len() as u64));
    group.bench_function("address-index 8M random lookups", |b| {
        b.iter(|| {
            probes
                .iter()
                .map(|&a| address_index.get(a).unwrap_or(0) as u64)
                .sum::<u64>()
        })
    });
    group.bench_function("rank-index 8M random lookups", |b| {
        b.iter(|| {
            probes
                .iter()
                .map(|&a| rank_index.rank(a).unwrap_or(0) as u64)
                .sum::<u64>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_scc, bench_walk_index);
criterion_main!(benches);
