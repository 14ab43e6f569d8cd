//! The snapshot file format: compact, versioned, checksummed.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "RSCPHEAP"
//! 8       2     format version, little endian (this code writes 1 and reads up to 1)
//! 10      2     flags (0)
//! 12      8     body length in bytes, little endian
//! 20      n     body (below)
//! 20+n    8     checksum of bytes 0..20+n (FNV-1a over 64-bit little-endian words)
//! ```
//!
//! The body is a sequence of LEB128 varints (`v`) and length-prefixed UTF-8 strings (`s`):
//! meta (`s` python version, `v` taken_at, `v` pid); strings (`v` count, then `s` each);
//! types (`v` count, then `v` name string id each); `v` node count, `v` edge count; per
//! node `v` zigzag address delta from the previous node, `v` type id, `v` shallow size,
//! `v` out-degree; per edge (rows in node order) `v` zigzag delta of the target from the
//! source node, `v` packed [`EdgeLabel`](super::EdgeLabel); roots (`v` count, then per
//! root a kind byte, `v` node, `v` label string id, `v` surplus). Objects allocated
//! together sit close in memory and refer to each other, so most deltas take one or two
//! bytes: a typical heap takes 6–8 bytes per object and 2–3 per reference.
//!
//! Loading trusts nothing: the checksum is verified before the body is parsed, every
//! count is checked against the bytes left before anything is allocated, allocations are
//! fallible, and every id is range-checked when the snapshot is rebuilt.

use super::progress::{self, Progress, Silent, EVERY_BYTES};
use super::{EdgeLabel, HeapSnapshot, Root, RootKind, SnapshotBuilder, SnapshotMeta};
use std::io::Read;
use std::path::Path;

const MAGIC: &[u8; 8] = b"RSCPHEAP";
/// The newest format version this code reads, and the one it writes.
pub const FORMAT_VERSION: u16 = 1;
const HEADER: usize = 20;
const TRAILER: usize = 8;

/// Why a snapshot file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotFormatError {
    #[error("the file is empty")]
    Empty,
    #[error("not a refscope snapshot (the file does not start with the RSCPHEAP signature)")]
    Foreign,
    #[error("written by a newer refscope (format version {found}; this version reads up to {supported}): upgrade refscope to read it")]
    NewerVersion { found: u16, supported: u16 },
    #[error("truncated: the header announces {expected} bytes but the file has {actual}")]
    Truncated { expected: u64, actual: u64 },
    #[error("corrupt: the checksum does not match the contents (the file was changed or damaged)")]
    Checksum,
    #[error("corrupt: {0}")]
    Corrupt(String),
    #[error("too large to load: not enough memory for {0}")]
    OutOfMemory(&'static str),
    #[error("{0}")]
    Io(String),
}

type Result<T> = std::result::Result<T, SnapshotFormatError>;

fn corrupt(what: impl Into<String>) -> SnapshotFormatError {
    SnapshotFormatError::Corrupt(what.into())
}

/// FNV-1a over 64-bit little-endian words (the tail padded with zeros, then the length
/// mixed in). Each step is a bijection of the state, so a change in any one word always
/// changes the result.
pub fn checksum(bytes: &[u8]) -> u64 {
    checksum_with_progress(bytes, &mut Silent)
}

/// [`checksum`], reporting every [`EVERY_BYTES`] bytes (step [`progress::load::CHECK`]).
fn checksum_with_progress(bytes: &[u8], progress: &mut dyn Progress) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01B3;
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    let whole = bytes.len() / 8 * 8;
    // EVERY_BYTES is a multiple of 8: the words are the same as in one pass.
    for (i, block) in bytes[..whole].chunks(EVERY_BYTES).enumerate() {
        progress.report(
            progress::load::CHECK,
            (i * EVERY_BYTES) as u64,
            bytes.len() as u64,
        );
        for chunk in block.chunks_exact(8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            h = (h ^ word).wrapping_mul(PRIME).rotate_left(29);
        }
    }
    let chunks = bytes.chunks_exact(8);
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(PRIME);
    (h ^ bytes.len() as u64).wrapping_mul(PRIME)
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    #[inline]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn string(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    #[inline]
    fn varint(&mut self, what: &str) -> Result<u64> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let Some(&byte) = self.bytes.get(self.pos) else {
                return Err(corrupt(format!("the body ends inside {what}")));
            };
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(corrupt(format!("{what} does not fit in 64 bits")));
            }
            value |= ((byte & 0x7F) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
            if shift > 63 {
                return Err(corrupt(format!("{what} does not fit in 64 bits")));
            }
        }
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let v = self.varint(what)?;
        u32::try_from(v).map_err(|_| corrupt(format!("{what} {v} is out of range")))
    }

    fn zigzag(&mut self, what: &str) -> Result<i64> {
        let v = self.varint(what)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn byte(&mut self, what: &str) -> Result<u8> {
        let Some(&b) = self.bytes.get(self.pos) else {
            return Err(corrupt(format!("the body ends inside {what}")));
        };
        self.pos += 1;
        Ok(b)
    }

    fn string(&mut self, what: &str) -> Result<&'a str> {
        let len = self.varint(what)?;
        if len > self.remaining() as u64 {
            return Err(corrupt(format!("{what} is longer than the file")));
        }
        let all: &'a [u8] = self.bytes;
        let bytes = &all[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        std::str::from_utf8(bytes).map_err(|_| corrupt(format!("{what} is not valid UTF-8")))
    }

    /// A count of items each taking at least `min_bytes`, checked against what is left.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize> {
        let n = self.varint(what)?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(corrupt(format!(
                "{what} ({n}) is more than the rest of the file can hold"
            )));
        }
        Ok(n as usize)
    }
}

/// Edge labels in the file: payload × 4 + tag (0 name, 1 index, 2 dict key, 3 unnamed),
/// so small indices and early string ids take one byte.
fn compact_label(raw: u32) -> u64 {
    match EdgeLabel::decode(raw) {
        EdgeLabel::Name(id) => (id as u64) << 2,
        EdgeLabel::Index(i) => ((i as u64) << 2) | 1,
        EdgeLabel::DictKey => 2,
        EdgeLabel::Unnamed => 3,
    }
}

fn expand_label(value: u64) -> Result<EdgeLabel> {
    let payload = u32::try_from(value >> 2)
        .ok()
        .filter(|&p| p < (1 << 30))
        .ok_or_else(|| corrupt(format!("edge label {value} is out of range")))?;
    Ok(match value & 3 {
        0 if payload == 0 => return Err(corrupt("edge label names string 0")),
        0 => EdgeLabel::Name(payload),
        1 => EdgeLabel::Index(payload),
        2 if payload == 0 => EdgeLabel::DictKey,
        3 if payload == 0 => EdgeLabel::Unnamed,
        _ => return Err(corrupt(format!("edge label {value} is unknown"))),
    })
}

fn vec_with_capacity<T>(n: usize, what: &'static str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| SnapshotFormatError::OutOfMemory(what))?;
    Ok(v)
}

impl HeapSnapshot {
    /// The snapshot in the file format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer {
            out: Vec::with_capacity(HEADER + self.node_count() * 8 + self.edge_count() * 3),
        };
        w.out.extend_from_slice(MAGIC);
        w.out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        w.out.extend_from_slice(&0u16.to_le_bytes());
        w.out.extend_from_slice(&0u64.to_le_bytes());
        w.string(&self.meta.python_version);
        w.varint(self.meta.taken_at);
        w.varint(self.meta.pid as u64);
        w.varint(self.strings.len() as u64);
        for s in self.strings.iter() {
            w.string(s);
        }
        w.varint(self.type_names.len() as u64);
        for &t in &self.type_names {
            w.varint(t as u64);
        }
        w.varint(self.node_count() as u64);
        w.varint(self.edge_count() as u64);
        let mut previous = 0u64;
        for v in 0..self.node_count() as u32 {
            let address = self.address(v);
            w.zigzag(address.wrapping_sub(previous) as i64);
            previous = address;
            w.varint(self.type_id(v) as u64);
            w.varint(self.shallow_size(v));
            w.varint(self.successors(v).len() as u64);
        }
        for v in 0..self.node_count() as u32 {
            let start = self.offsets[v as usize] as usize;
            for (i, &t) in self.successors(v).iter().enumerate() {
                w.zigzag(t as i64 - v as i64);
                w.varint(compact_label(self.labels[start + i]));
            }
        }
        // Unreachable roots are recomputed after loading, as after a walk.
        let roots: Vec<&Root> = self
            .named_roots
            .iter()
            .filter(|r| r.kind != RootKind::Unreachable)
            .collect();
        w.varint(roots.len() as u64);
        for r in roots {
            w.out.push(r.kind as u8);
            w.varint(r.node as u64);
            w.varint(r.label as u64);
            w.varint(r.surplus);
        }
        let body = (w.out.len() - HEADER) as u64;
        w.out[12..20].copy_from_slice(&body.to_le_bytes());
        let sum = checksum(&w.out);
        w.out.extend_from_slice(&sum.to_le_bytes());
        w.out
    }

    /// Reads a snapshot from the file format; never panics on bad input.
    pub fn from_bytes(bytes: &[u8]) -> Result<HeapSnapshot> {
        HeapSnapshot::from_bytes_with_progress(bytes, &mut Silent)
    }

    /// [`HeapSnapshot::from_bytes`], reporting its position (steps 2 and 3 of
    /// [`progress::load`]) to `progress`.
    pub fn from_bytes_with_progress(
        bytes: &[u8],
        progress: &mut dyn Progress,
    ) -> Result<HeapSnapshot> {
        if bytes.is_empty() {
            return Err(SnapshotFormatError::Empty);
        }
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotFormatError::Foreign);
        }
        if bytes.len() < HEADER + TRAILER {
            return Err(SnapshotFormatError::Truncated {
                expected: (HEADER + TRAILER) as u64,
                actual: bytes.len() as u64,
            });
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version > FORMAT_VERSION {
            return Err(SnapshotFormatError::NewerVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(corrupt("format version 0 does not exist"));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[12..20]);
        let body_len = u64::from_le_bytes(len);
        let expected = body_len.saturating_add((HEADER + TRAILER) as u64);
        if expected != bytes.len() as u64 {
            if expected > bytes.len() as u64 {
                return Err(SnapshotFormatError::Truncated {
                    expected,
                    actual: bytes.len() as u64,
                });
            }
            return Err(corrupt(format!(
                "{} bytes follow the end the header announces",
                bytes.len() as u64 - expected
            )));
        }
        let end = bytes.len() - TRAILER;
        let mut stored = [0u8; 8];
        stored.copy_from_slice(&bytes[end..]);
        if checksum_with_progress(&bytes[..end], progress) != u64::from_le_bytes(stored) {
            return Err(SnapshotFormatError::Checksum);
        }
        parse_body(&bytes[HEADER..end], progress)
    }

    /// Writes the snapshot to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_bytes())
            .map_err(|e| SnapshotFormatError::Io(format!("cannot write: {e}")))
    }

    /// Reads a snapshot written by [`HeapSnapshot::save`].
    pub fn load(path: &Path) -> Result<HeapSnapshot> {
        HeapSnapshot::load_with_progress(path, &mut Silent)
    }

    /// [`HeapSnapshot::load`], reporting its position (the steps of [`progress::load`])
    /// to `progress`.
    pub fn load_with_progress(path: &Path, progress: &mut dyn Progress) -> Result<HeapSnapshot> {
        let bytes = read_file(path, progress)?;
        HeapSnapshot::from_bytes_with_progress(&bytes, progress)
    }
}

/// The whole file, read [`EVERY_BYTES`] at a time (step [`progress::load::READ`]) into a
/// buffer reserved fallibly for the size the file has when opened.
fn read_file(path: &Path, progress: &mut dyn Progress) -> Result<Vec<u8>> {
    let io = |e: std::io::Error| SnapshotFormatError::Io(format!("cannot read: {e}"));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let expected = file.metadata().map_err(io)?.len();
    let mut bytes: Vec<u8> = Vec::new();
    let room = usize::try_from(expected).unwrap_or(usize::MAX);
    bytes
        .try_reserve_exact(room)
        .map_err(|_| SnapshotFormatError::OutOfMemory("the file's contents"))?;
    loop {
        // A file that grew since it was opened is read to its end all the same.
        let total = expected.max(bytes.len() as u64);
        progress.report(progress::load::READ, bytes.len() as u64, total);
        let read = (&mut file)
            .take(EVERY_BYTES as u64)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if read == 0 {
            return Ok(bytes);
        }
    }
}

fn parse_body(body: &[u8], progress: &mut dyn Progress) -> Result<HeapSnapshot> {
    let decode = progress::load::DECODE;
    let total = body.len() as u64;
    progress.report(decode, 0, total);
    let mut r = Reader {
        bytes: body,
        pos: 0,
    };
    let meta = SnapshotMeta {
        python_version: r.string("the Python version")?.to_string(),
        taken_at: r.varint("the time taken")?,
        pid: r.u32("the process id")?,
    };
    let string_count = r.count("the string count", 1)?;
    if string_count == 0 {
        return Err(corrupt("the string table lacks the empty string"));
    }
    let mut strings: Vec<&str> = vec_with_capacity(string_count, "the strings")?;
    for _ in 0..string_count {
        strings.push(r.string("a string")?);
    }
    if !strings[0].is_empty() {
        return Err(corrupt("string 0 must be empty"));
    }
    let type_count = r.count("the type count", 1)?;
    let mut types: Vec<u32> = vec_with_capacity(type_count, "the types")?;
    for _ in 0..type_count {
        let id = r.u32("a type name")?;
        if id as usize >= string_count {
            return Err(corrupt(format!("type name {id} is not a string id")));
        }
        types.push(id);
    }
    let node_count = r.count("the object count", 4)?;
    if node_count > super::MAX_NODES {
        return Err(corrupt("more objects than a snapshot can hold"));
    }
    let edge_count = r.count("the reference count", 2)?;
    // Rebuild through the builder, which range-checks every id. Strings are interned in
    // file order, so string ids stay the same.
    let mut builder = SnapshotBuilder::with_capacity(0, 0);
    for (i, s) in strings.iter().enumerate() {
        if builder.intern(s) as usize != i {
            return Err(corrupt(format!("string {i} appears twice")));
        }
    }
    for &t in &types {
        builder.add_type(strings[t as usize]);
    }
    let mut nodes: Vec<(u64, u32, u64, u32)> = vec_with_capacity(node_count, "the objects")?;
    let mut address = 0u64;
    let mut degree_total = 0u64;
    for v in 0..node_count {
        if progress::due(v) {
            progress.report(decode, r.pos as u64, total);
        }
        address = address.wrapping_add(r.zigzag("an address")? as u64);
        let type_id = r.u32("a type id")?;
        if type_id as usize >= type_count {
            return Err(corrupt(format!("type id {type_id} is out of range")));
        }
        let size = r.varint("a size")?;
        let degree = r.u32("a reference count")?;
        degree_total += degree as u64;
        nodes.push((address, type_id, size, degree));
    }
    if degree_total != edge_count as u64 {
        return Err(corrupt(format!(
            "the objects list {degree_total} references but the header says {edge_count}"
        )));
    }
    builder
        .reserve(node_count, edge_count)
        .map_err(|_| SnapshotFormatError::OutOfMemory("the graph"))?;
    for (v, &(address, type_id, size, degree)) in nodes.iter().enumerate() {
        if progress::due(v) {
            progress.report(decode, r.pos as u64, total);
        }
        builder
            .add_node(address, type_id, size)
            .map_err(|e| corrupt(e.to_string()))?;
        for _ in 0..degree {
            let target = v as i64 + r.zigzag("a reference")?;
            if target < 0 || target >= node_count as i64 {
                return Err(corrupt(format!(
                    "object {v} refers to object {target}, out of range"
                )));
            }
            let label = expand_label(r.varint("an edge label")?)?;
            if let EdgeLabel::Name(id) = label {
                if id as usize >= string_count {
                    return Err(corrupt(format!("edge label {id} is not a string id")));
                }
            }
            builder.push_edge(target as u32, label);
        }
    }
    drop(nodes);
    let root_count = r.count("the root count", 4)?;
    for _ in 0..root_count {
        let kind = r.byte("a root kind")?;
        let kind = RootKind::from_u8(kind)
            .ok_or_else(|| corrupt(format!("root kind {kind} is unknown")))?;
        let node = r.u32("a root")?;
        if node as usize >= node_count {
            return Err(corrupt(format!("root {node} is out of range")));
        }
        let label = r.u32("a root label")?;
        if label as usize >= string_count {
            return Err(corrupt(format!("root label {label} is not a string id")));
        }
        let surplus = r.varint("a root's outside references")?;
        builder.add_root(kind, node, strings[label as usize], surplus);
    }
    if r.remaining() != 0 {
        return Err(corrupt(format!(
            "{} bytes are left after the roots",
            r.remaining()
        )));
    }
    builder.set_meta(meta);
    builder.finish().map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::SnapshotBuilder;
    use super::*;

    fn sample() -> HeapSnapshot {
        let mut b = SnapshotBuilder::default();
        let t = b.type_named("dict");
        let u = b.type_named("Node");
        let g = b.intern("global HOLDER");
        b.add_node(0x7f00_0000_1000, t, 232).unwrap();
        b.push_edge(1, EdgeLabel::Name(g));
        b.push_edge(2, EdgeLabel::DictKey);
        b.add_node(0x7f00_0000_0f00, u, 48).unwrap();
        b.push_edge(2, EdgeLabel::Index(0));
        b.push_edge(1, EdgeLabel::Unnamed);
        b.add_node(0x7f00_0010_0000, t, 6_000_000_000).unwrap();
        b.add_root(RootKind::ModuleGlobals, 0, "module __main__", 0);
        b.add_root(RootKind::HeldFromOutside, 1, "held from outside", 3);
        b.set_meta(SnapshotMeta {
            python_version: "3.12.1".into(),
            taken_at: 1_700_000_000,
            pid: 42,
        });
        b.finish().unwrap()
    }

    fn same(a: &HeapSnapshot, b: &HeapSnapshot) {
        assert_eq!(a.node_count(), b.node_count());
        for v in 0..a.node_count() as u32 {
            assert_eq!(a.address(v), b.address(v));
            assert_eq!(a.node_type_name(v), b.node_type_name(v));
            assert_eq!(a.shallow_size(v), b.shallow_size(v));
            assert_eq!(
                a.edges(v).collect::<Vec<_>>(),
                b.edges(v).collect::<Vec<_>>()
            );
        }
        assert_eq!(a.roots(), b.roots());
        assert_eq!(a.meta(), b.meta());
    }

    #[test]
    fn round_trip_keeps_everything() {
        let s = sample();
        let bytes = s.to_bytes();
        same(&s, &HeapSnapshot::from_bytes(&bytes).unwrap());
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let bytes = sample().to_bytes();
        assert_eq!(
            HeapSnapshot::from_bytes(&[]).unwrap_err(),
            SnapshotFormatError::Empty
        );
        assert_eq!(
            HeapSnapshot::from_bytes(b"{\"snapshot\": 1}").unwrap_err(),
            SnapshotFormatError::Foreign
        );
        assert!(matches!(
            HeapSnapshot::from_bytes(&bytes[..bytes.len() - 5]).unwrap_err(),
            SnapshotFormatError::Truncated { .. }
        ));
        let mut newer = bytes.clone();
        newer[8] = 9;
        assert_eq!(
            HeapSnapshot::from_bytes(&newer).unwrap_err(),
            SnapshotFormatError::NewerVersion {
                found: 9,
                supported: 1
            }
        );
        for bit in 0..(bytes.len() - HEADER) * 8 {
            let mut flipped = bytes.clone();
            flipped[HEADER + bit / 8] ^= 1 << (bit % 8);
            assert!(
                HeapSnapshot::from_bytes(&flipped).is_err(),
                "bit {bit} flipped was accepted"
            );
        }
        for cut in 0..bytes.len() {
            assert!(HeapSnapshot::from_bytes(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn corrupt_bodies_with_valid_checksums_are_refused() {
        // Rewrite the body with a huge node count and fix up the checksum: the loader
        // must refuse before allocating.
        let mut bytes = sample().to_bytes();
        let end = bytes.len() - TRAILER;
        let mut body = bytes[HEADER..end].to_vec();
        body.truncate(body.len() / 2);
        body.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
        bytes.truncate(HEADER);
        bytes[12..20].copy_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&body);
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        assert!(matches!(
            HeapSnapshot::from_bytes(&bytes).unwrap_err(),
            SnapshotFormatError::Corrupt(_)
        ));
    }
}
