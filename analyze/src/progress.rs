//! Progress of the long phases (reading, unwinding, symbolizing, writing),
//! reported as counts. The library only counts; the binary decides whether
//! and how to show them (a bar on a terminal, nothing otherwise).

/// Receives the phases of a run and their counts. Every method has a
/// default, so [`NoProgress`] implements none. `inc` is called from rayon
/// worker threads.
pub trait Progress: Sync {
    /// A phase begins, with its number of items when known beforehand.
    fn phase(&self, _name: &str, _total: Option<u64>) {}
    /// `n` more items of the current phase are done.
    fn inc(&self, _n: u64) {}
    /// An informational line for the user ("wrote X"); the binary prints
    /// it around its bar, and not with `--quiet`.
    fn note(&self, line: &str) {
        eprintln!("vmon-analyze: {line}");
    }
    /// A line that is printed even with `--quiet` (why a gate failed).
    fn warn(&self, line: &str) {
        eprintln!("vmon-analyze: {line}");
    }
}

/// Counts nothing; notes and warnings go to stderr as plain lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Increments batched for loops with one cheap step per item (10^6
/// samples): reported every [`Ticker::BATCH`] items and the rest on drop,
/// so the final count is exact.
pub(crate) struct Ticker<'a> {
    progress: &'a dyn Progress,
    pending: u64,
}

impl<'a> Ticker<'a> {
    const BATCH: u64 = 4096;

    pub(crate) fn new(progress: &'a dyn Progress) -> Ticker<'a> {
        Ticker {
            progress,
            pending: 0,
        }
    }

    pub(crate) fn tick(&mut self) {
        self.pending += 1;
        if self.pending == Self::BATCH {
            self.progress.inc(self.pending);
            self.pending = 0;
        }
    }
}

impl Drop for Ticker<'_> {
    fn drop(&mut self) {
        if self.pending > 0 {
            self.progress.inc(self.pending);
        }
    }
}
