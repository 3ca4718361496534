//! `--watch` and `--load-above`: watches vmon-capture registers itself.

use anyhow::{bail, Context as _, Result};
use std::time::Duration;
use vmon_kabi::{Threshold, Trigger, WatchSpec};

/// `avenrun` is fixed point with 11 fractional bits (FIXED_1 = 1 << 11).
pub const FIXED_1: f64 = 2048.0;
/// Kernel watches poll less often by default: the load average only
/// changes every 5 s.
pub const KERNEL_DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchArg {
    Addr {
        pid: i32,
        addr: u64,
        size: u32,
        unsigned: bool,
        threshold: Threshold,
        trigger: Trigger,
    },
    Symbol {
        pid: i32,
        symbol: String,
        threshold: Threshold,
        trigger: Trigger,
    },
}

const USAGE: &str =
    "expected PID:ADDR:SIZE:OP:THRESHOLD (e.g. 1234:0x7ffc1000:4:>:100, SIZE 1/2/4/8 \
                     or u1/u2/u4/u8 for unsigned, OP > or <) or PID:SYMBOL>THRESHOLD \
                     (e.g. 1234:queue_len>100); without PID: (a variable of) the program \
                     started after --; then optionally ,for=N (N ticks past the threshold \
                     in a row), ,rearm=V (a breach ends only back past V) and ,within=DUR \
                     (compare the change within DUR: >100,within=1s = rose by more than 100 \
                     within 1 s)";

/// The pid of a watch spec given without one: the program started with
/// `-- PROGRAM`, filled in by [`WatchArg::in_program`].
pub const PROGRAM_PID: i32 = 0;

impl WatchArg {
    /// The process watched ([`PROGRAM_PID`]: the program after `--`).
    pub fn pid(&self) -> i32 {
        match self {
            WatchArg::Addr { pid, .. } | WatchArg::Symbol { pid, .. } => *pid,
        }
    }

    /// The same watch with the program's pid where none was given.
    pub fn in_program(mut self, program: i32) -> WatchArg {
        match &mut self {
            WatchArg::Addr { pid, .. } | WatchArg::Symbol { pid, .. } if *pid == PROGRAM_PID => {
                *pid = program
            }
            _ => {}
        }
        self
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => i64::try_from(u64::from_str_radix(h, 16).ok()?).ok()?,
        None => s.parse::<i64>().ok()?,
    };
    Some(if neg { -v } else { v })
}

fn threshold(op: &str, t: &str) -> Result<Threshold> {
    let Some(v) = parse_int(t) else {
        bail!("threshold `{t}` is not an integer; {USAGE}");
    };
    Ok(match op {
        ">" | "gt" | "above" => Threshold::Above(v),
        "<" | "lt" | "below" => Threshold::Below(v),
        _ => bail!("operator `{op}` is neither > nor <; {USAGE}"),
    })
}

/// `30s`, `5m`, `500ms`, `100us`, `1h`: a duration on the command line.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s, 5m, 500ms"))?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" => v / 1e6,
        "ns" => v / 1e9,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{s}`; use ns, us, ms, s, m or h"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

/// The `,for=N,rearm=V,within=DUR` options after a watch spec.
fn parse_trigger(opts: &str) -> Result<Trigger> {
    let mut t = Trigger::default();
    for opt in opts.split(',') {
        let Some((k, v)) = opt.split_once('=') else {
            bail!("watch option `{opt}` is not KEY=VALUE; {USAGE}");
        };
        match k.trim() {
            "for" => {
                t.consecutive = match v.trim().parse::<u32>() {
                    Ok(n @ 1..=vmon_kabi::abi::VMON_MAX_CONSECUTIVE) => n,
                    _ => bail!(
                        "for={v}: give the ticks in a row, 1 to {}",
                        vmon_kabi::abi::VMON_MAX_CONSECUTIVE
                    ),
                }
            }
            "rearm" => {
                t.rearm = Some(
                    parse_int(v)
                        .with_context(|| format!("rearm={v} is not an integer; {USAGE}"))?,
                )
            }
            "within" => {
                let d = parse_duration(v).map_err(|e| anyhow::anyhow!("within={v}: {e}"))?;
                if d.is_zero() {
                    bail!("within={v}: the window must be longer than 0");
                }
                t.rate_window = Some(d);
            }
            other => bail!("unknown watch option `{other}` (for, rearm, within); {USAGE}"),
        }
    }
    Ok(t)
}

pub fn parse_watch(s: &str) -> Result<WatchArg> {
    let (s, trigger) = match s.split_once(',') {
        Some((spec, opts)) => (spec, parse_trigger(opts)?),
        None => (s, Trigger::default()),
    };
    let parts: Vec<&str> = s.split(':').collect();
    let pid = |p: &str| -> Result<i32> {
        match p.trim().parse::<i32>() {
            Ok(v) if v > 0 => Ok(v),
            _ => bail!("`{p}` is not a process id; {USAGE}"),
        }
    };
    if parts.len() == 5 || parts.len() == 4 {
        // ADDR:SIZE:OP:THRESHOLD, after an optional PID
        let (p, a) = if parts.len() == 5 {
            (pid(parts[0])?, &parts[1..])
        } else {
            (PROGRAM_PID, &parts[..])
        };
        let addr = parse_int(a[0])
            .filter(|&a| a > 0)
            .with_context(|| format!("`{}` is not an address; {USAGE}", a[0]))?;
        let (unsigned, sz) = match a[1].strip_prefix('u') {
            Some(r) => (true, r),
            None => (false, a[1].strip_prefix('i').unwrap_or(a[1])),
        };
        let size = match sz.parse::<u32>() {
            Ok(v @ (1 | 2 | 4 | 8)) => v,
            _ => bail!("size `{}` is not 1, 2, 4 or 8; {USAGE}", a[1]),
        };
        return Ok(WatchArg::Addr {
            pid: p,
            addr: addr as u64,
            size,
            unsigned,
            threshold: threshold(a[2], a[3])?,
            trigger,
        });
    }
    let (p, rest) = match s.split_once(':') {
        Some((p, rest)) => (pid(p)?, rest),
        None => (PROGRAM_PID, s),
    };
    let Some(i) = rest.find(['>', '<']) else {
        bail!("`{s}` has no > or <; {USAGE}");
    };
    let symbol = rest[..i].trim();
    if symbol.is_empty() {
        bail!("`{s}` names no symbol; {USAGE}");
    }
    Ok(WatchArg::Symbol {
        pid: p,
        symbol: symbol.to_string(),
        threshold: threshold(&rest[i..i + 1], &rest[i + 1..])?,
        trigger,
    })
}

fn short_name(s: &str) -> String {
    let mut n: String = s.chars().filter(|&c| c != '\0').collect();
    while n.len() > 15 {
        n.pop();
    }
    n
}

/// A data symbol of a live process: (address, size).
pub fn resolve_symbol(pid: i32, symbol: &str) -> Result<(u64, u64)> {
    use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};
    let maps_text = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .with_context(|| format!("reading /proc/{pid}/maps (is process {pid} running?)"))?;
    // Each file mapped with offset 0, in address order (the executable first).
    let mut files: Vec<(String, u64)> = Vec::new();
    for line in maps_text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || !f[5].starts_with('/') || f[2] != "00000000" {
            continue;
        }
        let path = f[5..].join(" ");
        let Some(start) = f[0]
            .split('-')
            .next()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
        else {
            continue;
        };
        if !files.iter().any(|(p, _)| *p == path) {
            files.push((path, start));
        }
    }
    for (path, map_start) in &files {
        let file_path = format!("/proc/{pid}/root{path}");
        let Ok(data) = std::fs::read(&file_path) else {
            continue;
        };
        let Ok(obj) = object::File::parse(&*data) else {
            continue;
        };
        let hit = obj.symbols().chain(obj.dynamic_symbols()).find(|s| {
            s.is_definition() && s.kind() == SymbolKind::Data && s.name().ok() == Some(symbol)
        });
        let Some(sym) = hit else { continue };
        let min_vaddr = obj.segments().map(|s| s.address()).min().unwrap_or(0) & !0xfff;
        let base = map_start.wrapping_sub(min_vaddr);
        return Ok((base.wrapping_add(sym.address()), sym.size()));
    }
    bail!(
        "symbol `{symbol}` is not a data symbol of process {pid}'s executable or libraries \
         (stripped binary?); give its address instead: {pid}:ADDR:SIZE:OP:THRESHOLD"
    )
}

pub fn to_spec(arg: &WatchArg, interval: Option<Duration>) -> Result<WatchSpec> {
    Ok(match arg {
        WatchArg::Addr {
            pid,
            addr,
            size,
            unsigned,
            threshold,
            trigger,
        } => WatchSpec {
            pid: *pid,
            addr: *addr,
            length: *size,
            unsigned: *unsigned,
            threshold: *threshold,
            interval,
            name: short_name(&format!("{addr:x}")),
            ksym: None,
            trigger: *trigger,
        },
        WatchArg::Symbol {
            pid,
            symbol,
            threshold,
            trigger,
        } => {
            let (addr, size) = resolve_symbol(*pid, symbol)?;
            if !matches!(size, 1 | 2 | 4 | 8) {
                bail!(
                    "symbol `{symbol}` in process {pid} is {size} bytes, not 1, 2, 4 or 8: \
                     watch one element with {pid}:{addr:#x}:SIZE:OP:THRESHOLD"
                );
            }
            WatchSpec {
                pid: *pid,
                addr,
                length: size as u32,
                unsigned: false,
                threshold: *threshold,
                interval,
                name: short_name(symbol),
                ksym: None,
                trigger: *trigger,
            }
        }
    })
}

/// The load monitor: a kernel watch on `avenrun[0]`, the 1-minute load.
pub fn load_spec(load: f64, interval: Option<Duration>) -> Result<WatchSpec> {
    if !(0.0..1e12).contains(&load) {
        bail!("--load-above {load}: give a load average such as 3.0");
    }
    Ok(WatchSpec {
        pid: 0,
        addr: 0,
        length: 8,
        unsigned: true,
        threshold: Threshold::Above((load * FIXED_1).round() as i64),
        interval: Some(interval.unwrap_or(KERNEL_DEFAULT_INTERVAL)),
        name: short_name(&format!("load1>{load}")),
        ksym: Some("avenrun".into()),
        trigger: Trigger::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_form() {
        assert_eq!(
            parse_watch("1234:0x7ffc1000:u4:>:100").unwrap(),
            WatchArg::Addr {
                pid: 1234,
                addr: 0x7ffc1000,
                size: 4,
                unsigned: true,
                threshold: Threshold::Above(100),
                trigger: Trigger::default()
            }
        );
        assert_eq!(
            parse_watch("7:4096:8:<:-5").unwrap(),
            WatchArg::Addr {
                pid: 7,
                addr: 4096,
                size: 8,
                unsigned: false,
                threshold: Threshold::Below(-5),
                trigger: Trigger::default()
            }
        );
        for bad in [
            "x:0x10:4:>:1",
            "1:0x10:3:>:1",
            "1:0x10:4:=:1",
            "1:0x10:4:>:ten",
            "1:zz:4:>:1",
            "0:0x10:4:>:1",
        ] {
            let e = parse_watch(bad).unwrap_err().to_string();
            assert!(e.contains("PID:ADDR:SIZE:OP:THRESHOLD"), "{bad}: {e}");
        }
    }

    #[test]
    fn symbol_form() {
        assert_eq!(
            parse_watch("99:queue_len>100").unwrap(),
            WatchArg::Symbol {
                pid: 99,
                symbol: "queue_len".into(),
                threshold: Threshold::Above(100),
                trigger: Trigger::default()
            }
        );
        assert_eq!(
            parse_watch("99:free<0x10").unwrap(),
            WatchArg::Symbol {
                pid: 99,
                symbol: "free".into(),
                threshold: Threshold::Below(16),
                trigger: Trigger::default()
            }
        );
        assert!(parse_watch("99:queue_len").is_err());
        assert!(parse_watch("99:q>5,").is_err());
        assert!(parse_watch("99:>5").is_err());
    }

    #[test]
    fn without_a_pid_the_watch_is_on_the_program_after_dashes() {
        let sym = parse_watch("queue_len>100").unwrap();
        assert_eq!(sym.pid(), PROGRAM_PID);
        assert_eq!(
            sym.in_program(4321),
            WatchArg::Symbol {
                pid: 4321,
                symbol: "queue_len".into(),
                threshold: Threshold::Above(100),
                trigger: Trigger::default()
            }
        );
        let addr = parse_watch("0x1000:u8:<:3").unwrap();
        assert_eq!(addr.pid(), PROGRAM_PID);
        assert_eq!(addr.clone().in_program(9).pid(), 9);
        // A pid given stays.
        assert_eq!(parse_watch("7:x>1").unwrap().in_program(9).pid(), 7);
        assert!(parse_watch(">5").is_err());
    }

    #[test]
    fn trigger_options_follow_the_threshold() {
        let WatchArg::Symbol { trigger, .. } =
            parse_watch("99:queue_len>100,for=5,rearm=80").unwrap()
        else {
            panic!("symbol form")
        };
        assert_eq!(
            trigger,
            Trigger {
                consecutive: 5,
                rearm: Some(80),
                rate_window: None
            }
        );
        let WatchArg::Addr { trigger, .. } = parse_watch("0x1000:4:<:-100,within=250ms").unwrap()
        else {
            panic!("address form")
        };
        assert_eq!(trigger.rate_window, Some(Duration::from_millis(250)));
        let spec = to_spec(&parse_watch("7:0x1000:4:>:1,for=3").unwrap(), None).unwrap();
        assert_eq!(spec.to_req().unwrap().consecutive, 3);
        for (bad, says) in [
            ("q>1,for=0", "ticks in a row"),
            ("q>1,for=x", "ticks in a row"),
            ("q>1,rearm=ten", "not an integer"),
            ("q>1,within=0s", "longer than 0"),
            ("q>1,within=5parsecs", "unknown unit"),
            ("q>1,every=2", "unknown watch option"),
            ("q>1,for", "KEY=VALUE"),
        ] {
            let e = parse_watch(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    static WATCH_ME: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(7);

    #[test]
    fn symbols_resolve_in_a_live_process() {
        // This test binary's own static: find it by its mangled name.
        use object::{Object, ObjectSymbol};
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let obj = object::File::parse(&*exe).unwrap();
        let name = obj
            .symbols()
            .filter_map(|s| s.name().ok().map(str::to_string))
            .find(|n| n.contains("WATCH_ME"))
            .expect("WATCH_ME in the symbol table");
        let (addr, size) = resolve_symbol(std::process::id() as i32, &name).unwrap();
        assert_eq!(addr, &WATCH_ME as *const _ as u64);
        assert_eq!(size, 4);
        let e = resolve_symbol(std::process::id() as i32, "no_such_symbol_xyz").unwrap_err();
        assert!(e.to_string().contains("give its address"), "{e}");
    }

    #[test]
    fn load_monitor_is_a_fixed_point_kernel_watch() {
        let s = load_spec(3.0, None).unwrap();
        assert_eq!(s.threshold, Threshold::Above(6144));
        assert_eq!(
            (s.ksym.as_deref(), s.length, s.unsigned, s.addr),
            (Some("avenrun"), 8, true, 0)
        );
        let r = s.to_req().unwrap();
        assert_ne!(r.flags & vmon_kabi::abi::VMON_WATCH_KERNEL, 0);
        assert!(load_spec(f64::NAN, None).is_err());
        assert!(load_spec(-1.0, None).is_err());
    }
}
