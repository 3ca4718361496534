//! Writes the task samples of `.vmt` captures as symbolized `perf script`
//! text, for the benchmark against `inferno-collapse-perf --kernel |
//! inferno-flamegraph` (analyze/bench/run.sh): the library's
//! [`vmon_analyze::perf_script`], what `vmon-analyze --perf-script` writes,
//! over the analysis `vmon-analyze` itself works from.
//!
//! Usage: cargo run --release -p vmon-analyze --example perf_script -- FILE.vmt... > perf.txt

use std::io::{BufWriter, Write};

use anyhow::{bail, Context, Result};
use vmon_analyze::ingest::{analyze, Options};
use vmon_analyze::load::load;

fn main() -> Result<()> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() || paths.iter().any(|p| p.starts_with('-')) {
        bail!("usage: perf_script FILE.vmt... > perf-script.txt");
    }
    let inputs = paths.iter().map(|p| load(p)).collect::<Result<Vec<_>>>()?;
    let opts = Options {
        inlines: true,
        unwind: true,
        ..Default::default()
    };
    let a = analyze(inputs, &opts, &vmon_analyze::progress::NoProgress);
    let stdout = std::io::stdout();
    let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
    vmon_analyze::perf_script::write(&a, &mut w).context("writing perf script text")?;
    w.flush()?;
    Ok(())
}
