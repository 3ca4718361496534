//! vmon-unwind on a Rust stack: this test binary (built without frame
//! pointers, as Rust release builds are) records its own registers, stack
//! and mappings at the bottom of a call chain and unwinds them with CFI.

use std::path::PathBuf;

use vmon_unwind::{Cache, End, Image, Mapping, Method, ProcessUnwinder, Regs, StackWindow};

struct Snap {
    regs: Regs,
    stack: Vec<u8>,
    maps: Vec<(u64, u64, u64, PathBuf)>,
}

#[inline(never)]
fn depth(n: u32) -> Snap {
    let s = if n == 0 {
        grab()
    } else {
        depth(std::hint::black_box(n - 1))
    };
    std::hint::black_box(s)
}

#[inline(never)]
fn grab() -> Snap {
    let (ip, sp, bp): (u64, u64, u64);
    // SAFETY: reads three registers.
    unsafe {
        std::arch::asm!("lea {}, [rip]", "mov {}, rsp", "mov {}, rbp", out(reg) ip, out(reg) sp, out(reg) bp)
    };
    let text = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut end = 0;
    let mut maps = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (a, b) = f[0].split_once('-').unwrap();
        let (a, b) = (
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        );
        if (a..b).contains(&sp) {
            end = b;
        }
        if f[1].contains('x') && f.len() > 5 && f[5].starts_with('/') {
            maps.push((
                a,
                b,
                u64::from_str_radix(f[2], 16).unwrap(),
                PathBuf::from(f[5]),
            ));
        }
    }
    let len = (end - sp).min(65536) as usize;
    // SAFETY: [sp, sp + len) is inside this thread's stack mapping.
    let stack = unsafe { std::slice::from_raw_parts(sp as *const u8, len) }.to_vec();
    Snap {
        regs: Regs { ip, sp, bp },
        stack,
        maps,
    }
}

#[test]
fn a_rust_thread_unwinds_to_its_root() {
    let s = std::thread::spawn(|| depth(6)).join().unwrap();
    let images: Vec<Image> = s.maps.iter().map(|m| Image::open(&m.3).unwrap()).collect();
    let mappings: Vec<Mapping<'_>> = s
        .maps
        .iter()
        .zip(&images)
        .map(|(m, image)| Mapping {
            start: m.0,
            end: m.1,
            file_offset: m.2,
            image,
        })
        .collect();
    let u = ProcessUnwinder::new(&mappings);
    let w = u.unwind(
        &mut Cache::new(),
        s.regs,
        StackWindow {
            sp: s.regs.sp,
            bytes: &s.stack,
        },
        &[s.regs.ip],
    );
    let in_module = w
        .frames
        .iter()
        .enumerate()
        .all(|(k, &a)| u.knows(if k == 0 { a } else { a - 1 }));
    assert!(in_module, "{:x?}", w.frames);
    assert!(w.frames.len() > 10, "{:x?}", w.frames);
    assert_eq!(
        (w.method, w.end),
        (Method::Cfi, End::Root),
        "{:x?}",
        w.frames
    );
}
