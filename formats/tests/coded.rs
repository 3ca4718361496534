//! SAMPLES2 chunks (format 1.2, SPEC.md §5.7.1): per-column codings chosen
//! by the writer round-trip exactly, agree with the SAMPLES layout, and
//! crafted columns (runs that do not add up, huge counts, bad dictionaries,
//! truncation) are refused without panicking or allocating.
mod common;

use proptest::prelude::*;
use vmon_format::chunk::{ChunkType, CHUNK_HEADER_LEN};
use vmon_format::*;

use common::{legacy, plain, zstd};

const SAMPLES2: u16 = ChunkType::Samples2 as u16;

/// Column codings, as in the low 2 bits of a SAMPLES2 length entry.
const PLAIN: u64 = 0;
const CONST: u64 = 1;
const RUNS: u64 = 2;
const DICT: u64 = 3;
const DELTA: u64 = 4;
/// Bits of a length entry that hold the coding.
const BITS: u32 = 3;

/// Splits a SAMPLES2 payload into its count and (coding, bytes) columns.
fn columns(p: &[u8]) -> (u64, Vec<(u64, Vec<u8>)>) {
    let mut c = varint::Cursor::new(p);
    let n = c.u("n").unwrap();
    let lens: Vec<u64> = (0..14).map(|_| c.u("len").unwrap()).collect();
    let cols = lens
        .iter()
        .map(|&l| (l & 7, c.take((l >> BITS) as usize, "col").unwrap().to_vec()))
        .collect();
    assert!(c.is_empty());
    (n, cols)
}

fn payload(n: u64, cols: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut p = Vec::new();
    varint::put_u(&mut p, n);
    for (coding, c) in cols {
        varint::put_u(&mut p, ((c.len() as u64) << BITS) | coding);
    }
    for (_, c) in cols {
        p.extend_from_slice(c);
    }
    p
}

/// The codings and total SAMPLES2 payload bytes of a file.
fn codings(bytes: &[u8]) -> (Vec<Vec<u64>>, usize) {
    let f = VmtFile::from_bytes(bytes).unwrap();
    let mut out = Vec::new();
    let mut total = 0;
    for c in f.chunks() {
        if c.header.ty == SAMPLES2 {
            assert_eq!(c.header.flags, 0, "uncompressed chunks only");
            let start = c.offset as usize + CHUNK_HEADER_LEN;
            let p = &bytes[start..start + c.header.stored_len as usize];
            total += p.len();
            let (n, cols) = columns(p);
            assert!(p.len() as u64 >= n, "at least one byte per sample");
            out.push(cols.iter().map(|c| c.0).collect());
        }
    }
    (out, total)
}

/// Rewrites the file chunk by chunk (no index: readers scan), replacing the
/// payload of the first SAMPLES2 chunk by `f(payload)`, CRCs recomputed.
fn rewrite_samples(bytes: &[u8], f: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let file = VmtFile::from_bytes(bytes).unwrap();
    let mut out = bytes[..16].to_vec();
    let mut done = false;
    for c in file.chunks() {
        let start = c.offset as usize + CHUNK_HEADER_LEN;
        let old = &bytes[start..start + c.header.stored_len as usize];
        let mut h = c.header;
        let p = if c.header.ty == SAMPLES2 && !done {
            done = true;
            f(old)
        } else {
            old.to_vec()
        };
        h.stored_len = p.len() as u32;
        h.raw_len = p.len() as u32;
        h.payload_crc = crc32c::crc32c(&p);
        out.extend_from_slice(&h.encode());
        out.extend_from_slice(&p);
    }
    assert!(done, "no SAMPLES2 chunk");
    out
}

fn samples_of(bytes: &[u8]) -> Vec<TaskSample> {
    VmtFile::from_bytes(bytes)
        .unwrap()
        .decode()
        .unwrap()
        .samples
}

#[test]
fn the_writer_uses_every_coding_and_both_layouts_decode_alike() {
    let n = 3 * BLOCK + 17;
    let coded = common::file_flushing_every(n, plain(100_000), usize::MAX);
    let old = common::file_flushing_every(n, legacy(100_000), usize::MAX);
    let a = common::assert_agree(&coded, "coded").unwrap();
    let b = common::assert_agree(&old, "legacy").unwrap();
    assert_eq!(a.len(), n);
    assert_eq!(a, b);
    // Versions: 1.2 with SAMPLES2, 1.1 with SAMPLES only.
    assert_eq!(&coded[8..12], &[1, 0, 2, 0]);
    assert_eq!(&old[8..12], &[1, 0, 1, 0]);
    let f = VmtFile::from_bytes(&old).unwrap();
    assert!(f.chunks().iter().all(|c| c.header.ty != SAMPLES2));
    assert!(f.chunks().iter().any(|c| c.header.ty == 7));
    let (cods, _) = codings(&coded);
    assert_eq!(cods.len(), 1);
    let c = &cods[0];
    // common::file_flushing_every: ip is the top frame, bp - sp constant,
    // sp strides by -64 after its first value (two runs).
    assert_eq!(c[9], CONST, "ip {c:?}");
    assert_eq!(c[10], RUNS, "sp {c:?}");
    assert_eq!(c[11], CONST, "bp {c:?}");
    assert!(c.contains(&PLAIN), "{c:?}");
    assert!(c.contains(&DICT), "{c:?}");
    // A column that counts up is stored as deltas: comm ids here.
    let g = Gen {
        breach: 0,
        pid: 7,
        tgid_off: 0,
        comm: COUNT_UP,
        state: 1,
        flags: 0,
        cpu: 0,
        cgroup: 0,
        kstack: 0,
        ustack: 0,
        ip_off: 0,
        sp: 0,
        bp_off: 0,
        raw: false,
        process: None,
    };
    let (bytes, want) = write(&[(g, 200)], plain(100_000));
    assert_eq!(common::assert_agree(&bytes, "comm deltas").unwrap(), want);
    let (cods, _) = codings(&bytes);
    assert_eq!(cods[0][3], DELTA, "{:?}", cods[0]);
    // The file is smaller than with the SAMPLES layout.
    assert!(coded.len() < old.len(), "{} vs {}", coded.len(), old.len());
}

#[test]
fn a_capture_of_constants_keeps_one_byte_per_sample() {
    let n = 1000;
    let mut w = Writer::with_options(Vec::new(), plain(100_000)).unwrap();
    w.add_watch(&Watch {
        id: 1,
        owner_pid: 1,
        target_pid: 1,
        name: StrId(0),
        addr: 0,
        size: 8,
        signed: false,
        cmp: Comparison::Greater,
        threshold: 0,
        interval_ns: 1,
        kind: WatchKind::User,
        trigger: Default::default(),
    })
    .unwrap();
    w.add_breach(&Breach {
        event_id: 1,
        time_ns: 1,
        watch: 0,
        value: 1,
        nr_candidates: 1,
        collect_ns: 1,
        flags: 0,
    })
    .unwrap();
    let s = TaskSample {
        breach: 0,
        pid: 0,
        tgid: 0,
        comm: StrId(0),
        state: TaskState::Other,
        cpu: 0,
        cgroup_id: 0,
        kstack: StackId::EMPTY,
        ustack: StackId::EMPTY,
        regs: UserRegs::default(),
        raw_stack: None,
        process: None,
        flags: 0,
    };
    for _ in 0..n {
        w.add_sample(&s).unwrap();
    }
    let bytes = w.finish().unwrap();
    let (cods, total) = codings(&bytes);
    // 13 constant columns and one kept plain: n bytes plus the header.
    assert_eq!(cods[0].iter().filter(|&&c| c == PLAIN).count(), 1);
    assert_eq!(cods[0].iter().filter(|&&c| c == CONST).count(), 13);
    assert!(total >= n && total <= n + 20, "{total}");
    let got = common::assert_agree(&bytes, "constants").unwrap();
    assert_eq!(got, vec![s; n]);
}

/// A file whose first SAMPLES2 chunk is replaced by one of `n` samples
/// with every column constant 0 (breach 0, no stacks ...) but the breach
/// column, plain zeros, and then column `c` by `col`.
fn crafted(n: usize, c: usize, col: (u64, Vec<u8>)) -> Vec<u8> {
    let base = common::file_flushing_every(40, plain(100_000), usize::MAX);
    rewrite_samples(&base, |_| {
        let mut cols: Vec<(u64, Vec<u8>)> = vec![(CONST, Vec::new()); 14];
        cols[0] = (PLAIN, vec![0; n]);
        cols[c] = col.clone();
        payload(n as u64, &cols)
    })
}

fn zero_sample() -> TaskSample {
    TaskSample {
        breach: 0,
        pid: 0,
        tgid: 0,
        comm: StrId(0),
        state: TaskState::Other,
        cpu: 0,
        cgroup_id: 0,
        kstack: StackId::EMPTY,
        ustack: StackId::EMPTY,
        regs: UserRegs::default(),
        raw_stack: None,
        process: None,
        flags: 0,
    }
}

fn uvars(v: &[u64]) -> Vec<u8> {
    let mut b = Vec::new();
    for &x in v {
        varint::put_u(&mut b, x);
    }
    b
}

/// The warnings of decoding `bytes`, after checking that the stream agrees.
fn warnings(bytes: &[u8]) -> (Vec<TaskSample>, Vec<String>) {
    let s = common::assert_agree(bytes, "crafted").unwrap();
    let d = VmtFile::from_bytes(bytes)
        .unwrap()
        .decode_with_warnings()
        .unwrap();
    // Rewritten files have no index: that warning is not the point.
    let w = d.warnings.iter().map(|w| w.to_string());
    (
        s,
        w.filter(|w| !w.contains("no valid footer index")).collect(),
    )
}

#[test]
fn crafted_columns_decode_as_specified() {
    let n = 2 * BLOCK + 10;
    // Runs across block boundaries: pid delta 5 for 300 samples, then 0.
    let runs = uvars(&[10, 299, 0, (n - 301) as u64]);
    let (s, w) = warnings(&crafted(n, 1, (RUNS, runs)));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(s.len(), n);
    assert!(s[..300]
        .iter()
        .enumerate()
        .all(|(i, x)| x.pid == 5 * (i as i32 + 1)));
    assert!(s[300..].iter().all(|x| x.pid == 1500));
    // A dictionary column: flags from two values, alternating.
    // Stored flags are in SAMPLES2 order: ROOT is bit 1, KSTACK_TRUNC bit 6.
    let mut d = uvars(&[2, (1 << 1) << 2 | 1, (1 << 6) << 2 | 2]);
    d.extend((0..n).map(|i| (i % 2) as u8));
    let (s, w) = warnings(&crafted(n, 4, (DICT, d)));
    assert!(w.is_empty(), "{w:?}");
    assert!(s
        .iter()
        .step_by(2)
        .all(|x| x.flags == task_flags::USTACK_ROOT && x.state == TaskState::Running));
    assert!(s
        .iter()
        .skip(1)
        .step_by(2)
        .all(|x| x.flags == task_flags::KSTACK_TRUNC && x.state == TaskState::Uninterruptible));
    // Deltas: comm 1, 2, 3 ... (zigzag 2 each), multi-byte near the end.
    let mut d: Vec<u64> = vec![2; n];
    d[n - 1] = varint::zigzag(1000);
    let (s, w) = warnings(&crafted(n, 3, (DELTA, uvars(&d))));
    // comm ids past the string table become 0, counted in a warning.
    assert!(w.iter().any(|w| w.contains("unknown comm")), "{w:?}");
    let strings = VmtFile::from_bytes(&crafted(n, 3, (DELTA, uvars(&d))))
        .unwrap()
        .decode()
        .unwrap()
        .strings
        .len() as u32;
    for (i, x) in s.iter().enumerate() {
        let id = if i == n - 1 {
            n as u32 - 1 + 1000
        } else {
            i as u32 + 1
        };
        assert_eq!(x.comm.0, if id < strings { id } else { 0 }, "sample {i}");
    }
    // A constant: cpu -1 everywhere.
    let (s, w) = warnings(&crafted(n, 5, (CONST, uvars(&[1]))));
    assert!(w.is_empty(), "{w:?}");
    assert!(s.iter().all(|x| x.cpu == -1));
    assert_eq!(
        s[0],
        TaskSample {
            cpu: -1,
            ..zero_sample()
        }
    );
}

#[test]
fn runs_that_do_not_add_up_end_the_chunk() {
    let n = 2 * BLOCK + 10;
    // One sample short: the last block cannot be filled.
    let short = uvars(&[0, (n - 2) as u64]);
    let (s, w) = warnings(&crafted(n, 1, (RUNS, short)));
    assert_eq!(s.len(), 2 * BLOCK, "{w:?}");
    assert!(
        w.iter()
            .any(|w| w.contains(&format!("skipped after {} of {n} task samples", 2 * BLOCK))),
        "{w:?}"
    );
    // One sample too many: refused where the run starts.
    let long = uvars(&[0, 100, 0, (n - 101) as u64]);
    let (s, w) = warnings(&crafted(n, 1, (RUNS, long)));
    assert!(s.is_empty(), "{w:?}");
    assert!(
        w.iter().any(|w| w.contains("run longer than the chunk")),
        "{w:?}"
    );
    // Huge run lengths, up to 2^64 - 1 (whose + 1 would overflow).
    for huge in [1u64 << 40, u64::MAX - 1, u64::MAX] {
        let (s, w) = warnings(&crafted(n, 3, (RUNS, uvars(&[0, huge]))));
        assert!(s.is_empty(), "{huge}: {w:?}");
        assert!(
            w.iter().any(|w| w.contains("run longer than the chunk")),
            "{w:?}"
        );
    }
    // A run that ends a later block too early, after good blocks.
    let late = uvars(&[0, BLOCK as u64 - 1, 0, BLOCK as u64 + 100]);
    let (s, w) = warnings(&crafted(n, 1, (RUNS, late)));
    assert!(s.len() == BLOCK, "{} {w:?}", s.len());
    // Truncated inside a pair, and a malformed varint.
    for bad in [vec![0x05], vec![0x80], vec![0xff; 11]] {
        let (s, w) = warnings(&crafted(n, 1, (RUNS, bad)));
        assert!(s.is_empty(), "{w:?}");
        assert!(w.iter().any(|w| w.contains("sample column")), "{w:?}");
    }
}

#[test]
fn bad_constants_and_dictionaries_are_refused() {
    let n = 40;
    let refused = |col: (u64, Vec<u8>), what: &str| {
        let (s, w) = warnings(&crafted(n, 4, col));
        assert!(s.is_empty(), "{what}: {w:?}");
        assert!(w.iter().any(|w| w.contains("skipped")), "{what}: {w:?}");
    };
    refused((CONST, uvars(&[1, 2])), "a constant with a second value");
    refused((CONST, vec![0x80]), "a truncated constant");
    let dict = |k: u64, vals: &[u64], idx: &[u8]| {
        let mut d = uvars(&[k]);
        d.extend(uvars(vals));
        d.extend_from_slice(idx);
        (DICT, d)
    };
    refused(dict(0, &[], &[0; 40]), "k = 0");
    refused(dict(257, &[0; 257], &[0; 40]), "k = 257");
    refused(dict(2, &[1], &[0; 40]), "a truncated dictionary");
    refused(dict(2, &[1, 2], &[0; 39]), "one index short");
    refused(dict(2, &[1, 2], &[0; 41]), "one index too many");
    let mut idx = [1u8; 40];
    idx[33] = 2;
    refused(dict(2, &[1, 2], &idx), "an index past k");
    idx[33] = 255;
    refused(dict(2, &[1, 2], &idx), "index 255");
    // The largest dictionary is fine.
    // (Stored flags 1 << 12 and up are the task flags themselves.)
    let vals: Vec<u64> = (0..256).map(|v| v << 14).collect();
    let idx: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
    let (s, w) = warnings(&crafted(n, 4, dict(256, &vals, &idx)));
    assert!(w.is_empty(), "{w:?}");
    assert!(s
        .iter()
        .zip(&idx)
        .all(|(x, &i)| x.flags == (i as u32) << 12));
}

#[test]
fn huge_sample_counts_are_refused_before_allocating() {
    // Every column constant: a tiny payload declaring many samples.
    for n in [1u64 << 40, u32::MAX as u64, 10_000, 15] {
        let base = common::file_flushing_every(40, plain(100_000), usize::MAX);
        let bad = rewrite_samples(&base, |_| payload(n, &vec![(CONST, Vec::new()); 14]));
        let (s, w) = warnings(&bad);
        assert!(s.is_empty(), "{n}: {w:?}");
        assert!(
            w.iter().any(|w| w.contains("sample count out of range")),
            "{w:?}"
        );
    }
    // As many samples as payload bytes after the count is allowed: 14
    // length bytes and a 6-byte constant (cgroup deltas of 2^39) hold 20.
    let base = common::file_flushing_every(40, plain(100_000), usize::MAX);
    let with = |n: u64| {
        rewrite_samples(&base, |_| {
            let mut cols = vec![(CONST, Vec::new()); 14];
            cols[6] = (CONST, uvars(&[1 << 40]));
            payload(n, &cols)
        })
    };
    let (s, w) = warnings(&with(20));
    assert!(w.is_empty(), "{w:?}");
    let want: Vec<TaskSample> = (1..=20)
        .map(|i| TaskSample {
            cgroup_id: i << 39,
            ..zero_sample()
        })
        .collect();
    assert_eq!(s, want);
    let (s, w) = warnings(&with(21));
    assert!(s.is_empty());
    assert!(
        w.iter()
            .any(|w| w.contains("sample count out of range: 21")),
        "{w:?}"
    );
}

#[test]
fn a_crafted_chunk_cut_or_changed_anywhere_never_panics() {
    let n = BLOCK + 30;
    let mut d = uvars(&[3, 4, 8, 12]);
    d.extend((0..n).map(|i| (i % 3) as u8));
    let runs = uvars(&[2, 99, 0, (n - 101) as u64]);
    let base = common::file_flushing_every(40, plain(100_000), usize::MAX);
    let good = rewrite_samples(&base, |_| {
        let mut cols: Vec<(u64, Vec<u8>)> = vec![(CONST, Vec::new()); 14];
        cols[0] = (PLAIN, vec![0; n]);
        cols[1] = (RUNS, runs.clone());
        cols[4] = (DICT, d.clone());
        cols[5] = (CONST, uvars(&[1]));
        payload(n as u64, &cols)
    });
    assert_eq!(samples_of(&good).len(), n);
    let f = VmtFile::from_bytes(&good).unwrap();
    let c = *f.chunks().iter().find(|c| c.header.ty == SAMPLES2).unwrap();
    let start = c.offset as usize + CHUNK_HEADER_LEN;
    let p = good[start..start + c.header.stored_len as usize].to_vec();
    for cut in 0..p.len() {
        let bad = rewrite_samples(&good, |_| p[..cut].to_vec());
        common::assert_agree(&bad, &format!("cut {cut}"));
    }
    for pos in 0..p.len() {
        for x in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut q = p.clone();
            q[pos] = x;
            let bad = rewrite_samples(&good, |_| q.clone());
            common::assert_agree(&bad, &format!("byte {pos} = {x}"));
        }
    }
}

/// [`Gen::comm`]: the string after the previous sample's.
const COUNT_UP: u16 = u16::MAX;

/// A sample drawn from small alphabets or wide ranges per column, so that
/// every coding is chosen somewhere.
#[derive(Clone, Debug)]
struct Gen {
    breach: u8,
    pid: i32,
    tgid_off: i32,
    /// An index into 300 strings, or [`COUNT_UP`]: one past the previous.
    comm: u16,
    state: u8,
    flags: u32,
    cpu: i32,
    cgroup: u64,
    kstack: u16,
    ustack: u16,
    ip_off: i64,
    sp: u64,
    bp_off: u64,
    raw: bool,
    process: Option<u8>,
}

fn column_of<T: std::fmt::Debug + Clone + 'static>(
    small: impl Strategy<Value = T> + 'static,
    wide: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![2 => small, 1 => wide].boxed()
}

fn gen() -> impl Strategy<Value = Gen> {
    (
        (
            column_of(Just(0u8), 0u8..4),
            column_of(Just(1234i32), any::<i32>()),
            column_of(Just(0i32), -3i32..3),
            prop_oneof![1 => Just(COUNT_UP), 1 => column_of(Just(1u16), 0u16..300)],
            0u8..4,
            column_of(Just(1u32 << 9), 0u32..(1 << 12)),
            column_of(Just(-1i32), -1i32..300),
        ),
        (
            column_of(Just(77u64), any::<u64>()),
            column_of(Just(0u16), 0u16..40),
            column_of(Just(3u16), 0u16..40),
            column_of(Just(0i64), any::<i64>()),
            column_of(Just(0u64), any::<u64>()),
            column_of(Just(0u64), 0u64..1 << 20),
            any::<bool>(),
            proptest::option::of(0u8..3),
        ),
    )
        .prop_map(
            |(
                (breach, pid, tgid_off, comm, state, flags, cpu),
                (cgroup, kstack, ustack, ip_off, sp, bp_off, raw, process),
            )| Gen {
                breach,
                pid,
                tgid_off,
                comm,
                state,
                flags,
                cpu,
                cgroup,
                kstack,
                ustack,
                ip_off,
                sp,
                bp_off,
                raw,
                process,
            },
        )
}

/// Writes `gens` (runs of each repeated `rep` times) as a capture; returns
/// the file and the samples that went in.
fn write(gens: &[(Gen, u8)], opts: WriterOptions) -> (Vec<u8>, Vec<TaskSample>) {
    let mut w = Writer::with_options(Vec::new(), opts).unwrap();
    let comms: Vec<StrId> = (0..300).map(|i| w.intern_str(&format!("c{i}"))).collect();
    let mut comm = 0usize;
    w.add_watch(&Watch {
        id: 1,
        owner_pid: 1,
        target_pid: 1,
        name: StrId(0),
        addr: 0,
        size: 8,
        signed: false,
        cmp: Comparison::Greater,
        threshold: 0,
        interval_ns: 1,
        kind: WatchKind::User,
        trigger: Default::default(),
    })
    .unwrap();
    for i in 0..4 {
        w.add_breach(&Breach {
            event_id: i,
            time_ns: i,
            watch: 0,
            value: 1,
            nr_candidates: 1,
            collect_ns: 1,
            flags: 0,
        })
        .unwrap();
    }
    let stacks: Vec<StackId> = (0..40u64)
        .map(|i| w.intern_stack(&[0x1000 + i, 0x2000 + i % 7]))
        .collect();
    for i in 0..3 {
        w.add_process(&Process {
            tgid: i,
            start_boottime_ns: 0,
            mappings: vec![],
            mappings_truncated: false,
            chain: vec![],
            chain_truncated: false,
        })
        .unwrap();
    }
    let mut raw = 0u32;
    let mut out = Vec::new();
    for (g, rep) in gens {
        for _ in 0..=*rep {
            let stack = |k: u16| {
                if k == 0 {
                    StackId::EMPTY
                } else {
                    stacks[k as usize - 1]
                }
            };
            let ustack = stack(g.ustack);
            let top = if ustack.is_empty() {
                0
            } else {
                0x1000 + g.ustack as u64 - 1
            };
            comm = if g.comm == COUNT_UP {
                (comm + 1) % comms.len()
            } else {
                g.comm as usize
            };
            let raw_stack = g.raw.then(|| {
                raw = w
                    .add_raw_stack(&RawStack {
                        sp: g.sp,
                        bytes: vec![1, 2],
                    })
                    .unwrap();
                raw
            });
            let s = TaskSample {
                breach: g.breach as u32,
                pid: g.pid,
                tgid: g.pid.wrapping_sub(g.tgid_off),
                comm: comms[comm],
                state: [
                    TaskState::Other,
                    TaskState::Running,
                    TaskState::Uninterruptible,
                    TaskState::RtLock,
                ][g.state as usize],
                cpu: g.cpu,
                cgroup_id: g.cgroup,
                kstack: stack(g.kstack),
                ustack,
                regs: UserRegs {
                    ip: top.wrapping_add(g.ip_off as u64),
                    sp: g.sp,
                    bp: g.sp.wrapping_add(g.bp_off),
                },
                raw_stack,
                process: g.process.map(|p| p as u32),
                flags: g.flags,
            };
            w.add_sample(&s).unwrap();
            out.push(s);
        }
    }
    (w.finish().unwrap(), out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any samples round-trip through SAMPLES2 exactly (decode and stream),
    /// like through SAMPLES, whatever the chunking; the SAMPLES2 payload is
    /// never more than the column table's 14 bytes larger than SAMPLES.
    #[test]
    fn samples_round_trip_through_both_layouts(
        gens in proptest::collection::vec((gen(), prop_oneof![3 => Just(0u8), 1 => any::<u8>()]), 0..80),
        per_chunk in prop_oneof![Just(100_000usize), 1usize..600],
        compress in any::<bool>(),
    ) {
        let opts = if compress { zstd(per_chunk) } else { plain(per_chunk) };
        let (coded, want) = write(&gens, opts.clone());
        let (old, _) = write(&gens, common::encoded(opts, true));
        let a = common::assert_agree(&coded, "coded").unwrap();
        prop_assert_eq!(&a, &want);
        let b = common::assert_agree(&old, "legacy").unwrap();
        prop_assert_eq!(&b, &want);
        let d = VmtFile::from_bytes(&coded).unwrap().decode_with_warnings().unwrap();
        prop_assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        if !compress {
            let (_, total) = codings(&coded);
            let f = VmtFile::from_bytes(&old).unwrap();
            let plain_total: usize = f.chunks().iter().filter(|c| c.header.ty == 7)
                .map(|c| c.header.stored_len as usize).sum();
            let chunks = f.chunks().iter().filter(|c| c.header.ty == 7).count();
            prop_assert!(total <= plain_total + 14 * chunks, "{} vs {}", total, plain_total);
        }
        // Re-encoding the decoded capture gives the same samples.
        let cap = VmtFile::from_bytes(&coded).unwrap().decode().unwrap();
        let again = write_capture_with(&cap, Vec::new(), plain(per_chunk)).unwrap();
        prop_assert_eq!(samples_of(&again), want);
    }
}
