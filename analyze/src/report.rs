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

use thiserror::Error;

use crate::aggregate::Aggregates;
use crate::analysis::Analysis;
use crate::escape::xml;
use crate::tables::TableSet;
use crate::view::{percent, Summary, SummaryOptions, WatchView};

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
    /// The `--fail-if-share`/`--fail-if-growth` results (a banner each)
    /// and, with `--diff`, the change against the base (its section).
    pub checks: crate::gates::Checks,
    /// With `--diff`: the differential flamegraph, written beside
    /// index.html and shown in "Change against the base".
    pub diff_flamegraph: Option<Flamegraph>,
}

pub use crate::view::{gate, integrity, Gate, Integrity};

/// The exit code of a run whose `--fail-if-breaches` gate failed; 1 stays
/// the code for errors, so CI can tell a gate from a crash.
pub const GATE_FAILED_EXIT: i32 = 3;

/// The exit code when data was lost (`--strict`) or nothing could be
/// recovered from an input (`--strict` and `--fail-if-breaches`): a gate
/// must not pass on a capture it could not read.
pub const DATA_LOSS_EXIT: i32 = 4;

/// Rows per table on the page unless [`ReportOptions::top`] says otherwise.
const DEFAULT_TOP: usize = 20;

impl ReportOptions {
    /// Rows per table on the page.
    fn rows(&self) -> usize {
        if self.top == 0 {
            DEFAULT_TOP
        } else {
            self.top
        }
    }

    /// The view the page and `summary.json` show: the document of
    /// `--json --top N` with N the page's rows.
    fn view(&self, a: &Analysis, agg: &Aggregates) -> Summary {
        let sopts = SummaryOptions {
            top_stacks: self.rows(),
            ..Default::default()
        };
        Summary::build(a, agg, &sopts, self.fail_if_breaches).with_checks(&self.checks)
    }
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

/// A share as the page shows it: `–` when there is nothing to share.
fn pct(n: u64, total: u64) -> String {
    percent(n, total).map_or_else(|| "–".into(), |p| format!("{p:.1}%"))
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

/// A column of a page table: its heading, and whether it holds numbers
/// (right-aligned).
struct Column<'a> {
    name: &'a str,
    numeric: bool,
}

/// A column of text.
const fn text(name: &str) -> Column<'_> {
    Column {
        name,
        numeric: false,
    }
}

/// A column of numbers.
const fn num(name: &str) -> Column<'_> {
    Column {
        name,
        numeric: true,
    }
}

fn html_table(out: &mut String, head: &[Column<'_>], rows: &[Vec<String>]) {
    out.push_str("<table><thead><tr>");
    for c in head {
        let _ = write!(
            out,
            "<th{}>{}</th>",
            if c.numeric { " class=\"num\"" } else { "" },
            xml(c.name)
        );
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for (i, cell) in r.iter().enumerate() {
            // Cells are pre-escaped HTML: some carry a bar.
            let class = match head.get(i) {
                Some(c) if c.numeric => " class=\"num\"",
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

/// One watch's section: its flamegraph, top functions, who was sampled,
/// top stacks and breaches.
fn watch_section(
    out: &mut String,
    w: &WatchView,
    flame: Option<&Flamegraph>,
    id: usize,
    top: usize,
) {
    let _ = write!(
        out,
        "<section id=\"w{id}\"><h2>Watch <code>{}</code> {} {}</h2><p class=\"muted\">{} breaches, {} task samples{}</p>",
        xml(&w.name),
        xml(w.cmp),
        w.show(w.threshold),
        w.breaches,
        w.task_samples,
        w.worst_value.map_or_else(String::new, |v| format!(", worst value {}", w.show(v)))
    );
    if let Some(f) = flame {
        let h = svg_height(&f.svg).unwrap_or(600);
        let _ = write!(
            out,
            "<object class=\"flame\" type=\"image/svg+xml\" style=\"height:{h}px\" title=\"flamegraph of {}\" data=\"{}\">flamegraph: <a href=\"{1}\">{1}</a></object>",
            xml(&w.name),
            xml(&f.file)
        );
    }
    out.push_str("<div class=\"cols\"><div><h3>Top functions</h3>");
    let maxt = w.top_functions.first().map_or(0, |f| f.total_samples);
    let rows: Vec<Vec<String>> = w
        .top_functions
        .iter()
        .map(|f| {
            vec![
                xml(&f.function),
                xml(&f.module),
                f.self_samples.to_string(),
                bar(f.total_samples, maxt),
                pct(f.total_samples, w.task_samples),
            ]
        })
        .collect();
    html_table(
        out,
        &[
            text("function"),
            text("module"),
            num("self"),
            num("total"),
            num("of samples"),
        ],
        &rows,
    );
    out.push_str("</div><div><h3>Who was sampled</h3>");
    sampled_table(out, w, top);
    out.push_str("</div></div><h3>Top stacks</h3>");
    let rows: Vec<Vec<String>> = w
        .top_stacks
        .iter()
        .map(|s| {
            vec![
                s.samples.to_string(),
                pct(s.samples, w.task_samples),
                xml(&s.folded.as_deref().unwrap_or_default().replace(';', " ; ")),
            ]
        })
        .collect();
    html_table(
        out,
        &[num("samples"), num("share"), text("stack, outermost first")],
        &rows,
    );
    breaches_table(out, w, top);
    out.push_str("</section>");
}

/// "Who was sampled": states, comms and processes with their shares.
fn sampled_table(out: &mut String, w: &WatchView, top: usize) {
    let row = |what: String, n: u64| vec![what, n.to_string(), pct(n, w.task_samples)];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in w.states.iter().take(4) {
        rows.push(row(format!("state {}", s.state), s.samples));
    }
    for c in w.comms.iter().take(top.min(8)) {
        rows.push(row(format!("comm {}", xml(&c.comm)), c.samples));
    }
    for p in w.top_tgids.iter().take(top.min(5)) {
        rows.push(row(format!("tgid {}", p.tgid), p.samples));
    }
    html_table(out, &[text("group"), num("samples"), num("share")], &rows);
}

/// The first `top` breaches of a watch.
fn breaches_table(out: &mut String, w: &WatchView, top: usize) {
    out.push_str("<h3>Breaches</h3>");
    let rows: Vec<Vec<String>> = w
        .events
        .iter()
        .take(top)
        .map(|b| {
            // The flag names, words apart.
            let flags: Vec<String> = b.flag_names.iter().map(|n| n.replace('-', " ")).collect();
            vec![
                format!("{:+.6}", b.time_s),
                w.show(b.value),
                b.candidates.to_string(),
                b.tasks_sampled.to_string(),
                xml(&flags.join(", ")),
            ]
        })
        .collect();
    html_table(
        out,
        &[
            num("time (s since start)"),
            num("value"),
            num("R/D tasks"),
            num("sampled"),
            text("flags"),
        ],
        &rows,
    );
    if w.events.len() > top {
        let _ = write!(
            out,
            "<p class=\"muted\">{} more in breaches.csv (<code>--csv</code>).</p>",
            w.events.len() - top
        );
    }
}

/// The page's head, header bar, filters, gate banner and cards.
fn page_head(out: &mut String, sum: &Summary) {
    let title = match sum.inputs.as_slice() {
        [one] => format!("vmon report: {}", one.path),
        many => format!("vmon report: {} captures", many.len()),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>",
        xml(&title)
    );
    let hosts: Vec<String> = sum
        .inputs
        .iter()
        .map(|i| {
            let kernel = if i.kernel_release.is_empty() {
                String::new()
            } else {
                format!(", {}", i.kernel_release)
            };
            format!("{} ({}{kernel})", i.path, i.hostname)
        })
        .collect();
    let _ = write!(
        out,
        "<header><h1>{}</h1><div class=\"sub\">{} · {}</div><nav>",
        xml(&title),
        xml(&hosts.join("; ")),
        xml(&sum.tool)
    );
    for (i, w) in sum.watches.iter().enumerate() {
        let _ = write!(out, "<a href=\"#w{i}\">{}</a>", xml(&w.name));
    }
    if sum.change.is_some() {
        out.push_str("<a href=\"#change\">change</a>");
    }
    out.push_str(
        "<a href=\"#quality\">quality</a><a href=\"#tables\">tables</a></nav></header><main>",
    );
    let filters = sum.filters.command_line();
    if !filters.is_empty() {
        let _ = write!(
            out,
            "<p class=\"muted\">Filters: <code>{}</code>{}</p>",
            xml(&filters),
            if sum.task_samples == 0 {
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
    for (i, r) in sum.function_gates.iter().enumerate() {
        let (class, word) = if r.failed {
            ("fail", "FAILED")
        } else {
            ("pass", "PASSED")
        };
        let _ = write!(
            out,
            "<div class=\"gate {class}\" id=\"fgate{i}\">CI gate {word}: {}</div>",
            xml(&crate::gates::describe(r))
        );
    }
    let q = &sum.quality;
    out.push_str("<div class=\"cards\">");
    for (n, l) in [
        (sum.watches.len().to_string(), "watches"),
        (sum.breaches.to_string(), "breaches"),
        (sum.task_samples.to_string(), "task samples"),
        (sum.unique_stacks.to_string(), "distinct stacks"),
        (pct(q.frames_resolved, q.frames_total), "frames resolved"),
    ] {
        let _ = write!(
            out,
            "<div class=\"card\"><div class=\"n\">{}</div><div class=\"l\">{l}</div></div>",
            xml(&n)
        );
    }
    out.push_str("</div>");
}

/// Symbolization and capture quality, and the warnings.
fn quality_section(out: &mut String, sum: &Summary) {
    let q = &sum.quality;
    let _ = write!(out, "<section id=\"quality\"><h2>Symbolization and capture quality</h2><div class=\"quality\">{}</div>", xml(&sum.quality_line));
    let mut rows = Vec::new();
    for (m, n) in &q.unresolved_by_module {
        rows.push(vec![xml(m), "unresolved frames".into(), n.to_string()]);
    }
    for m in &q.missing_debug_info {
        rows.push(vec![
            xml(m),
            "no DWARF (names from symbols or nothing)".into(),
            String::new(),
        ]);
    }
    for m in &q.build_id_mismatches {
        rows.push(vec![
            xml(m),
            "build-id mismatch: local file not used".into(),
            String::new(),
        ]);
    }
    if !rows.is_empty() {
        html_table(
            out,
            &[text("module"), text("problem"), num("frames")],
            &rows,
        );
    }
    // The inputs' warnings are in the summary's warnings already, with
    // their path.
    if !sum.warnings.is_empty() {
        out.push_str("<h3>Warnings</h3><ul>");
        for w in &sum.warnings {
            let _ = write!(out, "<li class=\"warn\">{}</li>", xml(w));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
}

/// The modules table, first rows.
fn modules_section(out: &mut String, tables: Option<&TableSet>) {
    out.push_str("<section id=\"tables\"><h2>Modules</h2>");
    if let Some(t) = tables.and_then(|t| t.get("modules")) {
        let head: Vec<Column<'_>> = t
            .schema
            .columns
            .iter()
            .zip(&t.columns)
            .map(|(c, d)| Column {
                name: c.name,
                numeric: matches!(
                    d,
                    crate::tables::ColumnData::U64(_) | crate::tables::ColumnData::U32(_)
                ),
            })
            .collect();
        let rows: Vec<Vec<String>> = (0..t.rows().min(200))
            .map(|r| t.columns.iter().map(|c| xml(&c.cell(r))).collect())
            .collect();
        // Long paths and build-ids: the table scrolls inside its card
        // rather than running past it.
        out.push_str("<div class=\"wide\">");
        html_table(out, &head, &rows);
        out.push_str("</div>");
    }
    out.push_str("<p class=\"muted\">All tables, with every row: <code>vmon-analyze FILE --csv DIR</code> (columns in TABLES.md).</p></section>");
}

/// "Change against the base" (`--diff BASE.vmt`): the differential
/// flamegraph and the functions whose share changed most.
fn change_section(out: &mut String, sum: &Summary, diff: Option<&Flamegraph>) {
    let Some(c) = &sum.change else {
        return;
    };
    let _ = write!(
        out,
        "<section id=\"change\"><h2>Change against the base</h2><p class=\"muted\">Base <code>{}</code>: {} task samples; now {}. Share: of the task samples with the function anywhere in the stack (once per sample).</p>",
        xml(&c.base),
        c.base_task_samples,
        c.task_samples
    );
    if let Some(f) = diff {
        let h = svg_height(&f.svg).unwrap_or(600);
        let _ = write!(
            out,
            "<object class=\"flame\" type=\"image/svg+xml\" style=\"height:{h}px\" title=\"differential flamegraph\" data=\"{}\">differential flamegraph: <a href=\"{0}\">{0}</a></object><p class=\"muted\">Widths from now, red grew, blue shrank.</p>",
            xml(&f.file)
        );
    }
    out.push_str("<h3>Largest share changes</h3>");
    let rows: Vec<Vec<String>> = c
        .deltas
        .iter()
        .map(|d| {
            vec![
                xml(&d.function),
                format!("{:.2}%", d.base_share_percent),
                format!("{:.2}%", d.share_percent),
                format!("{:+.2}", d.delta_points),
                d.base_samples.to_string(),
                d.samples.to_string(),
            ]
        })
        .collect();
    html_table(
        out,
        &[
            text("function"),
            num("base share"),
            num("now share"),
            num("delta (points)"),
            num("base samples"),
            num("now samples"),
        ],
        &rows,
    );
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
    html(
        &opts.view(a, agg),
        tables,
        flames,
        opts.diff_flamegraph.as_ref(),
        opts.rows(),
    )
}

/// `index.html` of a view, `top` rows per table.
fn html(
    sum: &Summary,
    tables: Option<&TableSet>,
    flames: &[Flamegraph],
    diff: Option<&Flamegraph>,
    top: usize,
) -> String {
    let mut out = String::with_capacity(1 << 20);
    page_head(&mut out, sum);
    change_section(&mut out, sum, diff);
    quality_section(&mut out, sum);
    for (i, w) in sum.watches.iter().enumerate() {
        let flame = flames.iter().find(|f| f.group == Some(i)).or_else(|| {
            // A single combined graph goes with the first watch.
            (i == 0)
                .then(|| flames.iter().find(|f| f.watch.is_none()))
                .flatten()
        });
        watch_section(&mut out, w, flame, i, top);
    }
    modules_section(&mut out, tables);
    out.push_str("</main></body></html>\n");
    out
}

/// Writes `DIR/index.html` and `DIR/summary.json` (the document of
/// `--json`, analyze/JSON.md), both from one view.
pub fn write_report(
    dir: &Path,
    a: &Analysis,
    agg: &Aggregates,
    tables: Option<&TableSet>,
    flames: &[Flamegraph],
    opts: &ReportOptions,
) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_owned(),
        source,
    })?;
    for f in flames.iter().chain(&opts.diff_flamegraph) {
        let path = dir.join(&f.file);
        std::fs::write(&path, &f.svg).map_err(|source| ReportError::Write { path, source })?;
    }
    let sum = opts.view(a, agg);
    let index = dir.join("index.html");
    let page = html(
        &sum,
        tables,
        flames,
        opts.diff_flamegraph.as_ref(),
        opts.rows(),
    );
    std::fs::write(&index, page).map_err(|source| ReportError::Write {
        path: index,
        source,
    })?;
    let json = serde_json::to_vec_pretty(&sum.to_json())?;
    let path = dir.join("summary.json");
    std::fs::write(&path, json).map_err(|source| ReportError::Write { path, source })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_height_reads_the_root_element() {
        assert_eq!(
            svg_height(b"<?xml?><svg version=\"1.1\" width=\"1200\" height=\"134\" onload=\"x\">"),
            Some(134)
        );
        assert_eq!(svg_height(b"garbage"), None);
        assert_eq!(svg_height(b"<svg width=\"1\">"), None);
    }
}
