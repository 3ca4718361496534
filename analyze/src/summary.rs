//! The human summary and its JSON twin: per watch, the breaches, the tasks
//! sampled and the top stacks, fully symbolized, with process info, user
//! stack, kernel stack and process chain, grouped by stack.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::aggregate::{Aggregates, Group};
use crate::analysis::{Analysis, FrameId, StackHandle};
use crate::escape::visible as vis;
use crate::output::watch_title;

#[derive(Clone, Debug)]
pub struct SummaryOptions {
    /// Stacks shown per watch.
    pub top_stacks: usize,
    /// Breaches listed per watch.
    pub max_breaches: usize,
    pub top_functions: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            top_stacks: 5,
            max_breaches: 20,
            top_functions: 10,
        }
    }
}

/// A task group on a stack: (input, process index, tgid, comm).
type TaskKey = (u32, Option<u32>, i32, String);

/// Who ran a stack.
struct StackTasks {
    /// Task groups with sample counts, sorted.
    tasks: Vec<(TaskKey, u64)>,
}

fn stack_tasks(
    a: &Analysis,
    group: &Group,
    wanted: &[StackHandle],
) -> HashMap<StackHandle, StackTasks> {
    let mut m: HashMap<StackHandle, HashMap<TaskKey, u64>> =
        wanted.iter().map(|s| (*s, HashMap::new())).collect();
    for s in &a.samples {
        if group.watch.is_some_and(|w| w != s.watch) {
            continue;
        }
        if let Some(e) = m.get_mut(&s.stack) {
            *e.entry((s.input.0, s.process, s.tgid, a.name(s.comm).to_string()))
                .or_default() += 1;
        }
    }
    m.into_iter()
        .map(|(k, v)| {
            let mut tasks: Vec<_> = v.into_iter().collect();
            tasks.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
            (k, StackTasks { tasks })
        })
        .collect()
}

fn frame_line(a: &Analysis, f: FrameId) -> String {
    let fr = a.frame(f);
    let func = a.func(fr.func);
    let module = a
        .modules
        .get(func.module.idx())
        .map(|m| m.name.as_str())
        .unwrap_or("?");
    let mut s = format!("{}  [{}]", vis(&func.name), vis(module));
    if let Some(loc) = a.frame_location(f) {
        let _ = write!(s, "  {}", vis(&loc));
    }
    if fr.inlined {
        s.push_str("  (inlined)");
    }
    s
}

fn rel_s(a: &Analysis, input: u32, t: u64) -> f64 {
    rel_seconds(a, input, t)
}

fn pct(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * n as f64 / total as f64
    }
}

/// The text summary.
pub fn text(a: &Analysis, agg: &Aggregates, o: &SummaryOptions) -> String {
    let mut out = String::new();
    for i in &a.inputs {
        let m = &i.meta;
        let dur = m.end_ns.saturating_sub(m.start_ns) as f64 / 1e9;
        let _ = writeln!(
            out,
            "capture {}: host {}, kernel {}, {:.1} s, {} task samples{}",
            vis(&i.path),
            if m.hostname.is_empty() {
                "?".into()
            } else {
                vis(&m.hostname)
            },
            if m.kernel_release.is_empty() {
                "?".into()
            } else {
                vis(&m.kernel_release)
            },
            dur,
            i.samples_total,
            if m.tool.is_empty() {
                String::new()
            } else {
                format!(" ({})", vis(&m.tool))
            }
        );
    }
    let _ = writeln!(out, "{}", vis(&a.quality.line()));
    // The warnings themselves go to stderr (vmon-analyze prints them there
    // in every mode), so stdout stays the summary.
    if !a.warnings.is_empty() {
        let _ = writeln!(out, "({} warnings on stderr)", a.warnings.len());
    }
    let f = filters_text(a);
    if !f.is_empty() && agg.total.samples == 0 {
        let _ = writeln!(
            out,
            "\nno {}task samples match the filters: {}",
            if a.breaches.is_empty() {
                "breaches or "
            } else {
                ""
            },
            vis(&f)
        );
    } else if agg.per_watch.is_empty() {
        let _ = writeln!(out, "\nthe input holds no breaches or task samples");
    }
    for g in &agg.per_watch {
        let Some(w) = g.watch.and_then(|w| a.watches.get(w.idx())) else {
            continue;
        };
        let _ = writeln!(
            out,
            "\n== watch {} ({}): {} breaches, {} task samples, {} unique stacks ==",
            vis(&watch_title(w)),
            vis(&w.kind),
            g.breaches.len(),
            g.samples,
            g.stacks.len()
        );
        let _ = writeln!(
            out,
            "breaches (time since capture start, value, threshold, tasks sampled/candidates):"
        );
        for b in g.breaches.iter().take(o.max_breaches) {
            let b = &a.breaches[b.idx()];
            let _ = writeln!(
                out,
                "  {:>+11.6} s  value {:>8}  threshold {}  tasks {}/{}{}",
                rel_s(a, b.input.0, b.time_ns),
                crate::output::watch_value(w, b.value),
                crate::output::watch_value(w, w.threshold),
                b.samples,
                b.nr_candidates,
                flags_text(b.flags)
            );
        }
        if g.breaches.len() > o.max_breaches {
            let _ = writeln!(out, "  ... {} more", g.breaches.len() - o.max_breaches);
        }
        let states: Vec<String> = g
            .states
            .iter()
            .map(|(s, n)| format!("{} {n}", Analysis::state_letter(*s)))
            .collect();
        let comms: Vec<String> = g
            .comms
            .iter()
            .take(8)
            .map(|(c, n)| format!("{} {n}", vis(a.name(*c))))
            .collect();
        let _ = writeln!(
            out,
            "tasks sampled: {} in {} processes, {} threads; states: {}; comms: {}",
            g.samples,
            g.processes.len(),
            g.threads.len(),
            states.join(", "),
            comms.join(", ")
        );
        let top: Vec<StackHandle> = g.stacks.iter().take(o.top_stacks).map(|s| s.0).collect();
        let tasks = stack_tasks(a, g, &top);
        for (rank, (s, n)) in g.stacks.iter().take(o.top_stacks).enumerate() {
            let _ = writeln!(
                out,
                "\n  stack #{} — {n} samples ({:.1}%)",
                rank + 1,
                pct(*n, g.samples)
            );
            if let Some(t) = tasks.get(s) {
                let list: Vec<String> = t
                    .tasks
                    .iter()
                    .take(5)
                    .map(|((_, _, tgid, comm), c)| format!("{}[{tgid}] {c}", vis(comm)))
                    .collect();
                let more = t.tasks.len().saturating_sub(5);
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
                if let Some(((input, Some(p), _, _), _)) = t.tasks.first() {
                    if let Some(pi) = a
                        .processes
                        .get(*input as usize)
                        .and_then(|v| v.get(*p as usize))
                    {
                        let chain: Vec<String> = pi
                            .chain
                            .iter()
                            .map(|e| format!("{}[{}] {}", vis(&e.comm), e.pid, vis(&e.cmdline)))
                            .collect();
                        if !chain.is_empty() {
                            let _ = writeln!(
                                out,
                                "    process chain: {}{}",
                                chain.join(" <- "),
                                if pi.chain_truncated { " <- ..." } else { "" }
                            );
                        }
                    }
                }
            }
            let st = a.stack(*s);
            let user = st.user();
            let kern = st.kernel();
            if !user.is_empty() {
                let _ = writeln!(out, "    user stack:");
                for f in user.iter().rev() {
                    let _ = writeln!(out, "      {}", frame_line(a, *f));
                }
            }
            if !kern.is_empty() {
                let _ = writeln!(out, "    kernel stack:");
                for f in kern.iter().rev() {
                    let _ = writeln!(out, "      {}", frame_line(a, *f));
                }
            }
            if user.is_empty() && kern.is_empty() {
                let _ = writeln!(out, "    (no stack captured)");
            }
        }
        if g.stacks.len() > o.top_stacks {
            let rest: u64 = g.stacks.iter().skip(o.top_stacks).map(|s| s.1).sum();
            let _ = writeln!(
                out,
                "\n  ... {} more stacks with {rest} samples",
                g.stacks.len() - o.top_stacks
            );
        }
        let _ = writeln!(out, "\n  top functions (self):");
        for (f, n) in g.top_self.iter().take(o.top_functions) {
            let _ = writeln!(
                out,
                "    {:>8} {:>5.1}%  {}",
                n,
                pct(*n, g.samples),
                vis(&a.func(*f).name)
            );
        }
        let _ = writeln!(out, "  top functions (total):");
        for (f, n) in g.top_total.iter().take(o.top_functions) {
            let _ = writeln!(
                out,
                "    {:>8} {:>5.1}%  {}",
                n,
                pct(*n, g.samples),
                vis(&a.func(*f).name)
            );
        }
    }
    out
}

/// The flags of a breach for the text summary, `  [a,b]` or nothing.
fn flags_text(f: u32) -> String {
    let v = crate::view::breach_flag_names(f);
    if v.is_empty() {
        String::new()
    } else {
        format!("  [{}]", v.join(","))
    }
}

fn frame_json(a: &Analysis, f: FrameId) -> Value {
    let fr = a.frame(f);
    let func = a.func(fr.func);
    let m = a.modules.get(func.module.idx());
    json!({
        "function": func.name,
        "module": m.map(|m| m.name.as_str()).unwrap_or("?"),
        "module_path": m.map(|m| m.path.as_str()).unwrap_or("?"),
        "file": fr.file,
        "line": if fr.line > 0 { Some(fr.line) } else { None },
        "inlined": fr.inlined,
        "kernel": func.kernel,
        "resolved": func.resolved,
    })
}

/// The version of the JSON document (`--json`, `report/summary.json`),
/// documented in analyze/JSON.md. Bump it when a key changes meaning or
/// goes away; adding keys keeps it.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The filters as given, for the JSON and the report.
pub fn filters_json(a: &Analysis) -> Value {
    let f = &a.filters;
    json!({
        "watch": f.watch,
        "pid": f.pid,
        "comm": f.comm,
        "state": f.state.iter().map(|s| Analysis::state_letter(*s)).collect::<Vec<_>>(),
        "from_s": f.from_s,
        "to_s": f.to_s,
        "kernel_only": f.kernel_only,
        "user_only": f.user_only,
    })
}

/// The filters as command-line text, empty when there are none.
pub fn filters_text(a: &Analysis) -> String {
    let f = &a.filters;
    let mut v: Vec<String> = Vec::new();
    v.extend(f.watch.iter().map(|w| format!("--watch {w}")));
    v.extend(f.pid.iter().map(|p| format!("--pid {p}")));
    v.extend(f.comm.iter().map(|c| format!("--comm {c}")));
    v.extend(
        f.state
            .iter()
            .map(|s| format!("--state {}", Analysis::state_letter(*s))),
    );
    if let Some(t) = f.from_s {
        v.push(format!("--from {t}"));
    }
    if let Some(t) = f.to_s {
        v.push(format!("--to {t}"));
    }
    v.join(" ")
}

pub use crate::view::{realtime_ns, rel_seconds};

/// The JSON document of `--json` and `report/summary.json` (schema in
/// analyze/JSON.md): the same content as [`text`], every breach included,
/// with the filters, the command line and, with `--fail-if-breaches`, the
/// gate.
pub fn json(a: &Analysis, agg: &Aggregates, o: &SummaryOptions) -> Value {
    json_with_gate(a, agg, o, None)
}

pub fn json_with_gate(
    a: &Analysis,
    agg: &Aggregates,
    o: &SummaryOptions,
    fail_if_breaches: Option<u64>,
) -> Value {
    let inputs: Vec<Value> = a
        .inputs
        .iter()
        .map(|i| {
            json!({
                "path": i.path,
                "hostname": i.meta.hostname,
                "kernel_release": i.meta.kernel_release,
                "tool": i.meta.tool,
                "start_ns": i.meta.start_ns,
                "end_ns": i.meta.end_ns,
                "realtime_offset_ns": i.meta.realtime_offset_ns,
                "breaches": i.breaches_total,
                "task_samples": i.samples_total,
                "kernel_records_lost": i.losses.kernel_records,
                "writer_records_lost": i.losses.writer_records,
                "warnings": i.warnings,
            })
        })
        .collect();
    let watches: Vec<Value> = agg
        .per_watch
        .iter()
        .filter_map(|g| {
            let w = a.watches.get(g.watch?.idx())?;
            let top: Vec<StackHandle> = g.stacks.iter().take(o.top_stacks).map(|s| s.0).collect();
            let tasks = stack_tasks(a, g, &top);
            let mut worst: Option<i64> = None;
            let events: Vec<Value> = g
                .breaches
                .iter()
                .map(|b| {
                    let b = &a.breaches[b.idx()];
                    worst = Some(match (worst, w.cmp) {
                        (None, _) => b.value,
                        (Some(x), vmon_format::Comparison::Less) => x.min(b.value),
                        (Some(x), _) => x.max(b.value),
                    });
                    json!({
                        "input": b.input.0,
                        "event_id": b.event_id,
                        "time_ns": b.time_ns,
                        "time_s": rel_seconds(a, b.input.0, b.time_ns),
                        "realtime_ns": realtime_ns(a, b.input.0, b.time_ns).map(|t| t.to_string()),
                        "value": b.value,
                        "threshold": w.threshold,
                        "tasks_sampled": b.samples,
                        "candidates": b.nr_candidates,
                        "flags": b.flags,
                        "flag_names": crate::view::breach_flag_names(b.flags),
                    })
                })
                .collect();
            let stacks: Vec<Value> = g
                .stacks
                .iter()
                .take(o.top_stacks)
                .map(|(s, n)| {
                    let st = a.stack(*s);
                    let procs: Vec<Value> = tasks
                        .get(s)
                        .map(|t| {
                            t.tasks
                                .iter()
                                .take(10)
                                .map(|((input, p, tgid, comm), c)| {
                                    let chain: Vec<Value> = p
                                        .and_then(|p| a.processes.get(*input as usize)?.get(p as usize))
                                        .map(|pi| {
                                            pi.chain
                                                .iter()
                                                .map(|e| json!({"pid": e.pid, "comm": e.comm, "cmdline": e.cmdline}))
                                                .collect()
                                        })
                                        .unwrap_or_default();
                                    json!({"tgid": tgid, "comm": comm, "samples": c, "chain": chain})
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    json!({
                        "samples": n,
                        "folded": agg.stack_names.get(s.idx()),
                        "user_stack": st.user().iter().rev().map(|f| frame_json(a, *f)).collect::<Vec<_>>(),
                        "kernel_stack": st.kernel().iter().rev().map(|f| frame_json(a, *f)).collect::<Vec<_>>(),
                        "processes": procs,
                    })
                })
                .collect();
            let module_of = |f: crate::analysis::FuncId| {
                a.modules
                    .get(a.func(f).module.idx())
                    .map(|m| m.name.as_str())
                    .unwrap_or("?")
            };
            let self_of = |f: crate::analysis::FuncId| {
                g.top_self.iter().find(|(x, _)| *x == f).map_or(0, |(_, n)| *n)
            };
            let total_of = |f: crate::analysis::FuncId| {
                g.top_total.iter().find(|(x, _)| *x == f).map_or(0, |(_, n)| *n)
            };
            let funcs = |v: &[(crate::analysis::FuncId, u64)]| -> Vec<Value> {
                v.iter()
                    .take(o.top_functions)
                    .map(|(f, _)| json!({
                        "function": a.func(*f).name,
                        "module": module_of(*f),
                        "self_samples": self_of(*f),
                        "total_samples": total_of(*f),
                    }))
                    .collect()
            };
            Some(json!({
                "name": w.name,
                "kind": w.kind,
                "comparison": watch_title(w),
                "value_scale": crate::output::value_scale(w),
                "cmp": crate::view::cmp_symbol(w.cmp),
                "threshold": w.threshold,
                "breaches": g.breaches.len(),
                "task_samples": g.samples,
                "worst_value": worst,
                "processes": g.processes.len(),
                "threads": g.threads.len(),
                "states": g.states.iter().map(|(s, n)| json!({"state": Analysis::state_letter(*s), "samples": n})).collect::<Vec<_>>(),
                "comms": g.comms.iter().map(|(c, n)| json!({"comm": a.name(*c), "samples": n})).collect::<Vec<_>>(),
                "unique_stacks": g.stacks.len(),
                "events": events,
                "top_stacks": stacks,
                "top_functions": funcs(&g.top_total),
                "top_functions_self": funcs(&g.top_self),
            }))
        })
        .collect();
    let integ = crate::report::integrity(a);
    let matched_nothing = !filters_text(a).is_empty() && agg.total.samples == 0;
    json!({
        "schema": "vmon-summary",
        "schema_version": JSON_SCHEMA_VERSION,
        "tool": format!("vmon-analyze {}", env!("CARGO_PKG_VERSION")),
        "command": std::env::args().collect::<Vec<_>>(),
        "filters": filters_json(a),
        "filters_matched_nothing": matched_nothing,
        "inputs": inputs,
        "quality": a.quality,
        "quality_line": a.quality.line(),
        "warnings": a.warnings,
        "breaches": a.breaches.len(),
        "task_samples": agg.total.samples,
        "unique_stacks": agg.total.stacks.len(),
        "watches": watches,
        "data_loss": {
            "nothing_recovered": integ.empty,
            "lost": integ.lossy,
        },
        "gate": fail_if_breaches.map(|n| {
            let g = crate::report::gate(a, n);
            json!({"max_breaches": g.max_breaches, "breaches": g.breaches, "failed": g.failed})
        }),
    })
}
