//! End-to-end tests of the analyzer core on in-memory captures and on real
//! binaries compiled here (gcc/g++ with DWARF).

use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSegment, ObjectSymbol};
use vmon_analyze::aggregate::Aggregates;
use vmon_analyze::analysis::Analysis;
use vmon_analyze::ingest::{analyze, LoadedInput, Options};
use vmon_analyze::{output, summary};
use vmon_format::*;

mod common;
use common::{s, stack};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vmon-analyze-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn data(name: &str) -> PathBuf {
    manifest_dir().join("tests/data").join(name)
}

fn compile(compiler: &str, src: &Path, out: &Path, flags: &[&str]) {
    let st = Command::new(compiler)
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("running {compiler}: {e}"));
    assert!(st.success(), "{compiler} failed on {}", src.display());
}

/// A capture with one watch, one breach and a small kallsyms snapshot.
fn base_capture() -> Capture {
    let mut c = Capture {
        strings: [""].into_iter().collect(),
        ..Default::default()
    };
    c.meta.start_ns = 1_000_000_000;
    c.meta.end_ns = 3_000_000_000;
    c.meta.hostname = "testhost".into();
    let name = s(&mut c, "load_avg");
    c.watches.push(Watch {
        id: 7,
        owner_pid: 100,
        target_pid: 100,
        name,
        addr: 0x1000,
        size: 8,
        signed: true,
        cmp: Comparison::Greater,
        threshold: 10,
        interval_ns: 1_000_000,
        kind: WatchKind::User,
        trigger: Default::default(),
    });
    c.breaches.push(Breach {
        event_id: 1,
        time_ns: 1_500_000_000,
        watch: 0,
        value: 42,
        nr_candidates: 4,
        collect_ns: 1000,
        flags: 0,
    });
    for (addr, name) in [
        (0xffff_ffff_8100_1000u64, "do_syscall_64"),
        (0xffff_ffff_8100_2000, "schedule"),
    ] {
        let n = s(&mut c, name);
        c.kernel_symbols.push(KernelSymbol {
            addr,
            kind: b'T',
            name: n,
            module: StrId(0),
        });
    }
    c
}

fn sample(
    c: &Capture,
    kstack: StackId,
    ustack: StackId,
    process: Option<u32>,
    ip: u64,
) -> TaskSample {
    TaskSample {
        breach: 0,
        pid: 200,
        tgid: 200,
        comm: StrId(c.strings.iter().position(|x| x == "app").unwrap_or(0) as u32),
        state: TaskState::Running,
        cpu: 0,
        cgroup_id: 1,
        kstack,
        ustack,
        regs: UserRegs { ip, sp: 0, bp: 0 },
        raw_stack: None,
        process,
        flags: 0,
    }
}

fn run(c: Capture, opts: &Options) -> (Analysis, Aggregates) {
    let a = analyze(
        vec![LoadedInput {
            path: "test.vmt".into(),
            capture: c,
            file: None,
            warnings: vec![],
        }],
        opts,
        &vmon_analyze::progress::NoProgress,
    );
    let agg = Aggregates::compute(&a);
    (a, agg)
}

fn opts() -> Options {
    Options {
        inlines: true,
        unwind: true,
        ..Default::default()
    }
}

const BASE: u64 = 0x5555_0000_0000;

/// A process whose only mapping is a binary that does not exist here, with
/// an embedded symbol table for it.
fn handmade() -> Capture {
    let mut c = base_capture();
    s(&mut c, "app");
    let path = s(&mut c, "/nonexistent/bin/app");
    c.processes.push(Process {
        tgid: 200,
        start_boottime_ns: 1,
        mappings: vec![Mapping {
            start: BASE,
            end: BASE + 0x10000,
            offset: 0,
            path,
            build_id: vec![],
            dev: 0,
            ino: 0,
        }],
        mappings_truncated: false,
        chain: vec![],
        chain_truncated: false,
    });
    let (m, w, semi) = (
        s(&mut c, "main"),
        s(&mut c, "_ZN3app4work17h0123456789abcdefE"),
        s(&mut c, "odd;name"),
    );
    c.symbol_tables.push(SymbolTable {
        path,
        build_id: vec![],
        symbols: vec![
            FuncSymbol {
                addr: 0x1000,
                size: 0x100,
                name: m,
            },
            FuncSymbol {
                addr: 0x1100,
                size: 0x100,
                name: w,
            },
            FuncSymbol {
                addr: 0x1200,
                size: 0x100,
                name: semi,
            },
        ],
    });
    let k = stack(&mut c, &[0xffff_ffff_8100_2005, 0xffff_ffff_8100_1010]);
    let u1 = stack(&mut c, &[BASE + 0x1110, BASE + 0x1020]);
    let u2 = stack(&mut c, &[BASE + 0x1030]);
    let u3 = stack(&mut c, &[BASE + 0x1210, BASE + 0x1040]);
    for _ in 0..3 {
        let smp = sample(&c, k, u1, Some(0), BASE + 0x1110);
        c.samples.push(smp);
    }
    let smp = sample(&c, StackId::EMPTY, u2, Some(0), BASE + 0x1030);
    c.samples.push(smp);
    let mut smp = sample(&c, StackId::EMPTY, u3, Some(0), BASE + 0x1210);
    smp.state = TaskState::Uninterruptible;
    c.samples.push(smp);
    // An address outside every mapping is kept, as [unknown]+0x...
    let u4 = stack(&mut c, &[0x1234_5678]);
    let smp = sample(&c, StackId::EMPTY, u4, Some(0), 0x1234_5678);
    c.samples.push(smp);
    c
}

#[test]
fn folded_output_exact_for_handmade_capture() {
    let (a, agg) = run(handmade(), &opts());
    let mut out = Vec::new();
    output::write_folded(&mut out, &agg, &agg.total).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "main;app::work;do_syscall_64_[k];schedule_[k] 3\n\
         [unknown]+0x12345678 1\n\
         main 1\n\
         main;odd:name 1\n"
    );
    assert_eq!(a.quality.frames_total, 3 * 4 + 1 + 1 + 2);
    assert_eq!(a.quality.frames_resolved, 3 * 4 + 1 + 2);
    assert_eq!(
        a.quality.unresolved_by_module,
        vec![("[unknown]".to_string(), 1)]
    );
    assert_eq!(
        a.quality.missing_debug_info,
        vec!["/nonexistent/bin/app".to_string()]
    );
    // One warning for the binary, however many frames it has.
    assert_eq!(
        a.warnings
            .iter()
            .filter(|w| w.contains("/nonexistent/bin/app"))
            .count(),
        1
    );
    let g = &agg.per_watch[0];
    assert_eq!(g.samples, 6);
    assert_eq!(a.func(g.top_self[0].0).name, "schedule");
    assert_eq!(g.top_self[0].1, 3);
    assert_eq!(a.func(g.top_total[0].0).name, "main");
    assert_eq!(g.top_total[0].1, 5);
}

#[test]
fn incomplete_user_stacks_end_in_a_marker_and_are_counted() {
    use vmon_format::task_flags as tf;
    let mut c = handmade();
    // The capture's verdicts: complete (CFI to the root), stopped short,
    // and a kernel frame-pointer walk cut at its limit (an older capture).
    c.samples[0].flags = tf::USTACK_CFI | tf::USTACK_ROOT;
    c.samples[1].flags = tf::USTACK_CFI | tf::USTACK_CUT;
    c.samples[2].flags = tf::USTACK_HYBRID | tf::USTACK_ROOT;
    c.samples[3].flags = tf::USTACK_TRUNC;
    let (a, agg) = run(c, &opts());
    let folded = output::folded_lines(&agg, &agg.total);
    assert_eq!(
        folded,
        [
            "main;app::work;do_syscall_64_[k];schedule_[k] 2",
            "[truncated];main 1",
            "[truncated];main;app::work;do_syscall_64_[k];schedule_[k] 1",
            "[unknown]+0x12345678 1",
            "main;odd:name 1",
        ]
    );
    let q = &a.quality;
    assert_eq!(
        (
            q.complete_user_stacks,
            q.truncated_user_stacks,
            q.unassessed_user_stacks
        ),
        (2, 2, 2)
    );
    assert_eq!(
        (q.cfi_user_stacks, q.hybrid_user_stacks, q.fp_user_stacks),
        (2, 1, 3)
    );
    // The marker is no frame: the totals are those of the same capture without it.
    assert_eq!(q.frames_total, 3 * 4 + 1 + 1 + 2);
    assert!(q
        .line()
        .contains("user stacks: 2 complete, 2 truncated, 2 not assessed"));
}

#[test]
fn jit_frames_take_their_names_from_the_captures_perf_map_table() {
    // What vmon-capture writes for a process with JIT code: a mapping
    // spanning the functions frames fell in, and a table of them with
    // addresses relative to its start.
    let mut c = base_capture();
    s(&mut c, "app");
    let path = s(&mut c, "[jit] /tmp/perf-200.map");
    let (hot, other) = (
        s(&mut c, "LazyCompile:~hot /app.js:3"),
        s(&mut c, "jit_other"),
    );
    let lo = 0x7f12_3456_0000;
    c.processes.push(Process {
        tgid: 200,
        start_boottime_ns: 1,
        mappings: vec![Mapping {
            start: lo,
            end: lo + 0xc0,
            offset: 0,
            path,
            build_id: vec![],
            dev: 0,
            ino: 0,
        }],
        mappings_truncated: false,
        chain: vec![],
        chain_truncated: false,
    });
    c.symbol_tables.push(SymbolTable {
        path,
        build_id: vec![],
        symbols: vec![
            FuncSymbol {
                addr: 0,
                size: 0x80,
                name: hot,
            },
            FuncSymbol {
                addr: 0x80,
                size: 0x40,
                name: other,
            },
        ],
    });
    let u = stack(&mut c, &[lo + 0x10, lo + 0x90]);
    let smp = sample(&c, StackId::EMPTY, u, Some(0), lo + 0x10);
    c.samples.push(smp);
    let (a, agg) = run(c, &opts());
    assert_eq!(
        output::folded_lines(&agg, &agg.total),
        ["jit_other;LazyCompile:~hot /app.js:3 1"]
    );
    // Generated code has no file: no warning, no missing debug info.
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    assert!(a.quality.missing_debug_info.is_empty());
}

#[test]
fn filters_state_kernel_only_user_only() {
    let mut o = opts();
    o.filters.state = vec![TaskState::Uninterruptible];
    let (_, agg) = run(handmade(), &o);
    assert_eq!(
        output::folded_lines(&agg, &agg.total),
        vec!["main;odd:name 1"]
    );

    let mut o = opts();
    o.filters.kernel_only = true;
    o.filters.pid = vec![200];
    let (_, agg) = run(handmade(), &o);
    assert_eq!(
        output::folded_lines(&agg, &agg.total),
        vec!["[no stack] 3", "do_syscall_64_[k];schedule_[k] 3"]
    );

    let mut o = opts();
    o.filters.user_only = true;
    o.filters.watch = vec!["load_avg".into()];
    let (_, agg) = run(handmade(), &o);
    assert_eq!(
        output::folded_lines(&agg, &agg.total)[0],
        "main;app::work 3"
    );

    let mut o = opts();
    o.filters.from_s = Some(0.6);
    let (a, agg) = run(handmade(), &o);
    assert!(a.breaches.is_empty() && agg.total.samples == 0);
    let mut o = opts();
    o.filters.comm = vec!["nope".into()];
    let (_, agg) = run(handmade(), &o);
    assert_eq!(agg.total.samples, 0);
}

#[test]
fn two_runs_are_identical() {
    let render = || {
        let mut c = handmade();
        // Many stacks with tied counts, so order depends on tie-breaking.
        for i in 0..50u64 {
            let u = stack(
                &mut c,
                &[BASE + 0x1200 + i, BASE + 0x1100 + i, BASE + 0x1000 + i],
            );
            let smp = sample(&c, StackId::EMPTY, u, Some(0), 0);
            c.samples.push(smp);
        }
        let (a, agg) = run(c, &opts());
        let mut folded = Vec::new();
        output::write_folded(&mut folded, &agg, &agg.total).unwrap();
        let mut svg = Vec::new();
        output::flamegraph(&mut svg, &a, &agg, &agg.per_watch[0]).unwrap();
        let text = summary::text(&a, &agg, &Default::default());
        let json = serde_json::to_string(&summary::json(&a, &agg, &Default::default())).unwrap();
        (folded, svg, text, json)
    };
    let (f1, s1, t1, j1) = render();
    let (f2, s2, t2, j2) = render();
    assert_eq!(f1, f2);
    assert_eq!(s1, s2);
    assert_eq!(t1, t2);
    assert_eq!(j1, j2);
}

#[test]
fn flamegraph_has_frames_and_title() {
    let (a, agg) = run(handmade(), &opts());
    let mut svg = Vec::new();
    output::flamegraph(&mut svg, &a, &agg, &agg.per_watch[0]).unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.starts_with("<?xml"));
    assert!(
        svg.contains("vmon: watch load_avg &gt; 10 — test.vmt"),
        "title missing"
    );
    assert!(svg.contains("6 task samples in 1 breaches"));
    assert!(svg.contains("app::work"));
    // inferno strips the `_[k]` annotation from the text and paints kernel
    // frames from its orange palette (no blue); user frames are red/yellow.
    let fill = |title: &str| -> String {
        let at = svg
            .find(&format!("<title>{title} ("))
            .unwrap_or_else(|| panic!("no frame {title}"));
        let rest = &svg[at..];
        let f = rest.find("fill=\"rgb(").unwrap() + 10;
        rest[f..f + rest[f..].find(')').unwrap()].to_string()
    };
    for k in ["schedule", "do_syscall_64"] {
        let c = fill(k);
        assert!(
            c.ends_with(",0"),
            "kernel frame {k} is orange, got rgb({c})"
        );
    }
    for u in ["main", "app::work"] {
        let c = fill(u);
        assert!(
            !c.ends_with(",0"),
            "user frame {u} is not orange, got rgb({c})"
        );
    }
}

#[test]
fn diff_lines_join_on_stacks() {
    let base = vec!["a;b 3".to_string(), "a;c 1".to_string()];
    let cur = vec!["a;b 1".to_string(), "a;d 5".to_string()];
    assert_eq!(
        output::diff_lines(&base, &cur),
        vec!["a;b 3 1", "a;c 1 0", "a;d 0 5"]
    );
}

#[test]
fn summary_text_and_json_have_breaches_and_stacks() {
    let (a, agg) = run(handmade(), &opts());
    let t = summary::text(&a, &agg, &Default::default());
    assert!(
        t.contains("== watch load_avg > 10 (user): 1 breaches, 6 task samples"),
        "{t}"
    );
    assert!(t.contains("value       42  threshold 10  tasks 6/4"), "{t}");
    assert!(t.contains("stack #1 — 3 samples (50.0%)"), "{t}");
    assert!(t.contains("      schedule  [vmlinux]"), "{t}");
    assert!(
        t.contains("user stack:\n      app::work  [app]\n      main  [app]"),
        "{t}"
    );
    let j = summary::json(&a, &agg, &Default::default());
    assert_eq!(j["watches"][0]["events"][0]["value"], 42);
    assert_eq!(j["watches"][0]["top_stacks"][0]["samples"], 3);
    assert_eq!(
        j["watches"][0]["top_stacks"][0]["kernel_stack"][0]["function"],
        "schedule"
    );
    assert_eq!(j["quality"]["frames_total"], 16);
}

/// ELF vaddr -> file offset, through the loadable segments.
fn vaddr_to_offset(file: &object::File<'_>, vaddr: u64) -> u64 {
    for seg in file.segments() {
        let (off, size) = seg.file_range();
        if vaddr >= seg.address() && vaddr < seg.address() + size {
            return vaddr - seg.address() + off;
        }
    }
    panic!("vaddr {vaddr:#x} in no segment");
}

fn symbol(file: &object::File<'_>, name: &str) -> (u64, u64) {
    file.symbols()
        .find(|s| s.name() == Ok(name))
        .map(|s| (s.address(), s.size()))
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

/// A capture whose process maps `bin` at BASE (one mapping of the whole file)
/// and samples `offsets` (each a one-frame user stack, exact ip).
fn capture_for(bin: &Path, build_id: Vec<u8>, offsets: &[u64]) -> Capture {
    let mut c = base_capture();
    let path = s(&mut c, &bin.display().to_string());
    let len = std::fs::metadata(bin).unwrap().len();
    c.processes.push(Process {
        tgid: 200,
        start_boottime_ns: 1,
        mappings: vec![Mapping {
            start: BASE,
            end: BASE + len.next_multiple_of(4096),
            offset: 0,
            path,
            build_id,
            dev: 0,
            ino: 0,
        }],
        mappings_truncated: false,
        chain: vec![],
        chain_truncated: false,
    });
    for &o in offsets {
        let u = stack(&mut c, &[BASE + o]);
        let smp = sample(&c, StackId::EMPTY, u, Some(0), BASE + o);
        c.samples.push(smp);
    }
    c
}

fn user_stacks(a: &Analysis) -> Vec<Vec<(String, bool, Option<String>)>> {
    a.stacks
        .iter()
        .map(|st| {
            st.frames
                .iter()
                .map(|f| {
                    (
                        a.func(a.frame(*f).func).name.clone(),
                        a.frame(*f).inlined,
                        a.frame_location(*f),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn c_binary_names_inlines_and_lines() {
    let dir = tmpdir("cdwarf");
    let bin = dir.join("unwindme");
    compile("gcc", &data("unwindme.c"), &bin, &["-g", "-O2"]);
    let bytes = std::fs::read(&bin).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let bid = file.build_id().unwrap().unwrap().to_vec();
    let (l2, _) = symbol(&file, "level2");
    let (l3, l3size) = symbol(&file, "level3");
    let mut offsets = vec![vaddr_to_offset(&file, l2)];
    // Every byte of level3: some belong to the always-inline inlined_step.
    offsets.extend((l3..l3 + l3size).map(|v| vaddr_to_offset(&file, v)));
    let (a, _) = run(capture_for(&bin, bid, &offsets), &opts());
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    assert_eq!(a.quality.frames_resolved, a.quality.frames_total);
    let stacks = user_stacks(&a);
    let l2_stack = stacks
        .iter()
        .find(|s| s[0].0 == "level2")
        .expect("level2 resolved");
    let loc = l2_stack[0].2.as_deref().unwrap();
    assert!(loc.contains("unwindme.c:"), "{loc}");
    let line: u32 = loc.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        (70..=80).contains(&line),
        "level2 is defined around line 73, got {loc}"
    );
    // Every level3 address has level3 outermost; some have the inlined frame.
    let l3_stacks: Vec<_> = stacks.iter().filter(|s| s[0].0 == "level3").collect();
    assert!(!l3_stacks.is_empty());
    let inl = l3_stacks
        .iter()
        .find(|s| s.len() >= 2 && s[1].0 == "inlined_step")
        .expect("an inlined frame for inlined_step");
    assert!(inl[1].1, "inlined_step is flagged inlined");
    assert!(!inl[0].1, "level3 is not inlined");
}

#[test]
fn an_address_past_the_end_of_a_sized_symbol_is_not_named_after_it() {
    let dir = tmpdir("hidden");
    let full = dir.join("hidden-full");
    compile(
        "gcc",
        &data("hidden.c"),
        &full,
        &["-O2", "-rdynamic", "-fno-toplevel-reorder"],
    );
    let bytes = std::fs::read(&full).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let (h, _) = symbol(&file, "hidden");
    let (v, vsize) = symbol(&file, "visible");
    assert!(h >= v + vsize, "hidden is after visible");
    // Stripped: only the dynamic symbols (visible, main) remain.
    let bin = dir.join("hidden");
    let st = Command::new("strip")
        .arg("--strip-all")
        .arg(&full)
        .arg("-o")
        .arg(&bin)
        .status()
        .unwrap();
    assert!(st.success());
    let off = vaddr_to_offset(&file, h + 2);
    let (a, _) = run(capture_for(&bin, vec![], &[off]), &opts());
    let name = &user_stacks(&a)[0][0].0;
    assert_eq!(
        name,
        &format!("hidden+0x{off:x}"),
        "module+offset, not `visible`"
    );
}

#[test]
fn cxx_names_are_demangled() {
    let dir = tmpdir("cxx");
    let bin = dir.join("cxx");
    compile("g++", &data("cxx.cpp"), &bin, &["-g", "-O2"]);
    let bytes = std::fs::read(&bin).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let (area, _) = symbol(&file, "_ZNK6shapes6Circle4areaEi");
    let (total, _) = symbol(&file, "_ZN6shapes5totalERKNS_6CircleEi");
    let offs = [vaddr_to_offset(&file, area), vaddr_to_offset(&file, total)];
    let (a, _) = run(capture_for(&bin, vec![], &offs), &opts());
    let names: Vec<String> = user_stacks(&a)
        .into_iter()
        .map(|s| s[0].0.clone())
        .collect();
    assert!(
        names.contains(&"shapes::Circle::area(int) const".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"shapes::total(shapes::Circle const&, int)".to_string()),
        "{names:?}"
    );

    // Without DWARF (stripped of debug info), the symbol table still names them.
    let stripped = dir.join("cxx-nodebug");
    let st = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(&bin)
        .arg(&stripped)
        .status()
        .unwrap();
    assert!(st.success());
    let (a, _) = run(capture_for(&stripped, vec![], &offs), &opts());
    let names: Vec<String> = user_stacks(&a)
        .into_iter()
        .map(|s| s[0].0.clone())
        .collect();
    assert!(
        names.contains(&"shapes::Circle::area(int) const".to_string()),
        "{names:?}"
    );
    assert_eq!(
        a.quality.missing_debug_info,
        vec![stripped.display().to_string()]
    );
}

#[test]
fn build_id_mismatch_falls_back_to_embedded_symbols_and_is_counted() {
    let dir = tmpdir("bidmismatch");
    let bin = dir.join("unwindme");
    compile("gcc", &data("unwindme.c"), &bin, &["-g", "-O2"]);
    let bytes = std::fs::read(&bin).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let (l2, _) = symbol(&file, "level2");
    let off = vaddr_to_offset(&file, l2);
    let wrong = vec![0xab; 20];
    let mut c = capture_for(&bin, wrong.clone(), &[off, off + 1]);
    let path = s(&mut c, &bin.display().to_string());
    let name = s(&mut c, "from_capture_table");
    // GNU ld: executable segment vaddr == file offset.
    c.symbol_tables.push(SymbolTable {
        path,
        build_id: wrong.clone(),
        symbols: vec![FuncSymbol {
            addr: off,
            size: 1,
            name,
        }],
    });
    let (a, agg) = run(c, &opts());
    assert_eq!(
        a.quality.build_id_mismatches,
        vec![bin.display().to_string()]
    );
    let folded = output::folded_lines(&agg, &agg.total);
    // The local binary (a different build) is not trusted; the capture's
    // table names the first address; the second stays module+offset.
    assert!(
        folded.contains(&"from_capture_table 1".to_string()),
        "{folded:?}"
    );
    assert!(
        folded.contains(&format!("unwindme+0x{:x} 1", off + 1)),
        "{folded:?}"
    );
    assert!(!folded.iter().any(|l| l.contains("level2")), "{folded:?}");
    assert_eq!(a.warnings.len(), 1, "{:?}", a.warnings);
    assert!(a.warnings[0].contains("different build"));
}

#[test]
fn debug_dir_finds_the_binary_by_build_id() {
    let dir = tmpdir("debugdir");
    let bin = dir.join("unwindme");
    compile("gcc", &data("unwindme.c"), &bin, &["-g", "-O2"]);
    let bytes = std::fs::read(&bin).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let bid = file.build_id().unwrap().unwrap().to_vec();
    let (l2, _) = symbol(&file, "level2");
    let off = vaddr_to_offset(&file, l2);
    // Recorded under a path that does not exist here; a --debug-dir holds
    // the debug file in the .build-id layout.
    let mut c = capture_for(&bin, bid.clone(), &[off]);
    let moved = s(&mut c, "/opt/elsewhere/unwindme");
    c.processes[0].mappings[0].path = moved;
    let hex: String = bid.iter().map(|b| format!("{b:02x}")).collect();
    let store = dir.join("store");
    let d = store.join(".build-id").join(&hex[..2]);
    std::fs::create_dir_all(&d).unwrap();
    let st = Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&bin)
        .arg(d.join(format!("{}.debug", &hex[2..])))
        .status()
        .unwrap();
    assert!(st.success());
    let mut o = opts();
    let (a, _) = run(c.clone(), &o);
    assert_eq!(user_stacks(&a)[0][0].0, format!("unwindme+0x{off:x}"));
    assert_eq!(a.warnings.len(), 1);
    o.debug_dirs = vec![store];
    let (a, _) = run(c, &o);
    assert_eq!(user_stacks(&a)[0][0].0, "level2");
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

/// (start, end, file offset, path) of an executable mapping.
type MapLine = (u64, u64, u64, String);

/// Parses what tests/data/unwindme.c writes.
fn read_grab(path: &Path) -> (UserRegs, Vec<MapLine>, Vec<u8>) {
    let raw = std::fs::read(path).unwrap();
    let split = raw.windows(7).position(|w| w == b"\nstack\n").unwrap();
    let text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let bytes = raw[split + 7..].to_vec();
    let mut regs = UserRegs::default();
    let mut maps = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first() {
            Some(&"regs") => {
                let h = |s: &str| u64::from_str_radix(s, 16).unwrap();
                regs = UserRegs {
                    ip: h(f[1]),
                    sp: h(f[2]),
                    bp: h(f[3]),
                };
                assert_eq!(h(f[4]) as usize, bytes.len());
            }
            Some(&"map") if f.len() >= 7 => {
                let (a, b) = f[1].split_once('-').unwrap();
                let h = |s: &str| u64::from_str_radix(s, 16).unwrap();
                maps.push((h(a), h(b), h(f[3]), f[6].to_string()));
            }
            _ => {}
        }
    }
    (regs, maps, bytes)
}

#[test]
fn framehop_unwinds_a_real_stack_without_frame_pointers() {
    let dir = tmpdir("unwind");
    let bin = dir.join("unwindme");
    compile(
        "gcc",
        &data("unwindme.c"),
        &bin,
        &["-g", "-O2", "-fomit-frame-pointer"],
    );
    let out = dir.join("grab.txt");
    let st = Command::new(&bin).arg(&out).status().unwrap();
    assert!(st.success());
    let (regs, maps, bytes) = read_grab(&out);
    assert!(maps.iter().any(|m| m.3 == bin.display().to_string()));

    let mut c = base_capture();
    let mappings = maps
        .iter()
        .map(|(start, end, off, p)| Mapping {
            start: *start,
            end: *end,
            offset: *off,
            path: s(&mut c, p),
            build_id: vec![],
            dev: 0,
            ino: 0,
        })
        .collect();
    c.processes.push(Process {
        tgid: 200,
        start_boottime_ns: 1,
        mappings,
        mappings_truncated: false,
        chain: vec![],
        chain_truncated: false,
    });
    c.raw_stacks.push(RawStack { sp: regs.sp, bytes });
    // The frame-pointer chain the kernel would have walked: just the ip.
    let fp = stack(&mut c, &[regs.ip]);
    let mut smp = sample(&c, StackId::EMPTY, fp, Some(0), regs.ip);
    smp.regs = regs;
    smp.raw_stack = Some(0);
    c.samples.push(smp);

    let (a, agg) = run(c.clone(), &opts());
    assert_eq!(
        (a.quality.cfi_user_stacks, a.quality.complete_user_stacks),
        (1, 1)
    );
    let folded = output::folded_lines(&agg, &agg.total);
    assert_eq!(folded.len(), 1);
    assert!(
        folded[0].contains("main;level1;level2;level3;inlined_step_[i];grab 1"),
        "whole chain expected, got {}",
        folded[0]
    );
    // libc's start code is below main.
    assert!(folded[0].find("main").unwrap() > 0, "{}", folded[0]);
    let st = &a.stacks[0];
    let grab = st.frames.last().unwrap();
    assert!(a.frame_location(*grab).unwrap().contains("unwindme.c:"));

    // Without unwinding only the ip is left: the fallback chain.
    let mut o = opts();
    o.unwind = false;
    let (_, agg) = run(c, &o);
    assert_eq!(output::folded_lines(&agg, &agg.total), vec!["grab 1"]);
}

#[test]
fn gnu_debuglink_supplies_dwarf_of_a_stripped_binary() {
    let dir = tmpdir("debuglink");
    let full = dir.join("full");
    compile("gcc", &data("unwindme.c"), &full, &["-g", "-O2"]);
    let bin = dir.join("app");
    let dbg = dir.join(".debug");
    std::fs::create_dir_all(&dbg).unwrap();
    let objcopy = |args: &[&std::ffi::OsStr]| {
        assert!(Command::new("objcopy")
            .args(args)
            .status()
            .unwrap()
            .success());
    };
    objcopy(&[
        "--only-keep-debug".as_ref(),
        full.as_os_str(),
        dbg.join("app.debug").as_os_str(),
    ]);
    objcopy(&[
        "--strip-debug".as_ref(),
        "--add-gnu-debuglink".as_ref(),
        dbg.join("app.debug").as_os_str(),
        full.as_os_str(),
        bin.as_os_str(),
    ]);
    let bytes = std::fs::read(&bin).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let bid = file.build_id().unwrap().unwrap().to_vec();
    let (l2, _) = symbol(&file, "level2");
    let off = vaddr_to_offset(&file, l2);
    let (a, _) = run(capture_for(&bin, bid, &[off]), &opts());
    let st = &a.stacks[0];
    let f = st.frames[0];
    assert_eq!(a.func(a.frame(f).func).name, "level2");
    let loc = a
        .frame_location(f)
        .expect("file:line from the debuglinked file");
    assert!(loc.contains("unwindme.c:"), "{loc}");
    assert!(
        a.quality.missing_debug_info.is_empty(),
        "{:?}",
        a.quality.missing_debug_info
    );
}

#[test]
fn names_only_mode_drops_inlined_frames() {
    let dir = tmpdir("noinline");
    let bin = dir.join("unwindme");
    compile("gcc", &data("unwindme.c"), &bin, &["-g", "-O2"]);
    let bytes = std::fs::read(&bin).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let (l3, l3size) = symbol(&file, "level3");
    let offsets: Vec<u64> = (l3..l3 + l3size)
        .map(|v| vaddr_to_offset(&file, v))
        .collect();
    let mut o = opts();
    o.inlines = false;
    let (a, _) = run(capture_for(&bin, vec![], &offsets), &o);
    for st in user_stacks(&a) {
        assert_eq!(st.len(), 1, "{st:?}");
        assert_eq!(st[0].0, "level3");
        assert!(!st[0].1);
    }
}

/// The crate's directory, read when the test runs: a test binary built in
/// another checkout sharing the target directory stays "fresh" for cargo,
/// and the compile-time path would point into that other checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}
