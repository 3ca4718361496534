//! Folded stacks and flamegraphs (through inferno), including differential
//! ones. Lines are rendered from unique stacks, never per sample.

use std::collections::HashMap;
use std::io::Write;

use inferno::flamegraph::{self, color::MultiPalette, color::Palette, Options};

use crate::aggregate::{Aggregates, Group};
use crate::analysis::Analysis;

/// `stack count` lines of a group, in its order (count desc, then name).
pub fn folded_lines(agg: &Aggregates, group: &Group) -> Vec<String> {
    let text = folded_text(agg, group);
    text.lines().map(str::to_string).collect()
}

/// The folded lines of a group as one `\n`-terminated text: one
/// allocation for the whole group instead of one per line.
fn folded_text(agg: &Aggregates, group: &Group) -> String {
    let names = |s: &crate::analysis::StackHandle| {
        agg.stack_names
            .get(s.idx())
            .map(String::as_str)
            .unwrap_or("[?]")
    };
    let len: usize = group.stacks.iter().map(|(s, _)| names(s).len() + 22).sum();
    let mut out = String::with_capacity(len);
    let mut num = itoa::Buffer::new();
    for (s, n) in &group.stacks {
        out.push_str(names(s));
        out.push(' ');
        out.push_str(num.format(*n));
        out.push('\n');
    }
    out
}

pub fn write_folded(w: &mut dyn Write, agg: &Aggregates, group: &Group) -> std::io::Result<()> {
    w.write_all(folded_text(agg, group).as_bytes())
}

/// `--group-by`: a root frame saying who ran each stack, as
/// stackcollapse-perf does with the comm (and `--pid`, `--tid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// The thread's comm.
    Comm,
    /// The process: its comm and tgid, `name[tgid]`.
    Process,
    /// The thread: its comm and pid, `name[pid]`.
    Thread,
    /// The watch that breached.
    Watch,
}

/// The root frame of a sample under `by`.
fn group_label(a: &Analysis, s: &crate::analysis::SampleRow, by: GroupBy) -> String {
    match by {
        GroupBy::Comm => a.name(s.comm).to_string(),
        GroupBy::Thread => format!("{}[{}]", a.name(s.comm), s.pid),
        GroupBy::Process => {
            let pcomm = s
                .process
                .and_then(|p| a.processes.get(s.input.0 as usize)?.get(p as usize))
                .and_then(|p| p.chain.first())
                .map(|c| c.comm.as_str())
                .unwrap_or_else(|| a.name(s.comm));
            format!("{pcomm}[{}]", s.tgid)
        }
        GroupBy::Watch => a
            .watches
            .get(s.watch.idx())
            .map_or_else(|| "?".to_string(), watch_title),
    }
}

/// The folded lines of a group with a root frame per [`GroupBy`], sorted
/// by count (then name); the counts sum to the group's samples.
pub fn grouped_folded_text(a: &Analysis, agg: &Aggregates, group: &Group, by: GroupBy) -> String {
    let mut m: HashMap<(String, u32), u64> = HashMap::new();
    for s in &a.samples {
        if group.watch.is_some_and(|w| w != s.watch) {
            continue;
        }
        *m.entry((group_label(a, s, by), s.stack.0)).or_default() += 1;
    }
    let mut lines: Vec<(String, u64)> = m
        .into_iter()
        .map(|((label, st), n)| {
            let name = agg
                .stack_names
                .get(st as usize)
                .map(String::as_str)
                .unwrap_or("[?]");
            (format!("{};{name}", crate::escape::frame(&label)), n)
        })
        .collect();
    lines.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    let mut out = String::new();
    for (l, n) in lines {
        out.push_str(&l);
        out.push(' ');
        out.push_str(&n.to_string());
        out.push('\n');
    }
    out
}

/// Folded output of a group, grouped by `by` when given.
pub fn write_folded_by(
    w: &mut dyn Write,
    a: &Analysis,
    agg: &Aggregates,
    group: &Group,
    by: Option<GroupBy>,
) -> std::io::Result<()> {
    match by {
        Some(by) => w.write_all(grouped_folded_text(a, agg, group, by).as_bytes()),
        None => write_folded(w, agg, group),
    }
}

/// The comparison, value scale and values of a watch, as every output
/// shows them ([`crate::view`]).
pub use crate::view::{comparison as watch_title, value_scale, watch_value};

fn options(title: String, subtitle: String) -> Options<'static> {
    let mut o = Options::default();
    o.title = title;
    o.subtitle = Some(subtitle);
    o.colors = Palette::Multi(MultiPalette::Java);
    o.deterministic = true;
    o.count_name = "samples".to_string();
    o.min_width = 0.1;
    o
}

/// Renders one group as an SVG flamegraph.
pub fn flamegraph(
    w: &mut dyn Write,
    a: &Analysis,
    agg: &Aggregates,
    group: &Group,
) -> std::io::Result<()> {
    flamegraph_by(w, a, agg, group, None)
}

/// [`flamegraph`] with a root frame per [`GroupBy`] when given.
pub fn flamegraph_by(
    w: &mut dyn Write,
    a: &Analysis,
    agg: &Aggregates,
    group: &Group,
    by: Option<GroupBy>,
) -> std::io::Result<()> {
    let crate::view::FlameTitles { title, subtitle } = crate::view::FlameTitles::of(a, group);
    let text = match by {
        Some(by) => grouped_folded_text(a, agg, group, by),
        None => folded_text(agg, group),
    };
    if text.is_empty() {
        return empty_svg(w, &title);
    }
    let mut o = options(title, subtitle);
    flamegraph::from_lines(&mut o, text.lines(), w)
}

/// inferno refuses empty input; an empty result still deserves a file that
/// says so rather than a missing artifact.
fn empty_svg(w: &mut dyn Write, title: &str) -> std::io::Result<()> {
    let t = crate::escape::xml(title);
    write!(
        w,
        "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg version=\"1.1\" width=\"1200\" height=\"60\" xmlns=\"http://www.w3.org/2000/svg\"><text x=\"600\" y=\"24\" text-anchor=\"middle\" font-size=\"17\">{t}</text><text x=\"600\" y=\"48\" text-anchor=\"middle\" font-size=\"12\">no task samples match</text></svg>\n"
    )
}

/// Two-count lines `stack base current` over the union of both groups'
/// stacks, sorted by name (deterministic).
pub fn diff_lines(base: &[String], current: &[String]) -> Vec<String> {
    let mut m: HashMap<&str, (u64, u64)> = HashMap::new();
    let split = |l: &str| -> Option<(usize, u64)> {
        let (i, n) = l.rsplit_once(' ')?;
        Some((i.len(), n.parse().ok()?))
    };
    for l in base {
        if let Some((k, n)) = split(l) {
            m.entry(&l[..k]).or_default().0 += n;
        }
    }
    for l in current {
        if let Some((k, n)) = split(l) {
            m.entry(&l[..k]).or_default().1 += n;
        }
    }
    let mut v: Vec<(&str, (u64, u64))> = m.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v.into_iter()
        .map(|(s, (b, c))| format!("{s} {b} {c}"))
        .collect()
}

/// A differential flamegraph: widths from the current capture, colours
/// from the change against the base (red grew, blue shrank).
pub fn diff_flamegraph(
    w: &mut dyn Write,
    title: String,
    subtitle: String,
    base: &[String],
    current: &[String],
) -> std::io::Result<()> {
    let lines = diff_lines(base, current);
    if lines.is_empty() {
        return empty_svg(w, &title);
    }
    let mut o = options(
        crate::escape::visible(&title).into_owned(),
        crate::escape::visible(&subtitle).into_owned(),
    );
    flamegraph::from_lines(&mut o, lines.iter().map(String::as_str), w)
}

/// The text diff of `--diff BASE` without another output: per function,
/// its share of the samples as the leaf (self) and anywhere (total) in the
/// base and now, the `top` largest changes of total share first.
pub fn diff_text(
    base: &Analysis,
    bagg: &Aggregates,
    now: &Analysis,
    nagg: &Aggregates,
    top: usize,
) -> String {
    use std::fmt::Write as _;
    // (self, total) samples per function name, in base and now.
    let counts = |a: &Analysis, g: &Group| {
        let mut m: HashMap<String, (u64, u64)> = HashMap::new();
        for (f, n) in &g.top_self {
            m.entry(a.func(*f).name.clone()).or_default().0 += n;
        }
        for (f, n) in &g.top_total {
            m.entry(a.func(*f).name.clone()).or_default().1 += n;
        }
        m
    };
    let (b, n) = (counts(base, &bagg.total), counts(now, &nagg.total));
    let pct = |x: u64, t: u64| crate::view::percent(x, t).unwrap_or(0.0);
    let (bt, nt) = (bagg.total.samples, nagg.total.samples);
    let mut names: Vec<&String> = b.keys().chain(n.keys()).collect();
    names.sort();
    names.dedup();
    let mut rows: Vec<(f64, f64, f64, f64, &String)> = names
        .into_iter()
        .map(|f| {
            let (bs, btot) = b.get(f).copied().unwrap_or_default();
            let (ns, ntot) = n.get(f).copied().unwrap_or_default();
            (pct(btot, bt), pct(ntot, nt), pct(bs, bt), pct(ns, nt), f)
        })
        .collect();
    rows.sort_by(|x, y| {
        (y.1 - y.0)
            .abs()
            .total_cmp(&(x.1 - x.0).abs())
            .then_with(|| x.4.cmp(y.4))
    });
    let mut out = String::new();
    let _ = writeln!(
        out,
        "diff: base {bt} task samples, now {nt}; share of the samples with the function anywhere (total) and as the leaf (self)"
    );
    let _ = writeln!(
        out,
        "{:>8} {:>8} {:>8}  {:>8} {:>8}  function",
        "base%", "now%", "delta", "self b%", "self n%"
    );
    for (b, n, bs, ns, f) in rows.into_iter().take(top) {
        let _ = writeln!(
            out,
            "{b:>8.2} {n:>8.2} {:>+8.2}  {bs:>8.2} {ns:>8.2}  {}",
            n - b,
            crate::escape::visible(f)
        );
    }
    out
}

/// A file-name-safe form of a watch name.
pub fn file_stem(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        // File names are limited to 255 bytes.
        .take(100)
        .collect();
    if t.is_empty() {
        "watch".into()
    } else {
        t
    }
}
