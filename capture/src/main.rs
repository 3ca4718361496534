//! vmon-capture: drains /dev/variable_monitor into a self-contained .vmt.

mod context;
mod convert;
mod jit;
mod ustack;
mod watches;

use anyhow::{anyhow, Context as _, Result};
use clap::Parser;
use context::Host;
use convert::Converter;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vmon_format::{self as vf, Compression, Writer, WriterOptions};
use vmon_kabi::records::{find_next_record, parse_record, MAX_RECORD_LEN};
use vmon_kabi::{WatchError, Watcher};

const EXIT_HELP: &str = "\
Exit codes:
  0  capture finished (stopped by Ctrl-C/SIGTERM, --duration, --breaches, --max-size, or end of --from-raw input)
  1  other error (the message says which)
  2  bad command line
  3  /dev/variable_monitor missing: the module is not loaded
  4  permission denied: draining and kernel watches need CAP_SYS_ADMIN or CAP_PERFMON
  5  disk full: capture stopped; the file holds everything up to the last flush
  6  a --watch or --load-above could not be registered

Examples:
  vmon-capture -o run.vmt --duration 60s            drain the device for a minute
  vmon-capture -o q.vmt --watch '1234:queue_len>100'
  vmon-capture --from-raw run.raw -o run.vmt --kallsyms kallsyms.txt
  vmon-capture --generate man > vmon-capture.1      man page (or bash, zsh, fish completions)";

/// Drain the vmon kernel module's records into a .vmt capture.
#[derive(Parser, Debug)]
#[command(name = "vmon-capture", version, after_help = EXIT_HELP)]
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
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s, 5m, 500ms"))?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" => v / 1e6,
        "ns" => v / 1e9,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{s}`; use ns, us, ms, s, m or h"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
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

/// An error with its exit code.
struct Fail(i32, anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Fail {
    fn from(e: E) -> Self {
        let e = e.into();
        Fail(exit_code(&e), e)
    }
}

fn is_enospc(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .or_else(|| match c.downcast_ref::<vf::Error>() {
                Some(vf::Error::Write(io)) => io.raw_os_error(),
                _ => None,
            })
            == Some(libc::ENOSPC)
    })
}

fn exit_code(e: &anyhow::Error) -> i32 {
    if is_enospc(e) {
        return 5;
    }
    for c in e.chain() {
        match c.downcast_ref::<WatchError>() {
            Some(WatchError::ModuleNotLoaded { .. }) => return 3,
            Some(WatchError::PermissionDenied { .. }) => return 4,
            _ => {}
        }
    }
    1
}

/// Counts bytes on their way to the file, for --max-size and the summary.
struct Counting<W> {
    inner: W,
    bytes: Arc<AtomicU64>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type Out = Counting<BufWriter<File>>;

enum Source {
    Device(Watcher),
    Raw(File),
}

fn main() {
    if let Some(kind) = vmon_cli::generate_request() {
        use clap::CommandFactory;
        std::process::exit(vmon_cli::generate(&kind, Args::command()));
    }
    let args = Args::parse();
    install_signals();
    match run(&args) {
        Ok(()) => {}
        Err(Fail(code, e)) => {
            let e = if code == 5 && !format!("{e:#}").contains("disk full") {
                e.context(
                    "disk full: capture stopped; the file holds everything up to the last flush",
                )
            } else {
                e
            };
            eprintln!("vmon-capture: error: {e:#}");
            std::process::exit(code);
        }
    }
}

fn base_meta(args: &Args, live: bool) -> vf::Meta {
    let mut m = vf::Meta {
        tool: format!("vmon-capture {}", env!("CARGO_PKG_VERSION")),
        clock: vf::Clock::Boottime,
        ..Default::default()
    };
    let cmd: Vec<String> = std::env::args().collect();
    m.extra.push(("command".into(), cmd.join(" ")));
    if live {
        m.kernel_release = context::read_trimmed("/proc/sys/kernel/osrelease");
        m.hostname = context::read_trimmed("/proc/sys/kernel/hostname");
        m.boot_id = context::read_trimmed("/proc/sys/kernel/random/boot_id");
        m.kernel_build_id = std::fs::read("/sys/kernel/notes")
            .ok()
            .and_then(|b| context::parse_kernel_notes(&b))
            .unwrap_or_default();
        m.extra
            .push(("source".into(), args.device.display().to_string()));
    } else if let Some(p) = &args.from_raw {
        m.extra
            .push(("source".into(), format!("raw:{}", p.display())));
    }
    m
}

fn add_kallsyms(
    conv: &mut Converter<Out>,
    path: &std::path::Path,
    warn: &mut Vec<String>,
) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            warn.push(format!(
                "cannot read {}: {e}; kernel frames will not be symbolized",
                path.display()
            ));
            return Ok(());
        }
    };
    let Some(syms) = context::parse_kallsyms(&text) else {
        warn.push(format!(
            "{} shows no addresses (not root, or kernel.kptr_restrict): kernel frames will not \
             be symbolized; run as root to record them",
            path.display()
        ));
        return Ok(());
    };
    for (addr, kind, name, module) in syms {
        // Stacks hold code addresses only.
        if !matches!(kind, b't' | b'T' | b'w' | b'W') {
            continue;
        }
        let name = conv.w.intern_str(name);
        let module = conv.w.intern_str(module);
        conv.w
            .add_kernel_symbol(&vf::KernelSymbol {
                addr,
                kind,
                name,
                module,
            })
            .context("writing kernel symbols")?;
    }
    Ok(())
}

fn human(b: u64) -> String {
    const U: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < 3 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// CPU time this process has used.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes one struct rusage, which we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Why the capture stopped.
fn stop_reason(
    args: &Args,
    conv: &Converter<Out>,
    started: Instant,
    written: u64,
) -> Option<String> {
    if STOP.load(Ordering::SeqCst) {
        let s = SIGNAL.load(Ordering::SeqCst);
        return Some(
            if s == libc::SIGTERM {
                "SIGTERM"
            } else {
                "interrupted"
            }
            .into(),
        );
    }
    if args.duration.is_some_and(|d| started.elapsed() >= d) {
        return Some("--duration reached".into());
    }
    if args.breaches.is_some_and(|n| conv.stats.breaches >= n) {
        return Some("--breaches reached".into());
    }
    if args.max_size.is_some_and(|m| written >= m) {
        return Some("--max-size reached".into());
    }
    None
}

/// Parses whole records from `data` (stream offset `base`) into `conv`;
/// returns how many bytes were consumed. An incomplete record at the end is
/// left for the next read; garbage is skipped and counted.
fn feed(conv: &mut Converter<Out>, data: &[u8], base: u64) -> Result<usize> {
    let mut pos = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        match parse_record(rest, base + pos as u64) {
            Ok(r) => {
                conv.record(&r)?;
                pos += r.hdr.len as usize;
            }
            Err(e) if e.is_truncation() => break,
            Err(e) => {
                let skip = resync(rest);
                conv.skipped_record(format!("skipped {skip} corrupt bytes: {e}"));
                pos += skip;
            }
        }
    }
    Ok(pos)
}

/// Bytes to skip after a corrupt record: up to the next offset where a valid
/// record starts or may start once more bytes arrive.
fn resync(rest: &[u8]) -> usize {
    if let Some(off) = find_next_record(rest, 0) {
        return off;
    }
    let mut off = 8;
    while off < rest.len() {
        match parse_record(&rest[off..], 0) {
            Err(e) if !e.is_truncation() => off += 8,
            _ => return off,
        }
    }
    rest.len()
}

/// Same device and inode: the same file under any name (hard links,
/// symlinks, `./x` vs `x`).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// `-o` and `--dump-raw` are created (truncated) before the input is read:
/// refuse any that is an input of the run, or both the same file.
fn refuse_overwriting_inputs(args: &Args) -> Result<()> {
    let inputs = [
        ("--from-raw", args.from_raw.as_ref()),
        ("--kallsyms", args.kallsyms.as_ref()),
    ];
    let outputs = [
        ("-o", Some(&args.output)),
        ("--dump-raw", args.dump_raw.as_ref()),
    ];
    for (oname, o) in outputs {
        let Some(o) = o else { continue };
        for (iname, i) in inputs {
            if let Some(i) = i.filter(|i| same_file(i, o)) {
                return Err(anyhow!(
                    "{oname} {} is the same file as {iname} {}: writing it would destroy the \
                     input before it is read; choose another output file",
                    o.display(),
                    i.display()
                ));
            }
        }
    }
    if let Some(d) = &args.dump_raw {
        if same_file(d, &args.output) || d == &args.output {
            return Err(anyhow!(
                "--dump-raw {} and -o {} are the same file; choose two different files",
                d.display(),
                args.output.display()
            ));
        }
    }
    Ok(())
}

/// The kernel release in the HELLO record that starts a raw stream file
/// (None for a FIFO, which cannot be peeked, or a stream without HELLO).
fn raw_stream_release(path: &std::path::Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut head = Vec::new();
    (&mut f).take(64 << 10).read_to_end(&mut head).ok()?;
    match parse_record(&head, 0).ok()?.body {
        vmon_kabi::Body::Hello(h) => Some(vmon_kabi::records::lossy(h.release).into_owned()),
        _ => None,
    }
}

/// `--kallsyms /proc/kallsyms` with a stream from another kernel names
/// every kernel frame wrongly: refuse it. (A saved copy carries no release
/// to check.)
fn check_kallsyms_kernel(args: &Args) -> Result<()> {
    let (Some(k), Some(raw)) = (&args.kallsyms, &args.from_raw) else {
        return Ok(());
    };
    let proc = std::path::Path::new("/proc/kallsyms");
    if !(k.as_path() == proc || same_file(k, proc)) {
        return Ok(());
    }
    let host = context::read_trimmed("/proc/sys/kernel/osrelease");
    match raw_stream_release(raw) {
        Some(r) if !r.is_empty() && r != host => Err(anyhow!(
            "--kallsyms {} is this machine's kernel ({host}), but the stream was recorded on \
             kernel {r}: its kernel frames would get wrong names; pass a copy of the capturing \
             machine's /proc/kallsyms, or omit --kallsyms",
            k.display()
        )),
        _ => Ok(()),
    }
}

/// A saved `--kallsyms` carries no release to compare: check what can be
/// checked instead. A task's kernel stack ends where the kernel was entered
/// (entry_SYSCALL_64..., ret_from_fork..., asm_... for interrupts), so with
/// the right symbols most outermost kernel frames fall in such a function;
/// with another kernel's or boot's they fall anywhere. Returns a warning
/// when fewer than a quarter of at least 8 do.
fn kallsyms_plausibility(out: &std::path::Path) -> Option<String> {
    let f = vf::VmtFile::open(out).ok()?;
    let t = f.tables().ok()?;
    let c = t.capture();
    let mut syms: Vec<(u64, &str)> = c
        .kernel_symbols
        .iter()
        .filter(|k| k.addr != 0)
        .map(|k| (k.addr, c.str(k.name)))
        .collect();
    if syms.is_empty() {
        return None;
    }
    syms.sort_unstable();
    let st = &c.stacks;
    let (mut roots, mut entry) = (0u64, 0u64);
    for i in 0..st.frame.len() {
        let a = st.frame[i];
        if !st.parent[i].is_empty() || a < 0xffff_8000_0000_0000 {
            continue;
        }
        roots += 1;
        let k = syms.partition_point(|s| s.0 <= a);
        let Some(&(_, name)) = k.checked_sub(1).and_then(|k| syms.get(k)) else {
            continue;
        };
        let entryish = [
            "entry_",
            "ret_from_fork",
            "asm_",
            "secondary_startup",
            "start_kernel",
            "x86_64_start",
            "common_startup",
            "kthread",
            "__do_softirq",
            "irq_",
            "native_",
            "do_idle",
        ];
        if entryish.iter().any(|p| name.starts_with(p)) {
            entry += 1;
        }
    }
    (roots >= 8 && entry * 4 < roots).then(|| {
        format!(
            "the --kallsyms symbols look wrong for this stream: only {entry} of {roots} kernel \
             stacks end in a kernel entry point (entry_*, ret_from_fork*, asm_*); the file is \
             probably from another kernel or another boot (KASLR). Kernel frames in {} will be \
             named wrongly: convert again with the capturing machine's /proc/kallsyms of that boot",
            out.display()
        )
    })
}

/// At the end of the input, bytes that begin a record longer than what is
/// left: a corrupt `len` (or a cut tail). Skip that record's start and
/// resynchronise on the next record magic, so one bad length does not lose
/// the rest of the stream; each skip is counted as one lost record.
fn drain_tail(
    conv: &mut Converter<Out>,
    buf: &mut [u8],
    have: &mut usize,
    stream_off: &mut u64,
) -> Result<()> {
    while *have > 0 {
        let Some(skip) = find_next_record(&buf[..*have], 0) else {
            conv.own_loss(
                1,
                format!(
                    "the stream ended inside a record at offset {stream_off} ({have} bytes): \
                     the last record was truncated"
                ),
            );
            *stream_off += *have as u64;
            *have = 0;
            return Ok(());
        };
        let claimed = parse_record(&buf[..*have], *stream_off)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        conv.skipped_record(format!(
            "skipped {skip} bytes at offset {stream_off}: a record claims more bytes than the \
                 stream holds ({claimed}); resynchronised on the next record"
        ));
        *stream_off += skip as u64;
        let used = skip + feed(conv, &buf[skip..*have], *stream_off)?;
        *stream_off += (used - skip) as u64;
        buf.copy_within(used..*have, 0);
        *have -= used;
    }
    Ok(())
}

fn run(args: &Args) -> Result<(), Fail> {
    let started = Instant::now();
    let cpu0 = cpu_time();
    let live = args.from_raw.is_none();
    let mut warnings: Vec<String> = Vec::new();

    // The command line first (exit 2, as documented), even where the
    // module is missing.
    let mut specs = Vec::new();
    for s in &args.watches {
        let a = watches::parse_watch(s).map_err(|e| Fail(2, e))?;
        specs.push(a);
    }
    // Open the source before creating the output: a missing module should
    // not leave an empty file behind.
    let mut source = match &args.from_raw {
        Some(p) if p.as_os_str() == "-" => Source::Raw(File::from(
            std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .context("opening stdin")?,
        )),
        Some(p) => {
            let mut f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
            if f.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(Fail(
                    2,
                    anyhow!(
                        "--from-raw {} is a directory, not a raw record stream",
                        p.display()
                    ),
                ));
            }
            let mut magic = [0u8; 8];
            if f.metadata().is_ok_and(|m| m.is_file())
                && f.read_exact(&mut magic).is_ok()
                && magic == vf::chunk::FILE_MAGIC
            {
                return Err(Fail(
                    2,
                    anyhow!(
                        "--from-raw {} is a .vmt capture already, not a raw record stream: \
                         analyze it with vmon-analyze",
                        p.display()
                    ),
                ));
            }
            // A fresh descriptor: the conversion reads from the start.
            Source::Raw(File::open(p).with_context(|| format!("opening {}", p.display()))?)
        }
        None => {
            use std::os::unix::fs::FileTypeExt;
            if let Ok(m) = std::fs::metadata(&args.device) {
                if !m.file_type().is_char_device() {
                    return Err(Fail(
                        1,
                        anyhow!(
                            "{} is not a vmon device ({}): pass the character device the \
                             variable_monitor module creates, /dev/variable_monitor",
                            args.device.display(),
                            if m.is_dir() {
                                "a directory"
                            } else {
                                "not a character device"
                            }
                        ),
                    ));
                }
            }
            let w = Watcher::open_path(&args.device)?;
            // Non-blocking: poll() decides when to read, so signals and the
            // flush timer are served.
            // SAFETY: fcntl on a descriptor we own, no pointers.
            unsafe {
                let fl = libc::fcntl(w.as_fd().as_raw_fd(), libc::F_GETFL);
                libc::fcntl(w.as_fd().as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
            }
            Source::Device(w)
        }
    };
    if !live && (!specs.is_empty() || args.load_above.is_some()) {
        return Err(Fail(
            2,
            anyhow!(
                "--watch and --load-above need the device; they cannot be used with --from-raw"
            ),
        ));
    }

    refuse_overwriting_inputs(args).map_err(|e| Fail(2, e))?;
    check_kallsyms_kernel(args).map_err(|e| Fail(2, e))?;
    if let Some(d) = args.sysroot.as_ref().filter(|d| !d.is_dir()) {
        warnings.push(format!(
            "--sysroot {} is not a directory: no binaries will be found there",
            d.display()
        ));
    }
    let file = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let written = Arc::new(AtomicU64::new(0));
    let out = Counting {
        inner: BufWriter::with_capacity(1 << 20, file),
        bytes: written.clone(),
    };
    let mut opts = WriterOptions::default();
    if args.compress_samples {
        opts.sample_compression = Compression::Zstd(3);
    }
    let writer = Writer::with_options(out, opts).context("starting the capture file")?;
    let host = Host::new(live, !args.no_embed_symbols, args.sysroot.clone());
    let mut conv = Converter::new(
        writer,
        base_meta(args, live),
        Box::new(host),
        args.verbose > 0,
        ustack::UserStacks::new(args.keep_raw_stacks),
    );
    conv.write_meta()?;
    let ksyms = if live {
        Some(PathBuf::from("/proc/kallsyms"))
    } else {
        args.kallsyms.clone()
    };
    if let Some(p) = ksyms {
        add_kallsyms(&mut conv, &p, &mut warnings)?;
    }

    if let Source::Device(w) = &source {
        let mut all = Vec::new();
        for a in &specs {
            all.push(watches::to_spec(a, args.interval).map_err(|e| Fail(6, e))?);
        }
        if let Some(l) = args.load_above {
            all.push(watches::load_spec(l, args.interval).map_err(|e| Fail(6, e))?);
        }
        for spec in &all {
            let id = w.register(spec).map_err(|e| {
                let code = match e {
                    WatchError::PermissionDenied { .. } => 4,
                    _ => 6,
                };
                Fail(
                    code,
                    anyhow!(e).context(format!("registering watch `{}`", spec.name)),
                )
            })?;
            conv.add_own_watch(id.0, &spec.to_req()?)?;
            if args.verbose > 0 {
                eprintln!("vmon-capture: watching {} (id {})", spec.name, id.0);
            }
        }
    }
    conv.flush()?;
    for w in warnings.drain(..) {
        if !args.quiet {
            eprintln!("vmon-capture: warning: {w}");
        }
    }

    let mut dump = match &args.dump_raw {
        Some(p) => Some(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };

    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
        b
    });

    const READ: usize = 4 << 20;
    /// A read smaller than this was a trickle: wait BATCH_WAIT before the
    /// next poll.
    const BATCH_BYTES: usize = 256 << 10;
    const BATCH_WAIT: Duration = Duration::from_millis(10);

    let mut buf = vec![0u8; READ];
    // buf[..have]: the start of a record the last read cut, kept in place
    // so the next read lands right after it (no copy of whole reads).
    let mut have = 0usize;
    let mut last_read = 0usize;
    let mut stream_off: u64 = 0;
    let mut last_flush = Instant::now();
    let mut last_status = Instant::now();
    let mut status_samples = 0u64;
    let mut eof = false;

    // A panic (a bug) must not lose what was converted since the last
    // flush: it is caught below and the file is finished like on an error.
    let result: Result<String> = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        loop {
            if let Some(r) = stop_reason(args, &conv, started, written.load(Ordering::Relaxed)) {
                return Ok(r);
            }
            if buf.len() < have + READ {
                // Only a record longer than a read makes it grow; bounded
                // by MAX_RECORD_LEN below.
                buf.resize(have + READ, 0);
            }
            let n = match &mut source {
                Source::Device(w) => {
                    if (1..BATCH_BYTES).contains(&last_read) {
                        // The module wakes the reader for every record: after
                        // a small read, let records gather (the ring holds
                        // seconds of them) instead of paying a poll and a
                        // read per record.
                        std::thread::sleep(BATCH_WAIT);
                    }
                    let mut pfd = libc::pollfd {
                        fd: w.as_fd().as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one pollfd, owned, valid for the call.
                    let rc = unsafe { libc::poll(&mut pfd, 1, 200) };
                    if rc <= 0 {
                        0 // timeout or EINTR: check stop conditions, flush
                    } else {
                        match w.read(&mut buf[have..have + READ]) {
                            Ok(n) => n,
                            Err(WatchError::Io { source, .. })
                                if source.kind() == std::io::ErrorKind::WouldBlock =>
                            {
                                0
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                Source::Raw(f) => {
                    // A FIFO can stay open with nothing to read: poll so
                    // --duration, signals and the status line are served.
                    let mut pfd = libc::pollfd {
                        fd: f.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one pollfd, owned, valid for the call.
                    let rc = unsafe { libc::poll(&mut pfd, 1, 200) };
                    if rc <= 0 {
                        0
                    } else {
                        match f.read(&mut buf[have..have + READ]) {
                            Ok(0) => {
                                eof = true;
                                0
                            }
                            Ok(n) => n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                            Err(e) => return Err(anyhow!(e).context("reading the raw stream")),
                        }
                    }
                }
            };
            last_read = n;
            if n > 0 {
                if let Some(d) = &mut dump {
                    d.write_all(&buf[have..have + n])
                        .context("writing --dump-raw")?;
                }
                let end = have + n;
                let used = feed(&mut conv, &buf[..end], stream_off)?;
                stream_off += used as u64;
                buf.copy_within(used..end, 0);
                have = end - used;
                if have > MAX_RECORD_LEN as usize {
                    // Cannot happen with valid headers; keeps memory bounded.
                    conv.own_loss(1, format!("dropped {have} unparsable bytes"));
                    stream_off += have as u64;
                    have = 0;
                }
            }
            let breach_done = conv.take_completed() > 0;
            if breach_done || last_flush.elapsed() >= Duration::from_secs(1) {
                conv.flush()?;
                if let Some(d) = &mut dump {
                    d.flush().context("writing --dump-raw")?;
                }
                last_flush = Instant::now();
            }
            if let Some(b) = &bar {
                let dt = last_status.elapsed();
                if dt >= Duration::from_millis(250) {
                    let s = &conv.stats;
                    let rate = (s.samples - status_samples) as f64 / dt.as_secs_f64();
                    b.set_message(format!(
                        "{} breaches | {:.0} samples/s | {} | {} dropped",
                        s.breaches,
                        rate,
                        human(written.load(Ordering::Relaxed)),
                        s.kernel_lost.saturating_add(s.own_lost)
                    ));
                    b.tick();
                    status_samples = s.samples;
                    last_status = Instant::now();
                }
            }
            if eof {
                drain_tail(&mut conv, &mut buf, &mut have, &mut stream_off)?;
                return Ok("end of input".into());
            }
        }
    }))
    .unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(anyhow!(
            "internal error (a bug in vmon-capture, please report it): {what}"
        ))
    });

    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let reason = match result {
        Ok(r) => r,
        Err(e) if is_enospc(&e) => {
            // Whatever was flushed is readable; try to close the file
            // properly, which may fail for the same reason.
            let _ = conv.finish();
            return Err(Fail(
                5,
                e.context(format!(
                    "disk full: capture stopped; {} holds everything up to the last flush \
                     (it opens with vmon-analyze); free space and capture again",
                    args.output.display()
                )),
            ));
        }
        Err(e) => {
            // Keep what was converted: finish the file (best effort; it
            // may fail for the same reason) before reporting the error.
            let r = conv.finish();
            let e = match r {
                Ok(_) => e.context(format!(
                    "capture stopped; {} holds everything converted before the error",
                    args.output.display()
                )),
                Err(_) => e,
            };
            return Err(e.into());
        }
    };
    if have > 0 {
        conv.own_loss(
            1,
            format!(
                "the stream ended inside a record at offset {stream_off} ({} bytes): the last \
                 record was truncated",
                have
            ),
        );
    }
    if live && !conv.hello_seen() {
        warnings.push("the device sent no HELLO record: module settings are unknown".into());
    }
    if let Some(mut d) = dump {
        d.flush().context("writing --dump-raw")?;
    }
    warnings.extend(conv.take_warnings());
    if !args.quiet {
        for w in &warnings {
            eprintln!("vmon-capture: warning: {w}");
        }
    }
    let ustats = conv.ustacks.stats.clone();
    let (out, stats, losses) = match conv.finish() {
        Ok(v) => v,
        Err(e) if is_enospc(&e) => {
            return Err(Fail(
                5,
                e.context(format!(
                    "disk full while finishing: {} holds everything up to the last flush",
                    args.output.display()
                )),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    drop(out);
    if !live && args.kallsyms.is_some() && !args.quiet {
        if let Some(w) = kallsyms_plausibility(&args.output) {
            eprintln!("vmon-capture: warning: {w}");
        }
    }
    let bytes = written.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    if !args.quiet {
        if args.verbose > 0 {
            for n in &losses.notes {
                eprintln!("vmon-capture: loss: {n}");
            }
        }
        eprintln!(
            "vmon-capture: {} breaches, {} task samples, {} records, {} to {}, dropped {} \
             (kernel {}, capture {}), {:.1} s, cpu {:.2} s ({reason})",
            stats.breaches,
            stats.samples,
            stats.records,
            human(bytes),
            args.output.display(),
            stats.kernel_lost.saturating_add(stats.own_lost),
            stats.kernel_lost,
            stats.own_lost,
            elapsed.as_secs_f64(),
            cpu.as_secs_f64(),
        );
        let u = &ustats;
        eprintln!(
            "vmon-capture: user stacks: {} unwound with CFI, {} CFI + frame pointers, {} frame \
             pointers only; {} reached the thread's root, {} stopped short{}",
            u.cfi,
            u.hybrid,
            u.frame_pointer,
            u.root,
            u.cut,
            if u.raw_kept_unwound_later > 0 {
                format!(
                    "; {} raw windows kept for the analyzer (binaries not readable here)",
                    u.raw_kept_unwound_later
                )
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
