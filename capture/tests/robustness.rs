//! vmon-capture on hostile raw streams and command lines (issue 15): no
//! panic, nothing lost that could be kept, inputs never overwritten.

use std::path::{Path, PathBuf};
use std::process::Command;
use vmon_format::{Capture, VmtFile};
use vmon_kabi::abi::*;
use vmon_kabi::records::{Breach, EventEnd, Hello, Lost, MapEntry, TaskFixed};
use vmon_kabi::Encoder;

const BIN: &str = env!("CARGO_BIN_EXE_vmon-capture");

fn tmpdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("vmon-capture-robust-")
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

fn task(pid: i32) -> TaskFixed<'static> {
    TaskFixed {
        pid,
        tgid: pid,
        state: VMON_STATE_RUNNING,
        cpu: 0,
        flags: 0,
        cgroup_id: 1,
        start_boottime_ns: 500,
        user_ip: 0x401010,
        user_sp: 0x7ffd_0000,
        user_bp: 0x7ffd_0040,
        comm: b"prog",
    }
}

fn breach() -> Breach<'static> {
    Breach {
        watch_id: 7,
        value: 11,
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

/// One event (BREACH, one TASK, MAPS with `pgoff`, EVENT_END).
fn event(e: &mut Encoder, id: u64, pgoff: u64) {
    e.at(10_000 + id).event(id).breach(&breach());
    e.task(
        &task(100),
        &[0xffffffff81000010],
        &[0x401010, 0x401120],
        b"",
    );
    e.maps(
        100,
        0,
        &[MapEntry {
            start: 0x400000,
            end: 0x402000,
            pgoff,
            ino: 12,
            dev: 0x801,
            flags: 0,
            path: b"/opt/test/prog",
            build_id: &[0xbe; 20],
        }],
    );
    e.event_end(&EventEnd {
        nr_tasks: 1,
        nr_candidates: 1,
        flags: 0,
        duration_ns: 1,
    });
    e.event(0);
}

fn convert(dir: &Path, raw: &[u8], extra: &[&str]) -> (std::process::Output, PathBuf) {
    let input = dir.join("in.raw");
    let out = dir.join("out.vmt");
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

/// Sets the `seq` of the record that starts at `off`.
fn set_seq(raw: &mut [u8], off: usize, seq: u64) {
    let at = off + std::mem::offset_of!(vmon_rec_hdr, seq);
    raw[at..at + 8].copy_from_slice(&seq.to_le_bytes());
}

fn lost_record() -> Vec<u8> {
    let mut e = Encoder::new();
    e.lost(&Lost {
        lost_records: 0,
        lost_bytes: 0,
    });
    e.finish()
}

/// Sequence numbers up to 2^64-1, and gaps whose sum passes 2^64, are
/// counted (saturating) instead of overflowing.
#[test]
fn seq_near_2_64_and_huge_gaps_do_not_panic() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, 0);
    let mut raw = e.finish();
    // A gap of about 2^63, then seq 2^64-1 followed by another record
    // (`prev + 1` overflowed), then a HELLO (the sequence restarts) and a
    // second gap of about 2^63: the gaps sum past 2^64.
    let push = |raw: &mut Vec<u8>, seq: u64| {
        let off = raw.len();
        raw.extend_from_slice(&lost_record());
        set_seq(raw, off, seq);
    };
    for seq in [(1u64 << 63) + 10, u64::MAX, 5] {
        push(&mut raw, seq);
    }
    let mut h = Encoder::new();
    hello(&mut h);
    raw.extend_from_slice(h.bytes());
    for seq in [1, (1u64 << 63) + 20] {
        push(&mut raw, seq);
    }
    let mut tail = Encoder::new();
    event(&mut tail, 2, 0);
    raw.extend_from_slice(tail.bytes());
    let (o, out) = convert(dir.path(), &raw, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    let c = decode(&out);
    assert_eq!(c.breaches.len(), 2, "both events kept");
    assert_eq!(c.samples.len(), 2);
    assert_eq!(c.losses.kernel_records, u64::MAX, "saturated, not wrapped");
}

/// A MAPS entry whose file offset would make the mapping end past 2^64 is
/// dropped with a note; the rest of the event is kept.
#[test]
fn maps_pgoff_near_2_64_is_dropped_with_a_note() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, u64::MAX - 0xfff);
    event(&mut e, 2, 0x1000);
    let (o, out) = convert(dir.path(), e.bytes(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = decode(&out);
    assert_eq!(c.breaches.len(), 2);
    assert_eq!(c.samples.len(), 2);
    for p in &c.processes {
        for m in &p.mappings {
            assert!(
                m.offset.checked_add(m.end - m.start).is_some(),
                "{m:?} would end past 2^64"
            );
        }
    }
    assert!(
        c.processes
            .iter()
            .any(|p| p.mappings.iter().any(|m| m.offset == 0x1000)),
        "the good mapping is kept"
    );
    let notes = c.losses.notes.join("\n");
    assert!(notes.contains("past 2^64"), "{notes}");
}

/// One record whose `len` is plausible but larger than the rest of the
/// stream must not swallow the rest: the converter resynchronises on the
/// next record magic and counts one lost record.
#[test]
fn a_huge_record_len_resyncs_on_the_next_record() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    let mut task_off = 0;
    for id in 1..=500 {
        if id == 2 {
            // The TASK of event 2: breach first, then the task.
            e.at(10_000 + id).event(id).breach(&breach());
            task_off = e.bytes().len();
            e.task(&task(100), &[0xffffffff81000010], &[0x401010], b"");
            e.event_end(&EventEnd {
                nr_tasks: 1,
                nr_candidates: 1,
                flags: 0,
                duration_ns: 1,
            });
            e.event(0);
        } else {
            event(&mut e, id, 0);
        }
    }
    let mut raw = e.finish();
    assert!(raw.len() < 4 << 20);
    let len_at = task_off + std::mem::offset_of!(vmon_rec_hdr, len);
    raw[len_at..len_at + 4].copy_from_slice(&(8u32 << 20).to_le_bytes());
    let (o, out) = convert(dir.path(), &raw, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = decode(&out);
    assert_eq!(c.breaches.len(), 500, "no breach lost to one bad length");
    assert_eq!(c.samples.len(), 499, "only the damaged task is lost");
    assert_eq!(c.losses.writer_records, 1, "{:?}", c.losses);
    assert!(
        stderr(&o).contains("dropped 1 (kernel 0, capture 1)"),
        "{}",
        stderr(&o)
    );
    let notes = c.losses.notes.join("\n");
    assert!(notes.contains("resynchronised"), "{notes}");
}

/// `--from-raw X -o X` (or through another name) is refused before X is
/// truncated; so is `--dump-raw` onto the input or onto `-o`.
#[test]
fn output_that_is_the_input_is_refused_and_the_input_kept() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, 0);
    let raw = e.finish();
    let input = dir.path().join("same.raw");
    std::fs::write(&input, &raw).unwrap();
    let link = dir.path().join("link.raw");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    let hard = dir.path().join("hard.raw");
    std::fs::hard_link(&input, &hard).unwrap();
    let out = dir.path().join("ok.vmt");
    let cases: Vec<Vec<&Path>> = vec![
        vec![Path::new("-o"), &input],
        vec![Path::new("-o"), &link],
        vec![Path::new("-o"), &hard],
        vec![Path::new("-o"), &out, Path::new("--dump-raw"), &input],
        vec![Path::new("-o"), &out, Path::new("--dump-raw"), &out],
        vec![Path::new("-o"), &out, Path::new("--kallsyms"), &out],
    ];
    std::fs::write(&out, b"x").unwrap();
    for args in cases {
        let o = Command::new(BIN)
            .arg("--from-raw")
            .arg(&input)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("same file"), "{}", stderr(&o));
        assert_eq!(
            std::fs::read(&input).unwrap(),
            raw,
            "{args:?}: input intact"
        );
    }
    assert_eq!(std::fs::read(&out).unwrap(), b"x", "nothing was written");
}

/// A small ELF with a text symbol and a build-id, made by the C compiler.
fn build_elf(dir: &Path, name: &str, build_id: bool) -> Option<PathBuf> {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, "int victim_function(int x) { return x * 3; }\nint main(void) { return victim_function(1); }\n").unwrap();
    let out = dir.join(name);
    let mut c = Command::new("cc");
    c.arg("-O0").arg("-o").arg(&out).arg(&src);
    c.arg(if build_id {
        "-Wl,--build-id=sha1"
    } else {
        "-Wl,--build-id=none"
    });
    c.status().ok()?.success().then_some(out)
}

/// A raw stream whose one mapping names `path` with the given build-id.
fn stream_mapping(path: &[u8], build_id: &[u8], pgoff: u64) -> Vec<u8> {
    let mut e = Encoder::new();
    hello(&mut e);
    e.at(10_000).event(1).breach(&breach());
    e.task(&task(100), &[], &[0x401010], b"");
    e.maps(
        100,
        0,
        &[MapEntry {
            start: 0x400000,
            end: 0x401000,
            pgoff,
            ino: 12,
            dev: 0x801,
            flags: 0,
            path,
            build_id,
        }],
    );
    e.event_end(&EventEnd {
        nr_tasks: 1,
        nr_candidates: 1,
        flags: 0,
        duration_ns: 1,
    });
    e.finish()
}

/// `--sysroot DIR`: a mapping path with `..`, or a symlink inside DIR
/// pointing out of it, cannot reach a file outside DIR.
#[test]
fn sysroot_lookups_stay_inside_the_sysroot() {
    let dir = tmpdir();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let Some(elf) = build_elf(&outside, "secret", true) else {
        eprintln!("no C compiler: skipped");
        return;
    };
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    // An absolute symlink in the sysroot: means root/outside/secret, not the host's.
    std::os::unix::fs::symlink(&elf, root.join("usr/bin/abs")).unwrap();
    let root_s = root.to_str().unwrap();
    let escapes = [
        "/../outside/secret".to_string(),
        "/usr/bin/../../../outside/secret".to_string(),
        "/usr/bin/abs".to_string(),
    ];
    for path in &escapes {
        // Empty build-id: the strongest temptation to accept anything.
        let raw = stream_mapping(path.as_bytes(), &[], 0x1000);
        let (o, out) = convert(dir.path(), &raw, &["--sysroot", root_s]);
        assert!(o.status.success(), "{}", stderr(&o));
        let c = decode(&out);
        assert!(
            c.symbol_tables.is_empty(),
            "{path}: a file outside the sysroot was embedded"
        );
    }
    // The same file inside the sysroot, reached through `..` that stays
    // inside, is found.
    std::fs::copy(&elf, root.join("usr/bin/secret")).unwrap();
    let raw = stream_mapping(b"/usr/lib/../bin/secret", &[], 0x1000);
    let (o, out) = convert(dir.path(), &raw, &["--sysroot", root_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = decode(&out);
    assert_eq!(c.symbol_tables.len(), 1, "{}", stderr(&o));
}

/// With no build-id recorded for a mapping, a file in the sysroot is used
/// only if it has an executable segment at the mapping's file offset.
#[test]
fn sysroot_without_build_id_checks_the_layout() {
    let dir = tmpdir();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let Some(elf) = build_elf(&root.join("bin"), "prog", false) else {
        eprintln!("no C compiler: skipped");
        return;
    };
    assert!(elf.starts_with(&root));
    let root_s = root.to_str().unwrap();
    // A data file with an ELF name is not an ELF: never embedded.
    std::fs::write(root.join("bin/notelf"), [0u8; 8192]).unwrap();
    let raw = stream_mapping(b"/bin/notelf", &[], 0);
    let (_, out) = convert(dir.path(), &raw, &["--sysroot", root_s]);
    assert!(decode(&out).symbol_tables.is_empty());
    // The real one at an offset where it has no code: refused, with a warning.
    let raw = stream_mapping(b"/bin/prog", &[], 0x10_0000);
    let (o, out) = convert(dir.path(), &raw, &["--sysroot", root_s]);
    assert!(decode(&out).symbol_tables.is_empty(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no executable segment"),
        "{}",
        stderr(&o)
    );
    // At the offset of its text segment (0x1000 with the default linker
    // script, one page in): embedded.
    let raw = stream_mapping(b"/bin/prog", &[], 0x1000);
    let (o, out) = convert(dir.path(), &raw, &["--sysroot", root_s]);
    assert_eq!(decode(&out).symbol_tables.len(), 1, "{}", stderr(&o));
}

/// `--kallsyms /proc/kallsyms` (this machine's) for a stream recorded on
/// another kernel release is refused: it would name every frame wrongly.
#[test]
fn kallsyms_of_another_kernel_is_refused() {
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if host.trim() == "6.1.0-test" || !Path::new("/proc/kallsyms").exists() {
        return;
    }
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e); // release 6.1.0-test
    event(&mut e, 1, 0);
    let (o, out) = convert(dir.path(), e.bytes(), &["--kallsyms", "/proc/kallsyms"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("6.1.0-test"), "{}", stderr(&o));
    assert!(!out.exists(), "no output for a refused run");
}

/// Command-line conventions: `--from-raw -` reads stdin; a malformed
/// `--watch` is exit 2 even without the module; a `.vmt` or a directory
/// given to `--from-raw`, and a `--device` that is not a character device,
/// are named as such.
#[test]
fn cli_conventions_stdin_specs_and_wrong_inputs() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    event(&mut e, 1, 0);
    let raw = e.finish();
    let out = dir.path().join("stdin.vmt");
    let mut child = Command::new(BIN)
        .args(["--from-raw", "-", "-o"])
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&raw).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(decode(&out).breaches.len(), 1);

    let o = Command::new(BIN)
        .args(["-o"])
        .arg(dir.path().join("x.vmt"))
        .args(["--device", "/nonexistent/vmon", "--watch", "garbage"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("expected PID:ADDR"), "{}", stderr(&o));

    let o = Command::new(BIN)
        .args(["--from-raw"])
        .arg(&out)
        .arg("-o")
        .arg(dir.path().join("again.vmt"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is a .vmt capture already"),
        "{}",
        stderr(&o)
    );
    let o = Command::new(BIN)
        .args(["--from-raw"])
        .arg(dir.path())
        .arg("-o")
        .arg(dir.path().join("d.vmt"))
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("is a directory"), "{}", stderr(&o));

    let fake = dir.path().join("fake-device");
    std::fs::write(&fake, b"").unwrap();
    let o = Command::new(BIN)
        .arg("-o")
        .arg(dir.path().join("dev.vmt"))
        .arg("--device")
        .arg(&fake)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is not a vmon device"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("dev.vmt").exists());

    // A character device that is not the module's (issue 15: it said "ABI
    // version 0").
    let o = Command::new(BIN)
        .arg("-o")
        .arg(dir.path().join("null.vmt"))
        .args(["--device", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/dev/null is not a vmon device"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("null.vmt").exists());
}

/// A saved `--kallsyms` is checked against the stream's kernel stacks:
/// when their outermost frames do not fall in kernel entry points, the
/// file is from another kernel or boot and a warning says so.
#[test]
fn kallsyms_that_do_not_fit_the_stacks_are_warned_about() {
    let dir = tmpdir();
    let mut e = Encoder::new();
    hello(&mut e);
    for id in 1..=10u64 {
        e.at(10_000 + id).event(id).breach(&breach());
        let outer = 0xffffffff81000100 + id * 16;
        e.task(&task(100), &[0xffffffff81000010, outer], &[0x401010], b"");
        e.event_end(&EventEnd {
            nr_tasks: 1,
            nr_candidates: 1,
            flags: 0,
            duration_ns: 1,
        });
        e.event(0);
    }
    let raw = e.finish();
    let good = dir.path().join("good.kallsyms");
    std::fs::write(
        &good,
        "ffffffff81000000 T schedule\nffffffff81000100 T entry_SYSCALL_64_after_hwframe\nffffffff81001000 T other\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.kallsyms");
    std::fs::write(
        &bad,
        "ffffffff81000000 T schedule\nffffffff81000100 T ZSTD_compress_advanced_internal\nffffffff81001000 T other\n",
    )
    .unwrap();
    let (o, _) = convert(dir.path(), &raw, &["--kallsyms", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("look wrong"), "{}", stderr(&o));
    let (o, out) = convert(dir.path(), &raw, &["--kallsyms", bad.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("only 0 of 10 kernel stacks end in a kernel entry point"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        decode(&out).breaches.len(),
        10,
        "the capture is still written"
    );
}

/// Man page and completions from the clap definitions; examples in --help.
#[test]
fn man_page_completions_and_help_examples() {
    let run = |args: &[&str]| Command::new(BIN).args(args).output().unwrap();
    let o = run(&["--generate", "man"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains(".TH vmon-capture 1"));
    let o = run(&["--generate", "bash"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("--from-raw"));
    assert_eq!(run(&["--generate", "nope"]).status.code(), Some(2));
    let o = run(&["--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Examples:"));
}

/// `--watch SYMBOL>N` without a PID watches the program after `--` (issue 15
/// item 19): without one it is a usage error, and with one but no module the
/// program is not left running unwatched.
#[test]
fn a_watch_without_pid_needs_a_program_after_dashes() {
    let dir = tmpdir();
    let o = Command::new(BIN)
        .arg("-o")
        .arg(dir.path().join("p.vmt"))
        .args(["--watch", "queue_len>100"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("-- PROGRAM"), "{}", stderr(&o));

    let marker = dir.path().join("ran");
    let o = Command::new(BIN)
        .arg("-o")
        .arg(dir.path().join("p.vmt"))
        .args([
            "--device",
            "/nonexistent/vmon",
            "--watch",
            "queue_len>100",
            "--",
        ])
        .args(["sh", "-c"])
        .arg(format!("touch {}", marker.display()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !marker.exists(),
        "the program ran although nothing watched it"
    );
}
