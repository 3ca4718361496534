//! JIT frames: programs that generate code write a perf map
//! (`/tmp/perf-PID.map`, one `START SIZE name` line per function, hex
//! without `0x`; Node's `--perf-basic-prof`, the JVM's perf-map agents,
//! Python 3.12's trampolines). The capture takes the entries that its user
//! frames fall in while the process is alive, so the analyzer can name
//! them anywhere.

/// Perf maps larger than this are not read.
const MAX_PERF_MAP_BYTES: u64 = 64 << 20;

/// One function of a perf map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JitSymbol {
    pub start: u64,
    pub size: u64,
    pub name: String,
}

/// A perf map, sorted by start.
#[derive(Clone, Debug, Default)]
pub struct PerfMap {
    symbols: Vec<JitSymbol>,
}

impl PerfMap {
    /// Reads and parses a perf map; malformed lines are skipped.
    pub fn read(path: &std::path::Path) -> Option<PerfMap> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() || meta.len() > MAX_PERF_MAP_BYTES {
            return None;
        }
        let text = std::fs::read(path).ok()?;
        Some(PerfMap::parse(&String::from_utf8_lossy(&text)))
    }

    pub fn parse(text: &str) -> PerfMap {
        let mut symbols: Vec<JitSymbol> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.trim_start().splitn(3, ' ');
                let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
                let start = hex(f.next()?)?;
                let size = hex(f.next()?)?;
                let name = f.next()?.trim_end();
                (size > 0 && !name.is_empty() && start.checked_add(size).is_some()).then(|| {
                    JitSymbol {
                        start,
                        size,
                        name: name.to_string(),
                    }
                })
            })
            .collect();
        // A JIT reuses addresses: the last entry written for a range wins.
        symbols.reverse();
        symbols.sort_by_key(|s| s.start);
        symbols.dedup_by_key(|s| s.start);
        PerfMap { symbols }
    }

    /// The function containing `addr`.
    pub fn lookup(&self, addr: u64) -> Option<&JitSymbol> {
        let i = self
            .symbols
            .partition_point(|s| s.start <= addr)
            .checked_sub(1)?;
        let s = &self.symbols[i];
        (addr - s.start < s.size).then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_map_lines_parse_and_look_up() {
        let m = PerfMap::parse(
            "7f00001000 40 LazyCompile:~main /app.js:1\n\
             garbage\n\
             7f00002000 0 empty\n\
             0x7f00003000 10 jit_leaf\n\
             7f00001000 20 replaced\n",
        );
        assert_eq!(
            m.lookup(0x7f00001010).map(|s| s.name.as_str()),
            Some("replaced")
        );
        assert_eq!(m.lookup(0x7f00001030), None);
        assert_eq!(
            m.lookup(0x7f00003005).map(|s| s.name.as_str()),
            Some("jit_leaf")
        );
        assert_eq!(m.lookup(0x7f00002000), None);
        assert_eq!(m.lookup(0x10), None);
    }
}
