//! Round trips through the encoder and the parser, and hostile input.

use vmon_kabi::abi::*;
use vmon_kabi::records::*;
use vmon_kabi::{Body, Encoder, RecordError, Records};

fn task_fixed() -> TaskFixed<'static> {
    TaskFixed {
        pid: 101,
        tgid: 100,
        state: VMON_STATE_UNINTERRUPTIBLE,
        cpu: 1,
        flags: VMON_TASK_USTACK_TRUNC,
        cgroup_id: 77,
        start_boottime_ns: 5_000,
        user_ip: 0x401000,
        user_sp: 0x7ffd_0000,
        user_bp: 0x7ffd_0040,
        comm: b"worker",
    }
}

fn sample_stream() -> Vec<u8> {
    let mut e = Encoder::new();
    e.at(1_000).hello(&Hello {
        abi_version: 1,
        record_version: 1,
        def_interval_ns: 10_000,
        min_interval_ns: 100_000,
        dump_reset_sec: 5,
        kstack_max: 64,
        ustack_max: 128,
        raw_stack_bytes: 0,
        buffer_bytes: 4 << 20,
        boot_realtime_ns: 1_700_000_000_000_000_000,
        release: b"6.1.0-18-amd64",
    });
    e.at(2_000).event(9).breach(&Breach {
        watch_id: 3,
        value: 11,
        threshold: 10,
        addr: 0x5555_0000_1000,
        interval_ns: 10_000,
        owner_pid: 100,
        target_pid: 100,
        watch_flags: VMON_WATCH_GREATER,
        length: 4,
        name: b"queue",
        ksym: b"",
        trigger: Default::default(),
    });
    e.task(
        &task_fixed(),
        &[0xffff_ffff_8100_0000, 0xffff_ffff_8100_0100],
        &[0x401000, 0x401100, 0x401200],
        b"abc",
    );
    e.maps(
        100,
        0,
        &[
            MapEntry {
                start: 0x400000,
                end: 0x402000,
                pgoff: 0,
                ino: 12,
                dev: 0x801,
                flags: 0,
                path: b"/usr/bin/worker",
                build_id: &[0xab; 20],
            },
            MapEntry {
                start: 0x7f00_0000_0000,
                end: 0x7f00_0001_0000,
                pgoff: 0x1000,
                ino: 13,
                dev: 0x801,
                flags: VMON_MAP_PATH_TRUNC,
                path: b"/lib/x86_64-linux-gnu/libc.so.6",
                build_id: b"",
            },
        ],
    );
    e.chain(
        100,
        VMON_LIST_TRUNC,
        &[
            ChainEntry {
                pid: 100,
                start_boottime_ns: 5_000,
                flags: 0,
                comm: b"worker",
                cmdline: b"worker\0--fast\0",
            },
            ChainEntry {
                pid: 1,
                start_boottime_ns: 0,
                flags: VMON_CHAIN_CMDLINE_TRUNC,
                comm: b"init",
                cmdline: b"/sbin/init",
            },
        ],
    );
    e.event_end(&EventEnd {
        nr_tasks: 1,
        nr_candidates: 3,
        flags: VMON_EVENT_TASKS_TRUNC,
        duration_ns: 42_000,
    });
    e.event(0).skip(2).lost(&Lost {
        lost_records: 2,
        lost_bytes: 400,
    });
    e.unknown(99, b"future!!");
    e.finish()
}

#[test]
fn encoded_stream_parses_back_field_for_field() {
    let buf = sample_stream();
    let recs: Vec<_> = Records::new(&buf).collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 8);
    let seqs: Vec<u64> = recs.iter().map(|r| r.hdr.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5, 8, 9]);
    assert!(recs
        .iter()
        .all(|r| r.hdr.len % 8 == 0 && r.bytes.len() == r.hdr.len as usize));

    let Body::Hello(h) = recs[0].body else {
        panic!("{:?}", recs[0])
    };
    assert_eq!(
        (h.abi_version, h.min_interval_ns, h.kstack_max),
        (1, 100_000, 64)
    );
    assert_eq!(h.release, b"6.1.0-18-amd64");

    let Body::Breach(b) = recs[1].body else {
        panic!()
    };
    assert_eq!((recs[1].hdr.time_ns, recs[1].hdr.event_id), (2_000, 9));
    assert_eq!((b.watch_id, b.value, b.threshold, b.length), (3, 11, 10, 4));
    assert_eq!((b.name, b.ksym), (&b"queue"[..], &b""[..]));

    let Body::Task(t) = recs[2].body else {
        panic!()
    };
    assert_eq!(t.fixed, task_fixed());
    assert_eq!(
        t.kstack.to_vec(),
        [0xffff_ffff_8100_0000, 0xffff_ffff_8100_0100]
    );
    assert_eq!(t.ustack.to_vec(), [0x401000, 0x401100, 0x401200]);
    assert_eq!(t.ustack.get(2), Some(0x401200));
    assert_eq!(t.ustack.get(3), None);
    assert_eq!(t.raw_stack, b"abc");

    let Body::Maps(m) = recs[3].body else {
        panic!()
    };
    let es: Vec<_> = m.entries().collect();
    assert_eq!(es.len(), 2);
    assert_eq!(es[0].path, b"/usr/bin/worker");
    assert_eq!(es[0].build_id, &[0xab; 20]);
    assert_eq!(
        (es[1].pgoff, es[1].flags, es[1].build_id.len()),
        (0x1000, VMON_MAP_PATH_TRUNC, 0)
    );
    assert!(!m.truncated());

    let Body::Chain(c) = recs[4].body else {
        panic!()
    };
    assert!(c.truncated());
    let es: Vec<_> = c.entries().collect();
    assert_eq!(
        es[0].args().collect::<Vec<_>>(),
        [&b"worker"[..], b"--fast"]
    );
    assert_eq!(es[1].args().collect::<Vec<_>>(), [&b"/sbin/init"[..]]);
    assert_eq!((es[1].pid, es[1].comm), (1, &b"init"[..]));

    assert_eq!(
        recs[5].body,
        Body::EventEnd(EventEnd {
            nr_tasks: 1,
            nr_candidates: 3,
            flags: VMON_EVENT_TASKS_TRUNC,
            duration_ns: 42_000
        })
    );
    assert_eq!(
        recs[6].body,
        Body::Lost(Lost {
            lost_records: 2,
            lost_bytes: 400
        })
    );
    assert_eq!(recs[7].hdr.type_, 99);
    assert_eq!(recs[7].body, Body::Unknown { body: b"future!!" });
}

#[test]
fn unaligned_buffers_parse_the_same() {
    let buf = sample_stream();
    let mut shifted = vec![0u8; buf.len() + 1];
    shifted[1..].copy_from_slice(&buf);
    let a: Vec<_> = Records::new(&buf).map(|r| r.unwrap().hdr).collect();
    let b: Vec<_> = Records::new(&shifted[1..])
        .map(|r| r.unwrap().hdr)
        .collect();
    assert_eq!(a, b);
}

#[test]
fn every_truncation_is_an_error_at_the_right_offset_never_a_panic() {
    let buf = sample_stream();
    let starts: Vec<usize> = {
        let mut v = vec![0];
        for r in Records::new(&buf) {
            v.push(v.last().unwrap() + r.unwrap().hdr.len as usize);
        }
        v
    };
    for cut in 0..buf.len() {
        let mut it = Records::new(&buf[..cut]);
        let mut good = 0;
        let mut err = None;
        for r in it.by_ref() {
            match r {
                Ok(_) => good += 1,
                Err(e) => err = Some(e),
            }
        }
        let whole = starts.iter().filter(|&&s| s > 0 && s <= cut).count();
        assert_eq!(good, whole, "cut {cut}");
        if starts.contains(&cut) {
            assert!(err.is_none(), "cut {cut} at a boundary: {err:?}");
        } else {
            let e = err.unwrap_or_else(|| panic!("cut {cut}: no error"));
            assert!(e.is_truncation(), "cut {cut}: {e}");
            assert_eq!(e.offset() as usize, starts[whole], "cut {cut}");
            assert_eq!(it.offset(), starts[whole]);
        }
    }
}

#[test]
fn corrupt_headers_and_bodies_are_named() {
    let buf = sample_stream();
    let first_len = 160; // HELLO

    let mut bad = buf.clone();
    bad[first_len] ^= 0xff; // magic of the BREACH
    let errs: Vec<_> = Records::new(&bad).filter_map(Result::err).collect();
    assert_eq!(errs.len(), 1);
    assert!(
        matches!(errs[0], RecordError::BadMagic { offset: 160, .. }),
        "{}",
        errs[0]
    );
    assert!(errs[0].to_string().contains("offset 160"));

    for len in [0u32, 4, 12, 33, MAX_RECORD_LEN + 8] {
        let mut bad = buf.clone();
        bad[first_len + 4..first_len + 8].copy_from_slice(&len.to_le_bytes());
        let e = Records::new(&bad).find_map(Result::err).unwrap();
        assert!(
            matches!(e, RecordError::BadLen { offset: 160, .. }),
            "len {len}: {e}"
        );
    }

    // A BREACH shortened to a bare header.
    let mut e = Encoder::new();
    e.unknown(VMON_REC_BREACH, &[0; 8]);
    let err = Records::new(e.bytes()).next().unwrap().unwrap_err();
    assert!(
        matches!(err, RecordError::BadBody { kind: "BREACH", .. }),
        "{err}"
    );

    // A TASK claiming more frames than its length holds.
    let mut e = Encoder::new();
    e.task(&task_fixed(), &[1, 2], &[3], b"");
    let mut t = e.finish();
    let nk = core::mem::offset_of!(vmon_rec_task, nr_kstack);
    t[nk..nk + 2].copy_from_slice(&500u16.to_le_bytes());
    let err = Records::new(&t).next().unwrap().unwrap_err();
    assert!(err.to_string().contains("500 kernel frames"), "{err}");

    // A MAPS record whose count exceeds its entries, and one whose path
    // length runs past the end.
    let mut e = Encoder::new();
    e.maps(
        1,
        0,
        &[MapEntry {
            path: b"/bin/x",
            ..Default::default()
        }],
    );
    let m = e.finish();
    let mut c = m.clone();
    let nr = core::mem::offset_of!(vmon_rec_maps, nr);
    c[nr..nr + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = Records::new(&c).next().unwrap().unwrap_err();
    assert!(err.to_string().contains("entry 1 of 4294967295"), "{err}");
    let mut c = m;
    let pl = MAPS_SIZE + core::mem::offset_of!(vmon_map_entry, path_len);
    c[pl..pl + 2].copy_from_slice(&4000u16.to_le_bytes());
    let err = Records::new(&c).next().unwrap().unwrap_err();
    assert!(
        matches!(err, RecordError::BadBody { kind: "MAPS", .. }),
        "{err}"
    );

    // A CHAIN whose cmdline overruns.
    let mut e = Encoder::new();
    e.chain(
        1,
        0,
        &[ChainEntry {
            cmdline: b"a\0b",
            ..Default::default()
        }],
    );
    let mut c = e.finish();
    let cl = CHAIN_SIZE + core::mem::offset_of!(vmon_chain_entry, cmdline_len);
    c[cl..cl + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = Records::new(&c).next().unwrap().unwrap_err();
    assert!(
        matches!(err, RecordError::BadBody { kind: "CHAIN", .. }),
        "{err}"
    );
}

#[test]
fn garbage_is_skipped_by_resynchronizing() {
    let good = sample_stream();
    let mut buf = good[..160].to_vec();
    buf.extend_from_slice(&[0x4d; 24]); // junk, 8-aligned
    buf.extend_from_slice(&good[160..]);
    let mut it = Records::new(&buf);
    assert!(it.next().unwrap().is_ok());
    let err = it.next().unwrap().unwrap_err();
    assert_eq!(err.offset(), 160);
    assert_eq!(find_next_record(&buf, 160), Some(184));
    let rest: Vec<_> = Records::new(&buf[184..]).collect::<Result<_, _>>().unwrap();
    assert_eq!(rest.len(), 7);
}

#[test]
fn random_bytes_never_panic() {
    // A small deterministic xorshift: no dependency, reproducible.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let good = sample_stream();
    for round in 0..3000 {
        let mut buf = good.clone();
        for _ in 0..(round % 16 + 1) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x as usize) % buf.len();
            buf[i] = (x >> 32) as u8;
        }
        let cut = (x >> 40) as usize % (buf.len() + 1);
        for r in Records::new(&buf[..cut]).flatten() {
            match r.body {
                Body::Maps(m) => assert!(m.entries().count() <= m.nr as usize),
                Body::Chain(c) => {
                    for e in c.entries() {
                        let _ = e.args().count();
                    }
                }
                Body::Task(t) => {
                    let _ = t.kstack.iter().chain(t.ustack.iter()).count();
                }
                _ => {}
            }
        }
        let _ = find_next_record(&buf[..cut], 0);
    }
}

#[test]
fn names_are_cut_to_leave_a_nul() {
    let mut e = Encoder::new();
    e.breach(&Breach {
        name: b"a_name_longer_than_sixteen",
        ksym: b"avenrun",
        ..Default::default()
    });
    let r = Records::new(e.bytes()).next().unwrap().unwrap();
    let Body::Breach(b) = r.body else { panic!() };
    assert_eq!(b.name, b"a_name_longer_t");
    assert_eq!(b.ksym, b"avenrun");
}

#[test]
fn breach_trigger_fields_round_trip_and_old_records_read_as_plain() {
    use vmon_kabi::abi::{BREACH_SIZE, BREACH_SIZE_V1};
    use vmon_kabi::records::BreachTrigger;
    let trigger = BreachTrigger {
        consecutive: 7,
        rearm: -3,
        rate_window_ns: 250_000_000,
    };
    let mut e = Encoder::new();
    e.breach(&Breach {
        watch_id: 9,
        name: b"q",
        trigger,
        ..Default::default()
    });
    let bytes = e.bytes().to_vec();
    assert_eq!(bytes.len(), BREACH_SIZE);
    let r = Records::new(&bytes).next().unwrap().unwrap();
    let Body::Breach(b) = r.body else { panic!() };
    assert_eq!(b.trigger, trigger);
    // what a module before the extension sends: the record ends at the name
    // fields, its len says so, and it reads as a plain watch
    let mut old = bytes[..BREACH_SIZE_V1].to_vec();
    old[4..8].copy_from_slice(&(BREACH_SIZE_V1 as u32).to_le_bytes());
    let r = Records::new(&old).next().unwrap().unwrap();
    let Body::Breach(b) = r.body else { panic!() };
    assert_eq!((b.watch_id, b.name), (9, &b"q"[..]));
    assert_eq!(b.trigger, BreachTrigger::default());
}
