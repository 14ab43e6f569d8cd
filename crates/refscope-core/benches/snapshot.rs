//! Criterion benchmarks of heap-snapshot analyses on a heap-shaped graph: a spanning
//! tree (every object held by one earlier object, as containers hold their items) plus
//! one random cross reference per object, the way shared objects (types, interned
//! strings, small ints) are referred to from everywhere.
//!
//! Run: `cargo bench -p refscope-core --bench snapshot`. The 10M-node group runs only with
//! `REFSCOPE_BENCH_10M=1` (each sample takes seconds).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use refscope_core::snapshot::{dominators, EdgeLabel, HeapSnapshot, RootKind, SnapshotBuilder};
use std::time::Duration;

/// Deterministic xorshift so the bench needs no rand crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// CSR of the heap-shaped graph: node `v > 0` is a child of a random earlier node near it
/// (most containers hold objects allocated just before them), and refers to one random
/// node anywhere.
fn heap_csr(n: u32) -> (Vec<u32>, Vec<u32>) {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n as usize];
    for v in 1..n {
        let window = v.min(64) as u64;
        let parent = v - 1 - (rng.next() % window) as u32;
        rows[parent as usize].push(v);
        let cross = (rng.next() % n as u64) as u32;
        rows[v as usize].push(cross);
    }
    let mut offsets = Vec::with_capacity(n as usize + 1);
    offsets.push(0u32);
    let mut targets = Vec::with_capacity(2 * n as usize);
    for row in rows {
        targets.extend(row);
        offsets.push(targets.len() as u32);
    }
    (offsets, targets)
}

fn heap_snapshot(n: u32) -> HeapSnapshot {
    let (offsets, targets) = heap_csr(n);
    let mut b = SnapshotBuilder::with_capacity(n as usize, targets.len());
    let t = b.type_named("object");
    for v in 0..n {
        b.add_node(0x1000 + 32 * v as u64, t, 56).unwrap();
        for &w in &targets[offsets[v as usize] as usize..offsets[v as usize + 1] as usize] {
            b.push_edge(w, EdgeLabel::Index(0));
        }
    }
    b.add_root(RootKind::ModuleGlobals, 0, "module __main__", 0);
    b.finish().unwrap()
}

fn bench_dominators(c: &mut Criterion, n: u32, label: &str) {
    let (offsets, targets) = heap_csr(n);
    let mut group = c.benchmark_group("dominators");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(if n > 2_000_000 { 60 } else { 10 }));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_with_input(BenchmarkId::new("semi_nca", label), &n, |b, _| {
        b.iter(|| dominators::compute(&offsets, &targets, |_| 56, &[0]))
    });
    group.finish();
}

fn dominators_1m(c: &mut Criterion) {
    bench_dominators(c, 1_000_000, "1M");
}

fn dominators_10m(c: &mut Criterion) {
    if std::env::var_os("REFSCOPE_BENCH_10M").is_some() {
        bench_dominators(c, 10_000_000, "10M");
    }
}

fn queries_1m(c: &mut Criterion) {
    let snapshot = heap_snapshot(1_000_000);
    snapshot.dominators();
    let mut group = c.benchmark_group("snapshot_1M");
    group.sample_size(10);
    group.bench_function("why_alive", |b| b.iter(|| snapshot.why_alive(999_999, 10)));
    group.bench_function("top_types", |b| b.iter(|| snapshot.top_types()));
    group.bench_function("save", |b| b.iter(|| snapshot.to_bytes()));
    let bytes = snapshot.to_bytes();
    group.bench_function("load", |b| {
        b.iter(|| HeapSnapshot::from_bytes(&bytes).unwrap())
    });
    group.finish();
}

criterion_group!(benches, dominators_1m, queries_1m, dominators_10m);
criterion_main!(benches);
