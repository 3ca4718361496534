//! How vmon-capture ends: one exit code per kind of failure, each with the
//! text `--help` shows.

use std::fmt;

/// The process exit status of vmon-capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The capture finished (a signal, --duration, --breaches, --max-size,
    /// or the end of --from-raw input).
    Finished,
    /// Any other error; the message says which.
    Error,
    /// A bad command line.
    Usage,
    /// The device is missing: the module is not loaded.
    NoModule,
    /// Draining or a kernel watch needs privileges this process lacks.
    PermissionDenied,
    /// The disk filled up.
    DiskFull,
    /// A --watch or --load-above could not be registered.
    WatchRejected,
}

impl Exit {
    /// Every exit, in code order.
    pub const ALL: [Exit; 7] = [
        Exit::Finished,
        Exit::Error,
        Exit::Usage,
        Exit::NoModule,
        Exit::PermissionDenied,
        Exit::DiskFull,
        Exit::WatchRejected,
    ];

    /// The status passed to `exit()`.
    pub fn code(self) -> i32 {
        match self {
            Exit::Finished => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::NoModule => 3,
            Exit::PermissionDenied => 4,
            Exit::DiskFull => 5,
            Exit::WatchRejected => 6,
        }
    }

    /// What the code means, as `--help` lists it.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Finished => {
                "capture finished (stopped by Ctrl-C/SIGTERM, --duration, --breaches, \
                 --max-size, or end of --from-raw input)"
            }
            Exit::Error => "other error (the message says which)",
            Exit::Usage => "bad command line",
            Exit::NoModule => "/dev/variable_monitor missing: the module is not loaded",
            Exit::PermissionDenied => {
                "permission denied: draining and kernel watches need CAP_SYS_ADMIN or \
                 CAP_PERFMON"
            }
            Exit::DiskFull => DISK_FULL,
            Exit::WatchRejected => "a --watch, --load-above or --psi could not be registered",
        }
    }

    /// The "Exit codes:" block of `--help`.
    pub fn help() -> String {
        let mut s = String::from("Exit codes:\n");
        for e in Exit::ALL {
            s.push_str(&format!("  {}  {}\n", e.code(), e.meaning()));
        }
        s
    }
}

/// What exit 5 means, in the help and in the error message.
pub const DISK_FULL: &str =
    "disk full: capture stopped; the file holds everything up to the last flush";

/// An error and the exit status it ends the process with.
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            exit,
            error: error.into(),
        }
    }

    /// A bad command line.
    pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure::new(Exit::Usage, error)
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let error = e.into();
        let exit = classify(&error);
        // Whatever failed to write, the user needs to hear "disk full".
        let error = if exit == Exit::DiskFull && !format!("{error:#}").contains("disk full") {
            error.context(DISK_FULL)
        } else {
            error
        };
        Failure { exit, error }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:#}", self.exit, self.error)
    }
}

/// Whether an error (anywhere in its chain) is ENOSPC.
pub fn is_enospc(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .or_else(|| match c.downcast_ref::<vmon_format::Error>() {
                Some(vmon_format::Error::Write(io)) => io.raw_os_error(),
                _ => None,
            })
            == Some(libc::ENOSPC)
    })
}

/// The exit an error calls for, from what caused it.
fn classify(e: &anyhow::Error) -> Exit {
    if is_enospc(e) {
        return Exit::DiskFull;
    }
    for c in e.chain() {
        match c.downcast_ref::<vmon_kabi::WatchError>() {
            Some(vmon_kabi::WatchError::ModuleNotLoaded { .. }) => return Exit::NoModule,
            Some(vmon_kabi::WatchError::PermissionDenied { .. }) => return Exit::PermissionDenied,
            _ => {}
        }
    }
    Exit::Error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_listed_in_order() {
        let codes: Vec<i32> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, (0..7).collect::<Vec<_>>());
        let help = Exit::help();
        for e in Exit::ALL {
            assert!(help.contains(&format!("  {}  {}", e.code(), e.meaning())));
        }
    }

    #[test]
    fn enospc_anywhere_in_the_chain_is_disk_full() {
        let io = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let e = anyhow::Error::new(io).context("writing");
        assert_eq!(Failure::from(e).exit, Exit::DiskFull);
        assert_eq!(Failure::from(anyhow::anyhow!("x")).exit, Exit::Error);
    }
}
