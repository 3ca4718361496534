//! A small but complete capture, built through the streaming writer.
#![allow(dead_code)]

use vmon_format::chunk::{ChunkHeader, CHUNK_HEADER_LEN};
use vmon_format::*;

pub fn meta() -> Meta {
    Meta {
        tool: "vmon-test 0.1.0".into(),
        kernel_release: "6.1.0-test".into(),
        kernel_build_id: vec![0xab; 20],
        hostname: "host".into(),
        boot_id: "0b7e-boot".into(),
        clock: Clock::Boottime,
        realtime_offset_ns: -5,
        start_ns: 1_000,
        end_ns: 9_000_000,
        module: ModuleSettings {
            abi_version: 1,
            record_version: 1,
            def_interval_ns: 1_000_000,
            min_interval_ns: 10_000,
            dump_reset_sec: 10,
            kstack_max: 64,
            ustack_max: 128,
            raw_stack_bytes: 0,
            buffer_bytes: 1 << 22,
        },
        extra: vec![("cmdline".into(), "vmon-capture -o x".into())],
    }
}

/// Every chunk uncompressed.
pub fn plain(samples_per_chunk: usize) -> WriterOptions {
    WriterOptions {
        samples_per_chunk,
        sample_compression: Compression::None,
        table_compression: Compression::None,
        sample_encoding: SampleEncoding::Coded,
    }
}

/// Every chunk uncompressed, task samples as SAMPLES chunks (format 1.1).
pub fn legacy(samples_per_chunk: usize) -> WriterOptions {
    WriterOptions {
        sample_encoding: SampleEncoding::Plain,
        ..plain(samples_per_chunk)
    }
}

/// `opts` with task samples written as SAMPLES (`legacy`) or SAMPLES2.
pub fn encoded(opts: WriterOptions, legacy: bool) -> WriterOptions {
    WriterOptions {
        sample_encoding: if legacy {
            SampleEncoding::Plain
        } else {
            SampleEncoding::Coded
        },
        ..opts
    }
}

/// Every chunk zstd-compressed (the default leaves SAMPLES uncompressed).
pub fn zstd(samples_per_chunk: usize) -> WriterOptions {
    WriterOptions {
        samples_per_chunk,
        sample_compression: Compression::Zstd(3),
        table_compression: Compression::Zstd(3),
        sample_encoding: SampleEncoding::Coded,
    }
}

/// Writes a capture with every record kind, flushing every 13 samples;
/// returns the file bytes.
pub fn small_file(samples: usize, opts: WriterOptions) -> Vec<u8> {
    file_flushing_every(samples, opts, 13)
}

/// [`small_file`], flushing every `flush_every` samples (and whenever the
/// writer's chunk is full).
pub fn file_flushing_every(samples: usize, opts: WriterOptions, flush_every: usize) -> Vec<u8> {
    let mut w = Writer::with_options(Vec::new(), opts).unwrap();
    w.write_meta(&meta()).unwrap();
    let sched = w.intern_str("schedule");
    let core = w.intern_str("");
    let ext4 = w.intern_str("ext4");
    w.add_kernel_symbol(&KernelSymbol {
        addr: 0xffffffff81000000,
        kind: b'T',
        name: sched,
        module: core,
    })
    .unwrap();
    let f = w.intern_str("ext4_sync_file");
    w.add_kernel_symbol(&KernelSymbol {
        addr: 0xffffffffc0001000,
        kind: b't',
        name: f,
        module: ext4,
    })
    .unwrap();
    let wname = w.intern_str("queue_len");
    let avenrun = w.intern_str("avenrun");
    let w0 = w
        .add_watch(&Watch {
            id: 7,
            owner_pid: 100,
            target_pid: 100,
            name: wname,
            addr: 0x5555_0000_1000,
            size: 8,
            signed: true,
            cmp: Comparison::Greater,
            threshold: 10,
            interval_ns: 1_000_000,
            kind: WatchKind::User,
            trigger: Default::default(),
        })
        .unwrap();
    let w1 = w
        .add_watch(&Watch {
            id: 8,
            owner_pid: 100,
            target_pid: 0,
            name: avenrun,
            addr: 0,
            size: 4,
            signed: false,
            cmp: Comparison::Less,
            threshold: -3,
            interval_ns: 5_000_000,
            kind: WatchKind::Kernel { symbol: avenrun },
            trigger: Default::default(),
        })
        .unwrap();
    let path = w.intern_str("/usr/bin/workload");
    let comm = w.intern_str("workload");
    let arg = w.intern_str("--busy");
    let proc0 = w
        .add_process(&Process {
            tgid: 100,
            start_boottime_ns: 55,
            mappings: vec![Mapping {
                start: 0x5555_0000_0000,
                end: 0x5555_0001_0000,
                offset: 0x1000,
                path,
                build_id: vec![1, 2, 3, 4],
                dev: 0x801,
                ino: 1234,
            }],
            mappings_truncated: false,
            chain: vec![
                Ancestor {
                    pid: 100,
                    start_boottime_ns: 55,
                    comm,
                    cmdline: vec![path, arg],
                    cmdline_truncated: false,
                },
                Ancestor {
                    pid: 1,
                    start_boottime_ns: 0,
                    comm: sched,
                    cmdline: vec![],
                    cmdline_truncated: true,
                },
            ],
            chain_truncated: true,
        })
        .unwrap();
    let fsym = w.intern_str("_ZN4work4main17h0123456789abcdefE");
    w.add_symbol_table(&SymbolTable {
        path,
        build_id: vec![1, 2, 3, 4],
        symbols: vec![
            FuncSymbol {
                addr: 0x1000,
                size: 0x20,
                name: fsym,
            },
            FuncSymbol {
                addr: 0x1020,
                size: 0x40,
                name: comm,
            },
        ],
    })
    .unwrap();
    let mut breach = 0;
    for i in 0..samples {
        if i % 7 == 0 {
            breach = w
                .add_breach(&Breach {
                    event_id: 1000 + i as u64,
                    time_ns: 10_000 + 1000 * i as u64,
                    watch: if i % 2 == 0 { w0 } else { w1 },
                    value: 42 - i as i64,
                    nr_candidates: 3,
                    collect_ns: 1500,
                    flags: breach_flags::TASKS_TRUNCATED,
                })
                .unwrap();
        }
        let depth = 3 + i % 5;
        let kframes: Vec<u64> = (0..depth)
            .map(|d| 0xffffffff81000000 + 0x40 * (d + i % 3) as u64)
            .collect();
        let uframes: Vec<u64> = (0..depth + 2)
            .map(|d| 0x5555_0000_1000 + 0x10 * (d * (i % 4 + 1)) as u64)
            .collect();
        let kstack = w.intern_stack(&kframes);
        let ustack = if i % 11 == 0 {
            StackId::EMPTY
        } else {
            w.intern_stack(&uframes)
        };
        let raw_stack = if i % 3 == 0 {
            Some(
                w.add_raw_stack(&RawStack {
                    sp: 0x7ffc_0000_0000 + i as u64,
                    bytes: vec![i as u8; 16],
                })
                .unwrap(),
            )
        } else {
            None
        };
        let c = w.intern_str(&format!("worker/{}", i % 4));
        w.add_sample(&TaskSample {
            breach,
            pid: 100 + (i % 9) as i32,
            tgid: 100,
            comm: c,
            state: [
                TaskState::Running,
                TaskState::Uninterruptible,
                TaskState::Other,
                TaskState::RtLock,
            ][i % 4],
            cpu: (i % 3) as i32 - 1,
            cgroup_id: 5000 + (i % 2) as u64,
            kstack,
            ustack,
            regs: UserRegs {
                ip: if ustack.is_empty() { 0 } else { uframes[0] },
                sp: 0x7ffc_0000_0000 - 64 * i as u64,
                bp: 0x7ffc_0000_0100 - 64 * i as u64,
            },
            raw_stack,
            process: if i % 5 == 0 { None } else { Some(proc0) },
            flags: task_flags::ON_CPU
                | if i % 2 == 0 {
                    task_flags::KSTACK_TRUNC
                } else {
                    0
                },
        })
        .unwrap();
        if i % flush_every == flush_every - 1 {
            w.flush().unwrap();
        }
    }
    w.set_losses(&Losses {
        kernel_records: 2,
        kernel_bytes: 300,
        writer_records: 1,
        notes: vec!["lost 2 records".into()],
    });
    w.write_meta(&meta()).unwrap();
    w.finish().unwrap()
}

/// Streams every sample; returns them and every warning (tables, then
/// samples), checking the block invariants on the way.
pub fn stream(f: &VmtFile<'_>) -> (Vec<TaskSample>, Vec<Warning>, SampleReport) {
    let t = f.tables().unwrap();
    assert!(t.capture().samples.is_empty());
    let mut s = t.samples();
    let mut out = Vec::new();
    while let Some(b) = s.next_block() {
        assert!(!b.is_empty() && b.len() <= BLOCK);
        let n = b.len();
        for col in [
            b.breach().len(),
            b.pid().len(),
            b.tgid().len(),
            b.comm().len(),
            b.state().len(),
            b.flags().len(),
            b.cpu().len(),
            b.cgroup_id().len(),
            b.kstack().len(),
            b.ustack().len(),
            b.ip().len(),
            b.sp().len(),
            b.bp().len(),
            b.raw_stack().len(),
            b.process().len(),
        ] {
            assert_eq!(col, n);
        }
        assert_eq!(b.get(n), None);
        for (i, x) in b.iter().enumerate() {
            assert_eq!(b.breach()[i], x.breach);
            assert_eq!(b.tgid()[i], x.tgid);
            assert_eq!(b.comm()[i], x.comm);
            assert_eq!(b.cgroup_id()[i], x.cgroup_id);
            assert_eq!(b.ustack()[i], x.ustack);
            assert_eq!(b.sp()[i], x.regs.sp);
            assert_eq!(b.raw_stack()[i], x.raw_stack);
        }
        out.extend(b.iter());
    }
    // The end is sticky.
    assert!(s.next_block().is_none());
    let report = s.report();
    assert_eq!(report.kept as usize, out.len());
    assert!(report.kept + report.bad_refs <= report.declared);
    let mut w = t.warnings().to_vec();
    w.extend(report.warnings());
    (out, w, report)
}

/// Asserts the stream and `decode_with_warnings` agree on `bytes`.
pub fn assert_agree(bytes: &[u8], what: &str) -> Option<Vec<TaskSample>> {
    let f = VmtFile::from_bytes(bytes).ok()?;
    let d = f.decode_with_warnings().unwrap();
    let (samples, warnings, _) = stream(&f);
    assert_eq!(samples, d.capture.samples, "{what}: samples differ");
    assert_eq!(warnings, d.warnings, "{what}: warnings differ");
    // The same through `samples_for` on the tables kept apart.
    let (tables, mut w2) = f.tables().unwrap().into_parts();
    let mut s = f.samples_for(&tables);
    let mut again = Vec::new();
    while let Some(b) = s.next_block() {
        again.extend(b.iter());
    }
    w2.extend(s.report().warnings());
    assert_eq!(again, samples, "{what}: samples_for differs");
    assert_eq!(w2, warnings, "{what}: samples_for warnings differ");
    Some(samples)
}

/// Recomputes every chunk's payload CRC, so damage reaches the parsers.
pub fn fix_crcs(bytes: &mut [u8]) {
    let Ok(f) = VmtFile::from_bytes(bytes) else {
        return;
    };
    let chunks = f.chunks().to_vec();
    drop(f);
    for c in chunks {
        let start = c.offset as usize + CHUNK_HEADER_LEN;
        let Some(p) = bytes.get(start..start + c.header.stored_len as usize) else {
            continue;
        };
        let h = ChunkHeader {
            payload_crc: crc32c::crc32c(p),
            ..c.header
        };
        bytes[c.offset as usize..start].copy_from_slice(&h.encode());
    }
}
