//! Damaged raw record streams into `vmon-capture --from-raw` (issue 15): a
//! proptest harness run by `cargo test` for a bounded number of cases
//! (`VMON_FUZZ_CASES`, default 64). The converter must never panic, must
//! exit 0 (damage is counted, not fatal), and must leave a finished,
//! readable `.vmt` with no more breaches than the stream has records.

use proptest::prelude::*;
use std::process::Command;
use vmon_format::VmtFile;
use vmon_kabi::abi::*;
use vmon_kabi::records::{Breach, EventEnd, Hello, MapEntry, TaskFixed};
use vmon_kabi::Encoder;

const BIN: &str = env!("CARGO_BIN_EXE_vmon-capture");

fn stream(events: u64) -> Vec<u8> {
    let mut e = Encoder::new();
    e.at(1_000).hello(&Hello {
        abi_version: VMON_ABI_VERSION,
        record_version: VMON_RECORD_VERSION,
        def_interval_ns: 10_000,
        min_interval_ns: 100_000,
        dump_reset_sec: 5,
        kstack_max: 64,
        ustack_max: 128,
        raw_stack_bytes: 64,
        buffer_bytes: 4 << 20,
        boot_realtime_ns: 1_700_000_000_000_000_000,
        release: b"6.1.0-test",
    });
    for id in 1..=events {
        e.at(10_000 * id).event(id).breach(&Breach {
            watch_id: 7,
            value: 11,
            threshold: 10,
            addr: 0x5555_0000_1000,
            interval_ns: 10_000,
            owner_pid: 100,
            target_pid: 100,
            watch_flags: VMON_WATCH_GREATER,
            length: 4,
            name: b"depth",
            ksym: b"",
            trigger: Default::default(),
        });
        e.task(
            &TaskFixed {
                pid: 100,
                tgid: 100,
                state: VMON_STATE_RUNNING,
                cpu: 0,
                flags: 0,
                cgroup_id: 1,
                start_boottime_ns: 500,
                user_ip: 0x401010,
                user_sp: 0x7ffd_0000,
                user_bp: 0x7ffd_0040,
                comm: b"prog",
            },
            &[0xffffffff81000010, 0xffffffff81000020],
            &[0x401010, 0x401120],
            &[0x11; 16],
        );
        e.maps(
            100,
            0,
            &[MapEntry {
                start: 0x400000,
                end: 0x402000,
                pgoff: 0,
                ino: 12,
                dev: 0x801,
                flags: 0,
                path: b"/opt/test/prog",
                build_id: &[0xbe; 20],
            }],
        );
        e.event_end(&EventEnd {
            nr_tasks: 1,
            nr_candidates: 1,
            flags: 0,
            duration_ns: 1,
        });
        e.event(0);
    }
    e.finish()
}

fn cases() -> u32 {
    std::env::var("VMON_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Bytes set to anything (u64 fields near 2^64 included), cut, or
    /// spliced in.
    #[test]
    fn damaged_raw_streams_convert_without_panic(
        events in 1u64..20,
        sets in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..12),
        words in proptest::collection::vec((any::<usize>(), prop_oneof![Just(u64::MAX), Just(u64::MAX - 1), Just(1u64 << 63), any::<u64>()]), 0..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let mut raw = stream(events);
        let n = raw.len();
        for (p, b) in &sets {
            raw[p % n] = *b;
        }
        for (p, w) in &words {
            let p = (p % (n / 8)) * 8;
            raw[p..p + 8].copy_from_slice(&w.to_le_bytes());
        }
        if let Some(c) = cut {
            raw.truncate(c % n);
        }
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.raw");
        let out = dir.path().join("out.vmt");
        std::fs::write(&input, &raw).unwrap();
        let o = Command::new(BIN)
            .arg("--from-raw")
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        prop_assert!(!err.contains("panicked"), "{}", err);
        prop_assert_eq!(o.status.code(), Some(0), "{}", err);
        let f = VmtFile::open(&out).unwrap();
        prop_assert!(f.is_finished(), "the file is finished with its index");
        let c = f.decode().unwrap();
        // A damaged type field can turn any record into a BREACH, no more.
        prop_assert!(c.breaches.len() as u64 <= 4 * events + 1);
    }
}
