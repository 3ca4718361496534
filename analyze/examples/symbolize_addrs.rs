//! Benchmark helper, outside the product CLI: symbolizes the addresses in
//! ADDRS (one hex ELF address per line, `-` for stdin) in BINARY with
//! vmon-analyze's symbolizer and prints them as `addr2line -a -f -i -C`
//! does (analyze/bench/run.sh compares the two).
//!
//! Usage: symbolize_addrs ADDRS BINARY [--no-inlines]

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use vmon_analyze::symbolize_addrs;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (list, binary) = match args.as_slice() {
        [l, b, ..] => (PathBuf::from(l), PathBuf::from(b)),
        _ => bail!("usage: symbolize_addrs ADDRS BINARY [--no-inlines]"),
    };
    let inlines = !args.iter().any(|a| a == "--no-inlines");
    let addrs = if list.as_os_str() == "-" {
        symbolize_addrs::parse_addrs(std::io::stdin().lock())?
    } else {
        let f = std::fs::File::open(&list)
            .with_context(|| format!("opening the address list {}", list.display()))?;
        symbolize_addrs::parse_addrs(std::io::BufReader::new(f))
            .with_context(|| list.display().to_string())?
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    symbolize_addrs::run(&binary, &addrs, inlines, &mut out)
}
