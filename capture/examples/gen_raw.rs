//! Writes a large synthetic raw record stream for the capture benchmark:
//! `gen_raw OUT EVENTS [TASKS_PER_EVENT] [real]`. Stacks are drawn from a
//! fixed set of call paths, as on a real machine where a few code paths
//! dominate. With `real`, every task carries this program's own user stack
//! instead (registers, frame-pointer chain and an 8 KiB raw window taken at
//! the bottom of a call chain), with its real executable mappings, so that
//! `vmon-capture --from-raw --sysroot /` unwinds real stacks with CFI while
//! this binary and its libraries are on disk.

use std::io::Write;
use vmon_kabi::abi::*;
use vmon_kabi::records::{Breach, ChainEntry, EventEnd, Hello, Lost, MapEntry, TaskFixed};
use vmon_kabi::Encoder;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).map(String::as_str).unwrap_or("bench.raw");
    let events: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let tasks: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let kpaths: Vec<Vec<u64>> = (0..64)
        .map(|i| {
            (0..8 + i % 12)
                .map(|j| 0xffff_ffff_8100_0000 + ((i * 97 + j * 13) % 4096) * 64)
                .collect()
        })
        .collect();
    let upaths: Vec<Vec<u64>> = (0..256)
        .map(|i| {
            (0..10 + i % 30)
                .map(|j| 0x5555_5555_0000 + ((i * 31 + j * 7) % 8192) * 16)
                .collect()
        })
        .collect();
    let real = (args.get(4).map(String::as_str) == Some("real")).then(real::snapshot);
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    let mut e = Encoder::new();
    e.at(1).hello(&Hello {
        abi_version: VMON_ABI_VERSION,
        record_version: VMON_RECORD_VERSION,
        def_interval_ns: 10_000,
        min_interval_ns: 100_000,
        dump_reset_sec: 0,
        kstack_max: 64,
        ustack_max: 128,
        buffer_bytes: 16 << 20,
        release: b"6.1.0-bench",
        ..Default::default()
    });
    let mut records = 1u64;
    for ev in 1..=events {
        let t = ev * 1_000_000;
        e.at(t).event(ev).breach(&Breach {
            watch_id: 1 + ev % 4,
            value: 101,
            threshold: 100,
            addr: 0x5555_5556_0000,
            interval_ns: 10_000,
            owner_pid: 1000,
            target_pid: 1000,
            watch_flags: VMON_WATCH_GREATER,
            length: 4,
            name: b"queue",
            ksym: b"",
            trigger: Default::default(),
        });
        for k in 0..tasks {
            let tgid = 1000 + (rnd() % 8) as i32;
            let kp = &kpaths[(rnd() % 64) as usize];
            let up = &upaths[(rnd() % 256) as usize];
            let (ip, sp, bp, up, raw): (u64, u64, u64, &[u64], &[u8]) = match &real {
                Some(r) => (r.ip, r.sp, r.bp, &r.chain, &r.stack),
                None => (up[0], 0x7ffd_0000, 0x7ffd_0040, up, b""),
            };
            e.task(
                &TaskFixed {
                    pid: tgid + k as i32 * 10,
                    tgid,
                    state: 1 + (k % 2) as u32,
                    cpu: (k % 4) as i32,
                    cgroup_id: 1,
                    start_boottime_ns: 1000,
                    user_ip: ip,
                    user_sp: sp,
                    user_bp: bp,
                    comm: b"bench",
                    ..Default::default()
                },
                kp,
                up,
                raw,
            );
        }
        for p in 0..8 {
            let synthetic = [MapEntry {
                start: 0x5555_5555_0000,
                end: 0x5555_5556_0000,
                pgoff: 0,
                ino: 77,
                dev: 0x801,
                path: b"/usr/bin/bench",
                build_id: &[0x42; 20],
                ..Default::default()
            }];
            let maps: Vec<MapEntry<'_>> = match &real {
                Some(r) => r
                    .maps
                    .iter()
                    .map(|m| MapEntry {
                        start: m.0,
                        end: m.1,
                        pgoff: m.2,
                        path: m.3.as_bytes(),
                        ..Default::default()
                    })
                    .collect(),
                None => synthetic.to_vec(),
            };
            e.maps(1000 + p, 0, &maps);
            e.chain(
                1000 + p,
                0,
                &[ChainEntry {
                    pid: 1000 + p,
                    start_boottime_ns: 1000,
                    comm: b"bench",
                    cmdline: b"bench\0--fast\0",
                    ..Default::default()
                }],
            );
        }
        e.event_end(&EventEnd {
            nr_tasks: tasks as u32,
            nr_candidates: tasks as u32,
            flags: 0,
            duration_ns: 20_000,
        });
        e.event(0);
        records += tasks + 18;
        if ev % 1000 == 0 {
            e.lost(&Lost::default());
            records += 1;
        }
        if e.bytes().len() > 1 << 20 {
            let next = e.next_seq();
            f.write_all(e.bytes())?;
            e = Encoder::new();
            e.skip(next);
        }
    }
    f.write_all(e.bytes())?;
    f.flush()?;
    eprintln!(
        "{out}: {records} records, {events} events, {} task samples",
        events * tasks
    );
    Ok(())
}

/// This program's own user stack, as the kernel module records a task's.
mod real {
    pub struct Snapshot {
        pub ip: u64,
        pub sp: u64,
        pub bp: u64,
        pub chain: Vec<u64>,
        pub stack: Vec<u8>,
        /// start, end, file offset, path of each executable file mapping.
        pub maps: Vec<(u64, u64, u64, String)>,
    }

    pub fn snapshot() -> Snapshot {
        depth(8)
    }

    #[inline(never)]
    fn depth(n: u32) -> Snapshot {
        let s = if n == 0 {
            grab()
        } else {
            depth(std::hint::black_box(n - 1))
        };
        std::hint::black_box(s)
    }

    #[inline(never)]
    fn grab() -> Snapshot {
        let (ip, sp, bp): (u64, u64, u64);
        // SAFETY: reads three registers.
        unsafe {
            std::arch::asm!("lea {}, [rip]", "mov {}, rsp", "mov {}, rbp", out(reg) ip, out(reg) sp, out(reg) bp)
        };
        let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
        let mut end = 0;
        let mut exec = Vec::new();
        for line in maps.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let Some((a, b)) = f[0].split_once('-') else {
                continue;
            };
            let (a, b) = (
                u64::from_str_radix(a, 16).unwrap(),
                u64::from_str_radix(b, 16).unwrap(),
            );
            if (a..b).contains(&sp) {
                end = b;
            }
            if f[1].contains('x') && f.len() > 5 && f[5].starts_with('/') {
                exec.push((
                    a,
                    b,
                    u64::from_str_radix(f[2], 16).unwrap(),
                    f[5].to_string(),
                ));
            }
        }
        let len = (end - sp).min(8192) as usize;
        // SAFETY: [sp, sp + len) lies inside this thread's stack mapping.
        let stack = unsafe { std::slice::from_raw_parts(sp as *const u8, len) }.to_vec();
        // The module's frame-pointer walk (Rust release code has none: it
        // usually stops at once).
        let word = |a: u64| -> Option<u64> {
            let o = usize::try_from(a.checked_sub(sp)?).ok()?;
            Some(u64::from_le_bytes(stack.get(o..o + 8)?.try_into().ok()?))
        };
        let mut chain = vec![ip];
        let mut fp = bp;
        while chain.len() < 128 && fp % 8 == 0 && fp >= sp {
            match (word(fp), word(fp + 8)) {
                (Some(next), Some(ret)) if ret != 0 => {
                    chain.push(ret);
                    if next <= fp {
                        break;
                    }
                    fp = next;
                }
                _ => break,
            }
        }
        Snapshot {
            ip,
            sp,
            bp,
            chain,
            stack,
            maps: exec,
        }
    }
}
