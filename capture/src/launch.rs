//! `vmon-capture [options] -- PROGRAM ARGS...`: the program is started
//! stopped at its exec (ptrace), so that watches on its symbols are in place
//! before its first instruction, then let go; the capture ends when it exits
//! (as `perf record -- cmd` does).

use anyhow::{bail, Context as _, Result};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};

/// A program vmon-capture started.
pub struct Launched {
    child: Child,
    status: Option<ExitStatus>,
    resumed: bool,
}

impl Launched {
    /// Starts `argv` and waits until it stops at its exec, mapped but not
    /// yet run.
    pub fn start(argv: &[String]) -> Result<Launched> {
        let Some((prog, args)) = argv.split_first() else {
            bail!("no program after --");
        };
        let mut cmd = Command::new(prog);
        cmd.args(args);
        // SAFETY: the closure runs in the forked child before exec and only
        // calls ptrace(2), which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| format!("starting {prog}"))?;
        let pid = child.id() as i32;
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is ours.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc != pid || !libc::WIFSTOPPED(status) {
            bail!("{prog} did not stop at its exec (wait status {status:#x})");
        }
        Ok(Launched {
            child,
            status: None,
            resumed: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Lets the program run (it stays our child).
    pub fn resume(&mut self) -> Result<()> {
        // SAFETY: detaches from our own stopped tracee; no pointers.
        if unsafe { libc::ptrace(libc::PTRACE_DETACH, self.pid(), 0, 0) } == -1 {
            return Err(std::io::Error::last_os_error()).context("resuming the program");
        }
        self.resumed = true;
        Ok(())
    }

    /// The program's exit status, once it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Ends the program if it still runs (SIGTERM, as perf does) and reaps
    /// it.
    pub fn end(&mut self) -> Option<ExitStatus> {
        if self.exited().is_none() {
            // SAFETY: signals our own child, which has not been reaped.
            unsafe { libc::kill(self.pid(), libc::SIGTERM) };
            self.status = self.child.wait().ok();
        }
        self.status
    }
}

impl Drop for Launched {
    /// A program never let go (the capture failed before it started) must
    /// not run unwatched once its tracer exits: kill it.
    fn drop(&mut self) {
        if !self.resumed && self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// "exited with status 3", "killed by signal 9".
pub fn describe(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended".into(),
    }
}
