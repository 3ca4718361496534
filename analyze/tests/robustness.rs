//! vmon-analyze on hostile captures (issue 15): no panic, no silent
//! garbage, bounded memory, every output well-formed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vmon_format::*;

mod common;
use common::{s, stack};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vmon-analyze-robust-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const KSCHED: u64 = 0xffff_ffff_8100_2000;
const KSYSCALL: u64 = 0xffff_ffff_8100_1000;

/// One watch per name in `watches`, one breach each, two samples per
/// breach with a kernel stack `do_syscall_64 → schedule`.
fn capture(watches: &[(&str, i64)]) -> Capture {
    let mut c = Capture {
        strings: [""].into_iter().collect(),
        ..Default::default()
    };
    c.meta.start_ns = 1_000_000_000;
    c.meta.end_ns = 2_000_000_000;
    c.meta.tool = "test".into();
    for (addr, name) in [(KSYSCALL, "do_syscall_64"), (KSCHED, "schedule")] {
        let n = s(&mut c, name);
        c.kernel_symbols.push(KernelSymbol {
            addr,
            kind: b'T',
            name: n,
            module: StrId(0),
        });
    }
    let k = stack(&mut c, &[KSCHED + 0x10, KSYSCALL + 0x10]);
    let comm = s(&mut c, "worker");
    for (i, (name, threshold)) in watches.iter().enumerate() {
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
            threshold: *threshold,
            interval_ns: 1_000_000,
            kind: WatchKind::User,
            trigger: Default::default(),
        });
        c.breaches.push(Breach {
            event_id: i as u64 + 1,
            time_ns: 1_100_000_000 + i as u64 * 1000,
            watch: i as u32,
            value: threshold + 1,
            nr_candidates: 2,
            collect_ns: 100,
            flags: 0,
        });
        for p in 0..2 {
            c.samples.push(TaskSample {
                breach: i as u32,
                pid: 300 + p,
                tgid: 300,
                comm,
                state: TaskState::Running,
                cpu: 0,
                cgroup_id: 1,
                kstack: k,
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
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn out(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", err(o));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn no_panic(o: &Output) {
    assert_ne!(o.status.code(), Some(101), "{}", err(o));
    assert!(!err(o).contains("panicked"), "{}", err(o));
}

/// A user frame inside a mapping whose file offset is near 2^64
/// (`a - start + off` overflowed): no panic in any output; the mapping is
/// ignored with a warning.
#[test]
fn mapping_offset_near_2_64_does_not_panic() {
    let d = tmpdir("pgoff");
    let mut c = capture(&[("w", 5)]);
    let path = s(&mut c, "/usr/bin/app");
    c.processes.push(Process {
        tgid: 300,
        start_boottime_ns: 0,
        mappings: vec![
            Mapping {
                start: 0x400000,
                end: 0x500000,
                offset: u64::MAX - 0x1000,
                path,
                build_id: vec![1; 20],
                dev: 1,
                ino: 1,
            },
            Mapping {
                start: 0x600000,
                end: 0x601000,
                offset: u64::MAX - 0xfff, // ends exactly at 2^64: also refused
                path,
                build_id: vec![1; 20],
                dev: 1,
                ino: 1,
            },
        ],
        mappings_truncated: false,
        chain: vec![],
        chain_truncated: false,
    });
    let u = stack(&mut c, &[0x480010, 0x600020]);
    for smp in &mut c.samples {
        smp.ustack = u;
        smp.process = Some(0);
        smp.regs.ip = 0x480010;
    }
    write(&d.join("p.vmt"), &c);
    for args in [
        vec!["p.vmt"],
        vec!["p.vmt", "--folded"],
        vec!["p.vmt", "--json"],
        vec!["p.vmt", "--flamegraph", "f.svg"],
        vec!["p.vmt", "--csv", "t"],
        vec!["p.vmt", "--report", "r"],
    ] {
        let o = run(&args, &d);
        no_panic(&o);
        assert!(o.status.success(), "{args:?}: {}", err(&o));
    }
    let o = run(&["p.vmt", "--folded", "x.folded"], &d);
    assert!(err(&o).contains("past 2^64"), "{}", err(&o));
}

/// Well-formed XML, and no character XML 1.0 forbids.
fn assert_xml(text: &str, what: &str) {
    for c in text.chars() {
        assert!(
            !c.is_control() || matches!(c, '\t' | '\n' | '\r'),
            "{what}: raw control character {:?}",
            c
        );
    }
    let mut r = quick_xml::Reader::from_str(text);
    let mut depth = 0i64;
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(_) => {}
            Err(e) => panic!("{what}: not well-formed at {}: {e}", r.buffer_position()),
        }
    }
    assert_eq!(depth, 0, "{what}: unbalanced");
}

/// Watches whose names map to the same file name get distinct files, each
/// written once and well-formed.
#[test]
fn colliding_watch_names_get_distinct_flamegraph_files() {
    let d = tmpdir("names");
    let c = capture(&[
        ("load", 5),
        ("load", 6),
        ("a b", 1),
        ("a/b", 1),
        ("", 1),
        ("", 2),
    ]);
    write(&d.join("n.vmt"), &c);
    let o = run(&["n.vmt", "--flamegraph", "fg.svg"], &d);
    assert!(o.status.success(), "{}", err(&o));
    let e = err(&o);
    let wrote: Vec<&str> = e
        .lines()
        .filter_map(|l| l.strip_prefix("vmon-analyze: wrote "))
        .collect();
    assert_eq!(wrote.len(), 6, "{e}");
    let mut uniq = wrote.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 6, "each file once: {e}");
    for f in wrote {
        let svg = std::fs::read_to_string(d.join(f)).unwrap();
        assert_xml(&svg, f);
    }
}

/// Control characters in function, watch, comm and path names: escaped in
/// the SVG, the HTML report and the text summary; the text cannot be made
/// to show a forged `== watch` or `warning:` line, nor an ANSI escape.
#[test]
fn control_characters_in_names_are_escaped_per_output() {
    let d = tmpdir("ctl");
    let evil_watch = "w\n== watch forged > 1 (user): 9 breaches ==\nwarning: forged";
    let mut c = capture(&[(evil_watch, 5)]);
    // A kernel function name with a newline, an ESC and a C1 control.
    let evil_fn = s(&mut c, "sched\n== watch fake\x1b[31m\u{9b}\x07");
    c.kernel_symbols[1].name = evil_fn;
    let evil_comm = s(&mut c, "bad\rcomm\x1b]0;title\x07");
    for smp in &mut c.samples {
        smp.comm = evil_comm;
    }
    write(&d.join("c.vmt"), &c);

    let text = out(&run(&["c.vmt"], &d));
    assert!(!text.contains('\x1b') && !text.contains('\u{9b}') && !text.contains('\r'));
    assert!(!text.contains('\x07'));
    let watch_lines = text.lines().filter(|l| l.starts_with("== watch")).count();
    assert_eq!(watch_lines, 1, "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("warning: forged")),
        "{text}"
    );
    assert!(
        text.contains(r"sched\x0a== watch fake\x1b[31m\x9b\x07"),
        "{text}"
    );

    let o = run(&["c.vmt", "--flamegraph", "f.svg"], &d);
    assert!(o.status.success(), "{}", err(&o));
    assert_xml(&std::fs::read_to_string(d.join("f.svg")).unwrap(), "f.svg");

    let folded = out(&run(&["c.vmt", "--folded"], &d));
    assert_eq!(folded.lines().count(), 1, "{folded}");

    let o = run(&["c.vmt", "--report", "r"], &d);
    assert!(o.status.success(), "{}", err(&o));
    let html = std::fs::read_to_string(d.join("r/index.html")).unwrap();
    for c in html.chars() {
        assert!(
            !c.is_control() || matches!(c, '\t' | '\n' | '\r'),
            "index.html: raw control {c:?}"
        );
    }
    // JSON keeps the exact names (serde escapes them).
    let j: serde_json::Value = serde_json::from_str(&out(&run(&["c.vmt", "--json"], &d))).unwrap();
    assert_eq!(j["watches"][0]["name"], evil_watch);
}

/// (offset, type, stored_len) of each chunk of a finished file.
fn chunks(b: &[u8]) -> Vec<(usize, u16, usize)> {
    let mut v = Vec::new();
    let mut off = 16;
    while off + 28 <= b.len() && &b[off..off + 4] == b"VMTC" {
        let ty = u16::from_le_bytes([b[off + 4], b[off + 5]]);
        let len = u32::from_le_bytes(b[off + 8..off + 12].try_into().unwrap()) as usize;
        v.push((off, ty, len));
        off += 28 + len;
    }
    v
}

/// A capture cut to its header, and one whose every chunk but the header
/// failed its CRC: exit 0 alone (with warnings), but the CI gate and
/// `--strict` fail with status 4; a clean capture with no breach passes
/// both.
#[test]
fn gate_and_strict_fail_on_unreadable_or_lossy_captures() {
    let d = tmpdir("strict");
    write(&d.join("good.vmt"), &capture(&[("w", 5)]));
    let good = std::fs::read(d.join("good.vmt")).unwrap();
    std::fs::write(d.join("cut.vmt"), &good[..20]).unwrap();
    let mut crc = good.clone();
    for (off, _, len) in chunks(&good) {
        if len > 0 {
            crc[off + 28] ^= 0xff; // payload CRC mismatch: chunk skipped
        }
    }
    std::fs::write(d.join("crc.vmt"), &crc).unwrap();
    let mut quiet = capture(&[("w", 5)]);
    quiet.breaches.clear();
    quiet.samples.clear();
    write(&d.join("quiet.vmt"), &quiet);
    let mut dropped = capture(&[("w", 5)]);
    dropped.losses.kernel_records = 3;
    write(&d.join("dropped.vmt"), &dropped);

    for f in ["cut.vmt", "crc.vmt"] {
        let o = run(&[f, "--folded"], &d);
        no_panic(&o);
        assert_eq!(o.status.code(), Some(0), "{f} alone: {}", err(&o));
        for extra in [
            &["--fail-if-breaches", "0"][..],
            &["--strict"],
            &["--fail-if-breaches", "9"],
        ] {
            let mut args = vec![f, "--folded"];
            args.extend_from_slice(extra);
            let o = run(&args, &d);
            assert_eq!(o.status.code(), Some(4), "{args:?}: {}", err(&o));
            assert!(
                err(&o).contains("nothing could be recovered"),
                "{}",
                err(&o)
            );
        }
    }
    // Nothing happened, and nothing is lost: both pass.
    let o = run(&["quiet.vmt", "--strict", "--fail-if-breaches", "0"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    // Records dropped while capturing: only --strict fails.
    let o = run(&["dropped.vmt", "--folded", "--fail-if-breaches", "5"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = run(&["dropped.vmt", "--folded", "--strict"], &d);
    assert_eq!(o.status.code(), Some(4), "{}", err(&o));
    assert!(
        err(&o).contains("3 records dropped by the kernel"),
        "{}",
        err(&o)
    );
}

/// After a damaged KSYMS chunk the surviving symbols are not used: a frame
/// must show as `[kernel]+0x...`, never take a wrong neighbour's name
/// (`schedule`'s frame became `do_syscall_64` when only its chunk was lost).
#[test]
fn kernel_frames_are_not_named_from_a_damaged_symbol_table() {
    let d = tmpdir("ksyms");
    let c = capture(&[("w", 5)]);
    // The same capture with each kernel symbol in a chunk of its own.
    let mut w = Writer::new(std::fs::File::create(d.join("ok.vmt")).unwrap()).unwrap();
    w.write_meta(&c.meta).unwrap();
    for k in &c.kernel_symbols {
        let name = w.intern_str(c.str(k.name));
        let module = w.intern_str("");
        w.add_kernel_symbol(&KernelSymbol { name, module, ..*k })
            .unwrap();
        w.flush().unwrap();
    }
    let wname = w.intern_str("w");
    w.add_watch(&Watch {
        name: wname,
        ..c.watches[0].clone()
    })
    .unwrap();
    w.add_breach(&c.breaches[0]).unwrap();
    let frames: Vec<u64> = c.stacks.frames(c.samples[0].kstack).collect();
    let k = w.intern_stack(&frames);
    let comm = w.intern_str("worker");
    for smp in &c.samples {
        w.add_sample(&TaskSample {
            kstack: k,
            comm,
            ..smp.clone()
        })
        .unwrap();
    }
    w.finish().unwrap();
    let folded = out(&run(&["ok.vmt", "--folded"], &d));
    assert_eq!(folded, "do_syscall_64_[k];schedule_[k] 2\n");
    let mut b = std::fs::read(d.join("ok.vmt")).unwrap();
    let ks: Vec<_> = chunks(&b).into_iter().filter(|c| c.1 == 3).collect();
    assert_eq!(ks.len(), 2, "one KSYMS chunk per symbol");
    let sched = ks[1]; // written second: schedule, the higher address
    b[sched.0 + 28 + sched.2 / 2] ^= 0x40;
    std::fs::write(d.join("bad.vmt"), &b).unwrap();
    let o = run(&["bad.vmt", "--folded"], &d);
    let folded = out(&o);
    assert!(
        !folded.contains("do_syscall_64") && !folded.contains("schedule"),
        "{folded}"
    );
    assert!(folded.contains("[kernel]+0x"), "{folded}");
    assert!(
        err(&o).contains("kernel symbol table was lost"),
        "{}",
        err(&o)
    );
}

/// One chunk: header (CRCs right) and payload.
fn chunk(ty: u16, raw: &[u8], zstd_level: Option<i32>) -> Vec<u8> {
    let (flags, stored) = match zstd_level {
        Some(l) => (1u16, zstd::bulk::compress(raw, l).unwrap()),
        None => (0, raw.to_vec()),
    };
    let h = vmon_format::chunk::ChunkHeader {
        ty,
        flags,
        stored_len: stored.len() as u32,
        raw_len: raw.len() as u32,
        count: 0,
        payload_crc: crc32c::crc32c(&stored),
    };
    let mut v = h.encode().to_vec();
    v.extend_from_slice(&stored);
    v
}

/// Kilobytes of zstd that claim hundreds of MiB are refused before they are
/// decompressed, with the way out named; `--max-memory` raises the limit.
#[test]
fn zstd_bombs_are_refused_by_the_decode_limit() {
    let d = tmpdir("bomb");
    let mut f = vmon_format::chunk::file_header(1, 0).to_vec();
    let zeros = vec![0u8; 60 << 20];
    for ty in [2u16, 7, 7] {
        // STRINGS, SAMPLES, SAMPLES: 180 MiB from a few hundred KB.
        f.extend_from_slice(&chunk(ty, &zeros, Some(19)));
    }
    assert!(f.len() < 64 << 10, "{} bytes", f.len());
    std::fs::write(d.join("bomb.vmt"), &f).unwrap();
    let o = run(&["bomb.vmt"], &d);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(
        err(&o).contains("zstd bomb") && err(&o).contains("--max-memory"),
        "{}",
        err(&o)
    );
    // A real capture is far below the default limit.
    write(&d.join("ok.vmt"), &capture(&[("w", 5)]));
    assert!(run(&["ok.vmt"], &d).status.success());
}

/// A parent chain deeper than any real stack (the kernel records at most
/// 65,535 frames) is refused by the reader instead of being walked per
/// sample.
#[test]
fn a_stack_chain_deeper_than_any_real_stack_is_refused() {
    let d = tmpdir("deep");
    let mut c = capture(&[("w", 5)]);
    let frames: Vec<u64> = (0..70_000u64).map(|i| 0x400000 + i * 16).collect();
    let deep = stack(&mut c, &frames);
    c.samples[0].ustack = deep;
    write(&d.join("deep.vmt"), &c);
    let o = run(&["deep.vmt", "--folded"], &d);
    no_panic(&o);
    assert!(err(&o).contains("stack depth"), "{}", err(&o));
    // The same depth, one frame short of the limit's excess, is fine.
    let mut c = capture(&[("w", 5)]);
    let ok = stack(&mut c, &frames[..65_536]);
    c.samples[0].ustack = ok;
    write(&d.join("ok.vmt"), &c);
    let o = run(&["ok.vmt", "--folded"], &d);
    assert!(o.status.success(), "{}", err(&o));
    assert!(!err(&o).contains("stack depth"), "{}", err(&o));
}

/// A million identical warnings (empty chunks of an unknown type) are one
/// line with a count, not a million lines.
#[test]
fn repeated_warnings_are_collapsed_into_a_count() {
    let d = tmpdir("flood");
    write(&d.join("ok.vmt"), &capture(&[("w", 5)]));
    let good = std::fs::read(d.join("ok.vmt")).unwrap();
    // Drop the trailer and index: append unknown chunks, read linearly.
    let mut f = good[..good.len() - 16].to_vec();
    let one = chunk(0x8001, b"", None);
    for _ in 0..100_000 {
        f.extend_from_slice(&one);
    }
    std::fs::write(d.join("flood.vmt"), &f).unwrap();
    let o = run(&["flood.vmt", "--folded"], &d);
    assert!(o.status.success(), "{}", err(&o));
    let e = err(&o);
    assert!(e.lines().count() < 20, "{} lines", e.lines().count());
    assert!(e.contains("99999 more chunks of unknown type 32769"), "{e}");
}

fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_str(&out(o)).unwrap()
}

/// `--json` and the report's summary.json are one document (schema
/// version 1, analyze/JSON.md), with the filters and the command line.
#[test]
fn json_and_summary_json_are_one_versioned_schema() {
    let d = tmpdir("json");
    write(&d.join("a.vmt"), &capture(&[("w", 5), ("v", 7)]));
    let mut j = json_of(&run(
        &[
            "a.vmt",
            "--json",
            "--top",
            "20",
            "--fail-if-breaches",
            "9",
            "--pid",
            "300",
        ],
        &d,
    ));
    let o = run(
        &[
            "a.vmt",
            "--report",
            "r",
            "--fail-if-breaches",
            "9",
            "--pid",
            "300",
        ],
        &d,
    );
    assert!(o.status.success(), "{}", err(&o));
    let mut r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("r/summary.json")).unwrap()).unwrap();
    assert_eq!(j["schema"], "vmon-summary");
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["filters"]["pid"][0], 300);
    assert_eq!(j["gate"]["failed"], false);
    assert!(j["command"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "--json"));
    assert_eq!(j["watches"][0]["events"][0]["time_s"], 0.1);
    assert_eq!(j["watches"][0]["breaches"], 1);
    j["command"] = serde_json::Value::Null;
    r["command"] = serde_json::Value::Null;
    assert_eq!(j, r, "--json and summary.json differ");
    // Every key the schema document names is in the output.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/JSON.md")).unwrap();
    for key in j.as_object().unwrap().keys() {
        assert!(doc.contains(&format!("`{key}`")), "JSON.md lacks {key}");
    }
    for key in j["watches"][0].as_object().unwrap().keys() {
        assert!(
            doc.contains(&format!("`{key}`")),
            "JSON.md lacks watches[].{key}"
        );
    }
}

/// Filters that match nothing are named; `--watch NAME` that names no
/// watch lists the watches there are.
#[test]
fn filters_that_match_nothing_say_so() {
    let d = tmpdir("filters");
    write(
        &d.join("a.vmt"),
        &capture(&[("load1>1.83", 5), ("queue", 7)]),
    );
    let text = out(&run(&["a.vmt", "--comm", "nosuch"], &d));
    assert!(
        text.contains("no task samples match the filters: --comm nosuch"),
        "{text}"
    );
    let j = json_of(&run(&["a.vmt", "--comm", "nosuch", "--json"], &d));
    assert_eq!(j["filters_matched_nothing"], true);
    let o = run(&["a.vmt", "--watch", "load1"], &d);
    let text = out(&o);
    assert!(
        err(&o).contains("--watch load1 matches no watch; the input has: load1>1.83, queue"),
        "{text}"
    );
}

/// Breach times are seconds since the capture start everywhere (text,
/// report, JSON, CSV `offset_ns`), negative when before it; `--from/--to`
/// take units and refuse NaN; a load watch shows loads, not fixed point.
#[test]
fn times_and_values_have_consistent_units() {
    let d = tmpdir("units");
    let mut c = capture(&[("load1", 3748), ("early", 1)]);
    let sym = s(&mut c, "avenrun");
    c.watches[0].kind = WatchKind::Kernel { symbol: sym };
    c.breaches[0].value = 4304;
    c.breaches[1].time_ns = 500_000_000; // before the capture's start
    c.meta.realtime_offset_ns = 1_700_000_000_000_000_000;
    write(&d.join("a.vmt"), &c);
    let text = out(&run(&["a.vmt"], &d));
    assert!(
        text.contains("== watch load1 > 1.83 (kernel:avenrun)"),
        "{text}"
    );
    assert!(text.contains("value     2.10  threshold 1.83"), "{text}");
    assert!(text.contains("  -0.500000 s"), "{text}");
    assert!(text.contains("  +0.100000 s"), "{text}");
    let j = json_of(&run(&["a.vmt", "--json"], &d));
    assert_eq!(j["watches"][0]["value_scale"], 2048);
    assert_eq!(j["watches"][1]["events"][0]["time_s"], -0.5);
    assert_eq!(
        j["watches"][0]["events"][0]["realtime_ns"],
        "1700000001100000000"
    );
    let o = run(&["a.vmt", "--csv", "t"], &d);
    assert!(o.status.success(), "{}", err(&o));
    let csv = std::fs::read_to_string(d.join("t/breaches.csv")).unwrap();
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows[0][col("offset_ns")], "100000000");
    assert_eq!(rows[0][col("realtime_ns")], "1700000001100000000");
    assert_eq!(rows[1][col("offset_ns")], "-500000000");
    let o = run(&["a.vmt", "--report", "r"], &d);
    assert!(o.status.success(), "{}", err(&o));
    let html = std::fs::read_to_string(d.join("r/index.html")).unwrap();
    assert!(html.contains("+0.100000") && html.contains("-0.500000"));
    assert!(html.contains("2.10"), "load shown as a load in the report");

    for (from, want) in [
        ("50ms", 1),
        ("0.05", 1),
        ("1m", 0),
        ("-1", 2),
        ("-600ms", 2),
    ] {
        let j = json_of(&run(&["a.vmt", "--json", "--from", from], &d));
        assert_eq!(j["breaches"], want, "--from {from}");
    }
    for bad in ["NaN", "inf", "7x", "abc"] {
        let o = run(&["a.vmt", "--from", bad], &d);
        assert_eq!(o.status.code(), Some(2), "--from {bad}: {}", err(&o));
    }
}

/// `-` and pipes as input; directories and output-is-input refused with a
/// clear message; two outputs to stdout refused.
#[test]
fn cli_conventions_stdin_directories_and_outputs() {
    let d = tmpdir("conv");
    write(&d.join("a.vmt"), &capture(&[("w", 5)]));
    let bytes = std::fs::read(d.join("a.vmt")).unwrap();
    let want = out(&run(&["a.vmt", "--folded"], &d));
    for arg in ["-", "/dev/stdin"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
            .args([arg, "--folded"])
            .current_dir(&d)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        let b = bytes.clone();
        let t = std::thread::spawn(move || {
            let _ = stdin.write_all(&b);
        });
        let o = child.wait_with_output().unwrap();
        t.join().unwrap();
        assert_eq!(out(&o), want, "{arg} from a pipe");
    }
    std::fs::create_dir(d.join("dir.vmt")).unwrap();
    let o = run(&["dir.vmt"], &d);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("is a directory"), "{}", err(&o));
    let o = run(&["nope.vmt"], &d);
    assert_eq!(err(&o).matches("No such file").count(), 1, "{}", err(&o));

    for args in [
        vec!["a.vmt", "--folded", "a.vmt"],
        vec!["a.vmt", "--flamegraph", "a.vmt"],
        vec!["a.vmt", "--folded", "./a.vmt"],
    ] {
        let o = run(&args, &d);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(err(&o).contains("is the input"), "{}", err(&o));
        assert_eq!(
            std::fs::read(d.join("a.vmt")).unwrap(),
            bytes,
            "input intact"
        );
    }
    let o = run(&["a.vmt", "--folded", "--json"], &d);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(o.stdout.is_empty());
    assert!(err(&o).contains("stdout"), "{}", err(&o));
}

/// Loss counters near 2^64 in several inputs add up without overflow.
#[test]
fn huge_loss_counts_in_two_inputs_do_not_overflow() {
    let d = tmpdir("losses");
    let mut c = capture(&[("w", 5)]);
    c.losses.kernel_records = u64::MAX;
    c.losses.writer_records = u64::MAX - 1;
    write(&d.join("a.vmt"), &c);
    for args in [vec!["a.vmt", "a.vmt"], vec!["a.vmt", "a.vmt", "--json"]] {
        let o = run(&args, &d);
        no_panic(&o);
        assert!(o.status.success(), "{}", err(&o));
    }
}

/// Warnings go to stderr in every mode (the summary on stdout only says how
/// many); `-q` silences them; the same file twice, captures of different
/// hosts, and a missing `--debug-dir` are warned about.
#[test]
fn warnings_on_stderr_quiet_and_suspicious_inputs() {
    let d = tmpdir("warn");
    write(&d.join("a.vmt"), &capture(&[("w", 5)]));
    let mut other = capture(&[("w", 5)]);
    other.meta.hostname = "elsewhere".into();
    other.meta.kernel_release = "6.12.0".into();
    write(&d.join("b.vmt"), &other);
    std::fs::copy(d.join("a.vmt"), d.join("a-copy.vmt")).unwrap();
    std::fs::hard_link(d.join("a.vmt"), d.join("a-link.vmt")).unwrap();

    let o = run(
        &["a.vmt", "a-link.vmt", "--debug-dir", "/nonexistent/dbg"],
        &d,
    );
    let text = out(&o);
    assert!(!text.contains("warning:"), "{text}");
    assert!(text.contains("warnings on stderr"), "{text}");
    let e = err(&o);
    assert!(
        e.contains("are the same file: its counts are added twice"),
        "{e}"
    );
    assert!(
        e.contains("--debug-dir /nonexistent/dbg is not a directory"),
        "{e}"
    );
    // A copy is another file: not warned about as the same one.
    let o = run(&["a.vmt", "a-copy.vmt", "--folded"], &d);
    assert!(!err(&o).contains("same file"), "{}", err(&o));

    let o = run(&["a.vmt", "b.vmt", "--json"], &d);
    assert!(
        err(&o).contains("merging captures of different hosts or kernels"),
        "{}",
        err(&o)
    );
    let o = run(&["a.vmt", "b.vmt", "--json", "-q"], &d);
    assert!(o.status.success());
    assert!(err(&o).is_empty(), "-q: {}", err(&o));
}

/// C++ argument lists are stripped in folded stacks and flamegraphs unless
/// `--full-signatures`; the text summary keeps the full name.
#[test]
fn cxx_signatures_are_stripped_in_flamegraphs_unless_asked() {
    let d = tmpdir("cxx");
    let mut c = capture(&[("w", 5)]);
    let n = s(
        &mut c,
        "ns::Queue<int>::push(std::vector<int, std::allocator<int> > const&) const",
    );
    c.kernel_symbols[1].name = n;
    write(&d.join("a.vmt"), &c);
    let folded = out(&run(&["a.vmt", "--folded"], &d));
    assert_eq!(folded, "do_syscall_64_[k];ns::Queue<int>::push_[k] 2\n");
    let folded = out(&run(&["a.vmt", "--folded", "--full-signatures"], &d));
    assert!(
        folded.contains("push(std::vector<int, std::allocator<int> > const&) const_[k]"),
        "{folded}"
    );
    let o = run(&["a.vmt", "--flamegraph", "f.svg"], &d);
    assert!(o.status.success());
    let svg = std::fs::read_to_string(d.join("f.svg")).unwrap();
    assert!(svg.contains("ns::Queue&lt;int&gt;::push (2 samples") && !svg.contains("allocator"));
    let text = out(&run(&["a.vmt"], &d));
    assert!(text.contains("push(std::vector"), "{text}");
}

/// `--group-by` adds a root frame per comm, process, thread or watch to
/// folded stacks and flamegraphs; `--folded-per-watch` writes a file per
/// watch. The counts still sum to the samples.
#[test]
fn group_by_and_folded_per_watch() {
    let d = tmpdir("group");
    let mut c = capture(&[("w", 5), ("v", 7)]);
    let other = s(&mut c, "other");
    c.samples[1].comm = other;
    write(&d.join("a.vmt"), &c);
    let st = "do_syscall_64_[k];schedule_[k]";
    let folded = out(&run(&["a.vmt", "--folded", "--group-by", "comm"], &d));
    assert_eq!(folded, format!("worker;{st} 3\nother;{st} 1\n"));
    let folded = out(&run(&["a.vmt", "--folded", "--group-by", "thread"], &d));
    assert_eq!(
        folded,
        format!("worker[300];{st} 2\nother[301];{st} 1\nworker[301];{st} 1\n")
    );
    let folded = out(&run(&["a.vmt", "--folded", "--group-by", "watch"], &d));
    assert_eq!(folded, format!("v > 7;{st} 2\nw > 5;{st} 2\n"));
    let folded = out(&run(&["a.vmt", "--folded", "--group-by", "process"], &d));
    assert!(
        folded.starts_with("worker[300];") || folded.starts_with("other[300];"),
        "{folded}"
    );
    let o = run(
        &[
            "a.vmt",
            "--flamegraph",
            "f.svg",
            "--combined",
            "--group-by",
            "comm",
        ],
        &d,
    );
    assert!(o.status.success(), "{}", err(&o));
    let svg = std::fs::read_to_string(d.join("f.svg")).unwrap();
    assert!(svg.contains("<title>other (1 samples"), "{svg}");
    assert_xml(&svg, "grouped flamegraph");

    let o = run(
        &["a.vmt", "--folded", "out.folded", "--folded-per-watch"],
        &d,
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        std::fs::read_to_string(d.join("out-w.folded")).unwrap(),
        format!("{st} 2\n")
    );
    assert_eq!(
        std::fs::read_to_string(d.join("out-v.folded")).unwrap(),
        format!("{st} 2\n")
    );
    let o = run(&["a.vmt", "--folded", "--folded-per-watch"], &d);
    assert_eq!(o.status.code(), Some(2));
}

/// `--diff BASE` alone prints the functions whose share changed most (as
/// `perf diff`); with `--folded` it prints both counts per stack (as
/// difffolded.pl); `--flamegraph` still gives the differential SVG.
#[test]
fn diff_as_text_and_as_folded() {
    let d = tmpdir("diff");
    write(&d.join("base.vmt"), &capture(&[("w", 5)]));
    let mut now = capture(&[("w", 5)]);
    let short = stack(&mut now, &[KSYSCALL + 0x10]);
    now.samples[1].kstack = short;
    write(&d.join("now.vmt"), &now);
    let text = out(&run(&["now.vmt", "--diff", "base.vmt"], &d));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("diff: base 2 task samples, now 2"),
        "{text}"
    );
    // schedule went from 100% to 50% of the samples; do_syscall_64 stayed.
    assert!(
        lines[2].contains("100.00    50.00   -50.00") && lines[2].ends_with("schedule"),
        "{text}"
    );
    assert!(
        lines[3].contains("100.00   100.00    +0.00") && lines[3].ends_with("do_syscall_64"),
        "{text}"
    );
    let folded = out(&run(&["now.vmt", "--diff", "base.vmt", "--folded"], &d));
    assert_eq!(
        folded,
        "do_syscall_64_[k] 0 1\ndo_syscall_64_[k];schedule_[k] 2 1\n"
    );
    let o = run(
        &["now.vmt", "--diff", "base.vmt", "--flamegraph", "d.svg"],
        &d,
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(o.stdout.is_empty());
    assert_xml(
        &std::fs::read_to_string(d.join("d.svg")).unwrap(),
        "diff svg",
    );
}

/// `--color always` colours the watch headers and warnings; `never`,
/// NO_COLOR and a pipe (auto) do not.
#[test]
fn color_always_never_and_no_color() {
    let d = tmpdir("color");
    write(&d.join("a.vmt"), &capture(&[("w", 5)]));
    let o = run(
        &["a.vmt", "--color", "always", "--debug-dir", "/nonexistent"],
        &d,
    );
    assert!(out(&o).contains("\x1b[1m== watch w > 5"), "{}", out(&o));
    assert!(err(&o).contains("\x1b[33mwarning\x1b[0m:"), "{}", err(&o));
    for args in [&["a.vmt", "--color", "never"][..], &["a.vmt"]] {
        let o = run(args, &d);
        assert!(
            !out(&o).contains('\x1b') && !err(&o).contains('\x1b'),
            "{args:?}"
        );
    }
    let o = Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
        .args(["a.vmt", "--color", "auto"])
        .current_dir(&d)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out(&o).contains('\x1b'));
    let o = run(&["a.vmt", "--color", "sometimes"], &d);
    assert_eq!(o.status.code(), Some(2));
}

/// Man page and completions come from the clap definitions; `--help` has
/// examples.
#[test]
fn man_page_completions_and_help_examples() {
    let d = tmpdir("man");
    let man = out(&run(&["--generate", "man"], &d));
    assert!(
        man.contains(".TH vmon-analyze 1") && man.contains("fail\\-if\\-breaches"),
        "{man}"
    );
    for sh in ["bash", "zsh", "fish"] {
        let c = out(&run(&["--generate", sh], &d));
        assert!(
            c.contains("--group-by") || c.contains("group-by"),
            "{sh}: {c}"
        );
    }
    assert_eq!(run(&["--generate", "nope"], &d).status.code(), Some(2));
    let help = out(&run(&["--help"], &d));
    assert!(
        help.contains("Examples:") && help.contains("--diff base.vmt"),
        "{help}"
    );
}
