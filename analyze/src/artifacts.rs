//! The table, report and CI outputs (`--csv`, `--parquet`, `--query`,
//! `--report`, `--pprof`, `--perf-script`, `--speedscope`, `--fail-if-breaches`,
//! `--strict`), as plain options: the binary maps its flags onto [`Artifacts`]
//! and hands it the analysis.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::aggregate::Aggregates;
use crate::analysis::Analysis;
use crate::gates::{self, Checks, GrowthGate, ShareGate};
use crate::progress::Progress;
use crate::report::{self, Flamegraph, ReportOptions};
use crate::{output, tables};

/// Which of the table, report and gate outputs to produce.
#[derive(Debug, Default, Clone)]
pub struct Artifacts {
    /// Write the tables as DIR/<table>.csv.
    pub csv: Option<PathBuf>,
    /// Write the tables as DIR/<table>.parquet (the `polars` feature).
    pub parquet: Option<PathBuf>,
    /// Run this SQL over the tables and print the result as CSV on stdout.
    pub query: Option<String>,
    /// Write a CI report into this directory.
    pub report: Option<PathBuf>,
    /// Write a pprof profile (gzipped profile.proto) to this file.
    pub pprof: Option<PathBuf>,
    /// Write the samples as `perf script` text to this file (`-`: stdout).
    pub perf_script: Option<PathBuf>,
    /// Write a speedscope JSON profile to this file (`-`: stdout).
    pub speedscope: Option<PathBuf>,
    /// Fail (exit 3) with more breaches than this.
    pub fail_if_breaches: Option<u64>,
    /// Fail (exit 3) when a function's share is above a limit.
    pub fail_if_share: Vec<ShareGate>,
    /// Fail (exit 3) when a function's share grew more than a factor
    /// against the base (needs one: [`Artifacts::run_against`]).
    pub fail_if_growth: Vec<GrowthGate>,
    /// Fail (exit 4) when data was lost.
    pub strict: bool,
}

/// The base capture of `--diff BASE.vmt`, analysed as the inputs are.
#[derive(Clone, Copy)]
pub struct Base<'a> {
    /// As given on the command line.
    pub path: &'a Path,
    pub analysis: &'a Analysis,
    pub aggregates: &'a Aggregates,
}

/// Rows of the change table (JSON `change.deltas`, the report).
pub const CHANGE_ROWS: usize = 20;

impl Artifacts {
    /// Whether an output here is asked for that needs the tables (each
    /// writes something, so the summary is not printed on its own account).
    pub fn needs_tables(&self) -> bool {
        self.csv.is_some()
            || self.parquet.is_some()
            || self.query.is_some()
            || self.report.is_some()
            || self.pprof.is_some()
    }

    /// Whether an output here writes something (so the summary is not
    /// printed on its own account).
    pub fn writes_output(&self) -> bool {
        self.needs_tables() || self.perf_script.is_some() || self.speedscope.is_some()
    }

    /// Whether an output here owns stdout.
    pub fn uses_stdout(&self) -> bool {
        !self.stdout_users().is_empty()
    }

    /// The options here that write to stdout, by flag: `--query`, and
    /// `--perf-script -` and `--speedscope -`.
    pub fn stdout_users(&self) -> Vec<&'static str> {
        [
            (self.query.is_some(), "--query"),
            (is_stdout(&self.perf_script), "--perf-script -"),
            (is_stdout(&self.speedscope), "--speedscope -"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    /// The files (not directories, not stdout) written here, to refuse one
    /// that is an input before anything is read.
    pub fn output_files(&self) -> Vec<&Path> {
        [&self.pprof, &self.perf_script, &self.speedscope]
            .into_iter()
            .filter(|p| !is_stdout(p))
            .filter_map(|p| p.as_deref())
            .collect()
    }

    /// Writes the tables, the query result and the report. `rendered`
    /// gives the report a watch group's flamegraph already rendered for
    /// `--flamegraph` (by its index in `Aggregates::per_watch`), so no SVG
    /// is rendered twice. Returns the exit status the gate asks for: 0,
    /// [`report::GATE_FAILED_EXIT`] or [`report::DATA_LOSS_EXIT`].
    pub fn run(
        &self,
        a: &Analysis,
        agg: &Aggregates,
        rendered: &dyn Fn(usize) -> Option<Vec<u8>>,
    ) -> Result<i32> {
        self.run_with(a, agg, rendered, &crate::progress::NoProgress)
    }

    /// How many files [`Artifacts::run`] writes: one per table in each
    /// table directory, the pprof, perf script and speedscope files, the
    /// report.
    pub fn files(&self) -> u64 {
        let tables = tables::SCHEMA.len() as u64;
        u64::from(self.csv.is_some()) * tables
            + u64::from(self.parquet.is_some()) * tables
            + u64::from(self.pprof.is_some())
            + u64::from(self.perf_script.is_some() && !is_stdout(&self.perf_script))
            + u64::from(self.speedscope.is_some() && !is_stdout(&self.speedscope))
            + u64::from(self.report.is_some())
    }

    /// [`Artifacts::run`], each file written counted to `progress` (the
    /// final count is [`Artifacts::files`]) and the "wrote" lines and the
    /// gate's reasons handed to it.
    pub fn run_with(
        &self,
        a: &Analysis,
        agg: &Aggregates,
        rendered: &dyn Fn(usize) -> Option<Vec<u8>>,
        progress: &dyn Progress,
    ) -> Result<i32> {
        self.run_against(a, agg, None, rendered, progress)
    }

    /// Whether a `--fail-if-share` or `--fail-if-growth` gate is given.
    pub fn has_function_gates(&self) -> bool {
        !self.fail_if_share.is_empty() || !self.fail_if_growth.is_empty()
    }

    /// The function gates' results and, with a base, the change against it.
    pub fn checks(&self, a: &Analysis, agg: &Aggregates, base: Option<Base<'_>>) -> Checks {
        let pair = base.map(|b| (b.analysis, b.aggregates));
        Checks {
            function_gates: gates::evaluate(
                &self.fail_if_share,
                &self.fail_if_growth,
                a,
                agg,
                pair,
            ),
            change: base.map(|b| {
                gates::change(
                    &b.path.display().to_string(),
                    (b.analysis, b.aggregates),
                    a,
                    agg,
                    CHANGE_ROWS,
                )
            }),
        }
    }

    /// [`Artifacts::run_with`] against a base (`--diff BASE.vmt`): the
    /// growth gates compare with it, and the report shows the change
    /// (the largest share deltas and the differential flamegraph).
    pub fn run_against(
        &self,
        a: &Analysis,
        agg: &Aggregates,
        base: Option<Base<'_>>,
        rendered: &dyn Fn(usize) -> Option<Vec<u8>>,
        progress: &dyn Progress,
    ) -> Result<i32> {
        let checks = self.checks(a, agg, base);
        let set = if self.needs_tables() {
            Some(tables::build(a, agg).context("building the tables")?)
        } else {
            None
        };
        if let (Some(dir), Some(set)) = (&self.csv, &set) {
            let files = tables::write_csv_dir_with(set, dir, progress)?;
            progress.note(&format!(
                "wrote {} tables to {}",
                files.len(),
                dir.display()
            ));
        }
        if let (Some(dir), Some(set)) = (&self.parquet, &set) {
            let files = tables::write_parquet_dir_with(set, dir, progress)?;
            progress.note(&format!(
                "wrote {} Parquet tables to {}",
                files.len(),
                dir.display()
            ));
        }
        if let (Some(sql), Some(set)) = (&self.query, &set) {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            tables::query(set, sql, &mut out)?;
            out.flush()?;
        }
        if let Some(path) = &self.pprof {
            crate::pprof::write(a, path)?;
            progress.inc(1);
            progress.note(&format!("wrote {}", path.display()));
        }
        if let Some(path) = &self.perf_script {
            write_to(path, progress, &|w| crate::perf_script::write(a, w))?;
        }
        if let Some(path) = &self.speedscope {
            write_to(path, progress, &|w| crate::speedscope::write(a, w))?;
        }
        if let Some(dir) = &self.report {
            let flames = report_flamegraphs(a, agg, rendered)?;
            let diff_flamegraph = match base {
                Some(b) => Some(report_diff_flamegraph(agg, b)?),
                None => None,
            };
            let opts = ReportOptions {
                fail_if_breaches: self.fail_if_breaches,
                top: 20,
                checks: checks.clone(),
                diff_flamegraph,
            };
            report::write_report(dir, a, agg, set.as_ref(), &flames, &opts)?;
            progress.inc(1);
            progress.note(&format!("wrote {}", dir.join("index.html").display()));
        }
        Ok(self.gate(a, &checks, progress))
    }

    /// The exit status of `--strict` and `--fail-if-breaches`, with what
    /// they fail on said on stderr.
    fn gate(&self, a: &Analysis, checks: &Checks, progress: &dyn Progress) -> i32 {
        let integ = report::integrity(a);
        let lost = if self.strict {
            [integ.empty, integ.lossy].concat()
        } else if self.fail_if_breaches.is_some() || self.has_function_gates() {
            integ.empty
        } else {
            Vec::new()
        };
        if !lost.is_empty() {
            for l in &lost {
                progress.warn(&crate::escape::visible(l));
            }
            progress.warn(&format!(
                "data lost: failing (exit {}) because of {}",
                report::DATA_LOSS_EXIT,
                if self.strict {
                    "--strict"
                } else if self.fail_if_breaches.is_some() {
                    "--fail-if-breaches"
                } else {
                    "a --fail-if-share or --fail-if-growth gate"
                }
            ));
            return report::DATA_LOSS_EXIT;
        }
        let mut code = 0;
        if let Some(max) = self.fail_if_breaches {
            let g = report::gate(a, max);
            if g.failed {
                progress.warn(&format!(
                    "{} breaches, more than the {max} allowed by --fail-if-breaches: failing (exit {})",
                    g.breaches,
                    report::GATE_FAILED_EXIT
                ));
                code = report::GATE_FAILED_EXIT;
            }
        }
        for r in &checks.function_gates {
            if let Some(line) = gates::failure_line(r, report::GATE_FAILED_EXIT) {
                progress.warn(&line);
                code = report::GATE_FAILED_EXIT;
            }
        }
        code
    }
}

/// `-` (or no path): stdout.
fn is_stdout(p: &Option<PathBuf>) -> bool {
    p.as_deref() == Some(Path::new("-"))
}

/// Writes one output with `f` to `path`, or to stdout for `-`; a file is
/// counted to `progress` and said.
fn write_to(
    path: &Path,
    progress: &dyn Progress,
    f: &dyn Fn(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    if path == Path::new("-") {
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        f(&mut w).and_then(|()| w.flush())?;
        return Ok(());
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    f(&mut w)
        .and_then(|()| w.flush())
        .with_context(|| format!("writing {}", path.display()))?;
    progress.inc(1);
    progress.note(&format!("wrote {}", path.display()));
    Ok(())
}

/// The differential flamegraph of the report: widths from the inputs,
/// colour from the change against the base (as `--diff --flamegraph`).
fn report_diff_flamegraph(agg: &Aggregates, b: Base<'_>) -> Result<Flamegraph> {
    let base_lines = output::folded_lines(b.aggregates, &b.aggregates.total);
    let now_lines = output::folded_lines(agg, &agg.total);
    let title = format!("vmon diff: now vs base {}", b.path.display());
    let sub = format!(
        "base {} samples, now {} samples; red grew, blue shrank (kernel frames _[k])",
        b.aggregates.total.samples, agg.total.samples
    );
    let mut svg = Vec::new();
    output::diff_flamegraph(&mut svg, title, sub, &base_lines, &now_lines)
        .context("rendering the differential flamegraph for the report")?;
    Ok(Flamegraph {
        watch: None,
        group: None,
        file: "diff.svg".to_string(),
        svg,
    })
}

/// One flamegraph per watch for the report (one in all for a single watch).
fn report_flamegraphs(
    a: &Analysis,
    agg: &Aggregates,
    rendered: &dyn Fn(usize) -> Option<Vec<u8>>,
) -> Result<Vec<Flamegraph>> {
    let mut out = Vec::new();
    for (i, g) in agg.per_watch.iter().enumerate() {
        if g.samples == 0 {
            continue;
        }
        let svg = match rendered(i) {
            Some(svg) => svg,
            None => {
                let mut svg = Vec::new();
                output::flamegraph(&mut svg, a, agg, g)
                    .context("rendering a flamegraph for the report")?;
                svg
            }
        };
        let watch = g
            .watch
            .and_then(|w| a.watches.get(w.idx()))
            .map(|w| w.name.clone());
        // The index makes the name unique whatever the watch names are.
        let file = format!(
            "flame-{}-{}.svg",
            i + 1,
            output::file_stem(watch.as_deref().unwrap_or("all"))
        );
        out.push(Flamegraph {
            watch,
            group: Some(i),
            file,
            svg,
        });
    }
    Ok(out)
}
