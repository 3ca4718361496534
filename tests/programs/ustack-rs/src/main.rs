//! ustack_rs: a plain `cargo build --release` binary (no frame pointers,
//! dynamically linked against glibc) with several threads in known states:
//!
//! - `rs_sleep`: rs_sleep_l1 -> rs_sleep_l2 -> rs_sleep_l3 -> std::thread::sleep
//! - `rs_lock`:  rs_lock_l1 -> rs_lock_l2 -> rs_lock_l3 -> Mutex::lock (held by main for ever)
//! - `rs_spin`:  rs_spin_l1 -> rs_spin_l2 -> rs_spin_leaf (running in user code)
//! - main:       rs_main_l1 -> rs_main_wait -> std::thread::sleep, holding the mutex
//!
//! Once all are in place it sets `ustack_ready` = 1 and prints "ready";
//! the scenario watches that symbol with vmon-capture and kills the process.
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[no_mangle]
#[allow(non_upper_case_globals)]
pub static ustack_ready: AtomicI32 = AtomicI32::new(0);

static LOCK: Mutex<u64> = Mutex::new(0);
static SPINNING: AtomicBool = AtomicBool::new(false);
static SPIN_COUNT: AtomicI32 = AtomicI32::new(0);

const FOREVER: Duration = Duration::from_secs(1_000_000);

fn tid() -> i32 {
    // /proc/thread-self -> "PID/task/TID"
    let l = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    l.to_string_lossy().rsplit('/').next().unwrap().parse().unwrap()
}

/// First field of /proc/self/task/TID/syscall: the syscall the thread is blocked in.
fn syscall_of(tid: i32) -> Option<i64> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[inline(never)]
fn rs_sleep_l3(d: u64) -> u64 {
    std::thread::sleep(black_box(FOREVER));
    black_box(d + 1)
}
#[inline(never)]
fn rs_sleep_l2(d: u64) -> u64 {
    black_box(rs_sleep_l3(black_box(d + 1))) + 1
}
#[inline(never)]
fn rs_sleep_l1(d: u64) -> u64 {
    black_box(rs_sleep_l2(black_box(d + 1))) + 1
}

#[inline(never)]
fn rs_lock_l3(d: u64) -> u64 {
    let g = LOCK.lock().unwrap();
    black_box(*g + d)
}
#[inline(never)]
fn rs_lock_l2(d: u64) -> u64 {
    black_box(rs_lock_l3(black_box(d + 1))) + 1
}
#[inline(never)]
fn rs_lock_l1(d: u64) -> u64 {
    black_box(rs_lock_l2(black_box(d + 1))) + 1
}

#[inline(never)]
fn rs_spin_leaf(d: u64) -> u64 {
    SPINNING.store(true, Ordering::Release);
    loop {
        SPIN_COUNT.fetch_add(1, Ordering::Relaxed);
        if black_box(d) == u64::MAX {
            return d;
        }
    }
}
#[inline(never)]
fn rs_spin_l2(d: u64) -> u64 {
    black_box(rs_spin_leaf(black_box(d + 1))) + 1
}
#[inline(never)]
fn rs_spin_l1(d: u64) -> u64 {
    black_box(rs_spin_l2(black_box(d + 1))) + 1
}

#[inline(never)]
fn rs_main_wait(d: u64) -> u64 {
    loop {
        std::thread::sleep(black_box(FOREVER));
        black_box(d);
    }
}
#[inline(never)]
fn rs_main_l1(d: u64) -> u64 {
    black_box(rs_main_wait(black_box(d + 1))) + 1
}

fn main() {
    let guard = LOCK.lock().unwrap();
    type Body = fn(u64) -> u64;
    // (name, the syscall it blocks in or None when it spins, body)
    let spec: [(&str, Option<i64>, Body); 3] = [
        ("rs_sleep", Some(230), rs_sleep_l1), // clock_nanosleep
        ("rs_lock", Some(202), rs_lock_l1),   // futex
        ("rs_spin", None, rs_spin_l1),
    ];
    let mut threads = Vec::new();
    for (name, nr, body) in spec {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                tx.send(tid()).unwrap();
                black_box(body(1))
            })
            .expect("spawn");
        threads.push((name, nr, rx.recv().unwrap()));
    }
    let ready = (0..6000).any(|_| {
        let ok = threads.iter().all(|&(_, nr, t)| match nr {
            Some(nr) => syscall_of(t) == Some(nr),
            None => SPINNING.load(Ordering::Acquire),
        });
        if !ok {
            std::thread::sleep(Duration::from_millis(20));
        }
        ok
    });
    if !ready {
        eprintln!("FAIL: threads did not reach their states");
        std::process::exit(1);
    }
    ustack_ready.store(1, Ordering::SeqCst);
    println!("ready pid={} threads={}", std::process::id(), threads.len() + 1);
    for (name, _, t) in &threads {
        println!("thread {name} {t}");
    }
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    black_box(rs_main_l1(black_box(0)));
    drop(guard);
}
