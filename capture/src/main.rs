//! vmon-capture: drains /dev/variable_monitor into a self-contained .vmt.
//! The command line, mapped onto the library's `Options`; the summary.

use clap::Parser;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;
use vmon_capture::watches::parse_duration;
use vmon_capture::{human, Exit, Input, Options, Report, Stop};

const EXAMPLES: &str = "\
Examples:
  vmon-capture -o run.vmt --duration 60s            drain the device for a minute
  vmon-capture -o q.vmt --watch '1234:queue_len>100'
  vmon-capture -o q.vmt --watch 'queue_len>100' -- ./server --port 80   start it, capture until it exits
  vmon-capture -o p.vmt --psi 'memory some 150ms 1s' --hung-task 10s   dump on pressure or a task stuck in D
  vmon-capture --from-raw run.raw -o run.vmt --kallsyms kallsyms.txt
  vmon-capture --generate man > vmon-capture.1      man page (or bash, zsh, fish completions)";

fn after_help() -> String {
    format!("{}\n{EXAMPLES}", Exit::help())
}

/// Drain the vmon kernel module's records into a .vmt capture.
#[derive(Parser, Debug)]
#[command(name = "vmon-capture", version, after_help = after_help())]
struct Args {
    /// Output capture file (.vmt).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Stop after this long (e.g. 30s, 5m, 1h, 500ms).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many breaches.
    #[arg(long)]
    breaches: Option<u64>,
    /// Stop once the file reaches this size (e.g. 100M, 2G).
    #[arg(long, value_parser = parse_size)]
    max_size: Option<u64>,
    /// Register a watch: PID:ADDR:SIZE:OP:THRESHOLD or PID:SYMBOL>THRESHOLD (repeatable).
    #[arg(long = "watch", value_name = "SPEC")]
    watches: Vec<String>,
    /// Load monitor: dump R and D tasks when the 1-minute load average exceeds this.
    #[arg(long, value_name = "LOAD")]
    load_above: Option<f64>,
    /// Dump when the kernel's pressure stall information fires: RESOURCE some|full STALL
    /// WINDOW, e.g. 'memory some 150ms 1s' (repeatable; needs PSI on: psi=1 on Debian).
    #[arg(long, value_name = "SPEC")]
    psi: Vec<String>,
    /// Dump when a task stays in D (uninterruptible, not switched) this long, e.g. 10s.
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    hung_task: Option<Duration>,
    /// Polling interval of the watches registered here (default: the module's; 100ms for --load-above).
    #[arg(long, value_parser = parse_duration)]
    interval: Option<Duration>,
    /// Do not embed the symbol tables of the binaries seen.
    #[arg(long)]
    no_embed_symbols: bool,
    /// Also store the raw user stack bytes (by default they are unwound here and only the
    /// frames are stored; raw bytes are kept anyway when the binaries cannot be read).
    #[arg(long)]
    keep_raw_stacks: bool,
    /// zstd-compress the task samples too: half the file, twice the CPU to write and read them.
    #[arg(long)]
    compress_samples: bool,
    /// Also save the raw record stream to this file (for --from-raw).
    #[arg(long, value_name = "FILE")]
    dump_raw: Option<PathBuf>,
    /// Convert a raw record stream saved with --dump-raw instead of reading the device.
    #[arg(long, value_name = "FILE")]
    from_raw: Option<PathBuf>,
    /// kallsyms of the kernel that produced a --from-raw stream.
    #[arg(long, value_name = "FILE")]
    kallsyms: Option<PathBuf>,
    /// With --from-raw: directory holding the binaries of the captured machine (their
    /// symbols are embedded when build-ids match).
    #[arg(long, value_name = "DIR")]
    sysroot: Option<PathBuf>,
    /// The device to read (default /dev/variable_monitor).
    #[arg(long, value_name = "PATH", default_value = vmon_kabi::abi::VMON_DEVICE_PATH)]
    device: PathBuf,
    /// No status line and no summary; errors only.
    #[arg(short, long)]
    quiet: bool,
    /// Print each breach and every warning.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Start PROGRAM (stopped at its exec until the watches are in place), watch it (a --watch
    /// without PID is on it) and capture until it exits.
    #[arg(last = true, value_name = "PROGRAM ARGS")]
    program: Vec<String>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 100M or 2G"))?;
    let mult: u64 = match unit.trim_end_matches(['B', 'i']) {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("unknown unit `{unit}` in `{s}`; use K, M or G")),
    };
    v.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    SIGNAL.store(sig, Ordering::SeqCst);
}

fn install_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to atomics (async-signal-safe); no
        // SA_RESTART, so a blocked read or poll returns EINTR and the loop
        // sees STOP.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

fn main() {
    if let Some(kind) = vmon_cli::generate_request() {
        use clap::CommandFactory;
        std::process::exit(vmon_cli::generate(&kind, Args::command()));
    }
    let args = Args::parse();
    install_signals();
    match vmon_capture::run(&options(&args), &STOP) {
        Ok(report) => {
            if !args.quiet {
                print_summary(&args, &report);
            }
        }
        Err(f) => {
            eprintln!("vmon-capture: error: {:#}", f.error);
            std::process::exit(f.exit.code());
        }
    }
}

fn options(a: &Args) -> Options {
    Options {
        output: a.output.clone(),
        input: match &a.from_raw {
            Some(p) => Input::Raw(p.clone()),
            None => Input::Device(a.device.clone()),
        },
        duration: a.duration,
        breaches: a.breaches,
        max_size: a.max_size,
        watches: a.watches.clone(),
        load_above: a.load_above,
        psi: a.psi.clone(),
        hung_task: a.hung_task,
        interval: a.interval,
        embed_symbols: !a.no_embed_symbols,
        keep_raw_stacks: a.keep_raw_stacks,
        compress_samples: a.compress_samples,
        dump_raw: a.dump_raw.clone(),
        kallsyms: a.kallsyms.clone(),
        sysroot: a.sysroot.clone(),
        quiet: a.quiet,
        verbose: a.verbose > 0,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        program: a.program.clone(),
    }
}

fn stop_text(s: Stop) -> &'static str {
    match s {
        Stop::Requested if SIGNAL.load(Ordering::SeqCst) == libc::SIGTERM => "SIGTERM",
        Stop::Requested => "interrupted",
        Stop::Duration => "--duration reached",
        Stop::Breaches => "--breaches reached",
        Stop::MaxSize => "--max-size reached",
        Stop::EndOfInput => "end of input",
        Stop::ProgramExited => "the program exited",
    }
}

fn print_summary(args: &Args, r: &Report) {
    if args.verbose > 0 {
        for n in &r.losses.notes {
            eprintln!("vmon-capture: loss: {n}");
        }
    }
    let s = &r.stats;
    eprintln!(
        "vmon-capture: {} breaches, {} task samples, {} records, {} to {}, dropped {} \
         (kernel {}, capture {}), {:.1} s, cpu {:.2} s ({})",
        s.breaches,
        s.samples,
        s.records,
        human(r.bytes),
        args.output.display(),
        s.kernel_lost.saturating_add(s.own_lost),
        s.kernel_lost,
        s.own_lost,
        r.elapsed.as_secs_f64(),
        r.cpu.as_secs_f64(),
        stop_text(r.stop),
    );
    if let (Some(p), Some(s)) = (args.program.first(), r.program) {
        eprintln!("vmon-capture: {p} {}", vmon_capture::describe_exit(s));
    }
    let u = &r.user_stacks;
    let mut line = format!(
        "vmon-capture: user stacks: {} unwound with CFI, {} CFI + frame pointers, {} frame \
         pointers only; {} reached the thread's root, {} stopped short",
        u.cfi, u.hybrid, u.frame_pointer, u.root, u.cut
    );
    if u.raw_kept_unwound_later > 0 {
        line += &format!(
            "; {} raw windows kept for the analyzer (binaries not readable here)",
            u.raw_kept_unwound_later
        );
    }
    if u.memo_hits > 0 {
        line += &format!(
            "; {} unwinds repeated an earlier sample's (same registers and stack)",
            u.memo_hits
        );
    }
    if u.trimmed_windows > 0 {
        line += &format!(
            "; {} windows ended above the frame-pointer chain",
            u.trimmed_windows
        );
    }
    eprintln!("{line}");
}
