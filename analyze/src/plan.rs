//! The output plan: what a run writes, decided once from the command line
//! (with the usage errors found before any input is read), then executed
//! once over the analysis.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use rayon::prelude::*;
use vmon_analyze::aggregate::{Aggregates, Group};
use vmon_analyze::analysis::Analysis;
use vmon_analyze::artifacts::{Artifacts, Base};
use vmon_analyze::output::{self, GroupBy};
use vmon_analyze::summary;

use crate::cli::{self, Cli};
use crate::{create, print_warnings, Bar};
use vmon_analyze::progress::Progress as _;

/// Where folded stacks go.
pub enum Folded {
    Stdout,
    File(String),
    /// One file per watch, `OUT-<watch>.folded`.
    PerWatch(String),
}

/// `--diff BASE` and what it writes.
pub struct DiffPlan {
    pub base: PathBuf,
    /// `--diff --folded [OUT]`: both counts per stack (`-`: stdout).
    pub folded: Option<String>,
    /// `--diff --flamegraph [OUT]`: a differential flamegraph.
    pub flamegraph: Option<String>,
}

/// What stdout carries: one output at most.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    /// The text summary (no output option given).
    Summary,
    Json,
    Folded,
    /// `--diff` alone: the functions whose share changed most.
    DiffText,
    /// `--diff --folded` without a file.
    DiffFolded,
    /// `--query`, `--perf-script -` or `--speedscope -`.
    Artifact,
    /// Everything went to files: stderr gets the quality line.
    Nothing,
}

/// Everything a run writes.
pub struct Plan {
    /// Folded stacks of the inputs (not with `--diff`).
    pub folded: Option<Folded>,
    pub diff: Option<DiffPlan>,
    /// Flamegraph SVGs of the inputs (not with `--diff`); `""`: the default name.
    pub flamegraph: Option<String>,
    pub artifacts: Artifacts,
    pub stdout: Stdout,
}

impl Plan {
    /// The plan of `cli`, or the usage error (exit 2) that makes it impossible.
    pub fn new(cli: &Cli) -> std::result::Result<Plan, String> {
        let artifacts = cli.artifacts.clone().into_artifacts();
        // One output per stream: two on stdout would interleave unparsably.
        let on_stdout: Vec<&str> = [
            (cli.folded.as_deref() == Some("-"), "--folded"),
            (cli.json, "--json"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .chain(artifacts.stdout_users())
        .collect();
        if on_stdout.len() > 1 {
            return Err(format!(
                "{} would all write to stdout; give each but one a file (e.g. --folded OUT) or run them separately",
                on_stdout.join(" and ")
            ));
        }
        if let (Some(f), Some(t)) = (cli.from, cli.to) {
            if f > t {
                return Err(format!(
                    "--from {f} s is after --to {t} s: nothing would match"
                ));
            }
        }
        let diff = cli.diff.clone().map(|base| DiffPlan {
            base,
            folded: cli.folded.clone(),
            flamegraph: cli.flamegraph.clone(),
        });
        let folded = match (&cli.folded, &diff) {
            (Some(_), Some(_)) | (None, _) => None,
            (Some(o), None) if o == "-" => {
                if cli.folded_per_watch {
                    return Err("--folded-per-watch needs a file: --folded OUT".into());
                }
                Some(Folded::Stdout)
            }
            (Some(o), None) if cli.folded_per_watch => Some(Folded::PerWatch(o.clone())),
            (Some(o), None) => Some(Folded::File(o.clone())),
        };
        let flamegraph = cli.flamegraph.clone().filter(|_| diff.is_none());
        let stdout = if cli.json {
            Stdout::Json
        } else if matches!(folded, Some(Folded::Stdout)) {
            Stdout::Folded
        } else if let Some(d) = &diff {
            match (&d.folded, &d.flamegraph) {
                (Some(f), _) if f == "-" => Stdout::DiffFolded,
                (None, None) => Stdout::DiffText,
                _ => Stdout::Nothing,
            }
        } else if artifacts.uses_stdout() {
            Stdout::Artifact
        } else if folded.is_some() || flamegraph.is_some() || artifacts.writes_output() {
            Stdout::Nothing
        } else {
            Stdout::Summary
        };
        Ok(Plan {
            folded,
            diff,
            flamegraph,
            artifacts,
            stdout,
        })
    }

    /// The output files known before the inputs are read, to refuse one
    /// that is an input.
    pub fn files_before_reading(&self) -> Vec<&std::path::Path> {
        let mut v = self.artifacts.output_files();
        if let Some(Folded::File(o) | Folded::PerWatch(o)) = &self.folded {
            v.push(std::path::Path::new(o));
        }
        if let Some(d) = &self.diff {
            v.extend(
                d.folded
                    .as_deref()
                    .filter(|o| *o != "-")
                    .map(std::path::Path::new),
            );
            v.extend(
                d.flamegraph
                    .as_deref()
                    .filter(|o| !o.is_empty())
                    .map(std::path::Path::new),
            );
        }
        v
    }

    /// Writes every output and returns the exit status.
    pub fn execute(
        &self,
        cli: &Cli,
        a: &Analysis,
        agg: &Aggregates,
        base: Option<&(Analysis, Aggregates)>,
        progress: &Bar,
    ) -> Result<i32> {
        let jobs = match &self.flamegraph {
            Some(out) => Some(flamegraph_jobs(cli, out, a, agg)?),
            None => None,
        };
        // Every file this run writes, counted in one phase.
        let files = match &self.folded {
            Some(Folded::File(_)) => 1,
            Some(Folded::PerWatch(_)) => agg.per_watch.len() as u64,
            _ => 0,
        } + self.diff.as_ref().map_or(0, |d| {
            u64::from(d.folded.as_deref().is_some_and(|o| o != "-"))
                + u64::from(d.flamegraph.is_some())
        }) + jobs.as_ref().map_or(0, |j| j.len() as u64)
            + self.artifacts.files();
        if files > 0 {
            progress.phase("writing outputs", Some(files));
        }
        if let Some(f) = &self.folded {
            write_folded(cli, f, a, agg, progress)?;
        }
        if let (Some(d), Some((b, bagg))) = (&self.diff, base) {
            let text = self.stdout == Stdout::DiffText;
            write_diff(cli, d, a, agg, b, bagg, text, progress)?;
        }
        let exit_code =
            self.flamegraphs_and_artifacts(cli, a, agg, self.base(base), jobs, progress)?;
        progress.done();
        print_warnings(cli, a);
        match self.stdout {
            Stdout::Json => {
                let sopts = summary::SummaryOptions {
                    top_stacks: cli.top,
                    ..Default::default()
                };
                let checks = self.artifacts.checks(a, agg, self.base(base));
                let v = summary::json_with_checks(
                    a,
                    agg,
                    &sopts,
                    self.artifacts.fail_if_breaches,
                    &checks,
                );
                let mut s = serde_json::to_string_pretty(&v)?;
                s.push('\n');
                std::io::stdout().write_all(s.as_bytes())?;
            }
            Stdout::Summary => {
                let sopts = summary::SummaryOptions {
                    top_stacks: cli.top,
                    ..Default::default()
                };
                let text = summary::text(a, agg, &sopts);
                let text = if cli::use_color(cli.color, std::io::stdout().is_terminal()) {
                    cli::colorize_summary(&text)
                } else {
                    text
                };
                std::io::stdout().write_all(text.as_bytes())?;
            }
            _ if !cli.quiet => {
                eprintln!(
                    "vmon-analyze: {}",
                    vmon_analyze::escape::visible(&a.quality.line())
                );
            }
            _ => {}
        }
        Ok(exit_code)
    }

    /// The base of `--diff`, as the artifacts see it.
    fn base<'a>(&'a self, base: Option<&'a (Analysis, Aggregates)>) -> Option<Base<'a>> {
        let (d, (b, bagg)) = (self.diff.as_ref()?, base?);
        Some(Base {
            path: &d.base,
            analysis: b,
            aggregates: bagg,
        })
    }

    /// The flamegraphs and the tables, report and gate. Inferno renders
    /// each SVG on one thread, so they run beside the tables; when the
    /// report shows the same graphs (`--report` with `--flamegraph`), they
    /// are rendered once, first, and handed to it.
    fn flamegraphs_and_artifacts(
        &self,
        cli: &Cli,
        a: &Analysis,
        agg: &Aggregates,
        base: Option<Base<'_>>,
        jobs: Option<Vec<FlameJob<'_>>>,
        progress: &Bar,
    ) -> Result<i32> {
        let Some(jobs) = jobs else {
            return self
                .artifacts
                .run_against(a, agg, base, &|_| None, progress);
        };
        let render = |j: &FlameJob<'_>| -> Result<Vec<u8>> {
            let mut svg = Vec::new();
            output::flamegraph_by(&mut svg, a, agg, j.group, cli.group_by.map(Into::into))
                .with_context(|| format!("writing {}", j.path))?;
            Ok(svg)
        };
        let write = |j: &FlameJob<'_>, svg: &[u8]| -> Result<()> {
            let mut w = create(&j.path)?;
            w.write_all(svg)
                .and_then(|_| w.flush())
                .with_context(|| format!("writing {}", j.path))?;
            progress.inc(1);
            progress.note(&format!("wrote {}", j.path));
            Ok(())
        };
        if self.artifacts.report.is_none() || cli.group_by.is_some() {
            let (flamed, exit_code) = rayon::join(
                || jobs.par_iter().try_for_each(|j| write(j, &render(j)?)),
                || {
                    self.artifacts
                        .run_against(a, agg, base, &|_| None, progress)
                },
            );
            flamed?;
            return exit_code;
        }
        let svgs: Vec<Vec<u8>> = jobs.par_iter().map(render).collect::<Result<_>>()?;
        let shared = |i: usize| {
            jobs.iter()
                .position(|j| j.watch_group == Some(i))
                .map(|k| svgs[k].clone())
        };
        let (flamed, exit_code) = rayon::join(
            || {
                jobs.par_iter()
                    .zip(&svgs)
                    .try_for_each(|(j, svg)| write(j, svg))
            },
            || self.artifacts.run_against(a, agg, base, &shared, progress),
        );
        flamed?;
        exit_code
    }
}

/// One flamegraph file to write.
struct FlameJob<'a> {
    path: String,
    group: &'a Group,
    /// The group's index in `Aggregates::per_watch`, when it is one.
    watch_group: Option<usize>,
}

/// One SVG per watch (or one for all), each file name used once.
fn flamegraph_jobs<'a>(
    cli: &Cli,
    out: &str,
    a: &Analysis,
    agg: &'a Aggregates,
) -> Result<Vec<FlameJob<'a>>> {
    let base = if out.is_empty() {
        format!("{}.svg", first_stem(cli))
    } else {
        out.to_string()
    };
    let single = cli.combined || agg.per_watch.len() <= 1;
    // Watches whose names map to one file name (same name with another
    // threshold, names differing only in characters that become `_`, names
    // blanked by damage) get -2, -3...: every file is written once.
    let mut used: HashSet<String> = HashSet::new();
    let mut jobs = Vec::new();
    if single {
        // A lone watch keeps its own title.
        let (group, watch_group) = match agg.per_watch.first() {
            Some(only) if agg.per_watch.len() == 1 && !cli.combined => (only, Some(0)),
            _ => (&agg.total, None),
        };
        jobs.push(FlameJob {
            path: base,
            group,
            watch_group,
        });
    } else {
        let stem = base.strip_suffix(".svg").unwrap_or(&base);
        for (i, g) in agg.per_watch.iter().enumerate() {
            let w = g
                .watch
                .and_then(|w| a.watches.get(w.idx()))
                .map(|w| w.name.as_str())
                .unwrap_or("all");
            let name = output::file_stem(w);
            let mut path = format!("{stem}-{name}.svg");
            let mut n = 2;
            while used.contains(&path) {
                path = format!("{stem}-{name}-{n}.svg");
                n += 1;
            }
            used.insert(path.clone());
            jobs.push(FlameJob {
                path,
                group: g,
                watch_group: Some(i),
            });
        }
    }
    for j in &jobs {
        crate::refuse_input(cli, &j.path)?;
    }
    Ok(jobs)
}

/// The first input's file stem, for default output names.
fn first_stem(cli: &Cli) -> String {
    cli.inputs
        .first()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| s != "-")
        .unwrap_or_else(|| "vmon".into())
}

fn write_folded(
    cli: &Cli,
    f: &Folded,
    a: &Analysis,
    agg: &Aggregates,
    progress: &Bar,
) -> Result<()> {
    let by: Option<GroupBy> = cli.group_by.map(Into::into);
    match f {
        Folded::Stdout => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            output::write_folded_by(&mut w, a, agg, &agg.total, by)?;
            w.flush()?;
        }
        Folded::PerWatch(out) => {
            let (stem, ext) = match out.rsplit_once('.') {
                Some((s, e)) if !s.is_empty() && !e.contains('/') => (s, format!(".{e}")),
                _ => (out.as_str(), String::new()),
            };
            let mut used = HashSet::new();
            for g in &agg.per_watch {
                let name = g
                    .watch
                    .and_then(|w| a.watches.get(w.idx()))
                    .map_or("all".to_string(), |w| output::file_stem(&w.name));
                let mut path = format!("{stem}-{name}{ext}");
                let mut n = 2;
                while !used.insert(path.clone()) {
                    path = format!("{stem}-{name}-{n}{ext}");
                    n += 1;
                }
                crate::refuse_input(cli, &path)?;
                let mut w = create(&path)?;
                output::write_folded_by(&mut w, a, agg, g, by)?;
                w.flush()?;
                progress.inc(1);
                progress.note(&format!("wrote {path}"));
            }
        }
        Folded::File(out) => {
            let mut w = create(out)?;
            output::write_folded_by(&mut w, a, agg, &agg.total, by)?;
            w.flush()?;
            progress.inc(1);
            progress.note(&format!("wrote {out}"));
        }
    }
    Ok(())
}

/// `--diff BASE`: both counts per stack, a differential flamegraph, or
/// (`text`: stdout is for it, not `--json`) the functions whose share
/// changed most (as `perf diff`).
#[allow(clippy::too_many_arguments)]
fn write_diff(
    cli: &Cli,
    d: &DiffPlan,
    a: &Analysis,
    agg: &Aggregates,
    b: &Analysis,
    bagg: &Aggregates,
    text: bool,
    progress: &Bar,
) -> Result<()> {
    let base_lines = output::folded_lines(bagg, &bagg.total);
    let now_lines = output::folded_lines(agg, &agg.total);
    // `--diff --folded`: two counts per stack, as difffolded.pl prints.
    if let Some(out) = &d.folded {
        let mut text = output::diff_lines(&base_lines, &now_lines).join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        if out == "-" {
            std::io::stdout().write_all(text.as_bytes())?;
        } else {
            std::fs::write(out, text).with_context(|| format!("writing {out}"))?;
            progress.inc(1);
            progress.note(&format!("wrote {out}"));
        }
    }
    if let Some(fg) = d.flamegraph.as_deref() {
        let out = if fg.is_empty() { "diff.svg" } else { fg };
        let title = format!(
            "vmon diff: {} vs base {}",
            cli.inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            d.base.display()
        );
        let sub = format!(
            "base {} samples, now {} samples; red grew, blue shrank (kernel frames _[k])",
            bagg.total.samples, agg.total.samples
        );
        let mut w = create(out)?;
        output::diff_flamegraph(&mut w, title, sub, &base_lines, &now_lines)?;
        w.flush()?;
        progress.inc(1);
        progress.note(&format!("wrote {out}"));
    }
    if text {
        let text = output::diff_text(b, bagg, a, agg, cli.top.max(20));
        std::io::stdout().write_all(text.as_bytes())?;
    }
    Ok(())
}
