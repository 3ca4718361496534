//! Writes the task samples of `.vmt` captures as symbolized `perf script`
//! text, for the benchmark against `inferno-collapse-perf | inferno-flamegraph`
//! (analyze/bench/run.sh). The samples, their order and the frame names are
//! the ones `vmon-analyze` itself works from, so both pipelines see the same
//! stacks: names carry the same `_[k]`/`_[i]` suffixes `--folded` prints,
//! which inferno passes through unchanged.
//!
//! Usage: cargo run --release -p vmon-analyze --example perf_script -- FILE.vmt... > perf.txt

use std::io::{BufWriter, Write};

use anyhow::{bail, Context, Result};
use vmon_analyze::analysis::{Analysis, FrameId};
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
    write_perf_script(&a, &mut w).context("writing perf script text")?;
    w.flush()?;
    Ok(())
}

/// One event per task sample: a header line, then the frames innermost
/// first as `\t<ip> <symbol> (<dso>)`, then a blank line, as `perf script`
/// prints callchains.
fn write_perf_script(a: &Analysis, w: &mut impl Write) -> std::io::Result<()> {
    // Frame text once per unique frame, not per sample.
    let lines: Vec<String> = (0..a.frames.len())
        .map(|i| {
            let id = FrameId(i as u32);
            let func = a.func(a.frame(id).func);
            let dso = match a.modules.get(func.module.idx()) {
                Some(_) if func.kernel => "[kernel.kallsyms]".to_owned(),
                Some(m) => m.path.clone(),
                None => "[unknown]".to_owned(),
            };
            // The ip only has to be hex: inferno drops it unless asked.
            format!("\t{:16x} {} ({dso})\n", 0x1000 + i, a.frame_label(id))
        })
        .collect();
    for s in &a.samples {
        let comm = a.name(s.comm);
        let comm = if comm.is_empty() { "[unknown]" } else { comm };
        writeln!(
            w,
            "{} {}/{} [{:03}] {}.{:06}: 1 task-clock:",
            comm.replace(' ', "_"),
            s.tgid,
            s.pid,
            s.cpu,
            s.time_ns / 1_000_000_000,
            s.time_ns % 1_000_000_000 / 1000
        )?;
        if let Some(st) = a.stacks.get(s.stack.idx()) {
            for f in st.frames.iter().rev() {
                if let Some(l) = lines.get(f.idx()) {
                    w.write_all(l.as_bytes())?;
                }
            }
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}
