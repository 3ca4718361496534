//! Stage 2: the first pass over an input's task samples: which pass the
//! filters (and so belong to a kept breach), and, in the same pass over the
//! file, the unique (process, raw stack) pairs of those that do and still
//! need unwinding.

use vmon_format::{task_flags, Capture, StackId, TaskSample, UserRegs};

use super::merge::Merged;
use super::{Builder, Filters, LoadedInput, Options};
use crate::analysis::{BreachId, FxHashSet};
use crate::progress::{Progress, Ticker};

/// A unique (process, raw stack) pair to unwind, with what the sample
/// says about it.
pub(super) struct RawTodo {
    pub process: u32,
    pub raw: u32,
    pub regs: UserRegs,
    /// The kernel's frame-pointer chain, spliced where the window ends.
    pub ustack: StackId,
}

/// What the first pass found.
pub(super) struct Selection {
    /// Per task sample of the input, in file order: its breach when it
    /// passes the filters.
    pub pass: Vec<Option<BreachId>>,
    /// Whether raw user stacks are unwound here at all.
    pub unwind: bool,
    /// The raw stacks to unwind (empty unless `unwind`).
    pub raw_todo: Vec<RawTodo>,
}

impl Filters {
    /// Whether a task sample's task passes the pid, state and comm filters.
    fn task_passes(&self, c: &Capture, s: &TaskSample) -> bool {
        (self.pid.is_empty() || self.pid.contains(&s.pid) || self.pid.contains(&s.tgid))
            && (self.state.is_empty() || self.state.contains(&s.state))
            && (self.comm.is_empty() || self.comm.iter().any(|x| x == c.str(s.comm)))
    }
}

/// The first pass over `input`'s samples; the stream's warnings (damaged
/// SAMPLES chunks, dropped samples) go to the analysis.
pub(super) fn select(
    b: &mut Builder,
    input: &LoadedInput,
    merged: &Merged,
    opts: &Options,
    progress: &dyn Progress,
) -> Selection {
    let c = &input.capture;
    let f = &opts.filters;
    let unwind = opts.unwind && !f.kernel_only;
    let mut pass: Vec<Option<BreachId>> = Vec::with_capacity(c.samples.len());
    let mut raw_todo: Vec<RawTodo> = Vec::new();
    let mut raw_seen: FxHashSet<(u32, u32)> = FxHashSet::default();
    let mut ticker = Ticker::new(progress);
    let stream_warnings = input.for_each_sample(|s| {
        ticker.tick();
        let breach = merged.breaches.get(s.breach as usize).copied().flatten();
        let breach = breach.filter(|_| f.task_passes(c, s));
        pass.push(breach);
        // vmon-capture unwinds where the binaries are and says so; a raw
        // window it kept without unwinding (or an older capture's) is
        // unwound here.
        let done = s.flags & (task_flags::USTACK_CFI | task_flags::USTACK_HYBRID) != 0;
        if unwind && !done && breach.is_some() && s.flags & task_flags::NO_UREGS == 0 {
            if let (Some(process), Some(raw)) = (s.process, s.raw_stack) {
                if raw_seen.insert((process, raw)) {
                    raw_todo.push(RawTodo {
                        process,
                        raw,
                        regs: s.regs,
                        ustack: s.ustack,
                    });
                }
            }
        }
    });
    drop(ticker);
    let mut more = stream_warnings;
    if input.file.is_some() && !(input.warnings.is_empty() && more.is_empty()) {
        more.push(format!(
            "recovered {} breaches and {} task samples despite the damage above",
            c.breaches.len(),
            pass.len()
        ));
    }
    for w in &more {
        b.an.warnings.push(format!("{}: {w}", input.path));
    }
    if let Some(info) = b.an.inputs.last_mut() {
        info.samples_total = pass.len() as u64;
        info.warnings.extend(more);
    }
    Selection {
        pass,
        unwind,
        raw_todo,
    }
}
