//! refscope-core: the pure-Rust heart of refscope.
//!
//! It knows nothing of Python. The binding crate (`refscope-py`) walks CPython's heap and
//! hands this crate plain data: object addresses, edges between dense node ids, and
//! strings describing objects and edges. Everything algorithmic lives here so that it can
//! be tested with `cargo test` alone:
//!
//! * [`index::AddressIndex`]: address → node id (paged for locality, or hashed).
//! * [`rank_index::RankIndex`]: address → rank in about a bit per 16 bytes of heap.
//! * [`graph::Graph`]: compressed sparse rows (CSR) of `u32` node ids.
//! * [`scc::strongly_connected_components`]: reachability sweeps for a large component,
//!   then iterative Tarjan (Pearce's variant), no recursion.
//! * [`cycles::representative_cycles`]: one short readable cycle per cyclic component.
//! * [`analysis`]: cycles grouped by cheap step keys before anything is described.
//! * [`report`]: the report model (objects, cycles, labels) and its renderers.
//!
//! Not here: anything that touches a Python object.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod chains;
pub mod cycles;
pub mod error;
pub mod graph;
pub mod index;
pub mod rank_index;
pub mod report;
pub mod scc;
pub mod snapshot;

pub use error::CoreError;
