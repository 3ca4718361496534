//! `vmon-gen`: writes realistic synthetic `.vmt` captures for tests and
//! benchmarks. User frames point into real binaries built from
//! `gen/fixtures` (with DWARF), kernel frames into a real kallsyms snapshot.

use std::collections::HashMap;
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Parser;
use object::{Object, ObjectSegment, ObjectSymbol, SegmentFlags, SymbolKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vmon_format::*;

#[derive(Parser, Debug)]
#[command(version, about = "Write a realistic synthetic .vmt capture")]
struct Args {
    /// Output file.
    #[arg(short, long, default_value = "gen.vmt")]
    output: PathBuf,
    /// Task samples to write.
    #[arg(long, default_value_t = 100_000)]
    samples: u64,
    /// Distinct (kernel, user) stack pairs; popularity is Zipf-skewed.
    #[arg(long, default_value_t = 2000)]
    stacks: usize,
    /// Mean user stack depth in frames (each stack is 10-60 frames in all).
    #[arg(long, default_value_t = 30)]
    depth: usize,
    /// Mean task samples per breach.
    #[arg(long, default_value_t = 20)]
    tasks_per_breach: u64,
    /// Zipf exponent of stack popularity.
    #[arg(long, default_value_t = 1.1)]
    zipf: f64,
    /// Random seed; the same seed and flags give the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also store this many raw user-stack bytes per sample (0: none).
    #[arg(long, default_value_t = 0)]
    raw_stack_bytes: usize,
    /// Embed the function symbol tables of the workload binaries.
    #[arg(long)]
    embed_symbols: bool,
    /// kallsyms source: a file in /proc/kallsyms format, or `shipped` for the
    /// snapshot in gen/fixtures. Default: /proc/kallsyms if readable with
    /// addresses (root), else the shipped snapshot.
    #[arg(long)]
    kallsyms: Option<PathBuf>,
    /// Embed every kallsyms symbol, not just functions (t/T/w/W).
    #[arg(long)]
    all_kallsyms: bool,
    /// Where the workload binaries are built. Default: `<output dir>/vmon-gen-bin`.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Task samples per SAMPLES chunk.
    #[arg(long, default_value_t = 16 * 1024)]
    chunk_samples: usize,
    /// Store every chunk uncompressed (by default the tables are zstd-compressed).
    #[arg(long, conflicts_with = "compress_samples")]
    no_compress: bool,
    /// Also zstd-compress the SAMPLES chunks (half the size, twice the decode CPU).
    #[arg(long)]
    compress_samples: bool,
    /// Write task samples as SAMPLES chunks in a format 1.1 file (readable
    /// by vmon 1.1 readers) instead of the smaller SAMPLES2 chunks of 1.2.
    #[arg(long)]
    plain_samples: bool,
}

/// A built workload binary, as it would be mapped in a process.
struct Binary {
    path: String,
    build_id: Vec<u8>,
    /// Executable PT_LOAD: virtual address, size, file offset.
    text_vaddr: u64,
    text_size: u64,
    text_offset: u64,
    funcs: Vec<(u64, u64, String)>,
}

/// Fixture sources and the kallsyms snapshot, embedded so that the binary
/// works outside the source tree.
const SOURCES: [(&str, &str); 3] = [
    ("workload.c", include_str!("../fixtures/workload.c")),
    (
        "workload_cpp.cc",
        include_str!("../fixtures/workload_cpp.cc"),
    ),
    ("workload_rs.rs", include_str!("../fixtures/workload_rs.rs")),
];
const KALLSYMS_SNAPSHOT: &[u8] = include_bytes!("../fixtures/kallsyms.txt.zst");

fn build_binaries(dir: &Path) -> Result<Vec<Binary>> {
    // Only the directory itself is created: a mistyped path must not make
    // a tree of directories (as root, at /).
    if !dir.is_dir() {
        fs::create_dir(dir).with_context(|| {
            format!(
                "creating {} (its parent directory must exist)",
                dir.display()
            )
        })?;
    }
    let jobs: [(&str, &str, &[&str]); 3] = [
        (
            "gcc",
            "workload.c",
            &["-g", "-O2", "-fno-omit-frame-pointer"],
        ),
        (
            "g++",
            "workload_cpp.cc",
            &["-g", "-O2", "-fno-omit-frame-pointer"],
        ),
        (
            "rustc",
            "workload_rs.rs",
            &["-g", "-O", "-C", "force-frame-pointers=yes"],
        ),
    ];
    let mut out = Vec::new();
    for (cc, src, flags) in jobs {
        let srcp = dir.join(src);
        let text = SOURCES
            .iter()
            .find(|s| s.0 == src)
            .map(|s| s.1)
            .unwrap_or_default();
        // Rewrite the source only when it changed, so the build stays cached.
        if fs::read_to_string(&srcp).ok().as_deref() != Some(text) {
            fs::write(&srcp, text).with_context(|| format!("writing {}", srcp.display()))?;
        }
        let stem = src.split('.').next().unwrap_or(src);
        let bin = dir.join(stem);
        let fresh = match (fs::metadata(&bin), fs::metadata(&srcp)) {
            (Ok(b), Ok(s)) => b.modified().ok() >= s.modified().ok(),
            _ => false,
        };
        if !fresh {
            let st = Command::new(cc)
                .args(flags)
                .arg("-o")
                .arg(&bin)
                .arg(&srcp)
                .status()
                .with_context(|| {
                    format!("running {cc} (install it, e.g. apt-get install gcc g++)")
                })?;
            if !st.success() {
                // The C workload is required; the others only add demangling cases.
                if src.ends_with(".c") {
                    bail!("{cc} failed to build {}", srcp.display());
                }
                eprintln!(
                    "vmon-gen: warning: {cc} failed on {}; skipping it",
                    srcp.display()
                );
                continue;
            }
        }
        out.push(read_binary(&bin)?);
    }
    Ok(out)
}

fn read_binary(path: &Path) -> Result<Binary> {
    let path = fs::canonicalize(path)?;
    let data = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let obj = object::File::parse(&*data).with_context(|| format!("parsing {}", path.display()))?;
    let build_id = obj.build_id().ok().flatten().unwrap_or_default().to_vec();
    let text = obj
        .segments()
        .find(|s| matches!(s.flags(), SegmentFlags::Elf { p_flags } if p_flags & object::elf::PF_X != 0))
        .context("no executable segment")?;
    let (text_offset, _) = text.file_range();
    let mut funcs: Vec<(u64, u64, String)> = obj
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() >= 16)
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
        .filter(|(_, _, n)| !n.is_empty())
        .collect();
    funcs.sort();
    funcs.dedup_by_key(|f| f.0);
    if funcs.is_empty() {
        bail!("{} has no function symbols", path.display());
    }
    Ok(Binary {
        path: path.to_string_lossy().into_owned(),
        build_id,
        text_vaddr: text.address(),
        text_size: text.size(),
        text_offset,
        funcs,
    })
}

struct Ksym {
    addr: u64,
    kind: u8,
    name: String,
    module: String,
}

fn parse_kallsyms(text: &str) -> Vec<Ksym> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let addr = u64::from_str_radix(it.next()?, 16).ok()?;
            let kind = *it.next()?.as_bytes().first()?;
            let name = it.next()?.to_string();
            let module = it
                .next()
                .map(|m| m.trim_matches(|c| c == '[' || c == ']').to_string())
                .unwrap_or_default();
            Some(Ksym {
                addr,
                kind,
                name,
                module,
            })
        })
        .collect()
}

fn load_kallsyms(arg: &Option<PathBuf>) -> Result<(Vec<Ksym>, String)> {
    if let Some(p) = arg.as_ref().filter(|p| p.as_os_str() != "shipped") {
        let t = fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        return Ok((parse_kallsyms(&t), p.display().to_string()));
    }
    let proc_ok = arg.is_none();
    if let Some(t) = proc_ok
        .then(|| fs::read_to_string("/proc/kallsyms").ok())
        .flatten()
    {
        let syms = parse_kallsyms(&t);
        // Without privilege every address reads as zero.
        if syms.iter().filter(|s| s.addr != 0).count() > 1000 {
            return Ok((syms, "/proc/kallsyms".into()));
        }
    }
    let t = zstd::decode_all(KALLSYMS_SNAPSHOT).context("decompressing the kallsyms snapshot")?;
    Ok((
        parse_kallsyms(&String::from_utf8_lossy(&t)),
        "gen/fixtures/kallsyms.txt.zst (embedded)".into(),
    ))
}

/// Samples indices 0..n with probability proportional to 1/(i+1)^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let cdf = (0..n.max(1))
            .map(|i| {
                acc += 1.0 / ((i + 1) as f64).powf(s);
                acc
            })
            .collect();
        Zipf { cdf }
    }
    fn sample(&self, rng: &mut StdRng) -> usize {
        let total = self.cdf.last().copied().unwrap_or(1.0);
        let x = rng.random::<f64>() * total;
        self.cdf.partition_point(|&c| c < x).min(self.cdf.len() - 1)
    }
}

/// A stack shape: the kernel and user frames one kind of task sits in.
struct Template {
    state: TaskState,
    kstack: StackId,
    ustack: StackId,
    ip: u64,
    binary: usize,
}

const PIE_BASE: u64 = 0x5555_5555_4000;

/// Whether a kallsyms text symbol is a function a stack can return into,
/// rather than function padding (`__pfx_`, kernel >= 6.2), a CFI preamble,
/// a static-call trampoline, a jump/return thunk or a section marker.
fn is_function(name: &str) -> bool {
    const NOT_FRAMES: [&str; 8] = [
        "__pfx_",
        "__cfi_",
        "__SCT__",
        "__x86_indirect_",
        "__x86_return_thunk",
        "__start_",
        "__stop_",
        "__end_",
    ];
    let marker = name.starts_with("__")
        && (name.ends_with("_start") || name.ends_with("_end"))
        && (name.contains("text") || name.contains("thunk"));
    !(NOT_FRAMES.iter().any(|p| name.starts_with(p))
        || marker
        || matches!(
            name,
            "_stext" | "_etext" | "_sinittext" | "_einittext" | "_text"
        ))
}

fn kernel_frame(rng: &mut StdRng, s: &Ksym, next: Option<&Ksym>) -> u64 {
    // A return address inside the function.
    let span = next
        .map(|n| n.addr.saturating_sub(s.addr))
        .unwrap_or(64)
        .clamp(2, 512);
    s.addr + rng.random_range(1..span)
}

fn main() -> Result<()> {
    let a = Args::parse();
    if a.stacks == 0 || a.tasks_per_breach == 0 {
        bail!("--stacks and --tasks-per-breach must be at least 1");
    }
    let mut rng = StdRng::seed_from_u64(a.seed);
    let out_dir = a
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    if !out_dir.is_dir() {
        bail!(
            "the output directory {} does not exist; create it first or choose another -o",
            out_dir.display()
        );
    }
    let bin_dir = a
        .bin_dir
        .clone()
        .unwrap_or_else(|| out_dir.join("vmon-gen-bin"));
    let bins = build_binaries(&bin_dir)?;
    let (ksyms, ksrc) = load_kallsyms(&a.kallsyms)?;
    // Every core text symbol bounds the one before it (a return address
    // stays inside its function, before the next one's padding); only
    // real functions become frames.
    let mut all_text: Vec<&Ksym> = ksyms
        .iter()
        .filter(|s| matches!(s.kind, b't' | b'T') && s.addr != 0 && s.module.is_empty())
        .collect();
    all_text.sort_by_key(|s| s.addr);
    let text_syms: Vec<&Ksym> = all_text
        .iter()
        .copied()
        .filter(|s| is_function(&s.name))
        .collect();
    let next_text = |s: &Ksym| -> Option<&Ksym> {
        let i = all_text.partition_point(|t| t.addr <= s.addr);
        all_text.get(i).copied()
    };
    if text_syms.len() < 100 {
        bail!(
            "kallsyms source {ksrc} has only {} text symbols; pass --kallsyms FILE",
            text_syms.len()
        );
    }
    let by_name: HashMap<&str, usize> = text_syms
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let named = |names: &[&str]| -> Vec<usize> {
        names
            .iter()
            .filter_map(|n| by_name.get(n).copied())
            .collect()
    };
    let sleep_top = named(&[
        "__schedule",
        "schedule",
        "io_schedule",
        "schedule_timeout",
        "folio_wait_bit_common",
    ]);
    let entry = named(&["entry_SYSCALL_64_after_hwframe", "do_syscall_64"]);
    let irq = named(&[
        "asm_sysvec_apic_timer_interrupt",
        "sysvec_apic_timer_interrupt",
        "irqentry_exit_to_user_mode",
    ]);

    let file =
        fs::File::create(&a.output).with_context(|| format!("creating {}", a.output.display()))?;
    let mut opts = WriterOptions {
        samples_per_chunk: a.chunk_samples,
        ..WriterOptions::default()
    };
    if a.compress_samples {
        opts.sample_compression = Compression::Zstd(3);
    }
    if a.no_compress {
        opts.table_compression = Compression::None;
    }
    if a.plain_samples {
        opts.sample_encoding = SampleEncoding::Plain;
    }
    let mut w = Writer::with_options(BufWriter::with_capacity(1 << 20, file), opts)?;
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let start_ns = 1_000_000_000_000u64 + rng.random_range(0..1_000_000_000);
    let mut meta = Meta {
        tool: format!("vmon-gen {}", env!("CARGO_PKG_VERSION")),
        kernel_release: release,
        hostname: "vmon-gen".into(),
        boot_id: format!("{:032x}", rng.random::<u128>()),
        clock: Clock::Boottime,
        realtime_offset_ns: 1_700_000_000_000_000_000,
        start_ns,
        end_ns: start_ns,
        module: ModuleSettings {
            abi_version: 1,
            record_version: 1,
            def_interval_ns: 1_000_000,
            min_interval_ns: 100_000,
            dump_reset_sec: 10,
            kstack_max: 64,
            ustack_max: 128,
            raw_stack_bytes: a.raw_stack_bytes as u32,
            buffer_bytes: 8 << 20,
        },
        extra: vec![
            (
                "generator".into(),
                std::env::args().collect::<Vec<_>>().join(" "),
            ),
            ("kallsyms_source".into(), ksrc.clone()),
        ],
        ..Default::default()
    };
    w.write_meta(&meta)?;

    for s in &ksyms {
        if a.all_kallsyms || matches!(s.kind, b't' | b'T' | b'w' | b'W') {
            let name = w.intern_str(&s.name);
            let module = w.intern_str(&s.module);
            w.add_kernel_symbol(&KernelSymbol {
                addr: s.addr,
                kind: s.kind,
                name,
                module,
            })?;
        }
    }

    // Watches: three user variables of the workload and one kernel symbol.
    let mut watches = Vec::new();
    for (i, name) in ["queue_len", "vmon_sink", "pending_io"].iter().enumerate() {
        let name = w.intern_str(name);
        watches.push(w.add_watch(&Watch {
            id: i as u64 + 1,
            owner_pid: 4000,
            target_pid: 4000,
            name,
            addr: PIE_BASE + 0x4010 + 8 * i as u64,
            size: 8,
            signed: true,
            cmp: Comparison::Greater,
            threshold: 100 * (i as i64 + 1),
            interval_ns: 1_000_000,
            kind: WatchKind::User,
            trigger: Default::default(),
        })?);
    }
    let av = w.intern_str("avenrun");
    watches.push(w.add_watch(&Watch {
        id: 4,
        owner_pid: 4000,
        target_pid: 0,
        name: av,
        addr: 0,
        size: 8,
        signed: false,
        cmp: Comparison::Greater,
        threshold: 4 << 11,
        interval_ns: 10_000_000,
        kind: WatchKind::Kernel { symbol: av },
        trigger: Default::default(),
    })?);

    // Processes: each maps one workload binary plus a chain of ancestors.
    let n_proc = 40usize;
    let shells = [
        w.intern_str("bash"),
        w.intern_str("sshd"),
        w.intern_str("systemd"),
    ];
    let mut procs = Vec::new();
    for p in 0..n_proc {
        let b = &bins[p % bins.len()];
        let tgid = 4000 + 37 * p as i32;
        // One load address per binary, as with ASLR off: templates use it.
        let base = PIE_BASE + (p % bins.len()) as u64 * 0x1000_0000;
        let path = w.intern_str(&b.path);
        let comm_s = Path::new(&b.path)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let comm = w.intern_str(&comm_s[..comm_s.len().min(15)]);
        let arg = w.intern_str(&format!("--rounds={}", 1000 + p));
        let page = 0xfff;
        let start = base + (b.text_vaddr & !page);
        let end = (base + b.text_vaddr + b.text_size + page) & !page;
        let proc_ = Process {
            tgid,
            start_boottime_ns: start_ns - 1_000_000_000 + p as u64,
            mappings: vec![Mapping {
                start,
                end,
                offset: b.text_offset & !page,
                path,
                build_id: b.build_id.clone(),
                dev: 0x803,
                ino: 100_000 + (p % bins.len()) as u64,
            }],
            mappings_truncated: false,
            chain: vec![
                Ancestor {
                    pid: tgid,
                    start_boottime_ns: start_ns - 1_000_000_000,
                    comm,
                    cmdline: vec![path, arg],
                    cmdline_truncated: false,
                },
                Ancestor {
                    pid: 3000 + p as i32,
                    start_boottime_ns: 5_000_000_000,
                    comm: shells[0],
                    cmdline: vec![shells[0]],
                    cmdline_truncated: false,
                },
                Ancestor {
                    pid: 900,
                    start_boottime_ns: 2_000_000_000,
                    comm: shells[1],
                    cmdline: vec![shells[1]],
                    cmdline_truncated: false,
                },
                Ancestor {
                    pid: 1,
                    start_boottime_ns: 0,
                    comm: shells[2],
                    cmdline: vec![shells[2]],
                    cmdline_truncated: false,
                },
            ],
            chain_truncated: false,
        };
        procs.push((w.add_process(&proc_)?, tgid, base, p % bins.len(), comm));
    }
    if a.embed_symbols {
        for b in &bins {
            let path = w.intern_str(&b.path);
            let symbols = b
                .funcs
                .iter()
                .map(|(addr, size, name)| FuncSymbol {
                    addr: *addr,
                    size: *size,
                    name: w.intern_str(name),
                })
                .collect();
            w.add_symbol_table(&SymbolTable {
                path,
                build_id: b.build_id.clone(),
                symbols,
            })?;
        }
    }

    // Stack templates, sharing prefixes the way real call trees do: a few
    // entry paths per binary, each extended by a random walk.
    let depth_lo = a.depth.saturating_sub(15).max(5);
    let depth_hi = (a.depth + 15).clamp(depth_lo + 1, 55);
    let mut templates = Vec::with_capacity(a.stacks);
    for t in 0..a.stacks {
        let bi = t % bins.len();
        let b = &bins[bi];
        let base = procs
            .iter()
            .find(|p| p.3 == bi)
            .map(|p| p.2)
            .unwrap_or(PIE_BASE);
        let mut trng = StdRng::seed_from_u64(a.seed ^ (t as u64 / 16).wrapping_mul(0x9e37_79b9));
        let udepth = rng.random_range(depth_lo..=depth_hi);
        // Outer frames from a shared path (same for 16 neighbours), inner ones random.
        let shared = udepth * 2 / 3;
        let mut user = Vec::with_capacity(udepth);
        for d in 0..udepth {
            let r = if d < shared { &mut trng } else { &mut rng };
            let (addr, size, _) = &b.funcs[r.random_range(0..b.funcs.len())];
            user.push(base + addr + r.random_range(1..*size));
        }
        user.reverse(); // innermost first
        let state = if rng.random_bool(0.35) {
            TaskState::Uninterruptible
        } else {
            TaskState::Running
        };
        let kdepth = if state == TaskState::Running {
            rng.random_range(0..=6)
        } else {
            rng.random_range(8..=24)
        };
        let mut kern = Vec::with_capacity(kdepth);
        for d in 0..kdepth {
            let pick = if d == 0 && state != TaskState::Running && !sleep_top.is_empty() {
                sleep_top[rng.random_range(0..sleep_top.len())]
            } else if d + 2 >= kdepth && state != TaskState::Running && !entry.is_empty() {
                entry[(kdepth - 1 - d).min(entry.len() - 1)]
            } else if d + 1 == kdepth && !irq.is_empty() {
                irq[rng.random_range(0..irq.len())]
            } else {
                trng.random_range(0..text_syms.len())
            };
            kern.push(kernel_frame(
                &mut rng,
                text_syms[pick],
                next_text(text_syms[pick]),
            ));
        }
        // Total depth stays within 10..=60 frames.
        user.truncate(60usize.saturating_sub(kern.len()).max(1));
        let ip = user[0];
        templates.push(Template {
            state,
            kstack: w.intern_stack(&kern),
            ustack: w.intern_stack(&user),
            ip,
            binary: bi,
        });
    }
    let zipf = Zipf::new(templates.len(), a.zipf);

    // Breaches and their task samples.
    let cpus = 8;
    let mut time = start_ns;
    let mut written = 0u64;
    let mut event = 1u64;
    let mut raw = vec![0u8; a.raw_stack_bytes];
    let thread_comms: Vec<StrId> = (0..8)
        .map(|i| w.intern_str(&format!("worker-{i}")))
        .collect();
    while written < a.samples {
        time += rng.random_range(200_000..5_000_000);
        let want = rng
            .random_range(1..=2 * a.tasks_per_breach - 1)
            .min(a.samples - written);
        let watch = watches[rng.random_range(0..watches.len())];
        let breach = w.add_breach(&Breach {
            event_id: event,
            time_ns: time,
            watch,
            value: rng.random_range(101..10_000),
            nr_candidates: want as u32 + rng.random_range(0..3),
            collect_ns: rng.random_range(5_000..200_000),
            flags: if rng.random_bool(0.02) {
                breach_flags::TASKS_TRUNCATED
            } else {
                0
            },
        })?;
        event += 1;
        for _ in 0..want {
            let t = &templates[zipf.sample(&mut rng)];
            let candidates: Vec<_> = procs.iter().filter(|p| p.3 == t.binary).collect();
            let p = candidates[rng.random_range(0..candidates.len())];
            let thread = rng.random_range(0..8);
            let pid = p.1 + thread as i32;
            let sp = 0x7ffc_0000_0000 - ((pid as u64) << 24) - rng.random_range(0..64) * 16;
            let raw_stack = if a.raw_stack_bytes > 0 {
                rng.fill(&mut raw[..]);
                Some(w.add_raw_stack(&RawStack {
                    sp,
                    bytes: raw.clone(),
                })?)
            } else {
                None
            };
            let running = t.state == TaskState::Running;
            w.add_sample(&TaskSample {
                breach,
                pid,
                tgid: p.1,
                comm: if thread == 0 {
                    p.4
                } else {
                    thread_comms[thread]
                },
                state: t.state,
                cpu: if running {
                    rng.random_range(0..cpus)
                } else {
                    pid % cpus
                },
                cgroup_id: 0x2000 + (p.0 % 5) as u64,
                kstack: t.kstack,
                ustack: t.ustack,
                regs: UserRegs {
                    ip: t.ip,
                    sp,
                    bp: sp + rng.random_range(1..32) * 16,
                },
                raw_stack,
                process: Some(p.0),
                flags: if running { task_flags::ON_CPU } else { 0 },
            })?;
            written += 1;
        }
        if event % 4096 == 0 {
            w.flush()?;
        }
    }
    meta.end_ns = time + 1_000_000;
    w.write_meta(&meta)?;
    w.set_losses(&Losses::default());
    w.finish()?;
    eprintln!(
        "vmon-gen: wrote {} ({written} task samples, {} breaches, {} stacks, binaries in {}, kernel symbols from {ksrc})",
        a.output.display(),
        event - 1,
        templates.len(),
        bin_dir.display()
    );
    Ok(())
}
