//! The reader and SPEC.md agree on what is refused (issue 15): version 0,
//! a zstd payload of more than one frame, stacks deeper than any real one.
mod common;

use vmon_format::chunk::{ChunkHeader, CHUNK_HEADER_LEN};
use vmon_format::*;

use common::{small_file, zstd};

#[test]
fn major_version_0_is_invalid_not_newer() {
    let mut b = small_file(4, zstd(4));
    b[8..10].copy_from_slice(&0u16.to_le_bytes());
    b[10..12].copy_from_slice(&0u16.to_le_bytes());
    let e = VmtFile::from_bytes(&b).err().expect("refused").to_string();
    assert!(
        e.contains("format version 0.") && e.contains("does not exist"),
        "{e}"
    );
    assert!(!e.contains("newer"), "{e}");
    b[8..10].copy_from_slice(&2u16.to_le_bytes());
    let e = VmtFile::from_bytes(&b).err().expect("refused").to_string();
    assert!(e.contains("newer") && e.contains("upgrade"), "{e}");
}

/// SPEC §2.2: "A zstd payload is one zstd frame". Two concatenated frames
/// that decompress to exactly `raw_len` are still refused, with a warning.
#[test]
fn a_zstd_payload_of_two_frames_is_refused() {
    let b = small_file(4, zstd(4));
    let f = VmtFile::from_bytes(&b).unwrap();
    let good = f.decode().unwrap();
    let chunks = f.chunks().to_vec();
    drop(f);
    // The file again without its index, each chunk as it was but STRINGS
    // re-compressed as two frames.
    let mut out = b[..16].to_vec();
    let mut rewrote = false;
    for c in &chunks {
        let start = c.offset as usize + CHUNK_HEADER_LEN;
        let payload = &b[start..start + c.header.stored_len as usize];
        if c.header.ty == 15 {
            continue;
        }
        if c.header.ty == 2 && c.header.flags & 0xf == 1 {
            let raw = zstd::bulk::decompress(payload, c.header.raw_len as usize).unwrap();
            let (x, y) = raw.split_at(raw.len() / 2);
            let mut two = zstd::bulk::compress(x, 3).unwrap();
            two.extend_from_slice(&zstd::bulk::compress(y, 3).unwrap());
            // The bulk decompressor accepts this as the whole payload.
            assert_eq!(zstd::bulk::decompress(&two, raw.len()).unwrap(), raw);
            let h = ChunkHeader {
                stored_len: two.len() as u32,
                payload_crc: crc32c::crc32c(&two),
                ..c.header
            };
            out.extend_from_slice(&h.encode());
            out.extend_from_slice(&two);
            rewrote = true;
        } else {
            out.extend_from_slice(&b[c.offset as usize..start]);
            out.extend_from_slice(payload);
        }
    }
    assert!(rewrote, "the test file has a zstd STRINGS chunk");
    let d = VmtFile::from_bytes(&out)
        .unwrap()
        .decode_with_warnings()
        .unwrap();
    let w: Vec<String> = d.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.contains("STRINGS") && w.contains("not one frame")),
        "{w:?}"
    );
    assert!(d.capture.strings.len() < good.strings.len());
}

/// SPEC §5.6: a stack is at most 65,536 frames deep; a deeper parent chain
/// (a few KB of zstd can hold millions of nodes) is refused with its chunk.
#[test]
fn a_stack_deeper_than_the_limit_is_refused() {
    for depth in [65_536usize, 65_537] {
        let mut c = Capture {
            strings: [""].into_iter().collect(),
            ..Default::default()
        };
        let mut parent = StackId::EMPTY;
        for i in 0..depth {
            c.stacks.parent.push(parent);
            c.stacks.frame.push(0x1000 + i as u64);
            parent = StackId(i as u32);
        }
        let mut b = Vec::new();
        write_capture(&c, &mut b).unwrap();
        let d = VmtFile::from_bytes(&b)
            .unwrap()
            .decode_with_warnings()
            .unwrap();
        let w: Vec<String> = d.warnings.iter().map(|w| w.to_string()).collect();
        if depth <= 65_536 {
            assert_eq!(d.capture.stacks.len(), depth, "{w:?}");
        } else {
            assert!(w.iter().any(|w| w.contains("stack depth")), "{w:?}");
            assert!(d.capture.stacks.len() < depth);
        }
    }
}

/// Many chunks of one unknown type give one warning and one count, not a
/// warning each.
#[test]
fn unknown_chunks_are_counted_not_warned_one_by_one() {
    let b = small_file(4, zstd(4));
    let mut out = b[..b.len() - 16].to_vec(); // no trailer: linear scan
    let h = ChunkHeader {
        ty: 0x8001,
        flags: 0,
        stored_len: 0,
        raw_len: 0,
        count: 0,
        payload_crc: crc32c::crc32c(&[]),
    }
    .encode();
    for _ in 0..10_000 {
        out.extend_from_slice(&h);
    }
    let f = VmtFile::from_bytes(&out).unwrap();
    let t = f.tables().unwrap();
    let w: Vec<String> = t.warnings().iter().map(|w| w.to_string()).collect();
    let unknown: Vec<&String> = w.iter().filter(|w| w.contains("unknown type")).collect();
    assert_eq!(unknown.len(), 2, "{unknown:?}");
    assert!(
        unknown[1].contains("9999 more chunks of unknown type 32769"),
        "{unknown:?}"
    );
    let _ = CHUNK_HEADER_LEN;
}
