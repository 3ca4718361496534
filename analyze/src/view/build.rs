//! [`Summary::build`]: the view computed from an analysis and its counts.

use std::collections::HashMap;

use vmon_format::Comparison;

use super::{
    breach_flag_names, cmp_symbol, comparison, gate, integrity, realtime_ns, rel_seconds,
    value_scale, BreachView, CommCount, DataLoss, FiltersView, FrameView, FunctionCount, InputView,
    OtherStacks, StackProcess, StackView, StateCount, Summary, SummaryOptions, TgidCount,
    WatchView, JSON_SCHEMA_VERSION,
};
use crate::aggregate::{Aggregates, Group};
use crate::analysis::{Analysis, FrameId, FuncId, InputInfo, NameId, StackHandle, WatchInfo};

/// The task groups listed per stack in the JSON.
const STACK_PROCESSES: usize = 10;
/// The processes kept per watch for the report's "who was sampled".
const TOP_TGIDS: usize = 5;

impl Summary {
    /// The view of `a` under `o`; `fail_if_breaches` adds the gate.
    pub(crate) fn build(
        a: &Analysis,
        agg: &Aggregates,
        o: &SummaryOptions,
        fail_if_breaches: Option<u64>,
    ) -> Summary {
        let filters = filters_view(a);
        let matched_nothing = !filters.command_line().is_empty() && agg.total.samples == 0;
        let integ = integrity(a);
        Summary {
            schema: "vmon-summary",
            schema_version: JSON_SCHEMA_VERSION,
            tool: format!("vmon-analyze {}", env!("CARGO_PKG_VERSION")),
            command: std::env::args().collect(),
            filters,
            filters_matched_nothing: matched_nothing,
            inputs: a.inputs.iter().map(input_view).collect(),
            quality: a.quality.clone(),
            quality_line: a.quality.line(),
            warnings: a.warnings.clone(),
            breaches: a.breaches.len() as u64,
            task_samples: agg.total.samples,
            unique_stacks: agg.total.stacks.len() as u64,
            watches: agg
                .per_watch
                .iter()
                .filter_map(|g| {
                    let w = a.watches.get(g.watch?.idx())?;
                    Some(watch_view(a, agg, g, w, o))
                })
                .collect(),
            data_loss: DataLoss {
                nothing_recovered: integ.empty,
                lost: integ.lossy,
            },
            gate: fail_if_breaches.map(|n| gate(a, n)),
            function_gates: Vec::new(),
            change: None,
        }
    }
}

fn filters_view(a: &Analysis) -> FiltersView {
    let f = &a.filters;
    FiltersView {
        watch: f.watch.clone(),
        pid: f.pid.clone(),
        comm: f.comm.clone(),
        state: f.state.iter().map(|s| Analysis::state_letter(*s)).collect(),
        from_s: f.from_s,
        to_s: f.to_s,
        kernel_only: f.kernel_only,
        user_only: f.user_only,
    }
}

fn input_view(i: &InputInfo) -> InputView {
    InputView {
        path: i.path.clone(),
        hostname: i.meta.hostname.clone(),
        kernel_release: i.meta.kernel_release.clone(),
        tool: i.meta.tool.clone(),
        start_ns: i.meta.start_ns,
        end_ns: i.meta.end_ns,
        realtime_offset_ns: i.meta.realtime_offset_ns,
        breaches: i.breaches_total,
        task_samples: i.samples_total,
        kernel_records_lost: i.losses.kernel_records,
        writer_records_lost: i.losses.writer_records,
        warnings: i.warnings.clone(),
    }
}

fn watch_view(
    a: &Analysis,
    agg: &Aggregates,
    g: &Group,
    w: &WatchInfo,
    o: &SummaryOptions,
) -> WatchView {
    let events = events(a, g, w);
    let top = &g.stacks[..g.stacks.len().min(o.top_stacks)];
    let mut tasks = stack_tasks(a, g, top);
    let top_stacks: Vec<StackView> = top
        .iter()
        .map(|(s, n)| stack_view(a, agg, *s, *n, tasks.remove(s).unwrap_or_default()))
        .collect();
    let rest: u64 = g.stacks[top.len()..].iter().map(|(_, n)| n).sum();
    WatchView {
        name: w.name.clone(),
        kind: w.kind.clone(),
        comparison: comparison(w),
        value_scale: value_scale(w),
        cmp: cmp_symbol(w.cmp),
        threshold: w.threshold,
        breaches: g.breaches.len() as u64,
        task_samples: g.samples,
        worst_value: worst_value(w.cmp, &events),
        processes: g.processes.len() as u64,
        threads: g.threads.len() as u64,
        states: g
            .states
            .iter()
            .map(|(s, n)| StateCount {
                state: Analysis::state_letter(*s),
                samples: *n,
            })
            .collect(),
        comms: g
            .comms
            .iter()
            .map(|(c, n)| CommCount {
                comm: a.name(*c).to_string(),
                samples: *n,
            })
            .collect(),
        unique_stacks: g.stacks.len() as u64,
        events,
        top_stacks,
        top_functions: functions(a, g, &g.top_total, o.top_functions),
        top_functions_self: functions(a, g, &g.top_self, o.top_functions),
        top_tgids: g
            .processes
            .iter()
            .take(TOP_TGIDS)
            .map(|(tgid, n)| TgidCount {
                tgid: *tgid,
                samples: *n,
            })
            .collect(),
        other_stacks: OtherStacks {
            stacks: (g.stacks.len() - top.len()) as u64,
            samples: rest,
        },
    }
}

/// Every breach of a group, in its order.
fn events(a: &Analysis, g: &Group, w: &WatchInfo) -> Vec<BreachView> {
    g.breaches
        .iter()
        .filter_map(|b| a.breaches.get(b.idx()))
        .map(|b| BreachView {
            input: b.input.0,
            event_id: b.event_id,
            time_ns: b.time_ns,
            time_s: rel_seconds(a, b.input.0, b.time_ns),
            realtime_ns: realtime_ns(a, b.input.0, b.time_ns).map(|t| t.to_string()),
            value: b.value,
            threshold: w.threshold,
            tasks_sampled: b.samples,
            candidates: b.nr_candidates,
            flags: b.flags,
            flag_names: breach_flag_names(b.flags),
        })
        .collect()
}

/// The largest value at a breach for `>`, the smallest for `<`.
fn worst_value(cmp: Comparison, events: &[BreachView]) -> Option<i64> {
    let values = events.iter().map(|e| e.value);
    match cmp {
        Comparison::Less => values.min(),
        Comparison::Greater => values.max(),
    }
}

/// What groups the samples of a stack: a process of an input, with the
/// comm its task had (a name's text, so the order is by name).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct TaskKey {
    input: u32,
    process: Option<u32>,
    tgid: i32,
    comm: NameId,
}

/// A task group on a stack with its samples, before it becomes a
/// [`StackProcess`].
#[derive(Default)]
struct TaskGroup {
    input: u32,
    process: Option<u32>,
    tgid: i32,
    comm: String,
    samples: u64,
}

/// Who ran each of `wanted`: task groups by samples descending, then by
/// input, process, tgid and comm.
fn stack_tasks(
    a: &Analysis,
    group: &Group,
    wanted: &[(StackHandle, u64)],
) -> HashMap<StackHandle, Vec<TaskGroup>> {
    let mut m: HashMap<StackHandle, HashMap<TaskKey, u64>> =
        wanted.iter().map(|(s, _)| (*s, HashMap::new())).collect();
    for s in &a.samples {
        if group.watch.is_some_and(|w| w != s.watch) {
            continue;
        }
        if let Some(e) = m.get_mut(&s.stack) {
            let key = TaskKey {
                input: s.input.0,
                process: s.process,
                tgid: s.tgid,
                comm: s.comm,
            };
            *e.entry(key).or_default() += 1;
        }
    }
    m.into_iter()
        .map(|(stack, counts)| {
            let mut tasks: Vec<TaskGroup> = counts
                .into_iter()
                .map(|(k, samples)| TaskGroup {
                    input: k.input,
                    process: k.process,
                    tgid: k.tgid,
                    comm: a.name(k.comm).to_string(),
                    samples,
                })
                .collect();
            tasks.sort_by(|x, y| {
                y.samples.cmp(&x.samples).then_with(|| {
                    (x.input, x.process, x.tgid, &x.comm)
                        .cmp(&(y.input, y.process, y.tgid, &y.comm))
                })
            });
            (stack, tasks)
        })
        .collect()
}

fn stack_view(
    a: &Analysis,
    agg: &Aggregates,
    s: StackHandle,
    samples: u64,
    tasks: Vec<TaskGroup>,
) -> StackView {
    let st = a.stack(s);
    let frames = |fs: &[FrameId]| fs.iter().rev().map(|f| frame_view(a, *f)).collect();
    let process_groups = tasks.len();
    let processes = tasks
        .into_iter()
        .take(STACK_PROCESSES)
        .map(|t| {
            let info = t
                .process
                .and_then(|p| a.processes.get(t.input as usize)?.get(p as usize));
            StackProcess {
                tgid: t.tgid,
                comm: t.comm,
                samples: t.samples,
                chain: info.map(|p| p.chain.clone()).unwrap_or_default(),
                chain_truncated: info.is_some_and(|p| p.chain_truncated),
            }
        })
        .collect();
    StackView {
        samples,
        folded: agg.stack_names.get(s.idx()).cloned(),
        user_stack: frames(st.user()),
        kernel_stack: frames(st.kernel()),
        processes,
        process_groups,
    }
}

fn frame_view(a: &Analysis, f: FrameId) -> FrameView {
    let fr = a.frame(f);
    let func = a.func(fr.func);
    let m = a.modules.get(func.module.idx());
    FrameView {
        function: func.name.clone(),
        module: m.map_or("?", |m| m.name.as_str()).to_string(),
        module_path: m.map_or("?", |m| m.path.as_str()).to_string(),
        file: fr.file.clone(),
        line: (fr.line > 0).then_some(fr.line),
        inlined: fr.inlined,
        kernel: func.kernel,
        resolved: func.resolved,
    }
}

/// The first `limit` functions of `list` (a group's `top_total` or
/// `top_self`), each with both its counts.
fn functions(a: &Analysis, g: &Group, list: &[(FuncId, u64)], limit: usize) -> Vec<FunctionCount> {
    let count_in =
        |v: &[(FuncId, u64)], f: FuncId| v.iter().find(|(x, _)| *x == f).map_or(0, |(_, n)| *n);
    list.iter()
        .take(limit)
        .filter_map(|(f, _)| {
            let info = a.funcs.get(f.idx())?;
            Some(FunctionCount {
                function: info.name.clone(),
                module: a
                    .modules
                    .get(info.module.idx())
                    .map_or("?", |m| m.name.as_str())
                    .to_string(),
                self_samples: count_in(&g.top_self, *f),
                total_samples: count_in(&g.top_total, *f),
            })
        })
        .collect()
}
