//! One capture run: open the source and the file, register the watches,
//! drain and convert until a stop condition, finish the file.

use crate::checks;
use crate::context::{self, Host};
use crate::convert::{Converter, Stats};
use crate::exit::{is_enospc, Exit, Failure, DISK_FULL};
use crate::launch::Launched;
use crate::source::{Chunk, Input, Next, Reader, Source};
use crate::system::{self, SystemTriggers};
use crate::ustack::{UserStacks, UstackStats};
use crate::watches;
use anyhow::{anyhow, Context as _, Result};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vmon_format::{self as vf, Compression, Writer, WriterOptions};
use vmon_kabi::records::{find_next_record, parse_record, MAX_RECORD_LEN};
use vmon_kabi::WatchError;

/// What to capture, where to, and when to stop.
#[derive(Clone, Debug)]
pub struct Options {
    pub output: PathBuf,
    pub input: Input,
    pub duration: Option<Duration>,
    pub breaches: Option<u64>,
    pub max_size: Option<u64>,
    /// `--watch` specs, parsed by [`watches::parse_watch`].
    pub watches: Vec<String>,
    pub load_above: Option<f64>,
    /// `--psi` specs, parsed by [`system::parse_psi`].
    pub psi: Vec<String>,
    /// `--hung-task`: dump when a task stays in D this long.
    pub hung_task: Option<Duration>,
    pub interval: Option<Duration>,
    pub embed_symbols: bool,
    pub keep_raw_stacks: bool,
    pub compress_samples: bool,
    pub dump_raw: Option<PathBuf>,
    pub kallsyms: Option<PathBuf>,
    pub sysroot: Option<PathBuf>,
    /// No status line, no warnings.
    pub quiet: bool,
    /// Each breach, each watch registered.
    pub verbose: bool,
    /// Recorded in the file's metadata.
    pub command_line: String,
    /// `-- PROGRAM ARGS`: start it, watch it, capture until it exits.
    pub program: Vec<String>,
}

impl Options {
    /// The raw stream converted, if not the device.
    pub fn from_raw(&self) -> Option<&PathBuf> {
        match &self.input {
            Input::Raw(p) => Some(p),
            Input::Device(_) => None,
        }
    }

    fn live(&self) -> bool {
        matches!(self.input, Input::Device(_))
    }
}

/// Why the capture stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The stop flag was set (a signal).
    Requested,
    Duration,
    Breaches,
    MaxSize,
    EndOfInput,
    /// The program started with `--` exited.
    ProgramExited,
}

/// The outcome of a finished run.
pub struct Report {
    pub stop: Stop,
    pub stats: Stats,
    pub losses: vf::Losses,
    pub user_stacks: UstackStats,
    /// Bytes written to the file.
    pub bytes: u64,
    pub elapsed: Duration,
    /// CPU time of this process over the run.
    pub cpu: Duration,
    /// How the program started with `--` ended.
    pub program: Option<std::process::ExitStatus>,
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
type Conv = Converter<Out>;

/// Runs one capture; `stop` ends it (set it from a signal handler).
pub fn run(opts: &Options, stop: &AtomicBool) -> Result<Report, Failure> {
    let started = Instant::now();
    let cpu0 = cpu_time();
    let mut warnings: Vec<String> = Vec::new();

    // The command line first (exit 2, as documented), even where the
    // module is missing.
    let mut specs = Vec::new();
    for s in &opts.watches {
        specs.push(watches::parse_watch(s).map_err(Failure::usage)?);
    }
    // The source before the output: a missing module should not leave an
    // empty file behind.
    if opts.program.is_empty() && specs.iter().any(|w| w.pid() == watches::PROGRAM_PID) {
        return Err(Failure::usage(anyhow!(
            "a --watch without PID watches the program started after --: add `-- PROGRAM \
             ARGS...`, or give the PID (PID:SYMBOL>THRESHOLD)"
        )));
    }
    let mut psi = Vec::new();
    for s in &opts.psi {
        psi.push(system::parse_psi(s).map_err(|e| Failure::usage(anyhow!(e)))?);
    }
    if let Some(t) = opts.hung_task {
        system::check_hung(t).map_err(|e| Failure::usage(anyhow!(e)))?;
    }
    let source = Source::open(&opts.input)?;
    let watching = !specs.is_empty() || opts.load_above.is_some() || !opts.program.is_empty();
    if !opts.live() && (watching || !psi.is_empty() || opts.hung_task.is_some()) {
        return Err(Failure::usage(anyhow!(
            "--watch, --load-above, --psi, --hung-task and -- PROGRAM need the device; they \
             cannot be used with --from-raw"
        )));
    }
    let mut triggers = SystemTriggers::arm(&psi, opts.hung_task, opts.interval)?;
    checks::refuse_overwriting_inputs(opts).map_err(Failure::usage)?;
    checks::check_kallsyms_kernel(opts).map_err(Failure::usage)?;
    if let Some(d) = opts.sysroot.as_ref().filter(|d| !d.is_dir()) {
        warnings.push(format!(
            "--sysroot {} is not a directory: no binaries will be found there",
            d.display()
        ));
    }
    let written = Arc::new(AtomicU64::new(0));
    let mut conv = start_file(opts, &written, &mut warnings)?;
    let mut program = match opts.program.is_empty() {
        true => None,
        false => Some(Launched::start(&opts.program)?),
    };
    if let Some(p) = &program {
        specs = specs.into_iter().map(|w| w.in_program(p.pid())).collect();
    }
    if let Some(w) = source.watcher() {
        register_watches(w, &mut conv, opts, &specs, triggers.watch_specs())?;
    }
    conv.flush()?;
    if let Some(p) = &mut program {
        p.resume()?;
    }
    print_warnings(opts, warnings.drain(..));

    let mut dump = match &opts.dump_raw {
        Some(p) => Some(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let reader_stop = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        let reader = Reader::spawn(scope, &source, &reader_stop);
        if !triggers.is_empty() {
            let quiet = opts.quiet;
            let trigger_stop = &reader_stop;
            let t = &mut triggers;
            let spawned = std::thread::Builder::new()
                .name("vmon-triggers".into())
                .spawn_scoped(scope, move || {
                    t.run(trigger_stop, &|line| {
                        if !quiet {
                            eprintln!("vmon-capture: {line}");
                        }
                    })
                });
            if let Err(e) = spawned {
                reader_stop.store(true, Ordering::SeqCst);
                return Err(anyhow!(e).context("starting the trigger thread"));
            }
        }
        let mut drain = Drain {
            opts,
            stop,
            program: program.as_mut(),
            started,
            written: &written,
            conv: &mut conv,
            dump: dump.as_mut(),
            pending: Vec::new(),
            stream_off: 0,
        };
        // A panic (a bug) must not lose what was converted since the last
        // flush: it is caught and the file is finished like on an error.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drain.run(&reader, &reader_stop)
        }))
        .unwrap_or_else(|p| {
            Err(anyhow!(
                "internal error (a bug in vmon-capture, please report it): {}",
                panic_text(&*p)
            ))
        });
        reader_stop.store(true, Ordering::SeqCst);
        drop(reader);
        r
    });
    // A program still running when the capture stops is ended, as perf does.
    let program_status = program.as_mut().and_then(Launched::end);
    let stop_reason = match result {
        Ok(s) => s,
        Err(e) => return Err(keep_what_was_converted(conv, e, opts)),
    };
    if live_without_hello(opts, &conv) {
        warnings.push("the device sent no HELLO record: module settings are unknown".into());
    }
    if let Some(mut d) = dump {
        d.flush().context("writing --dump-raw")?;
    }
    warnings.extend(conv.take_warnings());
    print_warnings(opts, warnings.drain(..));
    let user_stacks = conv.ustacks.stats.clone();
    let (out, stats, losses) = conv.finish().map_err(|e| {
        if is_enospc(&e) {
            Failure::new(
                Exit::DiskFull,
                e.context(format!(
                    "{DISK_FULL} ({} is readable up to there)",
                    opts.output.display()
                )),
            )
        } else {
            Failure::from(e)
        }
    })?;
    drop(out);
    if opts.from_raw().is_some() && opts.kallsyms.is_some() {
        print_warnings(
            opts,
            checks::kallsyms_plausibility(&opts.output).into_iter(),
        );
    }
    Ok(Report {
        stop: stop_reason,
        stats,
        losses,
        user_stacks,
        bytes: written.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        cpu: cpu_time().saturating_sub(cpu0),
        program: program_status,
    })
}

fn print_warnings(opts: &Options, w: impl Iterator<Item = String>) {
    for w in w {
        if !opts.quiet {
            eprintln!("vmon-capture: warning: {w}");
        }
    }
}

fn live_without_hello(opts: &Options, conv: &Conv) -> bool {
    opts.live() && !conv.hello_seen()
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// The error of a run that stopped early, after finishing the file with
/// what was converted (best effort: it may fail for the same reason).
fn keep_what_was_converted(conv: Conv, e: anyhow::Error, opts: &Options) -> Failure {
    let finished = conv.finish().is_ok();
    if is_enospc(&e) {
        return Failure::new(
            Exit::DiskFull,
            e.context(format!(
                "{DISK_FULL} ({} opens with vmon-analyze); free space and capture again",
                opts.output.display()
            )),
        );
    }
    if finished {
        Failure::from(e.context(format!(
            "capture stopped; {} holds everything converted before the error",
            opts.output.display()
        )))
    } else {
        Failure::from(e)
    }
}

fn base_meta(opts: &Options) -> vf::Meta {
    let mut m = vf::Meta {
        tool: format!("vmon-capture {}", env!("CARGO_PKG_VERSION")),
        clock: vf::Clock::Boottime,
        ..Default::default()
    };
    m.extra.push(("command".into(), opts.command_line.clone()));
    match &opts.input {
        Input::Device(dev) => {
            m.kernel_release = context::read_trimmed("/proc/sys/kernel/osrelease");
            m.hostname = context::read_trimmed("/proc/sys/kernel/hostname");
            m.boot_id = context::read_trimmed("/proc/sys/kernel/random/boot_id");
            m.kernel_build_id = std::fs::read("/sys/kernel/notes")
                .ok()
                .and_then(|b| context::parse_kernel_notes(&b))
                .unwrap_or_default();
            m.extra.push(("source".into(), dev.display().to_string()));
        }
        Input::Raw(p) => m
            .extra
            .push(("source".into(), format!("raw:{}", p.display()))),
    }
    m
}

/// Creates the file, writes its metadata and the kernel's symbols.
fn start_file(
    opts: &Options,
    written: &Arc<AtomicU64>,
    warnings: &mut Vec<String>,
) -> Result<Conv> {
    let file = File::create(&opts.output)
        .with_context(|| format!("creating {}", opts.output.display()))?;
    let out = Counting {
        inner: BufWriter::with_capacity(1 << 20, file),
        bytes: written.clone(),
    };
    let mut wopts = WriterOptions::default();
    if opts.compress_samples {
        wopts.sample_compression = Compression::Zstd(3);
    }
    let writer = Writer::with_options(out, wopts).context("starting the capture file")?;
    let host = Host::new(opts.live(), opts.embed_symbols, opts.sysroot.clone());
    let mut conv = Converter::new(
        writer,
        base_meta(opts),
        Box::new(host),
        opts.verbose,
        UserStacks::new(opts.keep_raw_stacks),
    );
    conv.write_meta()?;
    let ksyms = match &opts.input {
        Input::Device(_) => Some(PathBuf::from("/proc/kallsyms")),
        Input::Raw(_) => opts.kallsyms.clone(),
    };
    if let Some(p) = ksyms {
        add_kallsyms(&mut conv, &p, warnings)?;
    }
    Ok(conv)
}

fn add_kallsyms(conv: &mut Conv, path: &std::path::Path, warn: &mut Vec<String>) -> Result<()> {
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
    conv.add_kernel_symbols(syms)
}

fn register_watches(
    w: &vmon_kabi::Watcher,
    conv: &mut Conv,
    opts: &Options,
    specs: &[watches::WatchArg],
    system: Vec<vmon_kabi::WatchSpec>,
) -> Result<(), Failure> {
    let mut all = Vec::new();
    for a in specs {
        all.push(
            watches::to_spec(a, opts.interval).map_err(|e| Failure::new(Exit::WatchRejected, e))?,
        );
    }
    if let Some(l) = opts.load_above {
        all.push(
            watches::load_spec(l, opts.interval)
                .map_err(|e| Failure::new(Exit::WatchRejected, e))?,
        );
    }
    all.extend(system);
    for spec in &all {
        let id = w.register(spec).map_err(|e| {
            let exit = match e {
                WatchError::PermissionDenied { .. } => Exit::PermissionDenied,
                _ => Exit::WatchRejected,
            };
            Failure::new(
                exit,
                anyhow!(e).context(format!("registering watch `{}`", spec.name)),
            )
        })?;
        conv.add_own_watch(id.0, &spec.to_req()?)?;
        if opts.verbose {
            eprintln!("vmon-capture: watching {} (id {})", spec.name, id.0);
        }
    }
    Ok(())
}

/// The converting side of the run: chunks from the reader into records.
struct Drain<'a> {
    opts: &'a Options,
    stop: &'a AtomicBool,
    program: Option<&'a mut Launched>,
    started: Instant,
    written: &'a AtomicU64,
    conv: &'a mut Conv,
    dump: Option<&'a mut BufWriter<File>>,
    /// The start of a record a read cut, waiting for the rest.
    pending: Vec<u8>,
    stream_off: u64,
}

impl Drain<'_> {
    fn run(&mut self, reader: &Reader, reader_stop: &AtomicBool) -> Result<Stop> {
        let bar = (!self.opts.quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
            b
        });
        let mut status = Status::new();
        let mut last_flush = Instant::now();
        let stop = loop {
            if let Some(s) = self.stop_condition() {
                break s;
            }
            match reader.next(Duration::from_millis(200)) {
                Next::Chunk(Chunk::Bytes { buf, len }) => {
                    self.take(&buf[..len])?;
                    reader.recycle(buf);
                }
                Next::Chunk(Chunk::End) | Next::Done => {
                    self.end_of_stream()?;
                    break Stop::EndOfInput;
                }
                Next::Chunk(Chunk::Failed(e)) => return Err(e),
                Next::Idle => {}
            }
            if self.conv.take_completed() > 0 || last_flush.elapsed() >= Duration::from_secs(1) {
                self.flush()?;
                last_flush = Instant::now();
            }
            if let Some(b) = &bar {
                status.show(b, &self.conv.stats, self.written.load(Ordering::Relaxed));
            }
        };
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        if stop == Stop::ProgramExited {
            // Its last breach's dump may still be on its way: read on until
            // the device has been quiet for a poll.
            while let Next::Chunk(Chunk::Bytes { buf, len }) =
                reader.next(Duration::from_millis(300))
            {
                self.take(&buf[..len])?;
                reader.recycle(buf);
            }
        }
        // What was read before a signal or --duration is part of the
        // capture: convert the queue (the reader stops within one poll).
        // At a limit (--breaches, --max-size), only finish the event begun.
        if stop != Stop::EndOfInput {
            reader_stop.store(true, Ordering::SeqCst);
            let whole_queue = matches!(stop, Stop::Requested | Stop::Duration);
            while whole_queue || self.conv.in_event() {
                match reader.next(Duration::from_millis(500)) {
                    Next::Chunk(Chunk::Bytes { buf, len }) if whole_queue => {
                        self.take(&buf[..len])?
                    }
                    // a read holds the next events too: up to this one's end only
                    Next::Chunk(Chunk::Bytes { buf, len }) => {
                        self.take_to_event_end(&buf[..len])?
                    }
                    _ => break,
                }
            }
        }
        if !self.pending.is_empty() {
            self.conv.own_loss(
                1,
                format!(
                    "the stream ended inside a record at offset {} ({} bytes): the last record \
                     was truncated",
                    self.stream_off,
                    self.pending.len()
                ),
            );
        }
        Ok(stop)
    }

    fn stop_condition(&mut self) -> Option<Stop> {
        let o = self.opts;
        if self.stop.load(Ordering::SeqCst) {
            Some(Stop::Requested)
        } else if self.program.as_mut().is_some_and(|p| p.exited().is_some()) {
            Some(Stop::ProgramExited)
        } else if o.duration.is_some_and(|d| self.started.elapsed() >= d) {
            Some(Stop::Duration)
        } else if o.breaches.is_some_and(|n| self.conv.stats.breaches >= n) {
            Some(Stop::Breaches)
        } else if o
            .max_size
            .is_some_and(|m| self.written.load(Ordering::Relaxed) >= m)
        {
            Some(Stop::MaxSize)
        } else {
            None
        }
    }

    fn flush(&mut self) -> Result<()> {
        self.conv.flush()?;
        if let Some(d) = &mut self.dump {
            d.flush().context("writing --dump-raw")?;
        }
        Ok(())
    }

    /// Converts the whole records of `bytes` (after what a previous read
    /// left), keeping a cut record's start for the next.
    fn take(&mut self, bytes: &[u8]) -> Result<()> {
        if let Some(d) = &mut self.dump {
            d.write_all(bytes).context("writing --dump-raw")?;
        }
        let used = if self.pending.is_empty() {
            let used = feed(self.conv, bytes, self.stream_off)?;
            self.pending.extend_from_slice(&bytes[used..]);
            used
        } else {
            self.pending.extend_from_slice(bytes);
            let used = feed(self.conv, &self.pending, self.stream_off)?;
            self.pending.drain(..used);
            used
        };
        self.stream_off += used as u64;
        if self.pending.len() > MAX_RECORD_LEN as usize {
            // Cannot happen with valid headers; keeps memory bounded.
            let n = self.pending.len();
            self.conv
                .own_loss(1, format!("dropped {n} unparsable bytes"));
            self.stream_off += n as u64;
            self.pending.clear();
        }
        Ok(())
    }

    /// Like [`Drain::take`], but converts only up to the end of the event in
    /// progress and drops the rest: what follows a limit is not captured.
    fn take_to_event_end(&mut self, bytes: &[u8]) -> Result<()> {
        self.pending.extend_from_slice(bytes);
        let mut pos = 0;
        while self.conv.in_event() {
            match parse_record(&self.pending[pos..], self.stream_off + pos as u64) {
                Ok(r) => {
                    self.conv.record(&r)?;
                    pos += r.hdr.len as usize;
                }
                Err(e) if e.is_truncation() => {
                    // the record's rest is in the next read
                    self.pending.drain(..pos);
                    self.stream_off += pos as u64;
                    return Ok(());
                }
                Err(_) => break, // a corrupt record: the event ends here
            }
        }
        self.stream_off += pos as u64;
        self.pending.clear();
        Ok(())
    }

    /// At the end of the input, bytes that begin a record longer than what
    /// is left: a corrupt `len` (or a cut tail). Skip that record's start and
    /// resynchronise on the next record magic, so one bad length does not
    /// lose the rest of the stream; each skip is counted as one lost record.
    fn end_of_stream(&mut self) -> Result<()> {
        while !self.pending.is_empty() {
            let have = self.pending.len();
            let off = self.stream_off;
            let Some(skip) = find_next_record(&self.pending, 0) else {
                self.conv.own_loss(
                    1,
                    format!(
                        "the stream ended inside a record at offset {off} ({have} bytes): the \
                         last record was truncated"
                    ),
                );
                self.stream_off += have as u64;
                self.pending.clear();
                return Ok(());
            };
            let claimed = parse_record(&self.pending, off)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            self.conv.skipped_record(format!(
                "skipped {skip} bytes at offset {off}: a record claims more bytes than the \
                 stream holds ({claimed}); resynchronised on the next record"
            ));
            let used = skip + feed(self.conv, &self.pending[skip..], off + skip as u64)?;
            self.stream_off += used as u64;
            self.pending.drain(..used);
        }
        Ok(())
    }
}

/// The status line's rate, between two updates.
struct Status {
    at: Instant,
    samples: u64,
}

impl Status {
    fn new() -> Status {
        Status {
            at: Instant::now(),
            samples: 0,
        }
    }

    fn show(&mut self, bar: &indicatif::ProgressBar, s: &Stats, written: u64) {
        let dt = self.at.elapsed();
        if dt < Duration::from_millis(250) {
            return;
        }
        let rate = (s.samples - self.samples) as f64 / dt.as_secs_f64();
        bar.set_message(format!(
            "{} breaches | {:.0} samples/s | {} | {} dropped",
            s.breaches,
            rate,
            human(written),
            s.kernel_lost.saturating_add(s.own_lost)
        ));
        bar.tick();
        self.samples = s.samples;
        self.at = Instant::now();
    }
}

/// Parses whole records from `data` (stream offset `base`) into `conv`;
/// returns how many bytes were consumed. An incomplete record at the end is
/// left for the next read; garbage is skipped and counted.
fn feed(conv: &mut Conv, data: &[u8], base: u64) -> Result<usize> {
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

/// `b` bytes for people: "512 B", "1.5 MiB".
pub fn human(b: u64) -> String {
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
