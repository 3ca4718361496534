//! Aggregation on integer ids: per watch (and over all watches), stack
//! counts, top functions (self and total), and counts per process, thread,
//! comm, state and cgroup, plus the breach timeline.
//!
//! Every list is sorted by count descending, then by name (or id), so two
//! runs over the same inputs print byte-identical output.

use rayon::prelude::*;

use crate::analysis::FxHashMap as HashMap;

use vmon_format::TaskState;

use crate::analysis::{Analysis, BreachId, FuncId, NameId, StackHandle, WatchId};

/// Counts for a group of samples: one watch, or everything.
#[derive(Clone, Debug, Default)]
pub struct Group {
    /// `None` for the group of all watches.
    pub watch: Option<WatchId>,
    pub samples: u64,
    /// Breaches, in time order (then input, event id).
    pub breaches: Vec<BreachId>,
    /// Unique stacks with their sample counts.
    pub stacks: Vec<(StackHandle, u64)>,
    /// Functions by samples where they are the leaf frame.
    pub top_self: Vec<(FuncId, u64)>,
    /// Functions by samples where they appear anywhere (once per sample).
    pub top_total: Vec<(FuncId, u64)>,
    /// By tgid.
    pub processes: Vec<(i32, u64)>,
    /// By (tgid, pid).
    pub threads: Vec<((i32, i32), u64)>,
    pub comms: Vec<(NameId, u64)>,
    pub states: Vec<(TaskState, u64)>,
    pub cgroups: Vec<(u64, u64)>,
}

#[derive(Clone, Debug, Default)]
pub struct Aggregates {
    /// One group per watch that has breaches or samples, in watch order.
    pub per_watch: Vec<Group>,
    pub total: Group,
    /// Folded name of each stack (frames joined by `;`, root first), the
    /// tie-breaker for sorting and the text of folded output.
    pub stack_names: Vec<String>,
}

pub use crate::escape::frame as escape_frame;

/// A C++ function name without its argument list and the qualifiers
/// after it (`ns::Cls::f(std::vector<int> const&) const` → `ns::Cls::f`):
/// flamegraphs cut long names from the left, which left only the
/// arguments visible. A `[clone .cold]` suffix goes with them; names
/// without a trailing argument list are unchanged.
pub fn strip_signature(name: &str) -> &str {
    let mut t = match name.find(" [clone") {
        Some(i) if name.ends_with(']') => &name[..i],
        _ => name,
    };
    loop {
        let before = t;
        for q in [" const", " volatile", " &&", " &", " noexcept"] {
            t = t.strip_suffix(q).unwrap_or(t);
        }
        if t == before {
            break;
        }
    }
    if !t.ends_with(')') {
        return name;
    }
    let mut depth = 0i32;
    for (i, c) in t.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    // `operator()` itself keeps its parentheses.
                    return if i == 0 { name } else { &t[..i] };
                }
            }
            _ => {}
        }
    }
    name
}

/// Folded name of every stack, root first, frames as [`Analysis::frame_label`].
pub fn stack_names(a: &Analysis) -> Vec<String> {
    stack_names_with(a, true)
}

/// [`stack_names`], with C++ argument lists kept (`full_signatures`) or
/// stripped ([`strip_signature`]).
pub fn stack_names_with(a: &Analysis, full_signatures: bool) -> Vec<String> {
    let labels: Vec<String> = (0..a.frames.len())
        .map(|i| {
            let id = crate::analysis::FrameId(i as u32);
            let label = if full_signatures {
                a.frame_label(id)
            } else {
                let fr = a.frame(id);
                let f = a.func(fr.func);
                let suffix = if f.kernel {
                    "_[k]"
                } else if fr.inlined {
                    "_[i]"
                } else {
                    ""
                };
                format!("{}{suffix}", strip_signature(&f.name))
            };
            escape_frame(&label).into_owned()
        })
        .collect();
    a.stacks
        .iter()
        .map(|s| {
            let mut out = String::new();
            for (i, f) in s.frames.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                out.push_str(labels.get(f.idx()).map(String::as_str).unwrap_or("[?]"));
            }
            if out.is_empty() {
                out.push_str("[no stack]");
            }
            out
        })
        .collect()
}

fn sorted<K: Copy, F: Fn(&K, &K) -> std::cmp::Ordering>(
    map: HashMap<K, u64>,
    tie: F,
) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = map.into_iter().filter(|(_, n)| *n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| tie(&a.0, &b.0)));
    v
}

/// Per-group counters of one chunk of samples.
#[derive(Clone, Default)]
struct Acc {
    samples: u64,
    processes: HashMap<i32, u64>,
    threads: HashMap<(i32, i32), u64>,
    comms: HashMap<NameId, u64>,
    states: HashMap<TaskState, u64>,
    cgroups: HashMap<u64, u64>,
}

impl Acc {
    #[inline]
    fn add(&mut self, s: &crate::analysis::SampleRow) {
        self.samples += 1;
        *self.processes.entry(s.tgid).or_default() += 1;
        *self.threads.entry((s.tgid, s.pid)).or_default() += 1;
        *self.comms.entry(s.comm).or_default() += 1;
        *self.states.entry(s.state).or_default() += 1;
        *self.cgroups.entry(s.cgroup_id).or_default() += 1;
    }

    fn merge(&mut self, o: Acc) {
        fn m<K: std::hash::Hash + Eq>(a: &mut HashMap<K, u64>, b: HashMap<K, u64>) {
            for (k, v) in b {
                *a.entry(k).or_default() += v;
            }
        }
        self.samples += o.samples;
        m(&mut self.processes, o.processes);
        m(&mut self.threads, o.threads);
        m(&mut self.comms, o.comms);
        m(&mut self.states, o.states);
        m(&mut self.cgroups, o.cgroups);
    }
}

impl Aggregates {
    /// Folded names with full C++ signatures.
    pub fn compute(a: &Analysis) -> Aggregates {
        Self::compute_with(a, true)
    }

    /// With `full_signatures` false, C++ argument lists are stripped from
    /// the folded names (folded output, flamegraphs, the stacks table).
    pub fn compute_with(a: &Analysis, full_signatures: bool) -> Aggregates {
        let stack_names = stack_names_with(a, full_signatures);
        let nw = a.watches.len();
        let ns = a.stacks.len();
        // Counted in parallel over chunks of samples, then merged; "all" is
        // the merge of the per-watch counts.
        let partial = |chunk: &[crate::analysis::SampleRow]| -> (Vec<Vec<u64>>, Vec<Acc>) {
            let mut counts = vec![vec![0u64; ns]; nw];
            let mut accs: Vec<Acc> = (0..nw).map(|_| Acc::default()).collect();
            for s in chunk {
                let (Some(c), Some(acc)) =
                    (counts.get_mut(s.watch.idx()), accs.get_mut(s.watch.idx()))
                else {
                    continue;
                };
                if let Some(c) = c.get_mut(s.stack.idx()) {
                    *c += 1;
                }
                acc.add(s);
            }
            (counts, accs)
        };
        let chunk = (a.samples.len() / (4 * rayon::current_num_threads().max(1))).max(50_000);
        let (stack_counts, accs) = a.samples.par_chunks(chunk).map(partial).reduce(
            || partial(&[]),
            |(mut c1, mut a1), (c2, a2)| {
                for (x, y) in c1.iter_mut().zip(c2) {
                    for (p, q) in x.iter_mut().zip(y) {
                        *p += q;
                    }
                }
                for (x, y) in a1.iter_mut().zip(a2) {
                    x.merge(y);
                }
                (c1, a1)
            },
        );
        let mut total_stack = vec![0u64; ns];
        for c in &stack_counts {
            for (t, n) in total_stack.iter_mut().zip(c) {
                *t += n;
            }
        }
        let mut all = Acc::default();
        for acc in &accs {
            all.merge(acc.clone());
        }

        let mut breaches_by_watch: Vec<Vec<BreachId>> = vec![Vec::new(); nw];
        for (i, b) in a.breaches.iter().enumerate() {
            if let Some(v) = breaches_by_watch.get_mut(b.watch.idx()) {
                v.push(BreachId(i as u32));
            }
        }
        let breach_order = |x: &BreachId, y: &BreachId| {
            let (bx, by) = (&a.breaches[x.idx()], &a.breaches[y.idx()]);
            (bx.time_ns, bx.input, bx.event_id).cmp(&(by.time_ns, by.input, by.event_id))
        };
        for v in &mut breaches_by_watch {
            v.sort_by(breach_order);
        }

        let build = |watch: Option<WatchId>, counts: &[u64], acc: Acc, breaches: Vec<BreachId>| {
            let mut stacks: Vec<(StackHandle, u64)> = counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (StackHandle(i as u32), *n))
                .collect();
            stacks.sort_by(|x, y| {
                y.1.cmp(&x.1)
                    .then_with(|| stack_names[x.0.idx()].cmp(&stack_names[y.0.idx()]))
            });
            let (top_self, top_total) = func_counts(a, &stacks);
            let name_cmp = |x: &NameId, y: &NameId| a.name(*x).cmp(a.name(*y));
            Group {
                watch,
                samples: acc.samples,
                breaches,
                stacks,
                top_self,
                top_total,
                processes: sorted(acc.processes, |x, y| x.cmp(y)),
                threads: sorted(acc.threads, |x, y| x.cmp(y)),
                comms: sorted(acc.comms, name_cmp),
                states: sorted(acc.states, |x, y| x.cmp(y)),
                cgroups: sorted(acc.cgroups, |x, y| x.cmp(y)),
            }
        };

        let mut per_watch = Vec::new();
        for (w, ((counts, acc), breaches)) in stack_counts
            .iter()
            .zip(accs)
            .zip(breaches_by_watch)
            .enumerate()
        {
            if acc.samples == 0 && breaches.is_empty() {
                continue;
            }
            per_watch.push(build(Some(WatchId(w as u32)), counts, acc, breaches));
        }
        let mut all_breaches: Vec<BreachId> =
            (0..a.breaches.len()).map(|i| BreachId(i as u32)).collect();
        all_breaches.sort_by(breach_order);
        let total = build(None, &total_stack, all, all_breaches);
        Aggregates {
            per_watch,
            total,
            stack_names,
        }
    }
}

/// Functions with sample counts, sorted.
pub type FuncCounts = Vec<(FuncId, u64)>;

/// Self and total counts per function from stack counts.
fn func_counts(a: &Analysis, stacks: &[(StackHandle, u64)]) -> (FuncCounts, FuncCounts) {
    let nf = a.funcs.len();
    let mut self_c = vec![0u64; nf];
    let mut total_c = vec![0u64; nf];
    // Stamp per function so recursion counts once per stack.
    let mut seen = vec![u32::MAX; nf];
    for (k, (s, n)) in stacks.iter().enumerate() {
        let st = a.stack(*s);
        if let Some(leaf) = st.frames.last() {
            if let Some(c) = self_c.get_mut(a.frame(*leaf).func.idx()) {
                *c += n;
            }
        }
        for f in &st.frames {
            let func = a.frame(*f).func.idx();
            if seen.get(func).is_some_and(|&m| m != k as u32) {
                seen[func] = k as u32;
                total_c[func] += n;
            }
        }
    }
    let finish = |c: Vec<u64>| {
        let mut v: Vec<(FuncId, u64)> = c
            .into_iter()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .map(|(i, n)| (FuncId(i as u32), n))
            .collect();
        v.sort_by(|x, y| {
            y.1.cmp(&x.1)
                .then_with(|| a.func(x.0).name.cmp(&a.func(y.0).name))
                .then_with(|| x.0.cmp(&y.0))
        });
        v
    };
    (finish(self_c), finish(total_c))
}

#[cfg(test)]
mod signature_tests {
    use super::strip_signature as st;

    #[test]
    fn cxx_argument_lists_are_stripped() {
        assert_eq!(
            st("shapes::Circle::area(int) const"),
            "shapes::Circle::area"
        );
        assert_eq!(
            st("std::vector<int, std::allocator<int> >::push_back(int const&)"),
            "std::vector<int, std::allocator<int> >::push_back"
        );
        assert_eq!(st("f(void (*)(int), int)"), "f");
        assert_eq!(
            st("(anonymous namespace)::g(long)"),
            "(anonymous namespace)::g"
        );
        assert_eq!(st("S::operator()(int) &&"), "S::operator()");
        assert_eq!(st("h(int) [clone .cold]"), "h");
        assert_eq!(st("main"), "main");
        assert_eq!(
            st("core::ptr::drop_in_place<x>"),
            "core::ptr::drop_in_place<x>"
        );
        assert_eq!(st("[kernel]+0x10"), "[kernel]+0x10");
        assert_eq!(st("(broken"), "(broken");
    }
}
