//! Any bytes given to the snapshot loader: an error or a snapshot, never a panic; a
//! snapshot that loads answers every query, and what it saves loads again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use refscope_core::snapshot::HeapSnapshot;

fuzz_target!(|data: &[u8]| {
    if let Ok(snapshot) = HeapSnapshot::from_bytes(data) {
        refscope_fuzz_checks(&snapshot);
        let again = HeapSnapshot::from_bytes(&snapshot.to_bytes()).unwrap();
        assert_eq!(again.node_count(), snapshot.node_count());
        assert_eq!(again.edge_count(), snapshot.edge_count());
    }
});

fn refscope_fuzz_checks(snapshot: &HeapSnapshot) {
    let _ = snapshot.top_types();
    let _ = snapshot.cycle_groups();
    let _ = snapshot.largest_retainers(5);
    if snapshot.node_count() > 0 {
        let last = snapshot.node_count() as u32 - 1;
        let _ = snapshot.why_alive(last, 3);
        let _ = snapshot.retained_size(last);
    }
    // Lookups by id: every address finds a node with that address (a damaged file can
    // repeat one), and near misses find nothing or a node at exactly that address.
    for v in 0..snapshot.node_count().min(64) as u32 {
        let address = snapshot.address(v);
        let found = snapshot.node_of_address(address).unwrap();
        assert_eq!(snapshot.address(found), address);
        for probe in [
            address.wrapping_add(8),
            address.wrapping_sub(16),
            address ^ (1 << 40),
        ] {
            if let Some(node) = snapshot.node_of_address(probe) {
                assert_eq!(snapshot.address(node), probe);
            }
        }
    }
    let mut out = Vec::new();
    snapshot.write_heapsnapshot(&mut out).unwrap();
}
