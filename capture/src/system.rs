//! System triggers: a dump started by the kernel's pressure stall
//! information (PSI) or by a task stuck in D, with no variable to watch.
//!
//! Both are seen here and handed to the module through the watch machinery
//! it already has: each trigger owns an 8-byte cell in this process, watched
//! `> 0` like any variable of the caller. When the trigger fires, the cell
//! holds a value for a hold time of several ticks, so the module's next tick
//! breaches and dumps exactly as for a variable (same cooldown, rate limits
//! and per-user quotas); then it is cleared. The module cannot do this
//! itself: PSI triggers are a user API (a pollable fd per trigger, what
//! systemd-oomd uses), and a hung task is what the kernel's khungtaskd finds
//! from facts /proc shows (the state, and the context-switch counts that do
//! not move while the task waits).

use crate::context::parse_stat;
use crate::exit::{Exit, Failure};
use anyhow::anyhow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};
use vmon_kabi::{Threshold, Trigger, WatchSpec};

/// The polling interval of the cells when `--interval` is not given.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(10);
/// The kernel's longest PSI window (`WINDOW_MAX_US`).
const PSI_WINDOW_MAX: Duration = Duration::from_secs(10);
/// Shortest and longest `--hung-task` time.
const HUNG_MIN: Duration = Duration::from_secs(1);
const HUNG_MAX: Duration = Duration::from_secs(3600);
/// How long the trigger thread sleeps at most, so that a stop is seen.
const WAKE: Duration = Duration::from_millis(200);
/// Where the kernel's PSI files are.
const PSI_DIR: &str = "/proc/pressure";

/// A resource of `/proc/pressure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Cpu,
    Memory,
    Io,
    Irq,
}

impl Resource {
    fn file(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::Io => "io",
            Resource::Irq => "irq",
        }
    }
}

/// Which PSI line: some task stalled, or all non-idle tasks at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
    Some,
    Full,
}

impl Stall {
    fn word(self) -> &'static str {
        match self {
            Stall::Some => "some",
            Stall::Full => "full",
        }
    }
}

/// `--psi 'memory some 150ms 1s'`: fire when tasks stalled on the resource
/// for `threshold` in total within a moving `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsiSpec {
    pub resource: Resource,
    pub stall: Stall,
    pub threshold: Duration,
    pub window: Duration,
}

impl PsiSpec {
    /// The watch's name (at most 15 bytes): `psi:memory:some`.
    pub fn name(&self) -> String {
        format!("psi:{}:{}", self.resource.file(), self.stall.word())
    }

    /// What is written to `/proc/pressure/RESOURCE` (microseconds, NUL
    /// included: the kernel overwrites the last byte written with one).
    fn trigger_text(&self) -> String {
        format!(
            "{} {} {}\0",
            self.stall.word(),
            self.threshold.as_micros(),
            self.window.as_micros()
        )
    }
}

/// Parses `RESOURCE some|full STALL WINDOW`, e.g. `memory some 150ms 1s`.
pub fn parse_psi(s: &str) -> Result<PsiSpec, String> {
    let usage = "give RESOURCE some|full STALL WINDOW, e.g. --psi 'memory some 150ms 1s' \
                 (RESOURCE: cpu, memory, io, irq)";
    let words: Vec<&str> = s.split_whitespace().collect();
    let [resource, stall, threshold, window] = words[..] else {
        return Err(format!("--psi `{}`: {usage}", s.escape_debug()));
    };
    let resource = match resource {
        "cpu" => Resource::Cpu,
        "memory" | "mem" => Resource::Memory,
        "io" => Resource::Io,
        "irq" => Resource::Irq,
        _ => {
            return Err(format!(
                "--psi: unknown resource `{}`; {usage}",
                resource.escape_debug()
            ))
        }
    };
    let stall = match stall {
        "some" => Stall::Some,
        "full" => Stall::Full,
        _ => {
            return Err(format!(
                "--psi: `{}` is not some or full; {usage}",
                stall.escape_debug()
            ))
        }
    };
    let threshold = crate::watches::parse_duration(threshold).map_err(|e| format!("--psi: {e}"))?;
    let window = crate::watches::parse_duration(window).map_err(|e| format!("--psi: {e}"))?;
    if threshold.is_zero() || threshold > window {
        return Err(format!(
            "--psi `{}`: the stall time must be above 0 and at most the window",
            s.escape_debug()
        ));
    }
    if window > PSI_WINDOW_MAX {
        return Err(format!(
            "--psi `{}`: the kernel's longest window is 10s",
            s.escape_debug()
        ));
    }
    Ok(PsiSpec {
        resource,
        stall,
        threshold,
        window,
    })
}

/// Checks a `--hung-task` time.
pub fn check_hung(after: Duration) -> Result<Duration, String> {
    if !(HUNG_MIN..=HUNG_MAX).contains(&after) {
        return Err(format!(
            "--hung-task {after:?}: give a time from 1s to 1h, e.g. --hung-task 10s"
        ));
    }
    Ok(after)
}

/// The cell a watch polls. Leaked on purpose: the module may read it until
/// the device is closed, which happens after everything here is dropped.
struct Cell(&'static AtomicI64);

impl Cell {
    fn new() -> Cell {
        Cell(Box::leak(Box::new(AtomicI64::new(0))))
    }

    fn addr(&self) -> u64 {
        self.0 as *const AtomicI64 as u64
    }

    fn set(&self, v: i64) {
        self.0.store(v.max(1), Ordering::SeqCst);
    }

    fn clear(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

/// A cell that is set for a while, then cleared.
struct Held {
    cell: Cell,
    until: Option<Instant>,
}

impl Held {
    fn new() -> Held {
        Held {
            cell: Cell::new(),
            until: None,
        }
    }

    fn fire(&mut self, v: i64, hold: Duration) {
        self.cell.set(v);
        self.until = Some(Instant::now() + hold);
    }

    /// Clears the cell once its hold time is over; the time left otherwise.
    fn expire(&mut self, now: Instant) -> Option<Duration> {
        let until = self.until?;
        if now >= until {
            self.cell.clear();
            self.until = None;
            return None;
        }
        Some(until - now)
    }
}

struct PsiTrigger {
    spec: PsiSpec,
    /// The trigger: the pressure file, written once, then polled.
    fd: File,
    /// Stall total (µs) at the previous event, for the value of the next.
    last_total: Option<u64>,
    held: Held,
}

struct HungTrigger {
    after: Duration,
    proc_root: PathBuf,
    seen: HashMap<i32, InD>,
    next_scan: Instant,
    held: Held,
}

/// A task found in D: since when, with which switch count.
pub(crate) struct InD {
    start: u64,
    switches: u64,
    since: Instant,
    reported: bool,
}

/// A task in D whose switch count did not move for the `--hung-task` time.
#[derive(Debug, PartialEq, Eq)]
pub struct HungTask {
    pub tgid: i32,
    pub tid: i32,
    pub comm: String,
    pub stuck: Duration,
}

/// The armed system triggers of one capture.
pub struct SystemTriggers {
    psi: Vec<PsiTrigger>,
    hung: Option<HungTrigger>,
    hold: Duration,
    interval: Duration,
}

impl SystemTriggers {
    /// Arms the PSI triggers (the kernel checks them now, so a refused one
    /// fails the run before anything is written) and the hung-task scan.
    pub fn arm(
        psi: &[PsiSpec],
        hung: Option<Duration>,
        interval: Option<Duration>,
    ) -> Result<SystemTriggers, Failure> {
        let interval = interval.unwrap_or(DEFAULT_INTERVAL);
        let mut armed = Vec::new();
        for spec in psi {
            armed.push(PsiTrigger {
                spec: *spec,
                fd: open_psi(Path::new(PSI_DIR), spec)?,
                last_total: read_total(Path::new(PSI_DIR), spec),
                held: Held::new(),
            });
        }
        Ok(SystemTriggers {
            psi: armed,
            hung: hung.map(|after| HungTrigger {
                after,
                proc_root: PathBuf::from("/proc"),
                seen: HashMap::new(),
                next_scan: Instant::now(),
                held: Held::new(),
            }),
            // Several ticks, and long enough for a tick delayed under load.
            hold: (interval * 10).clamp(Duration::from_millis(100), Duration::from_secs(1)),
            interval,
        })
    }

    /// No trigger armed.
    pub fn is_empty(&self) -> bool {
        self.psi.is_empty() && self.hung.is_none()
    }

    /// The watches that poll the cells.
    pub fn watch_specs(&self) -> Vec<WatchSpec> {
        let cell_watch = |name: String, cell: &Cell| WatchSpec {
            pid: 0,
            addr: cell.addr(),
            length: 8,
            unsigned: false,
            threshold: Threshold::Above(0),
            interval: Some(self.interval),
            name,
            ksym: None,
            trigger: Trigger::default(),
        };
        let mut v: Vec<WatchSpec> = self
            .psi
            .iter()
            .map(|p| cell_watch(p.spec.name(), &p.held.cell))
            .collect();
        if let Some(h) = &self.hung {
            v.push(cell_watch("hung-task".into(), &h.held.cell));
        }
        v
    }

    /// Waits for the triggers until `stop`; `say` gets one line per firing.
    pub fn run(&mut self, stop: &AtomicBool, say: &dyn Fn(String)) {
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let mut wait = WAKE;
            for p in &mut self.psi {
                if let Some(left) = p.held.expire(now) {
                    wait = wait.min(left);
                }
            }
            if let Some(h) = &mut self.hung {
                if let Some(left) = h.held.expire(now) {
                    wait = wait.min(left);
                }
                if now >= h.next_scan {
                    h.scan_and_fire(now, self.hold, say);
                }
                wait = wait.min(h.next_scan.saturating_duration_since(now));
            }
            self.poll_psi(wait, say);
        }
        for p in &mut self.psi {
            p.held.cell.clear();
        }
        if let Some(h) = &mut self.hung {
            h.held.cell.clear();
        }
    }

    fn poll_psi(&mut self, wait: Duration, say: &dyn Fn(String)) {
        if self.psi.is_empty() {
            std::thread::sleep(wait);
            return;
        }
        let mut fds: Vec<libc::pollfd> = self
            .psi
            .iter()
            .map(|p| libc::pollfd {
                fd: p.fd.as_raw_fd(),
                events: libc::POLLPRI,
                revents: 0,
            })
            .collect();
        let ms = wait.as_millis().clamp(1, WAKE.as_millis()) as libc::c_int;
        // SAFETY: fds is a live array of fds.len() pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n <= 0 {
            return; // timeout, or EINTR from a stop signal
        }
        let mut gone = Vec::new();
        for (i, fd) in fds.iter().enumerate() {
            if fd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
                gone.push(i);
            } else if fd.revents & libc::POLLPRI != 0 {
                let p = &mut self.psi[i];
                let total = read_total(Path::new(PSI_DIR), &p.spec);
                let stalled = match (p.last_total, total) {
                    (Some(a), Some(b)) => b.saturating_sub(a),
                    _ => p.spec.threshold.as_micros() as u64,
                };
                p.last_total = total.or(p.last_total);
                p.held
                    .fire(i64::try_from(stalled).unwrap_or(i64::MAX), self.hold);
                say(format!(
                    "{} fired ({:.1} ms stalled since the last event): dump requested",
                    p.spec.name(),
                    stalled as f64 / 1000.0
                ));
            }
        }
        for i in gone.into_iter().rev() {
            let p = self.psi.remove(i);
            p.held.cell.clear();
            say(format!(
                "{}: the kernel ended the PSI trigger (POLLERR); no more dumps from it",
                p.spec.name()
            ));
        }
    }
}

impl HungTrigger {
    fn scan_and_fire(&mut self, now: Instant, hold: Duration, say: &dyn Fn(String)) {
        let hung = scan_hung(&self.proc_root, &mut self.seen, self.after, now);
        // Like khungtaskd: look again after half the time, so a task is
        // reported between `after` and 1.5 x `after` after it stopped.
        self.next_scan =
            now + (self.after / 2).clamp(Duration::from_millis(500), Duration::from_secs(30));
        let Some(longest) = hung.iter().map(|h| h.stuck).max() else {
            return;
        };
        self.held.fire(longest.as_secs() as i64, hold);
        for h in &hung {
            say(format!(
                "hung task {} ({}) of process {} in D for {} s: dump requested",
                h.tid,
                h.comm.escape_debug(),
                h.tgid,
                h.stuck.as_secs()
            ));
        }
    }
}

/// Opens and arms one PSI trigger, with the error that says what to do.
fn open_psi(dir: &Path, spec: &PsiSpec) -> Result<File, Failure> {
    let path = dir.join(spec.resource.file());
    let refused = |what: String| Failure::new(Exit::WatchRejected, anyhow!(what));
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(refused(format!(
                "--psi: {} does not exist: this kernel has PSI off (Debian's kernels do \
                 unless booted with psi=1; others need CONFIG_PSI){}",
                path.display(),
                if spec.resource == Resource::Irq {
                    ", or no irq pressure (CONFIG_IRQ_TIME_ACCOUNTING, 6.1+)"
                } else {
                    ""
                }
            )))
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            return Err(Failure::new(
                Exit::PermissionDenied,
                anyhow!(
                    "--psi: cannot open {} for writing: before Linux 6.5 a PSI trigger needs \
                     root (CAP_SYS_RESOURCE); since 6.5 any user may with a window of a \
                     multiple of 2s",
                    path.display()
                ),
            ))
        }
        Err(e) => return Err(refused(format!("--psi: opening {}: {e}", path.display()))),
    };
    if let Err(e) = f.write_all(spec.trigger_text().as_bytes()) {
        let why = match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => {
                "a PSI trigger needs root (CAP_SYS_RESOURCE) before Linux 6.5; an \
                 unprivileged user may since 6.5 with a window of a multiple of 2s"
            }
            Some(libc::EINVAL) => {
                "the kernel refused the trigger: the window must be at most 10s (at least \
                 500ms before Linux 6.3), the stall at most the window, and an unprivileged \
                 user's window a multiple of 2s"
            }
            Some(libc::EBUSY) => "this file already holds a trigger",
            _ => "the kernel refused the trigger",
        };
        return Err(refused(format!(
            "--psi {} {}: {why} ({e})",
            spec.resource.file(),
            spec.trigger_text().trim_end_matches('\0')
        )));
    }
    Ok(f)
}

/// The `total=` µs of the spec's line in `/proc/pressure/RESOURCE`.
fn read_total(dir: &Path, spec: &PsiSpec) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join(spec.resource.file())).ok()?;
    parse_total(&text, spec.stall)
}

fn parse_total(text: &str, stall: Stall) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(stall.word()))?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("total="))?
        .parse()
        .ok()
}

/// One look at every thread under `proc_root`: updates `seen` (the tasks in
/// D now, and since when with the same switch count) and returns those
/// stuck for `after` that were not reported before.
pub(crate) fn scan_hung(
    proc_root: &Path,
    seen: &mut HashMap<i32, InD>,
    after: Duration,
    now: Instant,
) -> Vec<HungTask> {
    let mut in_d: HashMap<i32, InD> = HashMap::new();
    let mut hung = Vec::new();
    let Ok(procs) = std::fs::read_dir(proc_root) else {
        return hung;
    };
    for p in procs.flatten() {
        let Some(tgid) = numeric(&p.file_name()) else {
            continue;
        };
        let Ok(tasks) = std::fs::read_dir(p.path().join("task")) else {
            continue; // gone meanwhile
        };
        for t in tasks.flatten() {
            let Some(tid) = numeric(&t.file_name()) else {
                continue;
            };
            let Some(stat) = read_small(&t.path().join("stat")).and_then(|s| parse_stat(&s)) else {
                continue;
            };
            if stat.state != 'D' {
                continue;
            }
            let Some(switches) =
                read_small(&t.path().join("status")).and_then(|s| parse_switches(&s))
            else {
                continue;
            };
            let mut e = match seen.remove(&tid) {
                Some(old) if old.start == stat.start && old.switches == switches => old,
                _ => InD {
                    start: stat.start,
                    switches,
                    since: now,
                    reported: false,
                },
            };
            let stuck = now.saturating_duration_since(e.since);
            if stuck >= after && !e.reported {
                e.reported = true;
                hung.push(HungTask {
                    tgid,
                    tid,
                    comm: stat.comm,
                    stuck,
                });
            }
            in_d.insert(tid, e);
        }
    }
    // Only the tasks in D now are remembered: the map is bounded by them.
    *seen = in_d;
    hung.sort_by_key(|h| h.tid);
    hung
}

fn numeric(name: &std::ffi::OsStr) -> Option<i32> {
    let s = name.to_str()?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Reads a /proc file of a task, at most 4 KiB (stat and status are smaller).
fn read_small(path: &Path) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    File::open(path)
        .ok()?
        .take(4096)
        .read_to_end(&mut buf)
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn parse_switches(s: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        s.lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .parse()
            .ok()
    };
    Some(field("voluntary_ctxt_switches:")? + field("nonvoluntary_ctxt_switches:")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_specs_parse_and_refuse() {
        let p = parse_psi("memory some 150ms 1s").expect("valid");
        assert_eq!(p.resource, Resource::Memory);
        assert_eq!(p.stall, Stall::Some);
        assert_eq!(p.threshold, Duration::from_millis(150));
        assert_eq!(p.window, Duration::from_secs(1));
        assert_eq!(p.name(), "psi:memory:some");
        assert!(p.name().len() <= 15);
        assert_eq!(p.trigger_text(), "some 150000 1000000\0");
        assert_eq!(
            parse_psi(" cpu  full 1s 2s ").map(|p| p.name()),
            Ok("psi:cpu:full".into())
        );
        for bad in [
            "",
            "memory some 150ms",
            "memory some 150ms 1s extra",
            "disk some 1ms 1s",
            "memory most 1ms 1s",
            "memory some 0ms 1s",
            "memory some 2s 1s",
            "memory some 1s 11s",
            "memory some x 1s",
            "mem\u{1b}[31m some 1ms 1s",
        ] {
            let e = parse_psi(bad).expect_err(bad);
            assert!(e.contains("--psi"), "{e}");
            assert!(!e.contains('\u{1b}'), "escape printed raw: {e}");
        }
        for r in ["cpu", "memory", "io", "irq"] {
            for s in ["some", "full"] {
                let n = parse_psi(&format!("{r} {s} 1ms 1s")).expect("valid").name();
                assert!(n.len() <= 15, "{n}");
            }
        }
    }

    #[test]
    fn hung_times_are_bounded() {
        assert!(check_hung(Duration::from_secs(10)).is_ok());
        assert!(check_hung(Duration::from_millis(999)).is_err());
        assert!(check_hung(Duration::from_secs(3601)).is_err());
    }

    #[test]
    fn psi_totals_are_read_from_the_right_line() {
        let text = "some avg10=1.00 avg60=0.50 avg300=0.10 total=123456\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=789\n";
        assert_eq!(parse_total(text, Stall::Some), Some(123456));
        assert_eq!(parse_total(text, Stall::Full), Some(789));
        assert_eq!(parse_total("some avg10=1.00\n", Stall::Some), None);
        assert_eq!(parse_total("", Stall::Full), None);
    }

    #[test]
    fn stat_lines_with_hostile_comms_parse() {
        let s = "42 (a) b) (c) D 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 0 0";
        let st = parse_stat(s).expect("parses");
        assert_eq!(st.comm, "a) b) (c");
        assert_eq!(st.state, 'D');
        assert_eq!(st.start, 777);
        assert!(parse_stat("42 (x").is_none());
        assert!(parse_stat("42 (x) D 1").is_none());
        assert!(parse_stat("").is_none());
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t10\nnonvoluntary_ctxt_switches:\t5\n";
        assert_eq!(parse_switches(status), Some(15));
        assert_eq!(parse_switches("Name:\tx\n"), None);
    }

    /// A fake /proc with one process of two threads.
    fn fake_proc(root: &Path, t1: (char, u64), t2: (char, u64)) {
        for (tid, (state, switches)) in [(100, t1), (101, t2)] {
            let d = root.join("100/task").join(tid.to_string());
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(
                d.join("stat"),
                format!("{tid} (w\nx) {state} 1 100 100 0 -1 0 0 0 0 0 0 0 0 0 20 0 2 0 5000 0 0"),
            )
            .expect("write");
            std::fs::write(
                d.join("status"),
                format!("voluntary_ctxt_switches:\t{switches}\nnonvoluntary_ctxt_switches:\t0\n"),
            )
            .expect("write");
        }
        std::fs::create_dir_all(root.join("self")).expect("mkdir");
    }

    #[test]
    fn a_task_is_hung_only_while_its_switch_count_stands_still() {
        let dir = tempfile::tempdir().expect("tempdir");
        let after = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut seen = HashMap::new();
        fake_proc(dir.path(), ('D', 7), ('S', 3));
        assert!(scan_hung(dir.path(), &mut seen, after, t0).is_empty());
        assert_eq!(seen.len(), 1, "only the D task is remembered");
        // 9 s later: not yet
        assert!(scan_hung(dir.path(), &mut seen, after, t0 + Duration::from_secs(9)).is_empty());
        // 11 s: hung, reported once
        let hung = scan_hung(dir.path(), &mut seen, after, t0 + Duration::from_secs(11));
        assert_eq!(
            hung,
            vec![HungTask {
                tgid: 100,
                tid: 100,
                comm: "w\nx".into(),
                stuck: Duration::from_secs(11)
            }]
        );
        assert!(scan_hung(dir.path(), &mut seen, after, t0 + Duration::from_secs(12)).is_empty());
        // It switched (woke and slept again): the clock starts again.
        fake_proc(dir.path(), ('D', 8), ('D', 3));
        assert!(scan_hung(dir.path(), &mut seen, after, t0 + Duration::from_secs(13)).is_empty());
        let hung = scan_hung(dir.path(), &mut seen, after, t0 + Duration::from_secs(24));
        assert_eq!(
            hung.iter().map(|h| h.tid).collect::<Vec<_>>(),
            vec![100, 101]
        );
        // Out of D: forgotten.
        fake_proc(dir.path(), ('S', 8), ('R', 3));
        assert!(scan_hung(dir.path(), &mut seen, after, t0 + Duration::from_secs(25)).is_empty());
        assert!(seen.is_empty());
    }

    #[test]
    fn a_missing_pressure_file_says_how_to_turn_psi_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = parse_psi("cpu some 100ms 1s").expect("valid");
        let e = open_psi(dir.path(), &spec).expect_err("no file");
        assert_eq!(e.exit, Exit::WatchRejected);
        assert!(format!("{:#}", e.error).contains("psi=1"), "{:#}", e.error);
    }

    #[test]
    fn a_cell_fires_for_its_hold_time_then_clears() {
        let mut h = Held::new();
        h.fire(0, Duration::from_secs(60));
        assert_eq!(h.cell.0.load(Ordering::SeqCst), 1, "a firing is never 0");
        let now = Instant::now();
        assert!(h.expire(now).is_some());
        assert_eq!(h.expire(now + Duration::from_secs(61)), None);
        assert_eq!(h.cell.0.load(Ordering::SeqCst), 0);
    }

    /// The cost of one `--hung-task` look (BENCHMARKS.md, "System triggers"):
    /// `cargo test --release -p vmon-capture --lib hung_scan_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "a benchmark: prints the cost of a scan of this host's /proc"]
    fn hung_scan_cost() {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let sleepers: Vec<_> = (0..1000)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                })
            })
            .collect();
        let threads = std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|p| std::fs::read_dir(p.path().join("task")).ok())
            .map(|t| t.count())
            .sum::<usize>();
        let mut seen = HashMap::new();
        let rounds = 20;
        let t = Instant::now();
        for _ in 0..rounds {
            scan_hung(
                Path::new("/proc"),
                &mut seen,
                Duration::from_secs(10),
                Instant::now(),
            );
        }
        let per_scan = t.elapsed() / rounds;
        println!(
            "hung-task scan: {threads} threads, {:.2} ms per scan, {:.2} us per thread, {} in D",
            per_scan.as_secs_f64() * 1e3,
            per_scan.as_secs_f64() * 1e6 / threads as f64,
            seen.len()
        );
        stop.store(true, Ordering::Relaxed);
        for s in sleepers {
            s.join().expect("join");
        }
    }
}
