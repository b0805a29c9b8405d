//! A minimal EBML walker for tests only (`cfg(test)` or the `test-util` feature): the
//! elements of a buffer and the frames of a file the writer wrote. It trusts its input and
//! panics on anything malformed, which is what a test wants.

use super::ids as id;

/// (id, data range) of each element in `bytes`.
pub fn elements(bytes: &[u8]) -> Vec<(u32, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let id_len = bytes[i].leading_zeros() as usize + 1;
        let id = bytes[i..i + id_len]
            .iter()
            .fold(0u32, |a, &b| a << 8 | u32::from(b));
        i += id_len;
        let size_len = bytes[i].leading_zeros() as usize + 1;
        let mut size = u64::from(bytes[i]) & (0xFF >> size_len);
        for &b in &bytes[i + 1..i + size_len] {
            size = size << 8 | u64::from(b);
        }
        let unknown = size == (1u64 << (7 * size_len)) - 1;
        i += size_len;
        let end = if unknown {
            bytes.len()
        } else {
            i + size as usize
        };
        out.push((id, i..end));
        i = end;
    }
    out
}

/// The data range of `parent`'s first child element `id`.
pub fn child(bytes: &[u8], parent: std::ops::Range<usize>, id: u32) -> std::ops::Range<usize> {
    let (_, r) = elements(&bytes[parent.clone()])
        .into_iter()
        .find(|(i, _)| *i == id)
        .unwrap_or_else(|| panic!("no element {id:X}"));
    parent.start + r.start..parent.start + r.end
}

/// (time in ms, bytes) of every frame in the Segment's clusters, in order.
pub fn blocks(bytes: &[u8], segment: std::ops::Range<usize>) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    for (id, cluster) in elements(&bytes[segment.clone()]) {
        if id != id::CLUSTER {
            continue;
        }
        let cluster = segment.start + cluster.start..segment.start + cluster.end;
        let mut base = 0;
        for (id, r) in elements(&bytes[cluster.clone()]) {
            let data = &bytes[cluster.start + r.start..cluster.start + r.end];
            match id {
                id::TIMESTAMP => base = data.iter().fold(0u64, |a, &b| a << 8 | u64::from(b)),
                id::SIMPLE_BLOCK => {
                    assert_eq!(data[0], 0x81, "track 1");
                    assert_eq!(data[3], 0x80, "keyframe");
                    let rel = i16::from_be_bytes([data[1], data[2]]);
                    out.push((base + rel as u64, data[4..].to_vec()));
                }
                other => panic!("unexpected element {other:X} in a cluster"),
            }
        }
    }
    out
}
