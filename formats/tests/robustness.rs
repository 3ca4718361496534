//! Truncated, corrupt, extended and hostile files.
mod common;

use proptest::prelude::*;
use vmon_format::chunk::{ChunkHeader, CHUNK_HEADER_LEN};
use vmon_format::*;

use common::{legacy, plain, zstd};

/// Asserts every id in `cap` is valid: what the decoder promises.
fn assert_valid(cap: &Capture) {
    let ns = cap.strings.len() as u32;
    assert!(ns >= 1 && cap.strings[0].is_empty());
    let st = &cap.stacks;
    assert_eq!(st.parent.len(), st.frame.len());
    for (i, p) in st.parent.iter().enumerate() {
        assert!(p.is_empty() || (p.0 as usize) < i, "stack {i} parent {p:?}");
    }
    let stack_ok = |s: StackId| s.is_empty() || (s.0 as usize) < st.len();
    for s in &cap.samples {
        assert!((s.breach as usize) < cap.breaches.len());
        assert!(s.comm.0 < ns);
        assert!(stack_ok(s.kstack) && stack_ok(s.ustack));
        assert!(s
            .raw_stack
            .is_none_or(|r| (r as usize) < cap.raw_stacks.len()));
        assert!(s.process.is_none_or(|r| (r as usize) < cap.processes.len()));
    }
    for b in &cap.breaches {
        assert!((b.watch as usize) < cap.watches.len());
    }
    for w in &cap.watches {
        assert!(w.name.0 < ns);
        if let WatchKind::Kernel { symbol } = w.kind {
            assert!(symbol.0 < ns);
        }
    }
    for k in &cap.kernel_symbols {
        assert!(k.name.0 < ns && k.module.0 < ns);
    }
    for p in &cap.processes {
        for m in &p.mappings {
            assert!(m.path.0 < ns && m.start <= m.end);
        }
        for a in &p.chain {
            assert!(a.comm.0 < ns && a.cmdline.iter().all(|c| c.0 < ns));
        }
    }
    for t in &cap.symbol_tables {
        assert!(t.path.0 < ns && t.symbols.iter().all(|s| s.name.0 < ns));
    }
}

fn decode(bytes: &[u8]) -> Result<Decoded> {
    VmtFile::from_bytes(bytes)?.decode_with_warnings()
}

#[test]
fn truncation_at_every_byte_keeps_every_complete_chunk() {
    for opts in [plain(4), zstd(4)] {
        let full = common::small_file(40, opts);
        let whole = VmtFile::from_bytes(&full).unwrap();
        let chunks = whole.chunks().to_vec();
        let all = whole.decode().unwrap();
        let mut prev_samples = 0;
        for cut in 0..full.len() {
            let part = &full[..cut];
            let f = match VmtFile::from_bytes(part) {
                Ok(f) => f,
                Err(e) => {
                    assert!(cut < 16, "cut {cut}: {e}");
                    assert!(e.to_string().contains("16-byte header"), "{e}");
                    continue;
                }
            };
            assert!(cut >= 16);
            assert!(!f.is_finished(), "cut {cut} claims a footer");
            assert!(!f.warnings().is_empty());
            // Exactly the chunks that end at or before the cut.
            let complete: Vec<_> = chunks
                .iter()
                .filter(|c| {
                    c.offset as usize + CHUNK_HEADER_LEN + c.header.stored_len as usize <= cut
                })
                .copied()
                .collect();
            assert_eq!(f.chunks(), &complete[..], "cut {cut}");
            let end = complete
                .last()
                .map(|c| c.offset as usize + CHUNK_HEADER_LEN + c.header.stored_len as usize)
                .unwrap_or(16);
            // Bytes past the last complete chunk are reported lost, except
            // a cut index (the writer had finished every data chunk).
            let data_end = chunks
                .last()
                .map(|c| c.offset as usize + CHUNK_HEADER_LEN + c.header.stored_len as usize)
                .unwrap_or(16);
            // A cut index header cannot be told from a cut data chunk.
            let lost = if cut <= data_end {
                cut - end
            } else if cut < data_end + CHUNK_HEADER_LEN {
                cut - data_end
            } else {
                0
            };
            assert_eq!(f.bytes_lost(), lost as u64, "cut {cut}");
            let d = f.decode_with_warnings().unwrap();
            assert_valid(&d.capture);
            let n = d.capture.samples.len();
            assert!(
                n >= prev_samples,
                "cut {cut}: samples went from {prev_samples} to {n}"
            );
            prev_samples = n;
            assert_eq!(
                d.capture.samples[..],
                all.samples[..n],
                "cut {cut}: samples are not a prefix"
            );
            if f.bytes_lost() > 0 {
                let c = f.decode().unwrap();
                assert!(
                    c.losses
                        .notes
                        .iter()
                        .any(|n| n.starts_with("reader:") && n.contains("bytes")),
                    "cut {cut}"
                );
            }
        }
        assert_eq!(prev_samples, 40);
    }
}

#[test]
fn truncated_file_reports_what_was_lost() {
    let full = common::small_file(40, plain(4));
    let f = VmtFile::from_bytes(&full[..full.len() - 200]).unwrap();
    let msg = f
        .warnings()
        .iter()
        .map(|w| w.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(msg.contains("not finished"), "{msg}");
    assert!(msg.contains("file ends inside"), "{msg}");
    assert!(f.bytes_lost() > 0);
    let cap = f.decode().unwrap();
    assert!(
        cap.losses
            .notes
            .iter()
            .any(|n| n.contains("bytes of the file hold no complete chunk")),
        "{:?}",
        cap.losses.notes
    );
}

#[test]
fn every_corrupt_byte_is_caught_or_harmless() {
    let full = common::small_file(20, zstd(4));
    let good = decode(&full).unwrap().capture;
    for pos in 0..full.len() {
        let mut bad = full.clone();
        bad[pos] ^= 0x20;
        match decode(&bad) {
            Err(e) => {
                // Only the magic and the major version are fatal.
                assert!(pos < 10, "byte {pos}: {e}");
            }
            Ok(d) => {
                assert_valid(&d.capture);
                if (12..16).contains(&pos) {
                    // Reserved header flags: ignored.
                    assert_eq!(d.capture, good);
                } else {
                    assert!(
                        !d.warnings.is_empty(),
                        "byte {pos} flipped without a warning"
                    );
                    if pos >= 16 {
                        assert!(
                            d.warnings.iter().any(|w| w.offset > 0),
                            "byte {pos}: warnings name no offset"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn corrupt_payload_is_named_by_offset_and_type() {
    for (opts, ty, name) in [(plain(4), 12, "SAMPLES2"), (legacy(4), 7, "SAMPLES")] {
        let full = common::small_file(20, opts);
        let f = VmtFile::from_bytes(&full).unwrap();
        let c = *f.chunks().iter().find(|c| c.header.ty == ty).unwrap();
        let mut bad = full.clone();
        bad[c.offset as usize + CHUNK_HEADER_LEN + 3] ^= 1;
        let d = decode(&bad).unwrap();
        let w = d
            .warnings
            .iter()
            .find(|w| w.message.contains("CRC"))
            .expect("a CRC warning");
        assert_eq!(w.offset, c.offset);
        assert_eq!(w.chunk_type, Some(ty));
        assert!(w.to_string().contains(&format!("{name} chunk")), "{w}");
        assert_eq!(
            d.capture.samples.len(),
            16,
            "one chunk of 4 samples lost, the rest kept"
        );
    }
}

#[test]
fn unknown_chunk_type_is_skipped_with_a_warning() {
    let mut w = Writer::new(Vec::new()).unwrap();
    w.write_meta(&common::meta()).unwrap();
    let a = w.intern_str("a");
    w.write_custom_chunk(0x8123, 3, b"future data").unwrap();
    let b = w.intern_str("b");
    let bytes = w.finish().unwrap();
    let f = VmtFile::from_bytes(&bytes).unwrap();
    assert!(f.is_finished());
    let d = f.decode_with_warnings().unwrap();
    assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    assert!(
        d.warnings[0].message.contains("unknown chunk type 33059"),
        "{}",
        d.warnings[0]
    );
    assert_eq!(d.warnings[0].chunk_type, Some(0x8123));
    assert_eq!(d.capture.str(a), "a");
    assert_eq!(d.capture.str(b), "b");
    assert_eq!(d.capture.meta, common::meta());
    // Reserved types are refused by the writer.
    let mut w = Writer::new(Vec::new()).unwrap();
    assert!(w.write_custom_chunk(7, 0, b"").is_err());
}

#[test]
fn newer_major_is_refused_and_newer_minor_read() {
    let full = common::small_file(10, WriterOptions::default());
    let mut major = full.clone();
    major[8] = 2;
    major[10] = 0;
    let e = VmtFile::from_bytes(&major).err().unwrap().to_string();
    assert!(e.contains("version 2.0") && e.contains("upgrade"), "{e}");
    let mut minor = full.clone();
    minor[10] = 9;
    let f = VmtFile::from_bytes(&minor).unwrap();
    assert!(
        f.warnings()[0].message.contains("1.9 is newer"),
        "{}",
        f.warnings()[0]
    );
    assert_eq!(
        f.decode_with_warnings().unwrap().capture,
        decode(&full).unwrap().capture
    );
    let e = VmtFile::from_bytes(b"PK\x03\x04 this is a zip file")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not a .vmt capture"), "{e}");
}

#[test]
fn crafted_huge_counts_do_not_allocate() {
    // A STRINGS chunk claiming 2^60 strings in 10 bytes, with valid CRCs.
    let mut payload = Vec::new();
    vmon_format::varint::put_u(&mut payload, 0);
    vmon_format::varint::put_u(&mut payload, 1 << 60);
    payload.extend_from_slice(&[0; 8]);
    let h = ChunkHeader {
        ty: 2,
        flags: 0,
        stored_len: payload.len() as u32,
        raw_len: payload.len() as u32,
        count: u32::MAX,
        payload_crc: crc32c::crc32c(&payload),
    };
    let mut file = vmon_format::chunk::file_header(1, 0).to_vec();
    file.extend_from_slice(&h.encode());
    file.extend_from_slice(&payload);
    let d = decode(&file).unwrap();
    assert!(
        d.warnings
            .iter()
            .any(|w| w.message.contains("string count out of range")),
        "{:?}",
        d.warnings
    );
    // A zstd chunk claiming a 64 MiB raw size but holding garbage.
    let h = ChunkHeader {
        ty: 7,
        flags: 1,
        stored_len: 4,
        raw_len: 64 << 20,
        count: 1,
        payload_crc: crc32c::crc32c(b"abcd"),
    };
    let mut file = vmon_format::chunk::file_header(1, 0).to_vec();
    file.extend_from_slice(&h.encode());
    file.extend_from_slice(b"abcd");
    let d = decode(&file).unwrap();
    assert!(
        d.warnings.iter().any(|w| w.message.contains("zstd")),
        "{:?}",
        d.warnings
    );
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Truncate(usize),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..32)).prop_map(|(p, v)| Mutation::Insert(p, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match m {
        Mutation::Set(p, b) => {
            let p = p % len;
            if let Some(x) = bytes.get_mut(p) {
                *x = *b;
            }
        }
        Mutation::Truncate(p) => bytes.truncate(p % len),
        Mutation::Delete(p, n) => {
            let p = p % len;
            let e = (p + n).min(bytes.len());
            if p < e {
                bytes.drain(p..e);
            }
        }
        Mutation::Insert(p, v) => {
            let p = (p % len).min(bytes.len());
            bytes.splice(p..p, v.iter().copied());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Mutated files (with CRCs fixed up half the time, so the payload
    /// parsers see the damage) never panic, and decode to valid ids.
    #[test]
    fn mutated_files_never_panic(muts in proptest::collection::vec(mutation(), 1..8), fix in any::<bool>(), zstd in any::<bool>(), old in any::<bool>()) {
        let opts = common::encoded(if zstd { self::zstd(8) } else { plain(8) }, old);
        let mut bytes = common::small_file(30, opts);
        for m in &muts {
            apply(&mut bytes, m);
        }
        if fix {
            common::fix_crcs(&mut bytes);
        }
        if let Ok(d) = decode(&bytes) {
            assert_valid(&d.capture);
            for w in &d.warnings {
                prop_assert!(!w.message.is_empty());
            }
            // The streaming API sees the same samples and warnings.
            common::assert_agree(&bytes, "mutated");
        }
    }
}

#[test]
fn samples_of_a_lost_breach_chunk_are_dropped_and_counted() {
    let full = common::small_file(60, plain(4));
    let good = decode(&full).unwrap().capture;
    let f = VmtFile::from_bytes(&full).unwrap();
    let second = *f
        .chunks()
        .iter()
        .filter(|c| c.header.ty == 5)
        .nth(1)
        .expect("two BREACHES chunks");
    let mut bad = full.clone();
    bad[second.offset as usize + CHUNK_HEADER_LEN + 1] ^= 0x40;
    let d = decode(&bad).unwrap();
    assert_valid(&d.capture);
    let nb = d.capture.breaches.len();
    assert!(nb > 0 && nb < good.breaches.len());
    assert_eq!(d.capture.breaches[..], good.breaches[..nb]);
    let expect: Vec<_> = good
        .samples
        .iter()
        .filter(|s| (s.breach as usize) < nb)
        .cloned()
        .collect();
    assert!(!expect.is_empty() && expect.len() < good.samples.len());
    assert_eq!(d.capture.samples, expect);
    let dropped = good.samples.len() - expect.len();
    let msg = format!("dropped {dropped} task samples");
    assert!(
        d.warnings.iter().any(|w| w.message.contains(&msg)),
        "{:?}",
        d.warnings
    );
}

#[test]
fn hostile_trailer_offsets_fall_back_to_the_scan() {
    let full = common::small_file(10, WriterOptions::default());
    let good = decode(&full).unwrap().capture;
    let t = full.len() - 16;
    for off in [u64::MAX, u64::MAX - 3, 0, 15, t as u64, 17] {
        let mut bad = full.clone();
        bad[t..t + 8].copy_from_slice(&off.to_le_bytes());
        let f = VmtFile::from_bytes(&bad).unwrap();
        assert!(!f.is_finished());
        assert!(
            f.warnings()[0].message.contains("no valid footer index"),
            "{}",
            f.warnings()[0]
        );
        assert_eq!(f.bytes_lost(), 0, "offset {off}");
        assert!(
            f.decode_with_warnings().unwrap().capture == good,
            "offset {off}"
        );
    }
}

#[test]
fn strings_ascii_utf8_and_invalid() {
    // STRINGS: "", "kworker/0:1", "é", then invalid bytes; one all-ASCII
    // chunk after it.
    let chunk = |strings: &[&[u8]], first: u64| {
        let mut p = Vec::new();
        vmon_format::varint::put_u(&mut p, first);
        vmon_format::varint::put_u(&mut p, strings.len() as u64);
        for s in strings {
            vmon_format::varint::put_bytes(&mut p, s);
        }
        let h = ChunkHeader {
            ty: 2,
            flags: 0,
            stored_len: p.len() as u32,
            raw_len: p.len() as u32,
            count: strings.len() as u32,
            payload_crc: crc32c::crc32c(&p),
        };
        let mut c = h.encode().to_vec();
        c.extend_from_slice(&p);
        c
    };
    let mut file = vmon_format::chunk::file_header(1, 0).to_vec();
    file.extend(chunk(&[b"", b"kworker/0:1", "é".as_bytes(), b"a\xffb"], 0));
    file.extend(chunk(&[b"swapper", b"x".repeat(200).as_slice()], 4));
    let d = decode(&file).unwrap();
    let s = &d.capture.strings;
    assert_eq!(s.len(), 6);
    assert_eq!(
        s.iter().take(4).collect::<Vec<_>>(),
        ["", "kworker/0:1", "é", "a\u{fffd}b"]
    );
    assert_eq!(&s[4], "swapper");
    assert_eq!(&s[5], "x".repeat(200));
    let bad: Vec<_> = d
        .warnings
        .iter()
        .filter(|w| w.message.contains("not UTF-8"))
        .collect();
    assert_eq!(bad.len(), 1, "{:?}", d.warnings);
    assert!(bad[0].message.starts_with("1 strings"), "{}", bad[0]);
}

/// The case the fuzzer found in CI: a damaged zstd frame in a SAMPLES chunk
/// failed with "Destination buffer is too small" in `decode()` but "Data
/// corruption detected" in the stream, whose reused buffer had more room.
#[test]
fn damaged_zstd_samples_chunk_warns_alike_in_decode_and_stream() {
    // The file of then: SAMPLES chunks (the mutations hit its bytes).
    let mut bytes = common::small_file(30, common::encoded(zstd(8), true));
    for m in [
        Mutation::Delete(301161512132185769, 35),
        Mutation::Insert(5171275607656531254, vec![0; 23]),
        Mutation::Set(7704099119127438136, 10),
    ] {
        apply(&mut bytes, &m);
    }
    common::fix_crcs(&mut bytes);
    let d = decode(&bytes).unwrap();
    assert!(
        d.warnings
            .iter()
            .any(|w| w.message.starts_with("zstd payload does not decompress")),
        "the mutation should damage a zstd frame: {:?}",
        d.warnings
    );
    common::assert_agree(&bytes, "damaged zstd frame");
}

/// A chunk whose payload fails half way adds none of its records: a later
/// chunk of the same table then starts where the file says it does.
#[test]
fn a_chunk_that_fails_midway_adds_nothing() {
    let raw_chunk = |ty: u16, p: &[u8]| {
        let h = ChunkHeader {
            ty,
            flags: 0,
            stored_len: p.len() as u32,
            raw_len: p.len() as u32,
            count: 0,
            payload_crc: crc32c::crc32c(p),
        };
        let mut c = h.encode().to_vec();
        c.extend_from_slice(p);
        c
    };
    let mut file = vmon_format::chunk::file_header(1, 0).to_vec();
    // KSYMS: n = 2, one whole entry, then a varint that never ends.
    file.extend(raw_chunk(3, &[2, 2, b'T', 0, 0, 0xff, 0xff, 0xff, 0xff]));
    // STACKS: first 0, n = 3, two nodes, then a parent delta that never ends.
    file.extend(raw_chunk(6, &[0, 3, 0, 2, 1, 2, 0xff, 0xff]));
    // SYMTABS: n = 2, one empty table, then one whose symbol count the
    // bytes left cannot hold.
    file.extend(raw_chunk(10, &[2, 0, 0, 0, 0, 0, 1, 0xff, 0xff]));
    // A whole STACKS chunk for ids 0..1, which must still be taken.
    file.extend(raw_chunk(6, &[0, 1, 0, 8]));
    let d = decode(&file).unwrap();
    assert!(
        d.capture.kernel_symbols.is_empty(),
        "{:?}",
        d.capture.kernel_symbols
    );
    assert!(
        d.capture.symbol_tables.is_empty(),
        "{:?}",
        d.capture.symbol_tables
    );
    assert_eq!(d.capture.stacks.frame, [4]);
    let skipped = |ty: u16| {
        d.warnings
            .iter()
            .filter(|w| w.chunk_type == Some(ty) && w.message.contains("skipped"))
            .count()
    };
    assert_eq!(
        (skipped(3), skipped(6), skipped(10)),
        (1, 1, 1),
        "{:?}",
        d.warnings
    );
}
