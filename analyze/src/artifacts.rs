//! The table, report and CI options of the command line: `--csv`,
//! `--parquet`, `--query`, `--report`, `--pprof`, `--fail-if-breaches`, and the
//! benchmark helper `--symbolize-addrs`. They are one flattened clap group
//! so `main.rs` only hands them the analysis.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::aggregate::Aggregates;
use crate::analysis::Analysis;
use crate::report::{self, Flamegraph, ReportOptions};
use crate::{output, symbolize_addrs, tables};

#[derive(Args, Debug, Default, Clone)]
pub struct ArtifactArgs {
    /// Write the tables (breaches, task_samples, stacks, stack_frames,
    /// functions, modules) as DIR/<table>.csv; columns in TABLES.md.
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,

    /// Write the same tables as DIR/<table>.parquet (needs the `polars`
    /// feature, on by default).
    #[arg(long, value_name = "DIR")]
    pub parquet: Option<PathBuf>,

    /// Run a polars SQL query over the tables and print the result as CSV,
    /// e.g. "SELECT comm, COUNT(*) AS n FROM task_samples GROUP BY comm".
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,

    /// Write a CI report: DIR/index.html (self-contained: flamegraphs,
    /// tables, summary, symbolization quality) and DIR/summary.json.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,

    /// Write a pprof profile (gzipped profile.proto, for `go tool pprof`,
    /// Pyroscope, Parca, Grafana): sample type "task samples" (count),
    /// labels watch, breach, comm, pid, tid, state, cgroup.
    #[arg(long, value_name = "FILE")]
    pub pprof: Option<PathBuf>,

    /// Exit with status 3 when more than N breaches were seen (after the
    /// filters); `--fail-if-breaches 0` fails on any breach.
    /// (It also fails, with status 4, when nothing could be recovered from
    /// a damaged input: an unreadable capture does not pass.)
    #[arg(long, value_name = "N")]
    pub fail_if_breaches: Option<u64>,

    /// Exit with status 4 when data was lost: an input is damaged (chunks
    /// skipped, file cut short) or the capture dropped records.
    #[arg(long)]
    pub strict: bool,

    /// Benchmark helper: symbolize the addresses listed in ADDRS (one hex
    /// ELF address per line, `-` for stdin) in --binary and print them as
    /// `addr2line -a -f -i -C` does.
    #[arg(long, value_name = "ADDRS", hide = true, requires = "binary")]
    pub symbolize_addrs: Option<PathBuf>,

    /// The ELF file for --symbolize-addrs.
    #[arg(long, value_name = "FILE", hide = true)]
    pub binary: Option<PathBuf>,
}

impl ArtifactArgs {
    /// Whether an option here writes something, so the summary is not
    /// printed on its own account.
    pub fn any_output(&self) -> bool {
        self.csv.is_some()
            || self.parquet.is_some()
            || self.query.is_some()
            || self.report.is_some()
            || self.pprof.is_some()
    }

    /// `--query` owns stdout.
    pub fn uses_stdout(&self) -> bool {
        self.query.is_some()
    }

    /// Runs `--symbolize-addrs` when given; returns whether it ran.
    pub fn run_symbolize_addrs(&self, inlines: bool) -> Result<bool> {
        let (Some(list), Some(binary)) = (&self.symbolize_addrs, &self.binary) else {
            return Ok(false);
        };
        let addrs = if list.as_os_str() == "-" {
            symbolize_addrs::parse_addrs(std::io::stdin().lock())?
        } else {
            let f = std::fs::File::open(list)
                .with_context(|| format!("opening the address list {}", list.display()))?;
            symbolize_addrs::parse_addrs(std::io::BufReader::new(f))
                .with_context(|| list.display().to_string())?
        };
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        symbolize_addrs::run(binary, &addrs, inlines, &mut out)?;
        Ok(true)
    }

    /// Writes the tables, the query result and the report. Returns the exit
    /// status the gate asks for: 0, or [`report::GATE_FAILED_EXIT`].
    pub fn run(&self, a: &Analysis, agg: &Aggregates) -> Result<i32> {
        let need_tables = self.csv.is_some()
            || self.parquet.is_some()
            || self.query.is_some()
            || self.report.is_some();
        let set = if need_tables {
            Some(tables::build(a, agg).context("building the tables")?)
        } else {
            None
        };
        if let (Some(dir), Some(set)) = (&self.csv, &set) {
            let files = tables::write_csv_dir(set, dir)?;
            eprintln!(
                "vmon-analyze: wrote {} tables to {}",
                files.len(),
                dir.display()
            );
        }
        if let (Some(dir), Some(set)) = (&self.parquet, &set) {
            let files = tables::write_parquet_dir(set, dir)?;
            eprintln!(
                "vmon-analyze: wrote {} Parquet tables to {}",
                files.len(),
                dir.display()
            );
        }
        if let (Some(sql), Some(set)) = (&self.query, &set) {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            tables::query(set, sql, &mut out)?;
            out.flush()?;
        }
        if let Some(path) = &self.pprof {
            crate::pprof::write(a, path)?;
            eprintln!("vmon-analyze: wrote {}", path.display());
        }
        if let Some(dir) = &self.report {
            let flames = report_flamegraphs(a, agg)?;
            let opts = ReportOptions {
                fail_if_breaches: self.fail_if_breaches,
                top: 20,
            };
            report::write_report(dir, a, agg, set.as_ref(), &flames, &opts)?;
            eprintln!("vmon-analyze: wrote {}", dir.join("index.html").display());
        }
        let integ = report::integrity(a);
        let lost = if self.strict {
            [integ.empty, integ.lossy].concat()
        } else if self.fail_if_breaches.is_some() {
            integ.empty
        } else {
            Vec::new()
        };
        if !lost.is_empty() {
            for l in &lost {
                eprintln!("vmon-analyze: {}", crate::escape::visible(l));
            }
            eprintln!(
                "vmon-analyze: data lost: failing (exit {}) because of {}",
                report::DATA_LOSS_EXIT,
                if self.strict {
                    "--strict"
                } else {
                    "--fail-if-breaches"
                }
            );
            return Ok(report::DATA_LOSS_EXIT);
        }
        if let Some(max) = self.fail_if_breaches {
            let g = report::gate(a, max);
            if g.failed {
                eprintln!(
                    "vmon-analyze: {} breaches, more than the {max} allowed by --fail-if-breaches: failing (exit {})",
                    g.breaches,
                    report::GATE_FAILED_EXIT
                );
                return Ok(report::GATE_FAILED_EXIT);
            }
        }
        Ok(0)
    }
}

/// One flamegraph per watch for the report (one in all for a single watch).
fn report_flamegraphs(a: &Analysis, agg: &Aggregates) -> Result<Vec<Flamegraph>> {
    let mut out = Vec::new();
    for (i, g) in agg.per_watch.iter().enumerate() {
        if g.samples == 0 {
            continue;
        }
        let mut svg = Vec::new();
        output::flamegraph(&mut svg, a, agg, g).context("rendering a flamegraph for the report")?;
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
