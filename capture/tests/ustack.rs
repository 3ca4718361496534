//! User stacks unwound at capture time: a real program records its own
//! registers, frame-pointer chain, mappings and stack (what the kernel
//! module records for a sampled task, see ../unwind/tests/data/selfstack.c);
//! vmon-capture converts a raw stream holding that TASK record and must
//! store the whole chain, flagged as CFI and complete, without the raw bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSegment, ObjectSymbol};
use vmon_format::{task_flags, VmtFile};
use vmon_kabi::abi::*;
use vmon_kabi::records::{Breach, EventEnd, Hello, MapEntry, TaskFixed};
use vmon_kabi::Encoder;

const BIN: &str = env!("CARGO_BIN_EXE_vmon-capture");

struct Snapshot {
    ip: u64,
    sp: u64,
    bp: u64,
    chain: Vec<u64>,
    /// start, end, file offset, path of each executable mapping.
    maps: Vec<(u64, u64, u64, String)>,
    stack: Vec<u8>,
}

fn snapshot(dir: &Path, flags: &str) -> (PathBuf, Snapshot) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../unwind/tests/data/selfstack.c");
    let bin = dir.join("selfstack");
    let st = Command::new("gcc")
        .args(["-O2", flags, "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("gcc");
    assert!(st.success());
    let out = dir.join("snap");
    assert!(Command::new(&bin).arg(&out).status().unwrap().success());
    let data = std::fs::read(&out).unwrap();
    let split = data.windows(7).position(|w| w == b"\nstack\n").unwrap() + 1;
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
    let mut s = Snapshot {
        ip: 0,
        sp: 0,
        bp: 0,
        chain: Vec::new(),
        maps: Vec::new(),
        stack: data[split + 6..].to_vec(),
    };
    for line in std::str::from_utf8(&data[..split]).unwrap().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[0] {
            "regs" => (s.ip, s.sp, s.bp) = (hex(f[1]), hex(f[2]), hex(f[3])),
            "chain" => s.chain = f[1..].iter().map(|x| hex(x)).collect(),
            "map" if f.len() > 6 => {
                let (a, b) = f[1].split_once('-').unwrap();
                s.maps.push((hex(a), hex(b), hex(f[3]), f[6].to_string()));
            }
            _ => {}
        }
    }
    (bin, s)
}

/// The raw stream the module would send for one breach sampling this task,
/// with a raw window of `window` bytes (the module's default is 8 KiB).
fn stream(s: &Snapshot, window: usize) -> Vec<u8> {
    let mut e = Encoder::new();
    e.at(1_000).hello(&Hello {
        abi_version: VMON_ABI_VERSION,
        record_version: VMON_RECORD_VERSION,
        def_interval_ns: 10_000,
        min_interval_ns: 100_000,
        dump_reset_sec: 5,
        kstack_max: 64,
        ustack_max: 128,
        raw_stack_bytes: 8192,
        buffer_bytes: 4 << 20,
        boot_realtime_ns: 0,
        release: b"6.1.0-test",
    });
    e.at(2_000).event(1).breach(&Breach {
        watch_id: 1,
        value: 11,
        threshold: 10,
        addr: 0x1000,
        interval_ns: 10_000,
        owner_pid: 100,
        target_pid: 100,
        watch_flags: VMON_WATCH_GREATER,
        length: 4,
        name: b"depth",
        ksym: b"",
        trigger: Default::default(),
    });
    let window = &s.stack[..s.stack.len().min(window)];
    e.task(
        &TaskFixed {
            pid: 100,
            tgid: 100,
            state: VMON_STATE_RUNNING,
            cpu: 0,
            flags: 0,
            cgroup_id: 1,
            start_boottime_ns: 0,
            user_ip: s.ip,
            user_sp: s.sp,
            user_bp: s.bp,
            comm: b"selfstack",
        },
        &[0xffffffff81000010],
        &s.chain,
        window,
    );
    let entries: Vec<MapEntry<'_>> = s
        .maps
        .iter()
        .map(|m| MapEntry {
            start: m.0,
            end: m.1,
            pgoff: m.2,
            ino: 0,
            dev: 0,
            flags: 0,
            path: m.3.as_bytes(),
            build_id: b"",
        })
        .collect();
    e.maps(100, 0, &entries);
    e.event_end(&EventEnd {
        nr_tasks: 1,
        nr_candidates: 1,
        flags: 0,
        duration_ns: 1,
    });
    e.finish()
}

/// The address range of `name` in the process, from the binary's symbols.
fn symbol_range(bin: &Path, s: &Snapshot, name: &str) -> (u64, u64) {
    let data = std::fs::read(bin).unwrap();
    let f = object::File::parse(&*data).unwrap();
    let sym = f.symbols().find(|x| x.name() == Ok(name)).unwrap();
    let path = bin.display().to_string();
    let m = s.maps.iter().find(|m| m.3 == path).unwrap();
    let seg = f
        .segments()
        .find(|g| g.file_range().0 <= m.2 && m.2 < g.file_range().0 + g.file_range().1)
        .unwrap();
    let bias = m.0 - (m.2 - seg.file_range().0 + seg.address());
    (bias + sym.address(), bias + sym.address() + sym.size())
}

fn convert(dir: &Path, raw: &[u8], extra: &[&str]) -> vmon_format::Capture {
    let input = dir.join("in.raw");
    let out = dir.join("out.vmt");
    std::fs::write(&input, raw).unwrap();
    let o = Command::new(BIN)
        .arg("--from-raw")
        .arg(&input)
        .args(["--sysroot", "/", "-o"])
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    VmtFile::open(&out).unwrap().decode().unwrap()
}

#[test]
fn code_without_frame_pointers_is_unwound_to_start_and_raw_bytes_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, s) = snapshot(dir.path(), "-fomit-frame-pointer");
    let c = convert(dir.path(), &stream(&s, 8192), &[]);
    assert_eq!(c.samples.len(), 1);
    let t = &c.samples[0];
    assert_eq!(
        t.flags & (task_flags::USTACK_CFI | task_flags::USTACK_ROOT | task_flags::USTACK_CUT),
        task_flags::USTACK_CFI | task_flags::USTACK_ROOT,
        "flags {:#x}",
        t.flags
    );
    assert!(t.raw_stack.is_none() && c.raw_stacks.is_empty());
    // Without the window, sp and bp serve nothing and are not stored.
    assert_eq!((t.regs.ip, t.regs.sp, t.regs.bp), (s.ip, 0, 0));
    let frames: Vec<u64> = c.stacks.frames(t.ustack).collect();
    let inside = |a: u64, name: &str| {
        let (lo, hi) = symbol_range(&bin, &s, name);
        (lo..hi).contains(&(a - 1))
    };
    // grab, level3, level2, level1, main in the binary; the outermost is _start.
    for (k, name) in ["level3", "level2", "level1", "main"].iter().enumerate() {
        assert!(
            inside(frames[k + 1], name),
            "frame {} is not in {name}",
            k + 1
        );
    }
    assert!(inside(*frames.last().unwrap(), "_start"));
    assert!(
        frames.len() > s.chain.len(),
        "{frames:x?} vs {:x?}",
        s.chain
    );
}

#[test]
fn keep_raw_stacks_stores_the_window_as_well() {
    let dir = tempfile::tempdir().unwrap();
    let (_bin, s) = snapshot(dir.path(), "-fomit-frame-pointer");
    let c = convert(dir.path(), &stream(&s, 8192), &["--keep-raw-stacks"]);
    let t = &c.samples[0];
    assert!(t.flags & task_flags::USTACK_ROOT != 0);
    let raw = &c.raw_stacks[t.raw_stack.expect("raw stack kept") as usize];
    assert_eq!((t.regs.sp, t.regs.bp), (s.sp, s.bp));
    assert_eq!(raw.bytes.len(), s.stack.len().min(8192));
}

#[test]
fn without_the_binaries_the_window_is_kept_for_later() {
    let dir = tempfile::tempdir().unwrap();
    let (_bin, mut s) = snapshot(dir.path(), "-fomit-frame-pointer");
    for m in &mut s.maps {
        m.3 = format!("/nonexistent{}", m.3);
    }
    let c = convert(dir.path(), &stream(&s, 8192), &[]);
    let t = &c.samples[0];
    assert_eq!(
        t.flags & (task_flags::USTACK_CFI | task_flags::USTACK_ROOT),
        0
    );
    assert!(t.raw_stack.is_some(), "the raw window is kept");
    let frames: Vec<u64> = c.stacks.frames(t.ustack).collect();
    assert_eq!(frames, s.chain);
}

#[test]
fn where_the_window_ends_the_frame_pointer_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, s) = snapshot(dir.path(), "-fno-omit-frame-pointer");
    // 256 bytes end inside level3's 512-byte frame.
    let c = convert(dir.path(), &stream(&s, 256), &[]);
    let t = &c.samples[0];
    assert!(
        t.flags & task_flags::USTACK_HYBRID != 0,
        "flags {:#x}",
        t.flags
    );
    let frames: Vec<u64> = c.stacks.frames(t.ustack).collect();
    let (lo, hi) = symbol_range(&bin, &s, "main");
    assert!(
        frames.iter().any(|&a| (lo..hi).contains(&(a - 1))),
        "{frames:x?}"
    );
    // Without any window, the chain alone is stored and judged by where it ends.
    let c = convert(dir.path(), &stream(&s, 0), &[]);
    let t = &c.samples[0];
    assert_eq!(
        t.flags & (task_flags::USTACK_CFI | task_flags::USTACK_HYBRID),
        0
    );
    assert_ne!(
        t.flags & (task_flags::USTACK_ROOT | task_flags::USTACK_CUT),
        0
    );
    assert_eq!(c.stacks.frames(t.ustack).collect::<Vec<_>>(), s.chain);
}

#[test]
fn jit_frames_are_named_from_the_perf_map_while_the_process_lives() {
    let dir = tempfile::tempdir().unwrap();
    let (_bin, mut s) = snapshot(dir.path(), "-fno-omit-frame-pointer");
    // A sysroot that holds the mapped files (by symlink) and the process's
    // perf map: code generated at 0x7f1234560000, the sampled ip in it.
    let root = dir.path().join("root");
    for m in &s.maps {
        let p = root.join(m.3.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::os::unix::fs::symlink(&m.3, &p);
    }
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::write(
        root.join("tmp/perf-100.map"),
        "7f1234560000 80 jit_hot_loop\n7f1234560080 40 jit_other\n",
    )
    .unwrap();
    s.ip = 0x7f12_3456_0010;
    s.chain[0] = s.ip;
    let input = dir.path().join("in.raw");
    let out = dir.path().join("out.vmt");
    std::fs::write(&input, stream(&s, 0)).unwrap();
    let o = Command::new(BIN)
        .arg("--from-raw")
        .arg(&input)
        .arg("--sysroot")
        .arg(&root)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = VmtFile::open(&out).unwrap().decode().unwrap();
    let t = &c.samples[0];
    let p = &c.processes[t.process.unwrap() as usize];
    let jit = p
        .mappings
        .iter()
        .find(|m| c.str(m.path).starts_with("[jit]"))
        .expect("a JIT mapping");
    assert_eq!((jit.start, jit.end), (0x7f12_3456_0000, 0x7f12_3456_0080));
    let table = c
        .symbol_tables
        .iter()
        .find(|t| t.path == jit.path)
        .expect("the JIT symbol table");
    let names: Vec<&str> = table.symbols.iter().map(|s| c.str(s.name)).collect();
    assert_eq!(names, ["jit_hot_loop"], "only the functions frames fell in");
    assert_eq!(c.stacks.frames(t.ustack).next(), Some(s.ip));
}
