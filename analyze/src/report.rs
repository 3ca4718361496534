//! `--report DIR`: a CI artifact. `DIR/index.html` is a page (no network)
//! with the summary, the symbolization quality and the top rows of the
//! tables; each flamegraph is `DIR/flame-<n>-<watch>.svg` beside it;
//! `DIR/summary.json` carries the same figures for machines.
//!
//! Each flamegraph is shown through an `<object>` that loads its file rather
//! than inline: inferno's SVGs use fixed element ids and their own script,
//! so two inline graphs would fight over `#frames`, while an `<object>`
//! gives each its own document and keeps zoom and search working. A file,
//! not a `data:` URL: Chromium leaves an `<object>` blank when its data URL
//! is over about 2 MB, which every real-sized capture's graph is.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::aggregate::{Aggregates, Group};
use crate::analysis::{Analysis, Quality};
use crate::tables::TableSet;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot create report directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode summary.json: {0}")]
    Json(#[from] serde_json::Error),
}

/// A rendered flamegraph to embed.
pub struct Flamegraph {
    /// `None` for a graph over all watches.
    pub watch: Option<String>,
    /// Its group's index in `Aggregates::per_watch` (names may repeat).
    pub group: Option<usize>,
    /// The file name in the report directory (unique).
    pub file: String,
    pub svg: Vec<u8>,
}

/// Options of the report.
#[derive(Default)]
pub struct ReportOptions {
    /// `--fail-if-breaches N`, shown as a pass/fail banner.
    pub fail_if_breaches: Option<u64>,
    /// Rows per table on the page (the CSV tables have all rows).
    pub top: usize,
}

/// The machine-readable summary, also what `summary.json` holds.
#[derive(Serialize)]
pub struct Summary {
    pub tool: String,
    pub inputs: Vec<InputSummary>,
    pub breaches: u64,
    pub task_samples: u64,
    pub distinct_stacks: u64,
    pub watches: Vec<WatchSummary>,
    pub quality: Quality,
    pub warnings: Vec<String>,
    /// Present with `--fail-if-breaches`.
    pub gate: Option<Gate>,
}

#[derive(Serialize)]
pub struct InputSummary {
    pub path: String,
    pub hostname: String,
    pub kernel: String,
    pub samples_read: u64,
    pub warnings: Vec<String>,
}

#[derive(Serialize)]
pub struct WatchSummary {
    pub name: String,
    pub cmp: String,
    pub threshold: i64,
    pub breaches: u64,
    pub task_samples: u64,
    /// Largest (for `>`) or smallest (for `<`) value seen at a breach.
    pub worst_value: Option<i64>,
    pub top_functions: Vec<FunctionCount>,
    pub top_stacks: Vec<StackCount>,
}

#[derive(Serialize)]
pub struct FunctionCount {
    pub function: String,
    pub module: String,
    pub self_samples: u64,
    pub total_samples: u64,
}

#[derive(Serialize)]
pub struct StackCount {
    pub samples: u64,
    pub folded: String,
}

/// The CI gate: fails when more than `max_breaches` breaches were seen.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    pub max_breaches: u64,
    pub breaches: u64,
    pub failed: bool,
}

/// The exit code of a run whose `--fail-if-breaches` gate failed; 1 stays
/// the code for errors, so CI can tell a gate from a crash.
pub const GATE_FAILED_EXIT: i32 = 3;

/// The exit code when data was lost (`--strict`) or nothing could be
/// recovered from an input (`--strict` and `--fail-if-breaches`): a gate
/// must not pass on a capture it could not read.
pub const DATA_LOSS_EXIT: i32 = 4;

/// What the inputs lost, for `--strict` and the gate.
#[derive(Clone, Debug, Default)]
pub struct Integrity {
    /// Damaged inputs from which not one breach or sample was recovered.
    pub empty: Vec<String>,
    /// Inputs that lost data: file damage, or records dropped while capturing.
    pub lossy: Vec<String>,
}

pub fn integrity(a: &Analysis) -> Integrity {
    let mut r = Integrity::default();
    for i in &a.inputs {
        let damaged = !i.warnings.is_empty();
        if damaged && i.breaches_total == 0 && i.samples_total == 0 {
            r.empty.push(format!(
                "{}: nothing could be recovered from this damaged capture",
                i.path
            ));
        } else if damaged {
            r.lossy.push(format!(
                "{}: the file is damaged ({} warnings above); part of the capture is lost",
                i.path,
                i.warnings.len()
            ));
        }
        if i.losses.kernel_records > 0 || i.losses.writer_records > 0 {
            r.lossy.push(format!(
                "{}: {} records dropped by the kernel and {} by vmon-capture while capturing",
                i.path, i.losses.kernel_records, i.losses.writer_records
            ));
        }
    }
    r
}

/// `--fail-if-breaches N`: the run fails when the breaches kept by the
/// filters number more than `max`. `--fail-if-breaches 0` fails on any.
pub fn gate(a: &Analysis, max: u64) -> Gate {
    let breaches = a.breaches.len() as u64;
    Gate {
        max_breaches: max,
        breaches,
        failed: breaches > max,
    }
}

fn watch_summary(a: &Analysis, agg: &Aggregates, g: &Group, top: usize) -> WatchSummary {
    let w = g.watch.and_then(|w| a.watches.get(w.idx()));
    let values = g
        .breaches
        .iter()
        .filter_map(|b| a.breaches.get(b.idx()))
        .map(|b| b.value);
    let worst = match w.map(|w| w.cmp) {
        Some(vmon_format::Comparison::Less) => values.min(),
        _ => values.max(),
    };
    WatchSummary {
        name: w.map_or_else(|| "all watches".to_owned(), |w| w.name.clone()),
        cmp: w.map_or("", |w| crate::view::cmp_symbol(w.cmp)).to_owned(),
        threshold: w.map_or(0, |w| w.threshold),
        breaches: g.breaches.len() as u64,
        task_samples: g.samples,
        worst_value: worst,
        top_functions: top_functions(a, g, top),
        top_stacks: g
            .stacks
            .iter()
            .take(top)
            .map(|(s, n)| StackCount {
                samples: *n,
                folded: agg.stack_names.get(s.idx()).cloned().unwrap_or_default(),
            })
            .collect(),
    }
}

fn top_functions(a: &Analysis, g: &Group, top: usize) -> Vec<FunctionCount> {
    let self_of = |f: crate::analysis::FuncId| {
        g.top_self
            .iter()
            .find(|(x, _)| *x == f)
            .map_or(0, |(_, n)| *n)
    };
    g.top_total
        .iter()
        .take(top)
        .filter_map(|(f, n)| {
            let fi = a.funcs.get(f.idx())?;
            Some(FunctionCount {
                function: fi.name.clone(),
                module: a
                    .modules
                    .get(fi.module.idx())
                    .map_or_else(String::new, |m| m.name.clone()),
                self_samples: self_of(*f),
                total_samples: *n,
            })
        })
        .collect()
}

/// The summary of an analysis, as printed into `summary.json`.
pub fn summary(a: &Analysis, agg: &Aggregates, opts: &ReportOptions) -> Summary {
    let top = if opts.top == 0 { 20 } else { opts.top };
    Summary {
        tool: format!("vmon-analyze {}", env!("CARGO_PKG_VERSION")),
        inputs: a
            .inputs
            .iter()
            .map(|i| InputSummary {
                path: i.path.clone(),
                hostname: i.meta.hostname.clone(),
                kernel: i.meta.kernel_release.clone(),
                samples_read: i.samples_total,
                warnings: i.warnings.clone(),
            })
            .collect(),
        breaches: a.breaches.len() as u64,
        task_samples: a.samples.len() as u64,
        distinct_stacks: agg.total.stacks.len() as u64,
        watches: agg
            .per_watch
            .iter()
            .map(|g| watch_summary(a, agg, g, top))
            .collect(),
        quality: a.quality.clone(),
        warnings: a.warnings.clone(),
        gate: opts.fail_if_breaches.map(|n| gate(a, n)),
    }
}

/// Escapes text for HTML element content and attribute values.
/// Control characters become visible `\xNN` (XML forbids them).
pub fn esc(s: &str) -> String {
    crate::escape::xml(s)
}

/// The `height` attribute of an SVG's root element, to size its `<object>`.
fn svg_height(svg: &[u8]) -> Option<u32> {
    let head = std::str::from_utf8(svg.get(..svg.len().min(4096))?).ok()?;
    let root = &head[head.find("<svg")?..];
    let root = &root[..root.find('>')?];
    let at = root.find(" height=\"")? + " height=\"".len();
    let rest = &root[at..];
    rest[..rest.find('"')?].trim_end_matches("px").parse().ok()
}

fn pct(n: u64, total: u64) -> String {
    if total == 0 {
        "–".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / total as f64)
    }
}

const CSS: &str = r#"
:root { --fg:#1d2430; --muted:#5b6575; --line:#d9dee7; --bg:#f6f7f9; --card:#fff; --bad:#b42318; --good:#067647; --accent:#c2410c; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--fg); background:var(--bg); }
header { background:#1d2430; color:#fff; padding:18px 28px; }
header h1 { margin:0; font-size:22px; font-weight:600; }
header .sub { color:#c5cbd6; margin-top:4px; font-size:13px; }
main { padding:20px 28px 40px; max-width:1320px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:16px 20px; margin:0 0 18px; }
h2 { font-size:18px; margin:0 0 10px; }
h3 { font-size:15px; margin:16px 0 6px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin-bottom:18px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 16px; min-width:150px; }
.card .n { font-size:24px; font-weight:650; }
.card .l { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.gate { border-radius:8px; padding:12px 18px; margin-bottom:18px; font-weight:600; color:#fff; }
.gate.fail { background:var(--bad); } .gate.pass { background:var(--good); }
table { border-collapse:collapse; width:100%; font-size:13px; }
.wide { overflow-x:auto; }
td { overflow-wrap:anywhere; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#eef1f5; font-weight:600; position:sticky; top:0; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.mono { font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:12px; word-break:break-all; }
.bar { display:inline-block; height:9px; background:var(--accent); border-radius:2px; vertical-align:middle; margin-right:6px; }
.quality { font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:12px; background:#fff8e6; border:1px solid #f1d9a6; padding:8px 10px; border-radius:6px; white-space:pre-wrap; }
.warn { color:var(--bad); }
.flame { width:100%; border:1px solid var(--line); border-radius:6px; background:#fff; display:block; }
.cols { display:grid; grid-template-columns:1fr 1fr; gap:18px; }
@media (max-width:900px) { .cols { grid-template-columns:1fr; } }
.muted { color:var(--muted); }
nav a { color:#c5cbd6; margin-right:14px; text-decoration:none; font-size:13px; }
"#;

fn html_table(out: &mut String, head: &[(&str, bool)], rows: &[Vec<String>]) {
    out.push_str("<table><thead><tr>");
    for (h, num) in head {
        let _ = write!(
            out,
            "<th{}>{}</th>",
            if *num { " class=\"num\"" } else { "" },
            esc(h)
        );
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for (i, cell) in r.iter().enumerate() {
            // Cells are pre-escaped HTML: some carry a bar.
            let class = match head.get(i) {
                Some((_, true)) => " class=\"num\"",
                _ if cell.len() > 60 => " class=\"mono\"",
                _ => "",
            };
            let _ = write!(out, "<td{class}>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn bar(n: u64, max: u64) -> String {
    let w = if max == 0 { 0 } else { (n * 80).div_ceil(max) };
    format!("<span class=\"bar\" style=\"width:{w}px\"></span>{n}")
}

fn watch_section(
    out: &mut String,
    a: &Analysis,
    ws: &WatchSummary,
    g: &Group,
    flame: Option<&Flamegraph>,
    id: usize,
    top: usize,
) {
    let winfo = g.watch.and_then(|w| a.watches.get(w.idx()));
    let show = |v: i64| winfo.map_or_else(|| v.to_string(), |w| crate::output::watch_value(w, v));
    let _ = write!(
        out,
        "<section id=\"w{id}\"><h2>Watch <code>{}</code> {} {}</h2><p class=\"muted\">{} breaches, {} task samples{}</p>",
        esc(&ws.name),
        esc(&ws.cmp),
        show(ws.threshold),
        ws.breaches,
        ws.task_samples,
        ws.worst_value.map_or_else(String::new, |v| format!(", worst value {}", show(v)))
    );
    if let Some(f) = flame {
        let h = svg_height(&f.svg).unwrap_or(600);
        let _ = write!(
            out,
            "<object class=\"flame\" type=\"image/svg+xml\" style=\"height:{h}px\" title=\"flamegraph of {}\" data=\"{}\">flamegraph: <a href=\"{1}\">{1}</a></object>",
            esc(&ws.name),
            esc(&f.file)
        );
    }
    out.push_str("<div class=\"cols\"><div><h3>Top functions</h3>");
    let maxt = ws.top_functions.first().map_or(0, |f| f.total_samples);
    let rows: Vec<Vec<String>> = ws
        .top_functions
        .iter()
        .map(|f| {
            vec![
                esc(&f.function),
                esc(&f.module),
                f.self_samples.to_string(),
                bar(f.total_samples, maxt),
                pct(f.total_samples, ws.task_samples),
            ]
        })
        .collect();
    html_table(
        out,
        &[
            ("function", false),
            ("module", false),
            ("self", true),
            ("total", true),
            ("of samples", true),
        ],
        &rows,
    );
    out.push_str("</div><div><h3>Who was sampled</h3>");
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (st, n) in g.states.iter().take(4) {
        rows.push(vec![
            format!("state {}", Analysis::state_letter(*st)),
            n.to_string(),
            pct(*n, g.samples),
        ]);
    }
    for (c, n) in g.comms.iter().take(top.min(8)) {
        rows.push(vec![
            format!("comm {}", esc(a.name(*c))),
            n.to_string(),
            pct(*n, g.samples),
        ]);
    }
    for (p, n) in g.processes.iter().take(top.min(5)) {
        rows.push(vec![format!("tgid {p}"), n.to_string(), pct(*n, g.samples)]);
    }
    html_table(
        out,
        &[("group", false), ("samples", true), ("share", true)],
        &rows,
    );
    out.push_str("</div></div><h3>Top stacks</h3>");
    let rows: Vec<Vec<String>> = ws
        .top_stacks
        .iter()
        .map(|s| {
            vec![
                s.samples.to_string(),
                pct(s.samples, ws.task_samples),
                esc(&s.folded.replace(';', " ; ")),
            ]
        })
        .collect();
    html_table(
        out,
        &[
            ("samples", true),
            ("share", true),
            ("stack, outermost first", false),
        ],
        &rows,
    );

    out.push_str("<h3>Breaches</h3>");
    let rows: Vec<Vec<String>> = g
        .breaches
        .iter()
        .take(top)
        .filter_map(|b| a.breaches.get(b.idx()))
        .map(|b| {
            // The flag names, words apart.
            let flags: Vec<String> = crate::view::breach_flag_names(b.flags)
                .iter()
                .map(|n| n.replace('-', " "))
                .collect();
            vec![
                format!("{:+.6}", crate::view::rel_seconds(a, b.input.0, b.time_ns)),
                show(b.value),
                b.nr_candidates.to_string(),
                b.samples.to_string(),
                esc(&flags.join(", ")),
            ]
        })
        .collect();
    html_table(
        out,
        &[
            ("time (s since start)", true),
            ("value", true),
            ("R/D tasks", true),
            ("sampled", true),
            ("flags", false),
        ],
        &rows,
    );
    if g.breaches.len() > top {
        let _ = write!(
            out,
            "<p class=\"muted\">{} more in breaches.csv (<code>--csv</code>).</p>",
            g.breaches.len() - top
        );
    }
    out.push_str("</section>");
}

/// Renders `index.html`.
pub fn render_html(
    a: &Analysis,
    agg: &Aggregates,
    tables: Option<&TableSet>,
    flames: &[Flamegraph],
    opts: &ReportOptions,
) -> String {
    let top = if opts.top == 0 { 20 } else { opts.top };
    let sum = summary(a, agg, opts);
    let mut out = String::with_capacity(1 << 20);
    let title = match a.inputs.as_slice() {
        [one] => format!("vmon report: {}", one.path),
        many => format!("vmon report: {} captures", many.len()),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let hosts: Vec<String> = a
        .inputs
        .iter()
        .map(|i| {
            format!(
                "{} ({}{})",
                i.path,
                i.meta.hostname,
                if i.meta.kernel_release.is_empty() {
                    String::new()
                } else {
                    format!(", {}", i.meta.kernel_release)
                }
            )
        })
        .collect();
    let _ = write!(
        out,
        "<header><h1>{}</h1><div class=\"sub\">{} · {}</div><nav>",
        esc(&title),
        esc(&hosts.join("; ")),
        esc(&sum.tool)
    );
    for (i, w) in sum.watches.iter().enumerate() {
        let _ = write!(out, "<a href=\"#w{i}\">{}</a>", esc(&w.name));
    }
    out.push_str(
        "<a href=\"#quality\">quality</a><a href=\"#tables\">tables</a></nav></header><main>",
    );
    let filters = crate::summary::filters_text(a);
    if !filters.is_empty() {
        let _ = write!(
            out,
            "<p class=\"muted\">Filters: <code>{}</code>{}</p>",
            esc(&filters),
            if a.samples.is_empty() {
                " <span class=\"warn\">matched nothing</span>"
            } else {
                ""
            }
        );
    }

    if let Some(g) = sum.gate {
        let (class, word) = if g.failed {
            ("fail", "FAILED")
        } else {
            ("pass", "PASSED")
        };
        let _ = write!(
            out,
            "<div class=\"gate {class}\" id=\"gate\">CI gate {word}: {} breaches, at most {} allowed (--fail-if-breaches {})</div>",
            g.breaches, g.max_breaches, g.max_breaches
        );
    }
    let q = &a.quality;
    out.push_str("<div class=\"cards\">");
    for (n, l) in [
        (sum.watches.len().to_string(), "watches"),
        (sum.breaches.to_string(), "breaches"),
        (sum.task_samples.to_string(), "task samples"),
        (sum.distinct_stacks.to_string(), "distinct stacks"),
        (pct(q.frames_resolved, q.frames_total), "frames resolved"),
    ] {
        let _ = write!(
            out,
            "<div class=\"card\"><div class=\"n\">{}</div><div class=\"l\">{l}</div></div>",
            esc(&n)
        );
    }
    out.push_str("</div>");

    let _ = write!(out, "<section id=\"quality\"><h2>Symbolization and capture quality</h2><div class=\"quality\">{}</div>", esc(&q.line()));
    let mut rows = Vec::new();
    for (m, n) in &q.unresolved_by_module {
        rows.push(vec![esc(m), "unresolved frames".into(), n.to_string()]);
    }
    for m in &q.missing_debug_info {
        rows.push(vec![
            esc(m),
            "no DWARF (names from symbols or nothing)".into(),
            String::new(),
        ]);
    }
    for m in &q.build_id_mismatches {
        rows.push(vec![
            esc(m),
            "build-id mismatch: local file not used".into(),
            String::new(),
        ]);
    }
    if !rows.is_empty() {
        html_table(
            &mut out,
            &[("module", false), ("problem", false), ("frames", true)],
            &rows,
        );
    }
    // The inputs' warnings are in `a.warnings` already, with their path.
    let warnings: Vec<&String> = a.warnings.iter().collect();
    if !warnings.is_empty() {
        out.push_str("<h3>Warnings</h3><ul>");
        for w in warnings {
            let _ = write!(out, "<li class=\"warn\">{}</li>", esc(w));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");

    for (i, (ws, g)) in sum.watches.iter().zip(&agg.per_watch).enumerate() {
        let flame = flames.iter().find(|f| f.group == Some(i)).or_else(|| {
            // A single combined graph goes with the first watch.
            (i == 0)
                .then(|| flames.iter().find(|f| f.watch.is_none()))
                .flatten()
        });
        watch_section(&mut out, a, ws, g, flame, i, top);
    }

    out.push_str("<section id=\"tables\"><h2>Modules</h2>");
    if let Some(t) = tables.and_then(|t| t.get("modules")) {
        let head: Vec<(&str, bool)> = t
            .schema
            .columns
            .iter()
            .zip(&t.columns)
            .map(|(c, d)| {
                (
                    c.name,
                    matches!(
                        d,
                        crate::tables::ColumnData::U64(_) | crate::tables::ColumnData::U32(_)
                    ),
                )
            })
            .collect();
        let rows: Vec<Vec<String>> = (0..t.rows().min(200))
            .map(|r| t.columns.iter().map(|c| esc(&c.cell(r))).collect())
            .collect();
        // Long paths and build-ids: the table scrolls inside its card
        // rather than running past it.
        out.push_str("<div class=\"wide\">");
        html_table(&mut out, &head, &rows);
        out.push_str("</div>");
    }
    out.push_str("<p class=\"muted\">All tables, with every row: <code>vmon-analyze FILE --csv DIR</code> (columns in TABLES.md).</p></section>");
    out.push_str("</main></body></html>\n");
    out
}

/// Writes `DIR/index.html` and `DIR/summary.json`; returns the summary.
pub fn write_report(
    dir: &Path,
    a: &Analysis,
    agg: &Aggregates,
    tables: Option<&TableSet>,
    flames: &[Flamegraph],
    opts: &ReportOptions,
) -> Result<Summary, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_owned(),
        source,
    })?;
    for f in flames {
        let path = dir.join(&f.file);
        std::fs::write(&path, &f.svg).map_err(|source| ReportError::Write { path, source })?;
    }
    let html = render_html(a, agg, tables, flames, opts);
    let index = dir.join("index.html");
    std::fs::write(&index, html).map_err(|source| ReportError::Write {
        path: index,
        source,
    })?;
    let sum = summary(a, agg, opts);
    // The same document as `--json` (analyze/JSON.md), not a second schema.
    let top = if opts.top == 0 { 20 } else { opts.top };
    let sopts = crate::summary::SummaryOptions {
        top_stacks: top,
        ..Default::default()
    };
    let doc = crate::summary::json_with_gate(a, agg, &sopts, opts.fail_if_breaches);
    let json = serde_json::to_vec_pretty(&doc)?;
    let path = dir.join("summary.json");
    std::fs::write(&path, json).map_err(|source| ReportError::Write { path, source })?;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn svg_height_reads_the_root_element() {
        assert_eq!(
            svg_height(b"<?xml?><svg version=\"1.1\" width=\"1200\" height=\"134\" onload=\"x\">"),
            Some(134)
        );
        assert_eq!(svg_height(b"<svg width=\"1\">"), None);
        assert_eq!(svg_height(b"garbage"), None);
    }
}
