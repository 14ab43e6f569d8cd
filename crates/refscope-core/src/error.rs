//! The one error type of the core.

/// Everything that can go wrong inside the core.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoreError {
    /// More nodes or edges than a `u32` id can address.
    #[error("graph too large: {what} exceeds {limit} (refscope indexes nodes and edges with 32-bit ids)")]
    TooLarge { what: &'static str, limit: u64 },
    /// A node id outside `0..node_count`.
    #[error("node id {id} is out of range for a graph of {count} nodes")]
    NodeOutOfRange { id: u32, count: u32 },
    /// An address of zero cannot name an object.
    #[error("address 0 is not a valid object address")]
    NullAddress,
}
