//! vmon-capture end to end on synthetic raw streams (`--from-raw`), checked
//! by decoding the `.vmt` it writes with vmon-format's reader.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vmon_format::{breach_flags, Capture, Comparison, TaskState, VmtFile, WatchKind};
use vmon_kabi::abi::*;
use vmon_kabi::records::{Breach, ChainEntry, EventEnd, Hello, Lost, MapEntry, TaskFixed};
use vmon_kabi::Encoder;

const BIN: &str = env!("CARGO_BIN_EXE_vmon-capture");

/// A directory of its own for each test, removed when the test ends (also
/// when it fails).
fn tmpdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("vmon-capture-test-")
        .tempdir()
        .unwrap()
}

fn hello(e: &mut Encoder) {
    e.at(1_000).hello(&Hello {
        abi_version: VMON_ABI_VERSION,
        record_version: VMON_RECORD_VERSION,
        def_interval_ns: 10_000,
        min_interval_ns: 100_000,
        dump_reset_sec: 5,
        kstack_max: 64,
        ustack_max: 128,
        raw_stack_bytes: 64,
        buffer_bytes: 4 << 20,
        boot_realtime_ns: 1_700_000_000_000_000_000,
        release: b"6.1.0-test",
    });
}

const KSTACK: [u64; 3] = [0xffffffff81000010, 0xffffffff81000020, 0xffffffff81000030];
const USTACK: [u64; 4] = [0x401010, 0x401120, 0x401230, 0x401340];

fn task(pid: i32, tgid: i32, state: u32) -> TaskFixed<'static> {
    TaskFixed {
        pid,
        tgid,
        state,
        cpu: 1,
        flags: VMON_TASK_KSTACK_TRUNC,
        cgroup_id: 4242,
        start_boottime_ns: 500,
        user_ip: USTACK[0],
        user_sp: 0x7ffd_0000,
        user_bp: 0x7ffd_0040,
        comm: b"userstack",
    }
}

fn breach(id: u64, value: i64) -> Breach<'static> {
    Breach {
        watch_id: id,
        value,
        threshold: 10,
        addr: 0x5555_0000_1000,
        interval_ns: 10_000,
        owner_pid: 100,
        target_pid: 100,
        watch_flags: VMON_WATCH_GREATER,
        length: 4,
        name: b"depth",
        ksym: b"",
        trigger: Default::default(),
    }
}

/// One event: a breach of watch 7 with two tasks of process 100.
fn event(e: &mut Encoder, event_id: u64, t: u64, value: i64) {
    e.at(t).event(event_id).breach(&breach(7, value));
    e.task(
        &task(100, 100, VMON_STATE_RUNNING),
        &KSTACK,
        &USTACK,
        &[0x11; 24],
    );
    e.task(
        &task(101, 100, VMON_STATE_UNINTERRUPTIBLE),
        &KSTACK[1..],
        &USTACK[2..],
        b"",
    );
    e.maps(
        100,
        0,
        &[MapEntry {
            start: 0x400000,
            end: 0x402000,
            pgoff: 0,
            ino: 12,
            dev: 0x801,
            flags: 0,
            path: b"/opt/test/userstack",
            build_id: &[0xbe; 20],
        }],
    );
    e.chain(
        100,
        0,
        &[
            ChainEntry {
                pid: 100,
                start_boottime_ns: 500,
                flags: 0,
                comm: b"userstack",
                cmdline: b"./userstack\0-n\x003\0",
            },
            ChainEntry {
                pid: 1,
                start_boottime_ns: 0,
                flags: 0,
                comm: b"init",
                cmdline: b"/init\0",
            },
        ],
    );
    e.event_end(&EventEnd {
        nr_tasks: 2,
        nr_candidates: 5,
        flags: VMON_EVENT_TASKS_TRUNC,
        duration_ns: 3_000,
    });
    e.event(0);
}

fn run(dir: &Path, raw: &[u8], name: &str, extra: &[&str]) -> (std::process::Output, PathBuf) {
    let input = dir.join(format!("{name}.raw"));
    let out = dir.join(format!("{name}.vmt"));
    std::fs::write(&input, raw).unwrap();
    let o = Command::new(BIN)
        .arg("--from-raw")
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    (o, out)
}

fn decode(p: &Path) -> Capture {
    VmtFile::open(p).unwrap().decode().unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A watch's trigger (BREACH records from the extension on) reaches the
/// .vmt's watch, with only the fields its flags turn on.
#[test]
fn watch_triggers_survive_conversion() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    let mut b = breach(7, 150);
    b.watch_flags |= VMON_WATCH_RATE | VMON_WATCH_REARM;
    b.trigger = vmon_kabi::records::BreachTrigger {
        consecutive: 3,
        rearm: 20,
        rate_window_ns: 1_000_000_000,
    };
    e.at(10_000).event(1).breach(&b);
    let mut plain = breach(8, 11);
    plain.trigger.rearm = 99; // without VMON_WATCH_REARM: not a trigger
    e.at(20_000).event(2).breach(&plain);
    let (o, out) = run(dir.path(), e.bytes(), "trig", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = decode(&out);
    let t: Vec<_> = c.watches.iter().map(|w| (w.id, w.trigger)).collect();
    assert_eq!(
        t,
        vec![
            (
                7,
                vmon_format::WatchTrigger {
                    consecutive: 3,
                    rearm: Some(20),
                    rate_window_ns: Some(1_000_000_000),
                }
            ),
            (8, vmon_format::WatchTrigger::default()),
        ]
    );
}

#[test]
fn breaches_tasks_maps_and_chains_survive_conversion() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, 10_000, 11);
    event(&mut e, 2, 20_000, 12);
    let (o, out) = run(dir.path(), e.bytes(), "full", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 breaches, 4 task samples"),
        "{}",
        stderr(&o)
    );
    let c = decode(&out);

    assert_eq!(c.meta.kernel_release, "6.1.0-test");
    assert_eq!(c.meta.module.min_interval_ns, 100_000);
    assert_eq!(c.meta.realtime_offset_ns, 1_700_000_000_000_000_000);
    assert_eq!((c.meta.start_ns, c.meta.end_ns), (1_000, 20_000));

    assert_eq!(c.watches.len(), 1);
    let w = &c.watches[0];
    assert_eq!(
        (w.id, w.owner_pid, w.target_pid, w.size, w.signed),
        (7, 100, 100, 4, true)
    );
    assert_eq!(
        (w.cmp, w.threshold, c.str(w.name)),
        (Comparison::Greater, 10, "depth")
    );
    assert_eq!(w.kind, WatchKind::User);

    assert_eq!(c.breaches.len(), 2);
    assert_eq!(
        (
            c.breaches[0].event_id,
            c.breaches[0].value,
            c.breaches[0].time_ns
        ),
        (1, 11, 10_000)
    );
    assert_eq!((c.breaches[1].event_id, c.breaches[1].value), (2, 12));
    assert_eq!(c.breaches[0].nr_candidates, 5);
    assert_eq!(c.breaches[0].collect_ns, 3_000);
    assert_eq!(c.breaches[0].flags, breach_flags::TASKS_TRUNCATED);

    assert_eq!(c.samples.len(), 4);
    let s = &c.samples[0];
    assert_eq!(
        (s.breach, s.pid, s.tgid, s.cpu, s.cgroup_id),
        (0, 100, 100, 1, 4242)
    );
    assert_eq!((s.state, c.str(s.comm)), (TaskState::Running, "userstack"));
    assert_eq!(c.stacks.frames(s.kstack).collect::<Vec<_>>(), KSTACK);
    assert_eq!(c.stacks.frames(s.ustack).collect::<Vec<_>>(), USTACK);
    assert_eq!(
        (s.regs.ip, s.regs.sp, s.regs.bp),
        (USTACK[0], 0x7ffd_0000, 0x7ffd_0040)
    );
    assert_eq!(s.flags, VMON_TASK_KSTACK_TRUNC);
    let raw = &c.raw_stacks[s.raw_stack.unwrap() as usize];
    assert_eq!((raw.sp, &raw.bytes[..]), (0x7ffd_0000, &[0x11; 24][..]));
    let d = &c.samples[1];
    assert_eq!(
        (d.pid, d.state, d.raw_stack),
        (101, TaskState::Uninterruptible, None)
    );
    assert_eq!(c.stacks.frames(d.ustack).collect::<Vec<_>>(), USTACK[2..]);
    assert_eq!(c.samples[3].breach, 1);

    // One process, written once and shared by both events.
    assert_eq!(c.processes.len(), 1);
    assert!(c.samples.iter().all(|s| s.process == Some(0)));
    let p = &c.processes[0];
    assert_eq!((p.tgid, p.start_boottime_ns), (100, 500));
    assert_eq!(p.mappings.len(), 1);
    assert_eq!(c.str(p.mappings[0].path), "/opt/test/userstack");
    assert_eq!(p.mappings[0].build_id, vec![0xbe; 20]);
    assert_eq!(
        (
            p.mappings[0].start,
            p.mappings[0].end,
            p.mappings[0].dev,
            p.mappings[0].ino
        ),
        (0x400000, 0x402000, 0x801, 12)
    );
    assert_eq!(p.chain.len(), 2);
    let args: Vec<&str> = p.chain[0].cmdline.iter().map(|&a| c.str(a)).collect();
    assert_eq!(args, ["./userstack", "-n", "3"]);
    assert_eq!((p.chain[1].pid, c.str(p.chain[1].comm)), (1, "init"));

    assert_eq!(c.losses.kernel_records, 0);
    assert_eq!(c.losses.writer_records, 0);
}

#[test]
fn kernel_drops_are_counted_from_seq_gaps_and_lost_records() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, 10_000, 11);
    e.skip(3);
    e.lost(&Lost {
        lost_records: 3,
        lost_bytes: 900,
    });
    // An event whose middle records were dropped.
    e.at(30_000).event(2).breach(&breach(7, 13));
    e.skip(2);
    e.task(&task(100, 100, VMON_STATE_RUNNING), &KSTACK, &USTACK, b"");
    e.event_end(&EventEnd {
        nr_tasks: 3,
        nr_candidates: 3,
        flags: VMON_EVENT_DROPPED,
        duration_ns: 1,
    });
    let (o, out) = run(dir.path(), e.bytes(), "lost", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = decode(&out);
    assert_eq!(c.losses.kernel_records, 5, "{:?}", c.losses);
    assert_eq!(c.losses.kernel_bytes, 900);
    assert!(
        c.losses.notes.iter().any(|n| n.contains("dropped")),
        "{:?}",
        c.losses.notes
    );
    assert_eq!(c.breaches.len(), 2);
    assert_eq!(c.breaches[0].flags & breach_flags::DROPPED, 0);
    assert_ne!(c.breaches[1].flags & breach_flags::DROPPED, 0);
    assert!(
        stderr(&o).contains("dropped 5 (kernel 5, capture 0)"),
        "{}",
        stderr(&o)
    );
}

/// Task samples are stored uncompressed unless `--compress-samples`; the
/// tables are zstd-compressed either way, and both files hold the same capture.
#[test]
fn compress_samples_zstd_compresses_the_sample_chunks_only() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    for i in 0..200 {
        event(&mut e, i + 1, 10_000 * (i + 1), i as i64);
    }
    let raw = e.finish();
    let (o, plain) = run(dir.path(), &raw, "plain", &["--no-embed-symbols"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (o, packed) = run(
        dir.path(),
        &raw,
        "packed",
        &["--no-embed-symbols", "--compress-samples"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let flags = |p: &Path, ty: vmon_format::chunk::ChunkType| -> Vec<u16> {
        let f = VmtFile::open(p).unwrap();
        let v: Vec<u16> = f
            .chunks()
            .iter()
            .filter(|c| c.header.ty == ty as u16)
            .map(|c| c.header.flags & vmon_format::chunk::COMPRESSION_MASK)
            .collect();
        assert!(!v.is_empty(), "no {ty:?} chunk in {}", p.display());
        v
    };
    use vmon_format::chunk::{ChunkType, COMPRESSION_NONE, COMPRESSION_ZSTD};
    assert!(flags(&plain, ChunkType::Samples2)
        .iter()
        .all(|&f| f == COMPRESSION_NONE));
    assert!(flags(&packed, ChunkType::Samples2)
        .iter()
        .all(|&f| f == COMPRESSION_ZSTD));
    for p in [&plain, &packed] {
        assert!(flags(p, ChunkType::Breaches)
            .iter()
            .all(|&f| f == COMPRESSION_ZSTD));
    }
    let (a, b) = (decode(&plain), decode(&packed));
    assert_eq!(a.samples.len(), 400);
    assert_eq!(a.samples, b.samples);
    assert_eq!(a.breaches, b.breaches);
    assert!(
        std::fs::metadata(&packed).unwrap().len() < std::fs::metadata(&plain).unwrap().len(),
        "zstd made the file larger"
    );
}

#[test]
fn garbage_and_a_truncated_tail_lose_only_what_they_hit() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, 10_000, 11);
    e.raw(&[0xa5; 40]); // garbage between events
    event(&mut e, 2, 20_000, 12);
    e.unknown(42, b"from the future");
    let mut raw = e.finish();
    let mut tail = Encoder::new();
    tail.skip(100);
    event(&mut tail, 3, 30_000, 13);
    raw.extend_from_slice(&tail.bytes()[..100]); // cut inside the BREACH of event 3
    let (o, out) = run(dir.path(), &raw, "garbage", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = decode(&out);
    assert_eq!(c.breaches.len(), 2, "events 1 and 2 intact");
    assert_eq!(c.samples.len(), 4);
    // 1 corrupt region + 1 truncated record + 1 unknown record.
    assert_eq!(c.losses.writer_records, 3, "{:?}", c.losses);
    let notes = c.losses.notes.join("\n");
    assert!(notes.contains("corrupt bytes"), "{notes}");
    assert!(notes.contains("truncated"), "{notes}");
    assert!(notes.contains("unknown type 42"), "{notes}");
}

#[test]
fn an_event_without_its_end_is_kept_and_flagged_incomplete() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    e.at(5_000).event(1).breach(&breach(7, 99));
    e.task(&task(100, 100, VMON_STATE_RUNNING), &KSTACK, &USTACK, b"");
    // The next event starts: the first one's EVENT_END was lost.
    event(&mut e, 2, 6_000, 100);
    let (o, out) = run(dir.path(), e.bytes(), "incomplete", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = decode(&out);
    assert_eq!(c.breaches.len(), 2);
    assert_ne!(c.breaches[0].flags & breach_flags::INCOMPLETE, 0);
    assert_eq!(c.breaches[1].flags & breach_flags::INCOMPLETE, 0);
    assert_eq!(c.samples.iter().filter(|s| s.breach == 0).count(), 1);
    // Task of the first event had no MAPS/CHAIN of its own, but the process
    // is known from the second event only after it: no process for it.
    assert_eq!(c.samples[0].process, None);
}

#[test]
fn breaches_limit_stops_early_and_dump_raw_copies_the_stream() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    for i in 0..5 {
        event(&mut e, i + 1, 10_000 * (i + 1), 11);
    }
    let dump = dir.path().join("dump.raw");
    let (o, out) = run(
        dir.path(),
        e.bytes(),
        "limit",
        &["--breaches", "5", "--dump-raw", dump.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(decode(&out).breaches.len(), 5);
    assert_eq!(std::fs::read(&dump).unwrap(), e.bytes());
}

#[test]
fn symbols_of_a_binary_are_embedded_with_its_build_id() {
    let dir = tmpdir();
    // The capture tool itself is an unstripped ELF with a .symtab.
    let bin = std::fs::canonicalize(BIN).unwrap();
    let bin_s = bin.to_str().unwrap();
    let mut e = Encoder::new();
    hello(&mut e);
    e.at(10).event(1).breach(&breach(7, 11));
    e.task(&task(100, 100, VMON_STATE_RUNNING), &KSTACK, &USTACK, b"");
    e.maps(
        100,
        0,
        &[MapEntry {
            start: 0x5555_0000_0000,
            end: 0x5555_0010_0000,
            path: bin_s.as_bytes(),
            ..Default::default()
        }],
    );
    e.event_end(&EventEnd {
        nr_tasks: 1,
        nr_candidates: 1,
        ..Default::default()
    });

    let (o, out) = run(dir.path(), e.bytes(), "syms", &["--sysroot", "/"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = decode(&out);
    assert_eq!(c.symbol_tables.len(), 1);
    let t = &c.symbol_tables[0];
    assert_eq!(c.str(t.path), bin_s);
    assert!(!t.build_id.is_empty(), "build-id read from the file");
    assert_eq!(c.processes[0].mappings[0].build_id, t.build_id);
    assert!(t
        .symbols
        .iter()
        .any(|s| c.str(s.name).contains("from_raw") || c.str(s.name) == "main"));
    assert!(t.symbols.windows(2).all(|w| w[0].addr <= w[1].addr));

    let (o, out) = run(
        dir.path(),
        e.bytes(),
        "nosyms",
        &["--sysroot", "/", "--no-embed-symbols"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let c = decode(&out);
    assert!(c.symbol_tables.is_empty());
    assert!(
        !c.processes[0].mappings[0].build_id.is_empty(),
        "build-ids are still filled in"
    );
}

#[test]
fn missing_device_says_to_load_the_module_and_exits_3() {
    let dir = tmpdir();
    let out = dir.path().join("nodev.vmt");
    let o = Command::new(BIN)
        .args(["--device", "/nonexistent/variable_monitor", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not loaded") && stderr(&o).contains("insmod"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "no empty capture left behind");
}

#[test]
fn bad_watch_spec_is_a_usage_error() {
    let o = Command::new(BIN)
        .args([
            "--device",
            "/dev/null",
            "-o",
            "/dev/null",
            "--watch",
            "12:nope",
        ])
        .output()
        .unwrap();
    // /dev/null is refused first (not the vmon device) or the spec is.
    assert_ne!(o.status.code(), Some(0));
    let o = Command::new(BIN)
        .args([
            "--from-raw",
            "/dev/null",
            "-o",
            "/dev/null",
            "--watch",
            "1:x>3",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn sigkill_leaves_a_file_with_everything_flushed() {
    let dir = tmpdir();
    let fifo = dir.path().join("kill.fifo");
    let out = dir.path().join("kill.vmt");
    mkfifo(&fifo);
    let mut child = Command::new(BIN)
        .arg("--from-raw")
        .arg(&fifo)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, 10_000, 11);
    event(&mut e, 2, 20_000, 12);
    // Keep the FIFO open so the capture waits for more instead of ending.
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    std::io::Write::write_all(&mut w, e.bytes()).unwrap();

    // Wait (bounded) until the flush after the breaches reached the file.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while Instant::now() < deadline {
        if let Ok(f) = VmtFile::open(&out) {
            if let Ok(cap) = f.decode() {
                seen = cap.breaches.len();
                if seen == 2 {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(w);
    assert_eq!(seen, 2, "the flushed breaches were readable while running");
    let f = VmtFile::open(&out).unwrap();
    assert!(!f.is_finished(), "killed: no trailer");
    let cap = f.decode().unwrap();
    assert_eq!(cap.breaches.len(), 2);
    assert_eq!(cap.samples.len(), 4);
    assert_eq!(cap.processes.len(), 1);
}

#[test]
fn sigterm_finishes_the_file_properly() {
    let dir = tmpdir();
    let fifo = dir.path().join("term.fifo");
    let out = dir.path().join("term.vmt");
    mkfifo(&fifo);
    let child = Command::new(BIN)
        .arg("--from-raw")
        .arg(&fifo)
        .arg("-o")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, 10_000, 11);
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    std::io::Write::write_all(&mut w, e.bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if VmtFile::open(&out)
            .and_then(|f| f.decode())
            .is_ok_and(|c| c.breaches.len() == 1)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    drop(w);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(SIGTERM)"), "{}", stderr(&o));
    let f = VmtFile::open(&out).unwrap();
    assert!(f.is_finished(), "SIGTERM: index and trailer written");
    assert_eq!(f.decode().unwrap().breaches.len(), 1);
}

/// A raw stream recorded by the kernel module in a booted Debian 6.1 kernel
/// (tests/kernel, scenario userstack): `userstack 3 3` recursing through
/// customFunction1 → 2 → 3 → 1 ... and sleeping at the bottom.
#[test]
fn real_stream_from_the_6_1_kernel_converts() {
    let dir = tmpdir();
    let raw = std::fs::read(manifest_dir().join("tests/data/userstack-6.1.raw")).unwrap();
    let (o, out) = run(dir.path(), &raw, "real-userstack", &["-v"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = decode(&out);
    assert!(
        c.meta.kernel_release.starts_with("6.1."),
        "{}",
        c.meta.kernel_release
    );
    assert_eq!(
        c.losses.kernel_records + c.losses.writer_records,
        0,
        "{:?}",
        c.losses
    );
    assert_eq!(c.breaches.len(), 1);
    assert_eq!(c.breaches[0].flags & breach_flags::INCOMPLETE, 0);
    let s = c
        .samples
        .iter()
        .find(|s| c.str(s.comm) == "userstack" && !s.ustack.is_empty())
        .expect("a userstack sample with a user stack");
    // Function ranges of the static test binary that ran (from `nm -S`).
    let funcs = [
        ("bottom_sleep", 0x401a80, 0x26),
        ("customFunction1", 0x401ab0, 0xe),
        ("customFunction3", 0x401ac0, 0x22),
        ("customFunction2", 0x401af0, 0xe),
        ("main", 0x401570, 0x3d4),
        ("__libc_start_call_main", 0x401f00, 0x94),
    ];
    let names: Vec<&str> = c
        .stacks
        .frames(s.ustack)
        .map(|a| {
            // Return addresses point after the call; the innermost is the ip.
            funcs
                .iter()
                .find(|(_, start, len)| a > *start && a <= start + len || a == *start)
                .map_or("?", |f| f.0)
        })
        .collect();
    let mut root_first = names.clone();
    root_first.reverse();
    assert_eq!(
        root_first.join(";"),
        "__libc_start_call_main;main;customFunction1;customFunction2;customFunction3;\
         customFunction1;customFunction2;customFunction3;customFunction1;customFunction2;\
         customFunction3;customFunction1;customFunction2;customFunction3;bottom_sleep"
    );
    assert!(
        c.stacks.frames(s.kstack).count() >= 3,
        "kernel frames present"
    );
    let raw_stack = &c.raw_stacks[s.raw_stack.expect("raw stack bytes") as usize];
    assert_eq!(raw_stack.sp, s.regs.sp);
    let p = &c.processes[s.process.expect("process") as usize];
    assert_eq!(c.str(p.mappings[0].path), "/vmon/bin/userstack");
    let chain: Vec<&str> = p.chain.iter().map(|a| c.str(a.comm)).collect();
    assert_eq!(chain, ["userstack", "sh", "init"]);
}

#[test]
fn a_full_disk_stops_with_exit_5_and_says_so() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, 10_000, 11);
    let input = dir.path().join("full.raw");
    std::fs::write(&input, e.bytes()).unwrap();
    // Every write to /dev/full fails with ENOSPC.
    let o = Command::new(BIN)
        .arg("--from-raw")
        .arg(&input)
        .args(["-o", "/dev/full"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("disk full"), "{}", stderr(&o));
}

/// A capture written by vmon-capture itself, reading the device in a booted
/// 6.1 kernel (tests/kernel/scenarios/capture_userstack.sh, committed as
/// samples/userstack-6.1.vmt by samples/regen.sh): symbolized with
/// the symbol table it embedded, the user chain is the expected recursion.
#[test]
fn capture_made_in_the_6_1_kernel_symbolizes_with_its_embedded_symbols() {
    let p = manifest_dir().join("../samples/userstack-6.1.vmt");
    let c = decode(&p);
    assert!(c.meta.tool.starts_with("vmon-capture"));
    assert!(c.meta.kernel_release.starts_with("6.1."));
    assert!(!c.kernel_symbols.is_empty(), "kallsyms recorded as root");
    assert_eq!(c.breaches.len(), 1);
    let s = c
        .samples
        .iter()
        .find(|s| c.str(s.comm) == "userstack" && s.pid == s.tgid && !s.ustack.is_empty())
        .expect("the sleeping main thread");
    let proc_ = &c.processes[s.process.expect("process") as usize];
    let map = &proc_.mappings[0];
    let table = c
        .symbol_tables
        .iter()
        .find(|t| c.str(t.path) == c.str(map.path))
        .expect("embedded symbol table of the binary");
    let name = |a: u64| {
        table
            .symbols
            .iter()
            .find(|f| (a > f.addr && a <= f.addr + f.size) || a == f.addr)
            .map_or("?", |f| c.str(f.name))
    };
    let mut chain: Vec<&str> = c.stacks.frames(s.ustack).map(name).collect();
    chain.reverse();
    let chain = chain.join(";");
    assert!(
        chain.contains(
            "main;customFunction1;customFunction2;customFunction3;customFunction1;\
             customFunction2;customFunction3;customFunction1;customFunction2;customFunction3;\
             customFunction1;customFunction2;customFunction3;bottom_sleep"
        ),
        "{chain}"
    );
    // Kernel frames resolve against the recorded kallsyms.
    let mut ks: Vec<(u64, &str)> = c
        .kernel_symbols
        .iter()
        .map(|k| (k.addr, c.str(k.name)))
        .collect();
    ks.sort();
    let ksym = |a: u64| {
        let i = ks.partition_point(|k| k.0 <= a);
        i.checked_sub(1).map_or("?", |i| ks[i].1)
    };
    let kframes: Vec<&str> = c.stacks.frames(s.kstack).map(ksym).collect();
    assert!(
        kframes.iter().any(|f| f.contains("nanosleep")),
        "{kframes:?}"
    );
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Waits (bounded, generously: this is not a timing assertion) for a child
/// to exit on its own; kills it and fails if it does not.
fn wait_exit(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: vmon-capture did not stop by itself");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn duration_stops_a_capture_whose_input_stays_open() {
    let dir = tmpdir();
    let fifo = dir.path().join("dur.fifo");
    let out = dir.path().join("dur.vmt");
    mkfifo(&fifo);
    let mut child = Command::new(BIN)
        .arg("--from-raw")
        .arg(&fifo)
        .arg("-o")
        .arg(&out)
        .args(["--duration", "1s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, 10_000, 11);
    // The writer stays open until the capture has exited: only --duration
    // can end it (no end of input).
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    std::io::Write::write_all(&mut w, e.bytes()).unwrap();
    let st = wait_exit(&mut child, "--duration 1s");
    let o = child.wait_with_output().unwrap();
    drop(w);
    assert!(st.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 breaches") && stderr(&o).contains("(--duration reached)"),
        "{}",
        stderr(&o)
    );
    let f = VmtFile::open(&out).unwrap();
    assert!(f.is_finished(), "index and trailer written");
    assert_eq!(f.decode().unwrap().breaches.len(), 1);
}

/// Events whose tasks carry 8 KiB of random raw stack each: the .vmt grows
/// about as fast as the raw stream (zstd cannot shrink random bytes).
fn incompressible(events: u64) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut e = Encoder::new();
    hello(&mut e);
    for i in 1..=events {
        e.at(i * 1_000).event(i).breach(&breach(7, 11));
        for t in 0..4 {
            let raw: Vec<u8> = (0..1024).flat_map(|_| rnd().to_le_bytes()).collect();
            let ustack: Vec<u64> = (0..8).map(|_| rnd() & 0x7fff_ffff_ffff).collect();
            e.task(
                &task(100 + t, 100, VMON_STATE_RUNNING),
                &KSTACK,
                &ustack,
                &raw,
            );
        }
        e.event_end(&EventEnd {
            nr_tasks: 4,
            nr_candidates: 4,
            ..Default::default()
        });
        e.event(0);
    }
    e.finish()
}

#[test]
fn max_size_stops_near_the_limit_with_a_valid_file() {
    let dir = tmpdir();
    let raw = incompressible(600); // ~20 MB raw
    const LIMIT: u64 = 2 << 20;
    let (o, out) = run(dir.path(), &raw, "max", &["--max-size", "2M"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("(--max-size reached)"),
        "{}",
        stderr(&o)
    );
    let size = std::fs::metadata(&out).unwrap().len();
    // It stops at the first flush at or past the limit: at most what one
    // 4 MiB read of input converts to (plus the index) past it.
    assert!(size >= LIMIT, "stopped before the limit: {size}");
    assert!(size < LIMIT + (5 << 20), "far past the limit: {size}");
    let f = VmtFile::open(&out).unwrap();
    assert!(f.is_finished(), "index and trailer written");
    let c = f.decode().unwrap();
    assert!(
        !c.breaches.is_empty() && c.breaches.len() < 600,
        "{} breaches: stopped early, kept what it wrote",
        c.breaches.len()
    );
    assert_eq!(c.samples.len(), c.breaches.len() * 4, "whole events only");
    // The same stream without the limit converts completely (the limit,
    // not the input, stopped it).
    let (o, full) = run(dir.path(), &raw, "nomax", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::metadata(&full).unwrap().len() > size);
    assert_eq!(decode(&full).breaches.len(), 600);
}

/// Runs vmon-capture on a FIFO fed with one event and kept open for
/// --duration 1500ms; `tty`: stdout and stderr on a pseudo-terminal (what
/// it printed there is returned), else stderr piped.
fn run_on(tty: bool, extra: &[&str]) -> String {
    use std::os::fd::{FromRawFd, OwnedFd};
    let dir = tmpdir();
    let fifo = dir.path().join("tty.fifo");
    mkfifo(&fifo);
    let mut cmd = Command::new(BIN);
    cmd.arg("--from-raw")
        .arg(&fifo)
        .arg("-o")
        .arg(dir.path().join("tty.vmt"))
        .args(["--duration", "1500ms"])
        .args(extra)
        .stdin(Stdio::null());
    let mut reader = None;
    if tty {
        let (mut master, mut slave) = (-1, -1);
        let ws = libc::winsize {
            ws_row: 24,
            ws_col: 160,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: out-pointers to two ints; no name buffer; a valid winsize.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: fresh descriptors from openpty, owned from here on.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        cmd.stdout(slave.try_clone().unwrap()).stderr(slave);
        let mut m = std::fs::File::from(master);
        reader = Some(std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 4096];
            // EIO once the child (the last holder of the slave) exits.
            while let Ok(n) = std::io::Read::read(&mut m, &mut buf) {
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
            }
            all
        }));
    } else {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut child = cmd.spawn().unwrap();
    drop(cmd); // our copies of the pty's slave end
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, 10_000, 11);
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    std::io::Write::write_all(&mut w, e.bytes()).unwrap();
    let st = wait_exit(&mut child, "status line run");
    let o = child.wait_with_output().unwrap();
    drop(w);
    let text = match reader {
        Some(r) => String::from_utf8_lossy(&r.join().unwrap()).into_owned(),
        None => format!("{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout)),
    };
    assert!(st.success(), "{text}");
    text
}

const STATUS: &str = " samples/s | ";

#[test]
fn status_line_on_a_terminal_only_and_not_with_quiet() {
    let t = run_on(true, &[]);
    assert!(t.contains("1 breaches |") && t.contains(STATUS), "{t:?}");
    assert!(t.contains("(--duration reached)"), "summary too: {t:?}");

    let t = run_on(false, &[]);
    assert!(!t.contains(STATUS), "no status line on a pipe: {t:?}");
    assert!(t.contains("(--duration reached)"), "{t:?}");

    let t = run_on(true, &["--quiet"]);
    assert!(!t.contains(STATUS), "--quiet: no status line: {t:?}");
    assert!(!t.contains("vmon-capture"), "--quiet: no summary: {t:?}");
}

/// The crate's directory, read when the test runs: a test binary built in
/// another checkout sharing the target directory stays "fresh" for cargo,
/// and the compile-time path would point into that other checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}
