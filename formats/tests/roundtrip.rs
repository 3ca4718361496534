mod common;

use vmon_format::*;

fn decode(bytes: &[u8]) -> (Capture, Vec<Warning>) {
    let f = VmtFile::from_bytes(bytes).unwrap();
    let d = f.decode_with_warnings().unwrap();
    (d.capture, d.warnings)
}

#[test]
fn streamed_file_round_trips_through_write_capture() {
    for opts in [
        WriterOptions::default(),
        common::zstd(16 * 1024),
        WriterOptions {
            samples_per_chunk: 5,
            sample_compression: Compression::None,
            table_compression: Compression::None,
            sample_encoding: SampleEncoding::Coded,
        },
        common::legacy(16 * 1024),
        common::legacy(5),
    ] {
        let bytes = common::small_file(200, opts.clone());
        let (cap, warnings) = decode(&bytes);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cap.samples.len(), 200);
        assert_eq!(cap.meta, common::meta());
        assert_eq!(cap.watches.len(), 2);
        assert_eq!(cap.breaches.len(), 200_usize.div_ceil(7));
        assert_eq!(cap.processes.len(), 1);
        assert_eq!(cap.symbol_tables.len(), 1);
        assert_eq!(cap.kernel_symbols.len(), 2);
        assert_eq!(cap.losses.kernel_records, 2);
        assert_eq!(cap.str(cap.kernel_symbols[1].module), "ext4");
        // Stacks come back as the frames that went in.
        let s = &cap.samples[1];
        let k: Vec<u64> = cap.stacks.frames(s.kstack).collect();
        assert_eq!(
            k,
            (0..4)
                .map(|d| 0xffffffff81000000 + 0x40 * (d + 1))
                .collect::<Vec<u64>>()
        );
        assert_eq!(s.regs.ip, cap.stacks.frames(s.ustack).next().unwrap());
        assert!(cap.samples[0].ustack.is_empty());
        assert_eq!(cap.str(cap.samples[5].comm), "worker/1");
        assert_eq!(cap.samples[3].raw_stack, Some(1));
        assert_eq!(cap.raw_stacks[1].bytes, vec![3u8; 16]);
        assert_eq!(cap.samples[2].cpu, 1);
        assert_eq!(cap.samples[0].cpu, -1);

        // Re-encoding the decoded capture yields the same capture.
        let again = write_capture_with(&cap, Vec::new(), opts).unwrap();
        let (cap2, w2) = decode(&again);
        assert!(w2.is_empty(), "{w2:?}");
        assert_eq!(cap2, cap);
    }
}

#[test]
fn open_reads_a_file_from_disk() {
    let dir = std::env::temp_dir().join(format!("vmon-format-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.vmt");
    std::fs::write(&path, common::small_file(50, WriterOptions::default())).unwrap();
    let f = VmtFile::open(&path).unwrap();
    assert!(f.is_finished());
    assert_eq!(f.version(), (1, 2));
    assert_eq!(f.decode().unwrap().samples.len(), 50);
    std::fs::remove_dir_all(&dir).unwrap();
    let err = VmtFile::open(dir.join("missing.vmt"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing.vmt"), "{err}");
}

#[test]
fn empty_capture_round_trips() {
    let bytes = Writer::new(Vec::new()).unwrap().finish().unwrap();
    let (cap, w) = decode(&bytes);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(cap.strings.iter().collect::<Vec<_>>(), [""]);
    assert!(cap.samples.is_empty());
}

#[test]
fn writer_refuses_dangling_ids() {
    let mut w = Writer::new(Vec::new()).unwrap();
    let s = TaskSample {
        breach: 0,
        pid: 1,
        tgid: 1,
        comm: StrId(0),
        state: TaskState::Running,
        cpu: 0,
        cgroup_id: 0,
        kstack: StackId::EMPTY,
        ustack: StackId::EMPTY,
        regs: UserRegs::default(),
        raw_stack: None,
        process: None,
        flags: 0,
    };
    let err = w.add_sample(&s).unwrap_err().to_string();
    assert!(err.contains("breach 0"), "{err}");
    let err = w
        .add_breach(&Breach {
            event_id: 1,
            time_ns: 0,
            watch: 3,
            value: 0,
            nr_candidates: 0,
            collect_ns: 0,
            flags: 0,
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("watch 3"), "{err}");
}

#[test]
fn interning_dedups() {
    let mut w = Writer::new(Vec::new()).unwrap();
    assert_eq!(w.intern_str(""), StrId(0));
    let a = w.intern_str("a");
    assert_eq!(w.intern_str("a"), a);
    let s1 = w.intern_stack(&[3, 2, 1]);
    let s2 = w.intern_stack(&[4, 2, 1]);
    assert_eq!(w.intern_stack(&[3, 2, 1]), s1);
    assert_ne!(s1, s2);
    // Shared prefix [2, 1] is stored once: 1, 2, 3, 4.
    assert_eq!(w.stack_node_count(), 4);
    assert_eq!(w.intern_stack(&[]), StackId::EMPTY);
}

#[test]
fn minimal_records_round_trip() {
    // Every field at its smallest encoding: counts must not over-estimate
    // record sizes and refuse valid chunks.
    let mut w = Writer::with_options(
        Vec::new(),
        WriterOptions {
            samples_per_chunk: 1,
            sample_compression: Compression::None,
            table_compression: Compression::None,
            sample_encoding: SampleEncoding::Coded,
        },
    )
    .unwrap();
    let watch = Watch {
        id: 0,
        owner_pid: 0,
        target_pid: 0,
        name: StrId(0),
        addr: 0,
        size: 1,
        signed: false,
        cmp: Comparison::Greater,
        threshold: 0,
        interval_ns: 0,
        kind: WatchKind::User,
        trigger: Default::default(),
    };
    w.add_watch(&watch).unwrap();
    let breach = Breach {
        event_id: 0,
        time_ns: 0,
        watch: 0,
        value: 0,
        nr_candidates: 0,
        collect_ns: 0,
        flags: 0,
    };
    w.add_breach(&breach).unwrap();
    let process = Process {
        tgid: 0,
        start_boottime_ns: 0,
        mappings: vec![],
        mappings_truncated: false,
        chain: vec![],
        chain_truncated: false,
    };
    w.add_process(&process).unwrap();
    w.add_raw_stack(&RawStack {
        sp: 0,
        bytes: vec![],
    })
    .unwrap();
    let bytes = w.finish().unwrap();
    let d = VmtFile::from_bytes(&bytes)
        .unwrap()
        .decode_with_warnings()
        .unwrap();
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    assert_eq!(d.capture.watches, vec![watch]);
    assert_eq!(d.capture.breaches, vec![breach]);
    assert_eq!(d.capture.processes, vec![process]);
    assert_eq!(d.capture.raw_stacks.len(), 1);
}

#[test]
fn empty_file_on_disk_is_a_clear_error() {
    let path = std::env::temp_dir().join(format!("vmon-format-empty-{}.vmt", std::process::id()));
    std::fs::write(&path, b"").unwrap();
    let err = VmtFile::open(&path).err().unwrap().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(
        err.contains("0 bytes") && err.contains("capture again"),
        "{err}"
    );
}

/// A watch's trigger goes into the TRIGGERS chunk and comes back on its
/// watch; plain watches write no entry; a file whose TRIGGERS entry names a
/// watch it does not hold reads with a warning and the watches unchanged.
#[test]
fn watch_triggers_round_trip() {
    let watch = |id: u64, trigger: WatchTrigger| Watch {
        id,
        owner_pid: 1,
        target_pid: 1,
        name: StrId(0),
        addr: 0x1000,
        size: 4,
        signed: true,
        cmp: Comparison::Greater,
        threshold: 100,
        interval_ns: 1_000_000,
        kind: WatchKind::User,
        trigger,
    };
    let rate = WatchTrigger {
        consecutive: 5,
        rearm: Some(-7),
        rate_window_ns: Some(250_000_000),
    };
    let hyst = WatchTrigger {
        rearm: Some(80),
        ..Default::default()
    };
    let watches = vec![
        watch(1, WatchTrigger::default()),
        watch(2, rate),
        watch(3, hyst),
    ];
    let mut w = Writer::new(Vec::new()).unwrap();
    for x in &watches {
        w.add_watch(x).unwrap();
    }
    let bytes = w.finish().unwrap();
    let d = VmtFile::from_bytes(&bytes)
        .unwrap()
        .decode_with_warnings()
        .unwrap();
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    assert_eq!(d.capture.watches, watches);

    // the TRIGGERS chunk spliced in before any watch: it names watches
    // the file does not hold (yet), so it is ignored with a warning
    let f = VmtFile::from_bytes(&bytes).unwrap();
    let c = f
        .chunks()
        .iter()
        .find(|c| c.header.ty == 13)
        .expect("a TRIGGERS chunk");
    let at = c.offset as usize;
    let len = vmon_format::chunk::CHUNK_HEADER_LEN + c.header.stored_len as usize;
    let head = vmon_format::chunk::FILE_HEADER_LEN;
    let mut spliced = bytes[..head].to_vec();
    spliced.extend_from_slice(&bytes[at..at + len]);
    spliced.extend_from_slice(&bytes[head..at]);
    spliced.extend_from_slice(&bytes[at + len..]);
    let d = VmtFile::from_bytes(&spliced)
        .unwrap()
        .decode_with_warnings()
        .unwrap();
    assert!(
        d.warnings
            .iter()
            .any(|w| w.message.contains("name a watch the file does not hold")),
        "{:?}",
        d.warnings
    );
    assert!(d.capture.watches.iter().all(|w| w.trigger.is_plain()));
    assert_eq!(d.capture.watches.len(), 3);
}
