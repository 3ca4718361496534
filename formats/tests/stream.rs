//! The streaming sample API (`VmtFile::tables`, `Tables::samples`) yields
//! exactly what `decode()` yields, on good, cut, corrupt and crafted files.
mod common;

use proptest::prelude::*;
use vmon_format::chunk::{ChunkHeader, CHUNK_HEADER_LEN};
use vmon_format::*;

use common::{legacy, plain, zstd};

#[test]
fn block_boundaries() {
    let b = BLOCK;
    for n in [0, 1, 2, b - 1, b, b + 1, 2 * b, 3 * b + 7] {
        for opts in [
            plain(100_000),
            zstd(100_000),
            plain(b),
            zstd(b + 1),
            plain(97),
            legacy(100_000),
            legacy(b),
            common::encoded(zstd(97), true),
        ] {
            let bytes = common::file_flushing_every(n, opts.clone(), usize::MAX);
            let samples = common::assert_agree(&bytes, &format!("n {n}, {opts:?}")).unwrap();
            assert_eq!(samples.len(), n, "n {n}, {opts:?}");
            // The writer's samples, in order, whatever the chunking.
            let reference = common::file_flushing_every(n, plain(100_000), usize::MAX);
            let expect = VmtFile::from_bytes(&reference).unwrap().decode().unwrap();
            assert_eq!(samples, expect.samples, "n {n}, {opts:?}");
        }
    }
}

#[test]
fn several_chunks_split_between_streams() {
    let bytes = common::file_flushing_every(1000, zstd(300), usize::MAX);
    let f = VmtFile::from_bytes(&bytes).unwrap();
    let all = f.decode().unwrap().samples;
    let t = f.tables().unwrap();
    let nc = t.sample_chunks().len();
    assert_eq!(nc, 4);
    // Any split of the chunks into ranges streams the same samples.
    for mid in 0..=nc {
        let mut got = Vec::new();
        for r in [0..mid, mid..nc + 5] {
            let mut s = t.samples_of(r);
            while let Some(b) = s.next_block() {
                got.extend(b.iter());
            }
        }
        assert_eq!(got, all, "split at {mid}");
    }
    let mut s = t.samples_of(7..9);
    assert!(s.next_block().is_none());
    assert_eq!(s.report(), SampleReport::default());
}

#[test]
fn truncation_at_every_byte() {
    for opts in [plain(8), zstd(8), legacy(8)] {
        let full = common::small_file(40, opts);
        let mut prev = 0;
        for cut in 16..full.len() {
            let n = common::assert_agree(&full[..cut], &format!("cut {cut}"))
                .unwrap()
                .len();
            assert!(n >= prev, "cut {cut}");
            prev = n;
        }
        assert_eq!(prev, 40);
    }
}

#[test]
fn every_corrupt_byte() {
    for opts in [plain(6), zstd(6), legacy(6)] {
        let full = common::small_file(30, opts);
        for pos in 0..full.len() {
            let mut bad = full.clone();
            bad[pos] ^= 0x20;
            common::assert_agree(&bad, &format!("byte {pos}"));
        }
    }
}

/// Rewrites the file chunk by chunk (no index: readers scan), replacing the
/// payload of the `nth` chunk of type `ty` by `f(payload)`, CRCs recomputed.
fn rewrite_chunk(bytes: &[u8], ty: u16, nth: usize, f: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let file = VmtFile::from_bytes(bytes).unwrap();
    let mut out = bytes[..16].to_vec();
    let mut seen = 0;
    for c in file.chunks() {
        let start = c.offset as usize + CHUNK_HEADER_LEN;
        let payload = &bytes[start..start + c.header.stored_len as usize];
        let mut h = c.header;
        let p = if c.header.ty == ty && seen == nth {
            assert_eq!(h.flags, 0, "rewrite needs an uncompressed chunk");
            f(payload)
        } else {
            payload.to_vec()
        };
        seen += (c.header.ty == ty) as usize;
        h.stored_len = p.len() as u32;
        h.raw_len = p.len() as u32;
        h.payload_crc = crc32c::crc32c(&p);
        out.extend_from_slice(&h.encode());
        out.extend_from_slice(&p);
    }
    out
}

/// Splits a SAMPLES payload into its count and columns.
fn columns(p: &[u8]) -> (u64, Vec<Vec<u8>>) {
    let mut c = varint::Cursor::new(p);
    let n = c.u("n").unwrap();
    let lens: Vec<usize> = (0..14).map(|_| c.u("len").unwrap() as usize).collect();
    let cols = lens
        .iter()
        .map(|&l| c.take(l, "col").unwrap().to_vec())
        .collect();
    (n, cols)
}

fn samples_payload(n: u64, cols: &[Vec<u8>]) -> Vec<u8> {
    let mut p = Vec::new();
    varint::put_u(&mut p, n);
    for c in cols {
        varint::put_u(&mut p, c.len() as u64);
    }
    for c in cols {
        p.extend_from_slice(c);
    }
    p
}

#[test]
fn a_short_column_ends_its_chunk_at_a_block_boundary() {
    let n = 2 * BLOCK + 100;
    let full = common::file_flushing_every(n, legacy(100_000), usize::MAX);
    let good = VmtFile::from_bytes(&full)
        .unwrap()
        .decode()
        .unwrap()
        .samples;
    // The process column (1 byte per value) loses its last 50 values: the
    // third block cannot be decoded; the first two were.
    let bad = rewrite_chunk(&full, 7, 0, |p| {
        let (n, mut cols) = columns(p);
        assert_eq!(cols[13].len() as u64, n);
        cols[13].truncate(n as usize - 50);
        samples_payload(n, &cols)
    });
    let samples = common::assert_agree(&bad, "short column").unwrap();
    assert_eq!(
        samples.len(),
        2 * BLOCK,
        "kept {} of {}",
        samples.len(),
        good.len()
    );
    assert_eq!(samples[..], good[..2 * BLOCK]);
    let d = VmtFile::from_bytes(&bad)
        .unwrap()
        .decode_with_warnings()
        .unwrap();
    let w = d
        .warnings
        .iter()
        .find(|w| w.chunk_type == Some(7))
        .expect("a SAMPLES warning");
    assert!(
        w.message
            .contains(&format!("skipped after {} of {n} task samples", 2 * BLOCK)),
        "{w}"
    );
    assert!(w.message.contains("sample column"), "{w}");
    // An 11-byte varint in the first block: nothing of the chunk is kept.
    let overlong = rewrite_chunk(&full, 7, 0, |p| {
        let (n, mut cols) = columns(p);
        cols[5].splice(3..3, [0xffu8; 10]);
        samples_payload(n, &cols)
    });
    let samples = common::assert_agree(&overlong, "overlong").unwrap();
    assert!(samples.is_empty());
    let d = VmtFile::from_bytes(&overlong)
        .unwrap()
        .decode_with_warnings()
        .unwrap();
    assert!(
        d.warnings.iter().any(|w| w
            .message
            .contains("skipped: malformed varint in a sample column")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn invalid_ids_are_dropped_and_counted_in_both() {
    let n = BLOCK + 50;
    let full = common::file_flushing_every(n, legacy(100_000), usize::MAX);
    let good = VmtFile::from_bytes(&full).unwrap().decode().unwrap();
    // Sample 3 and sample BLOCK + 1 get a kernel stack id past the table,
    // sample 10 an unknown comm: dropped twice, renamed once.
    let bad = rewrite_chunk(&full, 7, 0, |p| {
        let (n, mut cols) = columns(p);
        let mut ks = Vec::new();
        let mut comm = Vec::new();
        let mut kc = varint::Cursor::new(&cols[7]);
        let mut cc = varint::Cursor::new(&cols[3]);
        for i in 0..n {
            let k = kc.u("k").unwrap();
            let c = cc.u("c").unwrap();
            let k = if i == 3 || i == BLOCK as u64 + 1 {
                1 << 30
            } else {
                k
            };
            let c = if i == 10 { 1 << 20 } else { c };
            varint::put_u(&mut ks, k);
            varint::put_u(&mut comm, c);
        }
        cols[7] = ks;
        cols[3] = comm;
        samples_payload(n, &cols)
    });
    let samples = common::assert_agree(&bad, "bad ids").unwrap();
    let mut expect = good.samples.clone();
    expect[10].comm = StrId(0);
    expect.remove(BLOCK + 1);
    expect.remove(3);
    assert_eq!(samples, expect);
    let (_, warnings, report) = common::stream(&VmtFile::from_bytes(&bad).unwrap());
    assert_eq!(report.bad_refs, 2);
    assert_eq!(report.bad_strings, 1);
    assert_eq!(report.declared, n as u64);
    let msgs: Vec<String> = warnings.iter().map(|w| w.message.clone()).collect();
    assert!(
        msgs.iter().any(|m| m.starts_with("dropped 2 task samples")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("1 task samples had an unknown comm")),
        "{msgs:?}"
    );
}

#[test]
fn a_crafted_huge_sample_count_is_refused_before_allocating() {
    let mut p = Vec::new();
    varint::put_u(&mut p, 1 << 40);
    p.extend_from_slice(&[0; 14]);
    let h = ChunkHeader {
        ty: 7,
        flags: 0,
        stored_len: p.len() as u32,
        raw_len: p.len() as u32,
        count: 1,
        payload_crc: crc32c::crc32c(&p),
    };
    let mut file = chunk::file_header(1, 0).to_vec();
    file.extend_from_slice(&h.encode());
    file.extend_from_slice(&p);
    common::assert_agree(&file, "huge count");
    let (s, w, _) = common::stream(&VmtFile::from_bytes(&file).unwrap());
    assert!(s.is_empty());
    assert!(
        w.iter()
            .any(|w| w.message.contains("sample count out of range")),
        "{w:?}"
    );
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(p, v)| Mutation::Insert(p, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Mutated files (CRCs fixed up half the time, so that the sample
    /// decoder sees the damage): the stream agrees with decode(), never
    /// panics, and every id it yields is valid.
    #[test]
    fn mutated_files_stream_like_they_decode(
        muts in proptest::collection::vec(mutation(), 1..6),
        fix in any::<bool>(),
        zstd_chunks in any::<bool>(),
        old in any::<bool>(),
        n in prop_oneof![Just(BLOCK - 1), Just(BLOCK + 1), 0usize..40],
    ) {
        let opts = if zstd_chunks { zstd(BLOCK / 2 + 3) } else { plain(BLOCK / 2 + 3) };
        let opts = common::encoded(opts, old);
        let mut bytes = common::file_flushing_every(n, opts, usize::MAX);
        let len = bytes.len();
        for m in &muts {
            match m {
                Mutation::Set(p, b) => {
                    let p = *p % len;
                    if let Some(x) = bytes.get_mut(p) {
                        *x = *b;
                    }
                }
                Mutation::Truncate(p) => bytes.truncate(16 + *p % len),
                Mutation::Insert(p, v) => {
                    let p = (*p % len).min(bytes.len());
                    bytes.splice(p..p, v.iter().copied());
                }
            }
        }
        if fix {
            common::fix_crcs(&mut bytes);
        }
        if let Ok(f) = VmtFile::from_bytes(&bytes) {
            let t = f.tables().unwrap();
            let cap = t.capture();
            let (samples, _, _) = common::stream(&f);
            for s in &samples {
                prop_assert!((s.breach as usize) < cap.breaches.len());
                prop_assert!((s.comm.0 as usize) < cap.strings.len());
                prop_assert!(s.kstack.is_empty() || (s.kstack.0 as usize) < cap.stacks.len());
                prop_assert!(s.ustack.is_empty() || (s.ustack.0 as usize) < cap.stacks.len());
                prop_assert!(s.raw_stack.is_none_or(|r| (r as usize) < cap.raw_stacks.len()));
                prop_assert!(s.process.is_none_or(|r| (r as usize) < cap.processes.len()));
            }
            common::assert_agree(&bytes, "mutated");
        }
    }
}

#[test]
fn shipped_captures_stream_like_they_decode() {
    let dir = manifest_dir().join("../samples");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "vmt") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let samples = common::assert_agree(&bytes, &path.display().to_string()).unwrap();
        assert!(!samples.is_empty(), "{}", path.display());
        seen += 1;
    }
    assert!(seen > 0, "no captures in {}", dir.display());
}

/// The crate's directory, read when the test runs: a test binary built in
/// another checkout sharing the target directory stays "fresh" for cargo,
/// and the compile-time path would point into that other checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}
