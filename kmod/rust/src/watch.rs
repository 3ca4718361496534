//! The safe watch API: register watches on variables of this process (or,
//! with the module's permission rules, of another process or the kernel).
//!
//! # Safety argument
//!
//! The only `unsafe` code is the three `ioctl(2)` calls. Each passes either
//! an integer or a pointer to a live, properly sized `#[repr(C)]` struct
//! owned by the calling frame, whose `size` field tells the kernel how many
//! bytes it may read and write; the kernel never keeps that pointer.
//!
//! The module reads the watched variable through its own pinned mapping of
//! the page and never writes it, so no watch can make this process's memory
//! unsound. What a watch does need for *correct* results is that the
//! variable outlives it: a watch on a freed variable would compare whatever
//! later lives at that address. [`Watcher::watch`] therefore returns a
//! [`Watch`] that borrows the variable and cancels the watch when dropped,
//! so the borrow checker proves the variable outlives its watch. Only types
//! whose value can change behind a shared reference (atomics, `Cell`) can be
//! watched, because a plain `&i64` borrowed for the watch's lifetime could
//! never change while watched.

use crate::abi::*;
use std::cell::Cell;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::*;
use std::time::Duration;

/// Where the module publishes its tunables.
pub const PROC_DIR: &str = "/proc/variable_monitor";

/// The operation that failed, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Open,
    Version,
    Watch,
    Cancel,
    Read,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Open => "opening the vmon device",
            Op::Version => "asking the module for its ABI version",
            Op::Watch => "registering a watch",
            Op::Cancel => "cancelling a watch",
            Op::Read => "reading records",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "{path} does not exist: the variable_monitor kernel module is not loaded. Load it with \
         `sudo modprobe variable_monitor` (DKMS install) or `sudo insmod variable_monitor.ko` \
         (built in kmod/)"
    )]
    ModuleNotLoaded { path: PathBuf },
    #[error("{op}: permission denied. {need}")]
    PermissionDenied { op: Op, need: &'static str },
    #[error(
        "{op}: interval {interval_ns} ns is below the floor{} for callers without \
         CAP_SYS_ADMIN or CAP_PERFMON. Use a longer interval, pass no interval (a default is \
         raised to the floor), or run with one of those capabilities",
        floor_ns.map(|f| format!(" of {f} ns")).unwrap_or_default()
    )]
    IntervalBelowFloor {
        op: Op,
        interval_ns: u64,
        floor_ns: Option<u64>,
    },
    #[error(
        "{op}: the kernel does not know the symbol `{ksym}` (ENOENT), or it cannot look symbols \
         up on this kernel (EOPNOTSUPP: kprobes or IBT); check the name in /proc/kallsyms"
    )]
    UnknownSymbol { op: Op, ksym: String },
    #[error("{op}: no such watch (it ended, or belongs to another process)")]
    NoSuchWatch { op: Op },
    #[error(
        "{op}: another process is already draining the device (EBUSY); only one reader at a \
         time: stop the other vmon-capture"
    )]
    Busy { op: Op },
    #[error("{op}: the module refused the arguments (EINVAL): {hint}")]
    InvalidArgument { op: Op, hint: String },
    #[error(
        "{op}: too many watches (per-process or global cap reached). Cancel watches you no \
         longer need, or raise the caps in {PROC_DIR}/"
    )]
    TooManyWatches { op: Op },
    #[error("{op}: no such process (pid {pid}); it may have exited")]
    NoSuchProcess { op: Op, pid: i32 },
    #[error(
        "{op}: bad address {addr:#x}: it is not mapped in the target process, or the variable \
         straddles a page boundary; watch a naturally aligned variable"
    )]
    BadAddress { op: Op, addr: u64 },
    #[error(
        "{op}: {what} `{value}` is invalid: at most {max} bytes and no NUL; use a shorter name"
    )]
    BadName {
        op: Op,
        what: &'static str,
        value: String,
        max: usize,
    },
    #[error(
        "the device speaks ABI version {kernel}, this program was built for {ours}: load the \
         module matching this program, or rebuild it against the installed module's vmon.h"
    )]
    AbiMismatch { kernel: u32, ours: u32 },
    #[error(
        "{path} is not a vmon device: it does not answer the module's version ioctl (ENOTTY); \
         pass the device the variable_monitor module creates, {VMON_DEVICE_PATH}"
    )]
    NotVmonDevice { path: PathBuf },
    #[error("{op}: {source}")]
    Io {
        op: Op,
        #[source]
        source: io::Error,
    },
}

impl WatchError {
    /// Maps an errno from `op` to an error that says what to do. `pid`,
    /// `addr` and `interval_ns` describe the request, when there was one.
    pub fn from_errno(op: Op, errno: i32, req: Option<&vmon_watch_req>, path: &Path) -> Self {
        let pid = req.map_or(0, |r| r.pid);
        match errno {
            libc::ENOENT | libc::ENODEV | libc::ENXIO if op == Op::Open => {
                WatchError::ModuleNotLoaded {
                    path: path.to_path_buf(),
                }
            }
            libc::EACCES | libc::EPERM if op != Op::Watch || errno == libc::EPERM => WatchError::PermissionDenied {
                op,
                need: match (op, req) {
                    (Op::Watch, Some(r)) if r.flags & VMON_WATCH_KERNEL != 0 => {
                        "Kernel watches need CAP_SYS_ADMIN or CAP_PERFMON (run as root, or \
                         `setcap cap_perfmon+ep` on the program)"
                    }
                    (Op::Watch, Some(r)) if r.pid != 0 => {
                        "Watching another process needs ptrace rights over it (same user and \
                         kernel.yama.ptrace_scope permitting, or CAP_SYS_PTRACE)"
                    }
                    (Op::Read, _) => {
                        "Draining the record buffer needs CAP_SYS_ADMIN or CAP_PERFMON (run as \
                         root, or `setcap cap_perfmon+ep` on the program)"
                    }
                    (Op::Open, _) => {
                        "Check the mode of /dev/variable_monitor (the module makes it usable by \
                         everyone; a udev rule may have changed that)"
                    }
                    _ => "Run with CAP_SYS_ADMIN or CAP_PERFMON",
                },
            },
            // The module answers EACCES for an explicit interval below the
            // unprivileged floor (kmod/README.md, "ioctl errnos").
            libc::EACCES if op == Op::Watch => WatchError::IntervalBelowFloor {
                op,
                interval_ns: req.map_or(0, |r| r.interval_ns),
                floor_ns: read_floor_ns(),
            },
            libc::ENOENT | libc::EOPNOTSUPP if op == Op::Watch => WatchError::UnknownSymbol {
                op,
                ksym: req
                    .map(|r| {
                        let k = r.ksym.split(|&c| c == 0).next().unwrap_or(&[]);
                        String::from_utf8_lossy(k).into_owned()
                    })
                    .unwrap_or_default(),
            },
            libc::ENOENT if op == Op::Cancel => WatchError::NoSuchWatch { op },
            libc::EBUSY if op == Op::Read => WatchError::Busy { op },
            libc::EINVAL if op == Op::Watch => WatchError::InvalidArgument {
                op,
                hint: "check the length (1, 2, 4 or 8), that the variable is naturally aligned, \
                       the flags, that the interval is within 10 µs..1 h, and that a kernel \
                       watch has no pid"
                    .into(),
            },
            libc::E2BIG => WatchError::AbiMismatch {
                kernel: 0,
                ours: VMON_ABI_VERSION,
            },
            libc::EINVAL => WatchError::InvalidArgument {
                op,
                hint: "unexpected for this call; the module and this program may disagree \
                       about the ABI"
                    .into(),
            },
            libc::ENOSPC | libc::EMFILE | libc::EDQUOT | libc::ENOMEM if op == Op::Watch => {
                WatchError::TooManyWatches { op }
            }
            libc::ESRCH => WatchError::NoSuchProcess { op, pid },
            libc::EFAULT if op == Op::Watch => WatchError::BadAddress {
                op,
                addr: req.map_or(0, |r| r.addr),
            },
            libc::ENOTTY if op == Op::Version => WatchError::NotVmonDevice {
                path: path.to_path_buf(),
            },
            _ => WatchError::Io {
                op,
                source: io::Error::from_raw_os_error(errno),
            },
        }
    }
}

fn read_floor_ns() -> Option<u64> {
    std::fs::read_to_string(Path::new(PROC_DIR).join("min_interval_ns"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The module's id of a watch, unique while the module is loaded; never 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatchId(pub u64);

/// When a watch breaches: strictly above or strictly below the threshold.
/// For unsigned variables the threshold's bits are compared as unsigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threshold {
    Above(i64),
    Below(i64),
}

/// When a breach begins and ends, beyond "past the threshold" (the module's
/// trigger extension, `struct vmon_watch_req` from size 152).
/// `Trigger::default()` is the plain threshold: a breach begins on the
/// first tick past it and ends on the first tick back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trigger {
    /// Ticks past the threshold in a row before a breach begins (0 and 1:
    /// the first), at most [`VMON_MAX_CONSECUTIVE`].
    pub consecutive: u32,
    /// Hysteresis: a breach ends only on a tick at or below this value
    /// (at or above, for [`Threshold::Below`]), not on the first tick back.
    pub rearm: Option<i64>,
    /// Compare the change within this window instead of the value: the
    /// value minus the lowest ([`Threshold::Above`]) or highest (`Below`)
    /// value of the last window to two windows, so `Above(100)` means
    /// "rose by more than 100 within the window". From the interval to 1 h.
    pub rate_window: Option<Duration>,
}

impl Trigger {
    /// Whether this asks for anything beyond the plain threshold.
    pub fn is_plain(&self) -> bool {
        self.consecutive <= 1 && self.rearm.is_none() && self.rate_window.is_none()
    }

    fn fill(&self, req: &mut vmon_watch_req) {
        req.consecutive = self.consecutive;
        if let Some(r) = self.rearm {
            req.flags |= VMON_WATCH_REARM;
            req.rearm = r;
        }
        if let Some(w) = self.rate_window {
            req.flags |= VMON_WATCH_RATE;
            req.rate_window_ns = u64::try_from(w.as_nanos()).unwrap_or(u64::MAX).max(1);
        }
    }
}

/// Everything about a watch, for watches on another process or the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchSpec {
    /// Process holding the variable; 0 = the caller. Ignored for kernel watches.
    pub pid: i32,
    /// User address, or the offset from `ksym`.
    pub addr: u64,
    /// 1, 2, 4 or 8.
    pub length: u32,
    pub unsigned: bool,
    pub threshold: Threshold,
    /// `None` = the module's default (`def_interval_ns`).
    pub interval: Option<Duration>,
    /// At most 15 bytes.
    pub name: String,
    /// A kernel symbol (e.g. `avenrun`) for a kernel watch, at most 63 bytes.
    pub ksym: Option<String>,
    /// When a breach begins and ends; the default is the plain threshold.
    pub trigger: Trigger,
}

impl WatchSpec {
    /// The ioctl argument, with names and lengths checked.
    pub fn to_req(&self) -> Result<vmon_watch_req, WatchError> {
        let mut req = vmon_watch_req {
            pid: self.pid,
            length: self.length,
            addr: self.addr,
            ..Default::default()
        };
        match self.threshold {
            Threshold::Above(t) => {
                req.threshold = t;
                req.flags |= VMON_WATCH_GREATER;
            }
            Threshold::Below(t) => req.threshold = t,
        }
        if self.unsigned {
            req.flags |= VMON_WATCH_UNSIGNED;
        }
        self.trigger.fill(&mut req);
        match self.interval {
            None => req.flags |= VMON_WATCH_DEF_INTERVAL,
            // A zero or sub-ns interval would mean "default" to the module:
            // make it the smallest explicit one so the floor check applies.
            Some(d) => req.interval_ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1),
        }
        if !matches!(self.length, 1 | 2 | 4 | 8) {
            return Err(WatchError::InvalidArgument {
                op: Op::Watch,
                hint: format!("length {} is not 1, 2, 4 or 8", self.length),
            });
        }
        fill(&mut req.name, &self.name, "watch name")?;
        if let Some(k) = &self.ksym {
            fill(&mut req.ksym, k, "kernel symbol")?;
            req.flags |= VMON_WATCH_KERNEL;
            req.pid = 0;
        }
        Ok(req)
    }
}

fn fill(dst: &mut [u8], s: &str, what: &'static str) -> Result<(), WatchError> {
    if s.len() >= dst.len() || s.as_bytes().contains(&0) {
        return Err(WatchError::BadName {
            op: Op::Watch,
            what,
            value: s.to_string(),
            max: dst.len() - 1,
        });
    }
    dst[..s.len()].copy_from_slice(s.as_bytes());
    Ok(())
}

mod sealed {
    pub trait Sealed {}
}

/// A variable the module can watch: an integer of 1, 2, 4 or 8 bytes whose
/// value may change behind a shared reference.
pub trait Watchable: sealed::Sealed {
    const LENGTH: u32;
    const UNSIGNED: bool;
    fn address(&self) -> u64 {
        self as *const Self as *const u8 as u64
    }
}

macro_rules! watchable {
    ($($t:ty => $len:expr, $unsigned:expr;)*) => {$(
        impl sealed::Sealed for $t {}
        impl Watchable for $t {
            const LENGTH: u32 = $len;
            const UNSIGNED: bool = $unsigned;
        }
    )*};
}

watchable! {
    AtomicI8 => 1, false; AtomicU8 => 1, true;
    AtomicI16 => 2, false; AtomicU16 => 2, true;
    AtomicI32 => 4, false; AtomicU32 => 4, true;
    AtomicI64 => 8, false; AtomicU64 => 8, true;
    AtomicIsize => 8, false; AtomicUsize => 8, true;
    Cell<i8> => 1, false; Cell<u8> => 1, true;
    Cell<i16> => 2, false; Cell<u16> => 2, true;
    Cell<i32> => 4, false; Cell<u32> => 4, true;
    Cell<i64> => 8, false; Cell<u64> => 8, true;
}

#[cfg(not(target_pointer_width = "64"))]
compile_error!("vmon-kabi assumes a 64-bit target (the module is x86_64 only)");

/// An open `/dev/variable_monitor`. Every watch registered through it ends
/// when it is dropped (the module cancels a process's watches on close).
#[derive(Debug)]
pub struct Watcher {
    fd: OwnedFd,
    path: PathBuf,
    version: vmon_version,
}

impl Watcher {
    /// Opens [`VMON_DEVICE_PATH`] (`O_CLOEXEC`) and checks the ABI version.
    pub fn open() -> Result<Self, WatchError> {
        Self::open_path(VMON_DEVICE_PATH)
    }

    pub fn open_path(path: impl AsRef<Path>) -> Result<Self, WatchError> {
        let path = path.as_ref().to_path_buf();
        let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| WatchError::Io {
            op: Op::Open,
            source: io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
        })?;
        // SAFETY: `c` is a valid NUL-terminated string for the whole call.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(WatchError::from_errno(Op::Open, errno(), None, &path));
        }
        // SAFETY: `fd` was just returned by open() and is owned by no one else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut version = vmon_version::default();
        // SAFETY: VMON_IOC_VERSION reads and writes a `struct vmon_version`;
        // `version` is one, live for the call, with `size` set.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                VMON_IOC_VERSION as _,
                &mut version as *mut vmon_version,
            )
        };
        if rc < 0 {
            return Err(WatchError::from_errno(Op::Version, errno(), None, &path));
        }
        if version.abi_version != VMON_ABI_VERSION {
            return Err(WatchError::AbiMismatch {
                kernel: version.abi_version,
                ours: VMON_ABI_VERSION,
            });
        }
        Ok(Watcher { fd, path, version })
    }

    /// The module's ABI and record versions.
    pub fn version(&self) -> (u32, u32) {
        (self.version.abi_version, self.version.record_version)
    }

    /// Watches `var` until the returned [`Watch`] is dropped or cancelled.
    /// `interval` `None` uses the module's default (10 µs unless tuned; raised
    /// to the unprivileged floor when needed).
    pub fn watch<'a, V: Watchable>(
        &'a self,
        var: &'a V,
        name: &str,
        threshold: Threshold,
        interval: Option<Duration>,
    ) -> Result<Watch<'a>, WatchError> {
        let spec = WatchSpec {
            pid: 0,
            addr: var.address(),
            length: V::LENGTH,
            unsigned: V::UNSIGNED,
            threshold,
            interval,
            name: name.to_string(),
            ksym: None,
            trigger: Trigger::default(),
        };
        let id = self.register(&spec)?;
        Ok(Watch { watcher: self, id })
    }

    /// Registers a watch described by `spec` (another process's variable or
    /// a kernel symbol) that lasts until cancelled or until this `Watcher`
    /// is dropped. The module checks the caller's rights over the target.
    pub fn register(&self, spec: &WatchSpec) -> Result<WatchId, WatchError> {
        let mut req = spec.to_req()?;
        let sent = req;
        // SAFETY: VMON_IOC_WATCH reads and writes a `struct vmon_watch_req`;
        // `req` is one, live for the call, with `size` set.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                VMON_IOC_WATCH as _,
                &mut req as *mut vmon_watch_req,
            )
        };
        if rc < 0 {
            return Err(WatchError::from_errno(
                Op::Watch,
                errno(),
                Some(&sent),
                &self.path,
            ));
        }
        if req.id == 0 {
            return Err(WatchError::InvalidArgument {
                op: Op::Watch,
                hint: "the module returned watch id 0; the module and this program disagree \
                       about the ABI"
                    .into(),
            });
        }
        Ok(WatchId(req.id))
    }

    /// Cancels one watch.
    pub fn cancel(&self, id: WatchId) -> Result<(), WatchError> {
        if id.0 == 0 {
            // 0 would mean "all" to the module.
            return Err(WatchError::InvalidArgument {
                op: Op::Cancel,
                hint: "watch id 0 does not exist; use cancel_all() to cancel every watch".into(),
            });
        }
        self.cancel_raw(id.0)
    }

    /// Cancels every watch of this process.
    pub fn cancel_all(&self) -> Result<(), WatchError> {
        self.cancel_raw(0)
    }

    fn cancel_raw(&self, arg: u64) -> Result<(), WatchError> {
        // SAFETY: VMON_IOC_CANCEL takes an integer argument, no pointer.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                VMON_IOC_CANCEL as _,
                arg as libc::c_ulong,
            )
        };
        if rc < 0 {
            return Err(WatchError::from_errno(
                Op::Cancel,
                errno(),
                None,
                &self.path,
            ));
        }
        Ok(())
    }

    /// One `read(2)` of records into `buf` (blocking unless the descriptor
    /// was made non-blocking). Draining needs CAP_SYS_ADMIN or CAP_PERFMON.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, WatchError> {
        loop {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = errno();
            if e != libc::EINTR {
                return Err(WatchError::from_errno(Op::Read, e, None, &self.path));
            }
        }
    }
}

impl AsFd for Watcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A watch on a variable borrowed for `'a`; cancelled when dropped.
///
/// The borrow is what makes a watch on a dead variable impossible:
///
/// ```compile_fail
/// use std::sync::atomic::AtomicI32;
/// use vmon_kabi::{Threshold, Watcher};
/// let w = Watcher::open().unwrap();
/// let watch = {
///     let v = AtomicI32::new(0);
///     w.watch(&v, "v", Threshold::Above(1), None).unwrap()
/// }; // error[E0597]: `v` does not live long enough
/// drop(watch);
/// ```
#[derive(Debug)]
#[must_use = "dropping a Watch cancels it"]
pub struct Watch<'a> {
    watcher: &'a Watcher,
    id: WatchId,
}

impl Watch<'_> {
    pub fn id(&self) -> WatchId {
        self.id
    }
    /// Cancels now, reporting an error that drop would have to ignore.
    pub fn cancel(self) -> Result<(), WatchError> {
        let r = self.watcher.cancel(self.id);
        std::mem::forget(self);
        r
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        // The watch may already be gone (the module ends watches on exit
        // and close); nothing useful can be done with an error here.
        let _ = self.watcher.cancel(self.id);
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_says_how_to_load_the_module() {
        let e = Watcher::open_path("/nonexistent/variable_monitor").unwrap_err();
        assert!(matches!(e, WatchError::ModuleNotLoaded { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("not loaded") && msg.contains("modprobe variable_monitor"),
            "{msg}"
        );
    }

    #[test]
    fn a_file_that_is_not_the_device_is_refused() {
        // /dev/null takes no ioctls: the version query must say so, not
        // blame an ABI version 0.
        let e = Watcher::open_path("/dev/null").unwrap_err();
        assert!(matches!(e, WatchError::NotVmonDevice { .. }), "{e:?}");
        assert!(
            e.to_string().contains("/dev/null is not a vmon device"),
            "{e}"
        );
    }

    #[test]
    fn errno_mapping_names_the_fix() {
        let p = Path::new(VMON_DEVICE_PATH);
        let kreq = WatchSpec {
            pid: 0,
            addr: 0,
            length: 8,
            unsigned: false,
            threshold: Threshold::Above(3),
            interval: None,
            name: "load".into(),
            ksym: Some("avenrun".into()),
            trigger: Trigger::default(),
        }
        .to_req()
        .unwrap();
        let msg = WatchError::from_errno(Op::Watch, libc::EPERM, Some(&kreq), p).to_string();
        assert!(
            msg.contains("CAP_SYS_ADMIN") && msg.contains("CAP_PERFMON"),
            "{msg}"
        );
        let msg = WatchError::from_errno(Op::Read, libc::EACCES, None, p).to_string();
        assert!(msg.contains("CAP_PERFMON"), "{msg}");
        let mut other = kreq;
        other.flags = 0;
        other.pid = 1234;
        let msg = WatchError::from_errno(Op::Watch, libc::EPERM, Some(&other), p).to_string();
        assert!(msg.contains("ptrace"), "{msg}");
        assert!(matches!(
            WatchError::from_errno(Op::Watch, libc::ENOSPC, None, p),
            WatchError::TooManyWatches { .. }
        ));
        assert!(matches!(
            WatchError::from_errno(Op::Watch, libc::ESRCH, Some(&other), p),
            WatchError::NoSuchProcess { pid: 1234, .. }
        ));
        assert!(matches!(
            WatchError::from_errno(Op::Open, libc::ENOENT, None, p),
            WatchError::ModuleNotLoaded { .. }
        ));
        assert!(matches!(
            WatchError::from_errno(Op::Watch, libc::EINVAL, Some(&other), p),
            WatchError::InvalidArgument { .. }
        ));
        let e = WatchError::from_errno(Op::Watch, libc::EACCES, Some(&other), p);
        assert!(matches!(e, WatchError::IntervalBelowFloor { .. }), "{e:?}");
        assert!(e.to_string().contains("CAP_PERFMON"));
        let e = WatchError::from_errno(Op::Watch, libc::ENOENT, Some(&kreq), p);
        assert!(
            matches!(&e, WatchError::UnknownSymbol { ksym, .. } if ksym == "avenrun"),
            "{e:?}"
        );
        assert!(matches!(
            WatchError::from_errno(Op::Read, libc::EBUSY, None, p),
            WatchError::Busy { .. }
        ));
        assert!(matches!(
            WatchError::from_errno(Op::Cancel, libc::ENOENT, None, p),
            WatchError::NoSuchWatch { .. }
        ));
        let e = WatchError::from_errno(Op::Read, libc::EIO, None, p);
        assert!(matches!(e, WatchError::Io { op: Op::Read, .. }));
    }

    #[test]
    fn spec_encodes_flags_names_and_interval() {
        let mut spec = WatchSpec {
            pid: 42,
            addr: 0x1000,
            length: 4,
            unsigned: true,
            threshold: Threshold::Below(-5),
            interval: Some(Duration::from_micros(100)),
            name: "queue_depth".into(),
            ksym: None,
            trigger: Trigger::default(),
        };
        let r = spec.to_req().unwrap();
        assert_eq!((r.consecutive, r.rearm, r.rate_window_ns), (0, 0, 0));
        assert_eq!(r.flags & (VMON_WATCH_REARM | VMON_WATCH_RATE), 0);
        let mut t = spec.clone();
        t.trigger = Trigger {
            consecutive: 5,
            rearm: Some(-20),
            rate_window: Some(Duration::from_millis(250)),
        };
        let tr = t.to_req().unwrap();
        assert_eq!(tr.consecutive, 5);
        assert_eq!(tr.rearm, -20);
        assert_eq!(tr.rate_window_ns, 250_000_000);
        assert_eq!(
            tr.flags & (VMON_WATCH_REARM | VMON_WATCH_RATE),
            VMON_WATCH_REARM | VMON_WATCH_RATE
        );
        assert!(!t.trigger.is_plain() && spec.trigger.is_plain());
        assert_eq!(r.size as usize, core::mem::size_of::<vmon_watch_req>());
        assert_eq!(r.flags, VMON_WATCH_UNSIGNED);
        assert_eq!((r.pid, r.addr, r.length, r.threshold), (42, 0x1000, 4, -5));
        assert_eq!(r.interval_ns, 100_000);
        assert_eq!(&r.name[..12], b"queue_depth\0");

        spec.threshold = Threshold::Above(7);
        spec.interval = None;
        spec.ksym = Some("avenrun".into());
        let r = spec.to_req().unwrap();
        assert_eq!(
            r.flags,
            VMON_WATCH_UNSIGNED | VMON_WATCH_GREATER | VMON_WATCH_DEF_INTERVAL | VMON_WATCH_KERNEL
        );
        assert_eq!((r.pid, r.interval_ns), (0, 0));
        assert_eq!(&r.ksym[..8], b"avenrun\0");
        assert_eq!(r.flags & !VMON_WATCH_FLAGS_ALL, 0);

        spec.name = "sixteen_chars_xx".into();
        assert!(matches!(
            spec.to_req(),
            Err(WatchError::BadName { max: 15, .. })
        ));
        spec.name = "ok".into();
        spec.length = 3;
        assert!(matches!(
            spec.to_req(),
            Err(WatchError::InvalidArgument { .. })
        ));
        spec.length = 8;
        spec.interval = Some(Duration::ZERO);
        assert_eq!(spec.to_req().unwrap().interval_ns, 1);
    }

    #[test]
    fn watchable_types_report_their_width_and_sign() {
        assert_eq!((AtomicI32::LENGTH, AtomicI32::UNSIGNED), (4, false));
        assert_eq!((AtomicU8::LENGTH, AtomicU8::UNSIGNED), (1, true));
        assert_eq!((<Cell<i64>>::LENGTH, <Cell<i64>>::UNSIGNED), (8, false));
        let v = AtomicI64::new(0);
        assert_eq!(v.address(), &v as *const AtomicI64 as u64);
    }
}
