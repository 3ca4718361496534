//! The human summary and its JSON twin: per watch, the breaches, the tasks
//! sampled and the top stacks, fully symbolized, with process info, user
//! stack, kernel stack and process chain, grouped by stack. Both render the
//! one typed view of [`crate::view`].

use std::fmt::Write as _;

use serde_json::Value;

use crate::aggregate::Aggregates;
use crate::analysis::Analysis;
use crate::escape::visible as vis;
use crate::view::{percent, FrameView, StackView, Summary, WatchView};

pub use crate::view::{realtime_ns, rel_seconds, SummaryOptions, JSON_SCHEMA_VERSION};

/// Task groups listed per stack in the text.
const STACK_PROCESSES: usize = 5;
/// Comms listed per watch in the text.
const WATCH_COMMS: usize = 8;

/// The text summary.
pub fn text(a: &Analysis, agg: &Aggregates, o: &SummaryOptions) -> String {
    render_text(&Summary::build(a, agg, o, None), o)
}

/// The JSON document of `--json` and `report/summary.json` (schema in
/// analyze/JSON.md): the same content as [`text`], every breach included,
/// with the filters and the command line.
pub fn json(a: &Analysis, agg: &Aggregates, o: &SummaryOptions) -> Value {
    json_with_gate(a, agg, o, None)
}

/// [`json`] with, for `--fail-if-breaches`, the gate.
pub fn json_with_gate(
    a: &Analysis,
    agg: &Aggregates,
    o: &SummaryOptions,
    fail_if_breaches: Option<u64>,
) -> Value {
    Summary::build(a, agg, o, fail_if_breaches).to_json()
}

/// [`json_with_gate`] with the results of `--fail-if-share` and
/// `--fail-if-growth` and, with `--diff`, the change against the base.
pub fn json_with_checks(
    a: &Analysis,
    agg: &Aggregates,
    o: &SummaryOptions,
    fail_if_breaches: Option<u64>,
    checks: &crate::gates::Checks,
) -> Value {
    Summary::build(a, agg, o, fail_if_breaches)
        .with_checks(checks)
        .to_json()
}

impl Summary {
    /// The JSON document: keys in the order of a `serde_json::Value` map
    /// (sorted), as the schema has always been printed.
    pub(crate) fn to_json(&self) -> Value {
        // Plain structs of strings, numbers and options: nothing fails.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A share as the text shows it, 0 when there is nothing to share.
fn pct(n: u64, total: u64) -> f64 {
    percent(n, total).unwrap_or(0.0)
}

fn render_text(s: &Summary, o: &SummaryOptions) -> String {
    let mut out = String::new();
    let known = |v: &str| {
        if v.is_empty() {
            "?".to_string()
        } else {
            vis(v).into_owned()
        }
    };
    for i in &s.inputs {
        let tool = if i.tool.is_empty() {
            String::new()
        } else {
            format!(" ({})", vis(&i.tool))
        };
        let _ = writeln!(
            out,
            "capture {}: host {}, kernel {}, {:.1} s, {} task samples{tool}",
            vis(&i.path),
            known(&i.hostname),
            known(&i.kernel_release),
            i.duration_s(),
            i.task_samples,
        );
    }
    let _ = writeln!(out, "{}", vis(&s.quality_line));
    // The warnings themselves go to stderr (vmon-analyze prints them there
    // in every mode), so stdout stays the summary.
    if !s.warnings.is_empty() {
        let _ = writeln!(out, "({} warnings on stderr)", s.warnings.len());
    }
    if s.filters_matched_nothing {
        let _ = writeln!(
            out,
            "\nno {}task samples match the filters: {}",
            if s.breaches == 0 { "breaches or " } else { "" },
            vis(&s.filters.command_line())
        );
    } else if s.watches.is_empty() {
        let _ = writeln!(out, "\nthe input holds no breaches or task samples");
    }
    for w in &s.watches {
        watch_text(&mut out, w, o);
    }
    out
}

fn watch_text(out: &mut String, w: &WatchView, o: &SummaryOptions) {
    let _ = writeln!(
        out,
        "\n== watch {} ({}): {} breaches, {} task samples, {} unique stacks ==",
        vis(&w.comparison),
        vis(&w.kind),
        w.breaches,
        w.task_samples,
        w.unique_stacks
    );
    let _ = writeln!(
        out,
        "breaches (time since capture start, value, threshold, tasks sampled/candidates):"
    );
    for b in w.events.iter().take(o.max_breaches) {
        let flags = if b.flag_names.is_empty() {
            String::new()
        } else {
            format!("  [{}]", b.flag_names.join(","))
        };
        let _ = writeln!(
            out,
            "  {:>+11.6} s  value {:>8}  threshold {}  tasks {}/{}{flags}",
            b.time_s,
            w.show(b.value),
            w.show(w.threshold),
            b.tasks_sampled,
            b.candidates,
        );
    }
    if w.events.len() > o.max_breaches {
        let _ = writeln!(out, "  ... {} more", w.events.len() - o.max_breaches);
    }
    let states: Vec<String> = w
        .states
        .iter()
        .map(|s| format!("{} {}", s.state, s.samples))
        .collect();
    let comms: Vec<String> = w
        .comms
        .iter()
        .take(WATCH_COMMS)
        .map(|c| format!("{} {}", vis(&c.comm), c.samples))
        .collect();
    let _ = writeln!(
        out,
        "tasks sampled: {} in {} processes, {} threads; states: {}; comms: {}",
        w.task_samples,
        w.processes,
        w.threads,
        states.join(", "),
        comms.join(", ")
    );
    for (rank, st) in w.top_stacks.iter().enumerate() {
        stack_text(out, rank + 1, st, w.task_samples);
    }
    if w.other_stacks.stacks > 0 {
        let _ = writeln!(
            out,
            "\n  ... {} more stacks with {} samples",
            w.other_stacks.stacks, w.other_stacks.samples
        );
    }
    let _ = writeln!(out, "\n  top functions (self):");
    for f in &w.top_functions_self {
        function_line(out, f.self_samples, w.task_samples, &f.function);
    }
    let _ = writeln!(out, "  top functions (total):");
    for f in &w.top_functions {
        function_line(out, f.total_samples, w.task_samples, &f.function);
    }
}

fn function_line(out: &mut String, n: u64, total: u64, name: &str) {
    let _ = writeln!(out, "    {n:>8} {:>5.1}%  {}", pct(n, total), vis(name));
}

fn stack_text(out: &mut String, rank: usize, st: &StackView, watch_samples: u64) {
    let _ = writeln!(
        out,
        "\n  stack #{rank} — {} samples ({:.1}%)",
        st.samples,
        pct(st.samples, watch_samples)
    );
    let list: Vec<String> = st
        .processes
        .iter()
        .take(STACK_PROCESSES)
        .map(|p| format!("{}[{}] {}", vis(&p.comm), p.tgid, p.samples))
        .collect();
    let more = st.process_groups.saturating_sub(STACK_PROCESSES);
    let _ = writeln!(
        out,
        "    processes: {}{}",
        list.join(", "),
        if more > 0 {
            format!(", +{more} more")
        } else {
            String::new()
        }
    );
    if let Some(p) = st.processes.first().filter(|p| !p.chain.is_empty()) {
        let chain: Vec<String> = p
            .chain
            .iter()
            .map(|e| format!("{}[{}] {}", vis(&e.comm), e.pid, vis(&e.cmdline)))
            .collect();
        let _ = writeln!(
            out,
            "    process chain: {}{}",
            chain.join(" <- "),
            if p.chain_truncated { " <- ..." } else { "" }
        );
    }
    for (title, frames) in [("user", &st.user_stack), ("kernel", &st.kernel_stack)] {
        if !frames.is_empty() {
            let _ = writeln!(out, "    {title} stack:");
            for f in frames {
                let _ = writeln!(out, "      {}", frame_line(f));
            }
        }
    }
    if st.user_stack.is_empty() && st.kernel_stack.is_empty() {
        let _ = writeln!(out, "    (no stack captured)");
    }
}

fn frame_line(f: &FrameView) -> String {
    let mut s = format!("{}  [{}]", vis(&f.function), vis(&f.module));
    if let Some(loc) = f.location() {
        let _ = write!(s, "  {}", vis(&loc));
    }
    if f.inlined {
        s.push_str("  (inlined)");
    }
    s
}
