//! The body the `core` and `scc` benches share: for one graph, the strongly connected
//! components and then the representative cycles of those components, as two benchmarks
//! of the caller's group (throughput counted in nodes plus edges).

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Throughput};
use refscope_core::cycles::representative_cycles;
use refscope_core::graph::Graph;
use refscope_core::scc::strongly_connected_components;

pub fn bench_graph(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, graph: &Graph) {
    group.throughput(Throughput::Elements(
        (graph.node_count() + graph.edge_count()) as u64,
    ));
    group.bench_with_input(BenchmarkId::new("scc", name), graph, |b, g| {
        b.iter(|| strongly_connected_components(g))
    });
    let components = strongly_connected_components(graph);
    let priority = vec![0u8; graph.node_count()];
    group.bench_with_input(BenchmarkId::new("cycles", name), graph, |b, g| {
        b.iter(|| representative_cycles(g, &components, &priority))
    });
}
