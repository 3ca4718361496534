//! The one-definition rule: compiles `kmod/include/uapi/vmon.h` with the
//! system C compiler, prints the size of every struct, the offset and size
//! of every field and the value of every constant, and checks that the Rust
//! mirror agrees. A field added to the header without its Rust twin changes
//! the struct's size or leaves a gap, and fails here.

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;
use vmon_kabi::abi::*;

/// (C struct, C field, Rust offset, Rust size)
type Field = (&'static str, &'static str, usize, usize);

macro_rules! fields {
    ($out:ident, $s:ident { $($f:ident $(as $c:literal)?),* $(,)? }) => {{
        $(
            let c_name = fields!(@name $f $($c)?);
            let size = {
                fn size_of_ret<T>(_: fn(&$s) -> &T) -> usize { size_of::<T>() }
                size_of_ret(|x: &$s| &x.$f)
            };
            $out.push((stringify!($s), c_name, offset_of!($s, $f), size));
        )*
        (stringify!($s), size_of::<$s>())
    }};
    (@name $f:ident $c:literal) => { $c };
    (@name $f:ident) => { stringify!($f) };
}

fn rust_layout() -> (Vec<(&'static str, usize)>, Vec<Field>) {
    let mut f: Vec<Field> = Vec::new();
    let structs = vec![
        fields!(
            f,
            vmon_watch_req {
                size,
                flags,
                pid,
                length,
                addr,
                threshold,
                interval_ns,
                name,
                ksym,
                id,
                consecutive,
                reserved,
                rearm,
                rate_window_ns
            }
        ),
        fields!(
            f,
            vmon_version {
                size,
                abi_version,
                record_version,
                reserved
            }
        ),
        fields!(f, vmon_rec_hdr { magic, type_ as "type", len, seq, time_ns, event_id }),
        fields!(
            f,
            vmon_rec_hello {
                hdr,
                abi_version,
                record_version,
                def_interval_ns,
                min_interval_ns,
                dump_reset_sec,
                kstack_max,
                ustack_max,
                raw_stack_bytes,
                buffer_bytes,
                boot_realtime_ns,
                release,
                pad
            }
        ),
        fields!(
            f,
            vmon_rec_breach {
                hdr,
                watch_id,
                value,
                threshold,
                addr,
                interval_ns,
                owner_pid,
                target_pid,
                watch_flags,
                length,
                name,
                ksym,
                consecutive,
                reserved,
                rearm,
                rate_window_ns
            }
        ),
        fields!(
            f,
            vmon_rec_task {
                hdr,
                pid,
                tgid,
                state,
                cpu,
                flags,
                nr_kstack,
                nr_ustack,
                cgroup_id,
                start_boottime_ns,
                user_ip,
                user_sp,
                user_bp,
                raw_stack_len,
                pad,
                comm
            }
        ),
        fields!(
            f,
            vmon_rec_maps {
                hdr,
                tgid,
                nr,
                flags,
                pad
            }
        ),
        fields!(
            f,
            vmon_map_entry {
                start,
                end,
                pgoff,
                ino,
                dev,
                flags,
                path_len,
                build_id_len,
                pad
            }
        ),
        fields!(
            f,
            vmon_rec_chain {
                hdr,
                tgid,
                nr,
                flags,
                pad
            }
        ),
        fields!(
            f,
            vmon_chain_entry {
                pid,
                cmdline_len,
                start_boottime_ns,
                flags,
                pad,
                comm
            }
        ),
        fields!(
            f,
            vmon_rec_event_end {
                hdr,
                nr_tasks,
                nr_candidates,
                flags,
                pad,
                duration_ns
            }
        ),
        fields!(
            f,
            vmon_rec_lost {
                hdr,
                lost_records,
                lost_bytes
            }
        ),
    ];
    (structs, f)
}

fn constants() -> Vec<(&'static str, u64)> {
    macro_rules! c {
        ($($n:ident),* $(,)?) => { vec![$((stringify!($n), $n as u64)),*] };
    }
    c![
        VMON_ABI_VERSION,
        VMON_RECORD_VERSION,
        VMON_RECORD_MAGIC,
        VMON_NAME_LEN,
        VMON_KSYM_LEN,
        VMON_COMM_LEN,
        VMON_WATCH_UNSIGNED,
        VMON_WATCH_GREATER,
        VMON_WATCH_KERNEL,
        VMON_WATCH_DEF_INTERVAL,
        VMON_WATCH_REARM,
        VMON_WATCH_RATE,
        VMON_MAX_CONSECUTIVE,
        VMON_MAX_RATE_WINDOW_NS,
        VMON_WATCH_FLAGS_ALL,
        VMON_IOC_MAGIC,
        VMON_IOC_VERSION,
        VMON_IOC_WATCH,
        VMON_IOC_CANCEL,
        VMON_REC_HELLO,
        VMON_REC_BREACH,
        VMON_REC_TASK,
        VMON_REC_MAPS,
        VMON_REC_CHAIN,
        VMON_REC_EVENT_END,
        VMON_REC_LOST,
        VMON_STATE_OTHER,
        VMON_STATE_RUNNING,
        VMON_STATE_UNINTERRUPTIBLE,
        VMON_STATE_RTLOCK,
        VMON_TASK_KSTACK_TRUNC,
        VMON_TASK_USTACK_TRUNC,
        VMON_TASK_USTACK_FAULT,
        VMON_TASK_RAW_TRUNC,
        VMON_TASK_ON_CPU,
        VMON_TASK_KTHREAD,
        VMON_TASK_NO_UREGS,
        VMON_TASK_USER_NOWAIT,
        VMON_TASK_RAW_TRIMMED,
        VMON_LIST_TRUNC,
        VMON_LIST_BUSY,
        VMON_MAP_PATH_TRUNC,
        VMON_CHAIN_CMDLINE_TRUNC,
        VMON_CHAIN_CMDLINE_NOWAIT,
        VMON_EVENT_TASKS_TRUNC,
        VMON_EVENT_TIME_BUDGET,
        VMON_EVENT_DROPPED,
    ]
}

fn header_dir() -> PathBuf {
    manifest_dir().join("../include")
}

fn c_layout(structs: &[(&str, usize)], fields: &[Field]) -> BTreeMap<String, u64> {
    let mut src = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <uapi/vmon.h>\nint main(void) {\n",
    );
    for (s, _) in structs {
        src += &format!("printf(\"size {s} %zu\\n\", sizeof(struct {s}));\n");
    }
    for (s, f, _, _) in fields {
        src += &format!(
            "printf(\"off {s}.{f} %zu\\n\", offsetof(struct {s}, {f}));\n\
             printf(\"len {s}.{f} %zu\\n\", sizeof(((struct {s} *)0)->{f}));\n"
        );
    }
    for (n, _) in constants() {
        src += &format!("printf(\"const {n} %llu\\n\", (unsigned long long)({n}));\n");
    }
    src += "printf(\"str VMON_DEVICE_PATH %s\\n\", VMON_DEVICE_PATH);\n";
    src += "printf(\"str VMON_DEVICE_NAME %s\\n\", VMON_DEVICE_NAME);\nreturn 0;\n}\n";

    let dir = std::env::temp_dir().join(format!("vmon-kabi-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&c, src).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=gnu11", "-Wall", "-Werror", "-I"])
        .arg(header_dir())
        .arg(&c)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("running {cc}: {e}; install gcc to run this test"));
    assert!(
        out.status.success(),
        "compiling the header failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    std::fs::remove_dir_all(&dir).ok();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.splitn(3, ' ');
        let (kind, key, val) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        if kind == "str" {
            m.insert(format!("str {key}={val}"), 0);
        } else {
            m.insert(format!("{kind} {key}"), val.parse().unwrap());
        }
    }
    m
}

#[test]
fn rust_mirror_matches_the_c_header() {
    let (structs, fields) = rust_layout();
    let c = c_layout(&structs, &fields);
    let mut rust = BTreeMap::new();
    for (s, size) in &structs {
        rust.insert(format!("size {s}"), *size as u64);
    }
    for (s, f, off, len) in &fields {
        rust.insert(format!("off {s}.{f}"), *off as u64);
        rust.insert(format!("len {s}.{f}"), *len as u64);
    }
    for (n, v) in constants() {
        rust.insert(format!("const {n}"), v);
    }
    rust.insert(format!("str VMON_DEVICE_PATH={VMON_DEVICE_PATH}"), 0);
    rust.insert(format!("str VMON_DEVICE_NAME={VMON_DEVICE_NAME}"), 0);

    let mismatches: Vec<String> = c
        .iter()
        .filter(|(k, v)| rust.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: C {v}, Rust {:?}", rust.get(k)))
        .chain(
            rust.keys()
                .filter(|k| !c.contains_key(*k))
                .map(|k| format!("{k}: missing on the C side")),
        )
        .collect();
    assert!(
        mismatches.is_empty(),
        "ABI mismatch:\n{}",
        mismatches.join("\n")
    );
    // Sanity: the comparison really covered the structs.
    assert!(c.len() > 150, "only {} items compared", c.len());
}

#[test]
fn structs_have_no_implicit_padding() {
    // The header promises every pad is a named field: fields laid end to end
    // must cover each struct exactly.
    let (structs, fields) = rust_layout();
    for (s, size) in structs {
        let mut fs: Vec<_> = fields.iter().filter(|f| f.0 == s).collect();
        fs.sort_by_key(|f| f.2);
        let mut at = 0;
        for (_, f, off, len) in fs {
            assert_eq!(*off, at, "{s}.{f}: gap before it");
            at += len;
        }
        assert_eq!(at, size, "{s}: padding at the end");
    }
}

#[test]
fn ioctl_numbers_follow_the_kernel_encoding() {
    // Spelled out by hand: dir << 30 | size << 16 | 'V' << 8 | nr.
    assert_eq!(VMON_IOC_VERSION, (3 << 30) | (16 << 16) | (0x56 << 8));
    // 152 since the trigger extension; the module ignores the size bits, so
    // callers built with the 128-byte struct reach the same handler
    assert_eq!(VMON_IOC_WATCH, (3 << 30) | (152 << 16) | (0x56 << 8) | 1);
    assert_eq!(VMON_IOC_CANCEL, (0x56 << 8) | 2);
}

/// The crate's directory, read when the test runs: a test binary built in
/// another checkout sharing the target directory stays "fresh" for cargo,
/// and the compile-time path would point into that other checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}
