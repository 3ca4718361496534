//! The command line on real `.vmt` files: outputs, filters, several inputs,
//! diff, and damaged or too-new files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vmon_format::*;

mod common;
use common::{s, stack};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vmon-analyze-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Two watches; `hot` samples per breach of the first go to `schedule`.
fn capture(hot: u32) -> Capture {
    let mut c = Capture {
        strings: [""].into_iter().collect(),
        ..Default::default()
    };
    c.meta.start_ns = 1_000_000_000;
    c.meta.end_ns = 2_000_000_000;
    c.meta.tool = "test".into();
    for (addr, name) in [
        (0xffff_ffff_8100_1000u64, "do_syscall_64"),
        (0xffff_ffff_8100_2000, "schedule"),
        (0xffff_ffff_8100_3000, "io_schedule"),
    ] {
        let n = s(&mut c, name);
        c.kernel_symbols.push(KernelSymbol {
            addr,
            kind: b'T',
            name: n,
            module: StrId(0),
        });
    }
    for (i, name) in ["load avg", "queue"].iter().enumerate() {
        let n = s(&mut c, name);
        c.watches.push(Watch {
            id: i as u64 + 1,
            owner_pid: 1,
            target_pid: 1,
            name: n,
            addr: 0x1000,
            size: 8,
            signed: true,
            cmp: Comparison::Greater,
            threshold: 5,
            interval_ns: 1_000_000,
            kind: WatchKind::User,
            trigger: Default::default(),
        });
    }
    let sched = stack(&mut c, &[0xffff_ffff_8100_2010, 0xffff_ffff_8100_1010]);
    let io = stack(&mut c, &[0xffff_ffff_8100_3010, 0xffff_ffff_8100_1010]);
    let comm = s(&mut c, "worker");
    for b in 0..4u32 {
        c.breaches.push(Breach {
            event_id: b as u64 + 1,
            time_ns: 1_000_000_000 + (b as u64 + 1) * 100_000_000,
            watch: b % 2,
            value: 10 + b as i64,
            nr_candidates: 5,
            collect_ns: 100,
            flags: 0,
        });
        for k in 0..4 {
            let d = k >= hot || b % 2 == 1;
            c.samples.push(TaskSample {
                breach: b,
                pid: 300 + k as i32,
                tgid: 300,
                comm,
                state: if d {
                    TaskState::Uninterruptible
                } else {
                    TaskState::Running
                },
                cpu: 0,
                cgroup_id: 1,
                kstack: if d { io } else { sched },
                ustack: StackId::EMPTY,
                regs: UserRegs::default(),
                raw_stack: None,
                process: None,
                flags: 0,
            });
        }
    }
    c
}

fn write(path: &Path, c: &Capture) {
    let f = std::fs::File::create(path).unwrap();
    write_capture(c, std::io::BufWriter::new(f)).unwrap();
}

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn folded_summary_filters_and_multiple_inputs() {
    let d = tmpdir("folded");
    write(&d.join("a.vmt"), &capture(3));
    let out = stdout(&run(&["a.vmt", "--folded"], &d));
    assert_eq!(
        out,
        "do_syscall_64_[k];io_schedule_[k] 10\ndo_syscall_64_[k];schedule_[k] 6\n"
    );
    let out = stdout(&run(
        &["a.vmt", "--folded", "--watch", "queue", "--state", "D"],
        &d,
    ));
    assert_eq!(out, "do_syscall_64_[k];io_schedule_[k] 8\n");
    let out = stdout(&run(
        &["a.vmt", "--folded", "--state", "R", "--to", "0.15"],
        &d,
    ));
    assert_eq!(out, "do_syscall_64_[k];schedule_[k] 3\n");
    // Two files: the same watches merge, counts add up.
    let out = stdout(&run(&["a.vmt", "a.vmt", "--folded", "--pid", "303"], &d));
    assert_eq!(out, "do_syscall_64_[k];io_schedule_[k] 8\n");
    let out = stdout(&run(&["a.vmt", "a.vmt", "--folded"], &d));
    assert!(
        out.starts_with("do_syscall_64_[k];io_schedule_[k] 20\n"),
        "{out}"
    );

    let text = stdout(&run(&["a.vmt"], &d));
    assert!(
        text.contains("== watch load avg > 5 (user): 2 breaches, 8 task samples"),
        "{text}"
    );
    assert!(
        text.contains("== watch queue > 5 (user): 2 breaches, 8 task samples"),
        "{text}"
    );
    assert!(
        text.contains("symbolization: 32/32 frames resolved (100.0%)"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["a.vmt", "--json"], &d))).unwrap();
    assert_eq!(json["watches"].as_array().unwrap().len(), 2);
    assert_eq!(json["task_samples"], 16);

    let bad = run(&["a.vmt", "--state", "X"], &d);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use R (running) or D"));
}

#[test]
fn flamegraphs_per_watch_combined_and_diff() {
    let d = tmpdir("svg");
    write(&d.join("now.vmt"), &capture(3));
    write(&d.join("base.vmt"), &capture(1));
    let o = run(&["now.vmt", "--flamegraph", "fg.svg"], &d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = std::fs::read_to_string(d.join("fg-load_avg.svg")).unwrap();
    let q = std::fs::read_to_string(d.join("fg-queue.svg")).unwrap();
    assert!(
        a.contains("watch load avg &gt; 5") && a.contains("schedule (6 samples"),
        "{a}"
    );
    assert!(q.contains("watch queue &gt; 5") && q.contains("io_schedule (8 samples"));
    let o = run(&["now.vmt", "--flamegraph", "all.svg", "--combined"], &d);
    assert!(o.status.success());
    let all = std::fs::read_to_string(d.join("all.svg")).unwrap();
    assert!(all.contains("16 task samples in 4 breaches"), "{all}");

    let o = run(
        &["now.vmt", "--diff", "base.vmt", "--flamegraph", "diff.svg"],
        &d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let diff = std::fs::read_to_string(d.join("diff.svg")).unwrap();
    // schedule grew from 2 to 6 of 16 samples, io_schedule shrank.
    assert!(
        diff.contains("<title>schedule (6 samples, 37.50%; +25.00%)</title>"),
        "{diff}"
    );
    assert!(
        diff.contains("<title>io_schedule (10 samples, 62.50%; -25.00%)</title>"),
        "{diff}"
    );
}

#[test]
fn damaged_and_newer_files_get_clear_messages() {
    let d = tmpdir("bad");
    let path = d.join("good.vmt");
    write(&path, &capture(3));
    let bytes = std::fs::read(&path).unwrap();

    // Not a capture at all.
    std::fs::write(d.join("junk.vmt"), b"this is not a capture, just text").unwrap();
    let o = run(&["junk.vmt"], &d);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a .vmt capture"), "{err}");
    assert!(!err.contains("panicked"));

    // A newer major format version.
    let mut newer = bytes.clone();
    newer[8..10].copy_from_slice(&2u16.to_le_bytes());
    std::fs::write(d.join("newer.vmt"), &newer).unwrap();
    let o = run(&["newer.vmt"], &d);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("newer") && err.contains("upgrade"), "{err}");

    // Truncated at every length: a result or a clear error, never a panic.
    for cut in (16..bytes.len()).step_by((bytes.len() / 23).max(1)) {
        std::fs::write(d.join("cut.vmt"), &bytes[..cut]).unwrap();
        let o = run(&["cut.vmt", "--folded"], &d);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "cut at {cut}: {err}");
        assert!(
            matches!(o.status.code(), Some(0) | Some(1)),
            "cut at {cut}: {err}"
        );
        if o.status.success() && cut < bytes.len() - 64 {
            assert!(
                err.contains("warning"),
                "cut at {cut}: damage must be reported: {err}"
            );
        }
    }
}
