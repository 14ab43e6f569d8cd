//! The loader past its checksum: the input is wrapped in a valid header and trailer, so
//! the fuzzer explores the body parser (random bytes almost never pass the checksum).
#![no_main]

use libfuzzer_sys::fuzz_target;
use refscope_core::snapshot::format::{checksum, FORMAT_VERSION};
use refscope_core::snapshot::HeapSnapshot;

fuzz_target!(|body: &[u8]| {
    let mut bytes = Vec::with_capacity(body.len() + 28);
    bytes.extend_from_slice(b"RSCPHEAP");
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(body);
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    if let Ok(snapshot) = HeapSnapshot::from_bytes(&bytes) {
        let _ = snapshot.top_types();
        let _ = snapshot.cycle_groups();
        if snapshot.node_count() > 0 {
            let _ = snapshot.why_alive(0, 3);
            let last = snapshot.node_count() as u32 - 1;
            let _ = snapshot.why_alive(last, 3);
            let address = snapshot.address(last);
            let found = snapshot.node_of_address(address).unwrap();
            assert_eq!(snapshot.address(found), address);
            if let Some(node) = snapshot.node_of_address(address.wrapping_add(8)) {
                assert_eq!(snapshot.address(node), address.wrapping_add(8));
            }
        }
        let mut out = Vec::new();
        snapshot.write_heapsnapshot(&mut out).unwrap();
    }
});
