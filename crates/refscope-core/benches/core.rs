//! Criterion benchmarks of the pure core on graphs shaped like the end-to-end workloads:
//! a ring, many 2-cycles (the recipe's `__del__` pairs) and a dense random component
//! (each node refers to 8 random others). Run: `cargo bench -p refscope-core --bench core`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use refscope_core::graph::{Graph, GraphBuilder};
use refscope_core::index::AddressIndex;
use refscope_core::report::signature::{fnv1a64, Signature, SIGNATURE_SEPARATOR};

#[path = "shared/scc_and_cycles.rs"]
mod scc_and_cycles;

const N: u32 = 1_000_000;

fn ring(n: u32) -> Graph {
    let mut b = GraphBuilder::with_capacity(n as usize, n as usize);
    for i in 0..n {
        b.start_node().unwrap();
        b.push_edge((i + 1) % n);
    }
    b.finish().unwrap()
}

fn pairs(n: u32) -> Graph {
    let mut b = GraphBuilder::with_capacity(n as usize, n as usize);
    for i in 0..n {
        b.start_node().unwrap();
        b.push_edge(i ^ 1);
    }
    b.finish().unwrap()
}

/// Deterministic xorshift so the bench needs no rand crate.
fn dense(n: u32, degree: u32) -> Graph {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut b = GraphBuilder::with_capacity(n as usize, (n * degree) as usize);
    for _ in 0..n {
        b.start_node().unwrap();
        for _ in 0..degree {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b.push_edge((state % n as u64) as u32);
        }
    }
    b.finish().unwrap()
}

fn bench_scc_and_cycles(c: &mut Criterion) {
    let mut group = c.benchmark_group("scc+cycles");
    group.sample_size(10);
    for (name, graph) in [
        ("ring", ring(N)),
        ("pairs", pairs(N)),
        ("dense8", dense(N, 8)),
    ] {
        scc_and_cycles::bench_graph(&mut group, name, &graph);
    }
    group.finish();
}

fn bench_index(c: &mut Criterion) {
    // Addresses as pymalloc hands them out: 64-byte objects, mostly consecutive.
    let addresses: Vec<u64> = (0..N as u64).map(|i| 0x7f00_0000_0000 + i * 64).collect();
    let mut group = c.benchmark_group("address-index");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("insert 1M", |b| {
        b.iter(|| {
            let mut index = AddressIndex::with_capacity(addresses.len());
            for (i, &a) in addresses.iter().enumerate() {
                index.insert(a, i as u32).unwrap();
            }
            index
        })
    });
    let mut index = AddressIndex::with_capacity(addresses.len());
    for (i, &a) in addresses.iter().enumerate() {
        index.insert(a, i as u32).unwrap();
    }
    group.bench_function("lookup 1M neighbours", |b| {
        b.iter(|| {
            addresses
                .iter()
                .map(|&a| index.get(a + 64).unwrap_or(0) as u64)
                .sum::<u64>()
        })
    });
    group.bench_function("lookup 1M misses", |b| {
        b.iter(|| {
            addresses
                .iter()
                .filter(|&&a| index.get(a + 8).is_some())
                .count()
        })
    });
    group.finish();
}

/// A million-member ring's signature: kept as runs and hashed a repeated unit at a time
/// (what grouping does now), against the text it stands for, written and hashed byte by
/// byte (what it did before).
fn bench_ring_signature(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring signature, 1M steps");
    group.throughput(Throughput::Elements(u64::from(N)));
    group.sample_size(20);
    let step = "e2e.RingNode .next";
    group.bench_function("runs + hash", |b| {
        b.iter(|| Signature::from_runs([(step, N as usize)]).hash())
    });
    group.bench_function("text + FNV-1a over it", |b| {
        b.iter(|| {
            let text = vec![step; N as usize].join(SIGNATURE_SEPARATOR);
            fnv1a64(text.as_bytes())
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_scc_and_cycles,
    bench_index,
    bench_ring_signature
);
criterion_main!(benches);
