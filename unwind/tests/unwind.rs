//! vmon-unwind on real stacks: a C program records its own registers,
//! frame-pointer chain, mappings and stack (what the kernel module records),
//! and the unwind must name its whole call chain.

use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSymbol};
use vmon_unwind::{
    offset_to_vaddr, Cache, End, Image, Mapping, Method, ProcessUnwinder, Regs, StackWindow,
};

struct Snapshot {
    regs: Regs,
    chain: Vec<u64>,
    maps: Vec<(u64, u64, u64, PathBuf)>,
    stack: Vec<u8>,
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vmon-unwind-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn snapshot(name: &str, flags: &[&str]) -> (PathBuf, Snapshot) {
    let dir = tmpdir(name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/selfstack.c");
    let bin = dir.join("selfstack");
    let st = Command::new("gcc")
        .args(["-O2", "-g"])
        .args(flags)
        .arg(&src)
        .arg("-o")
        .arg(&bin)
        .status()
        .expect("gcc");
    assert!(st.success(), "gcc failed");
    let out = dir.join("snap");
    let st = Command::new(&bin).arg(&out).status().unwrap();
    assert!(st.success());
    let data = std::fs::read(&out).unwrap();
    let split = data
        .windows(7)
        .position(|w| w == b"\nstack\n")
        .expect("stack marker")
        + 1;
    let text = std::str::from_utf8(&data[..split]).unwrap();
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
    let mut snap = Snapshot {
        regs: Regs::default(),
        chain: Vec::new(),
        maps: Vec::new(),
        stack: data[split + 6..].to_vec(),
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[0] {
            "regs" => {
                snap.regs = Regs {
                    ip: hex(f[1]),
                    sp: hex(f[2]),
                    bp: hex(f[3]),
                };
                assert_eq!(hex(f[4]) as usize, snap.stack.len());
            }
            "chain" => snap.chain = f[1..].iter().map(|s| hex(s)).collect(),
            "map" => {
                let (s, e) = f[1].split_once('-').unwrap();
                if let Some(p) = f.get(6).filter(|p| p.starts_with('/')) {
                    snap.maps
                        .push((hex(s), hex(e), hex(f[3]), PathBuf::from(p)));
                }
            }
            _ => {}
        }
    }
    (bin, snap)
}

/// Names each frame with the symbol tables of the files mapped there.
fn names(snap: &Snapshot, images: &[Image], frames: &[u64]) -> Vec<String> {
    frames
        .iter()
        .enumerate()
        .map(|(k, &a)| {
            let a = if k == 0 { a } else { a - 1 };
            let Some((i, m)) = snap
                .maps
                .iter()
                .enumerate()
                .find(|(_, m)| a >= m.0 && a < m.1)
            else {
                return format!("?{a:x}");
            };
            let img = &images[i];
            let vaddr = offset_to_vaddr(&img.load_segments(), a - m.0 + m.2);
            let file = object::File::parse(img.bytes()).unwrap();
            file.symbols()
                .chain(file.dynamic_symbols())
                .filter(|s| s.address() <= vaddr && vaddr < s.address() + s.size().max(1))
                .map(|s| s.name().unwrap_or("").to_string())
                .next()
                .unwrap_or_else(|| format!("{}+{vaddr:x}", m.3.display()))
        })
        .collect()
}

fn unwinder(snap: &Snapshot) -> (Vec<Image>, ProcessUnwinder) {
    let images: Vec<Image> = snap
        .maps
        .iter()
        .map(|m| Image::open(&m.3).expect("mapped file"))
        .collect();
    let mappings: Vec<Mapping<'_>> = snap
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
    (images, u)
}

fn the_chain(n: &[String]) -> &[String] {
    let main = n
        .iter()
        .position(|s| s == "main")
        .expect("main in the stack");
    &n[..=main]
}

const CHAIN: [&str; 5] = ["grab", "level3", "level2", "level1", "main"];

#[test]
fn cfi_unwinds_code_without_frame_pointers_to_start() {
    let (_bin, snap) = snapshot("nofp", &["-fomit-frame-pointer"]);
    let (images, u) = unwinder(&snap);
    let window = StackWindow {
        sp: snap.regs.sp,
        bytes: &snap.stack,
    };
    let w = u.unwind(&mut Cache::new(), snap.regs, window, &snap.chain);
    let n = names(&snap, &images, &w.frames);
    assert_eq!(the_chain(&n), CHAIN, "{n:?}");
    assert_eq!(n.last().map(String::as_str), Some("_start"), "{n:?}");
    assert_eq!((w.method, w.end), (Method::Cfi, End::Root), "{n:?}");
}

/// `window_read` says which bytes the unwind depended on (the capture's memo
/// trusts it): the frames are the same from only those bytes, different
/// when one of them changes, and the same when a byte after them does.
#[test]
fn an_unwind_depends_only_on_the_bytes_it_says_it_read() {
    let (_bin, snap) = snapshot("nofp-read", &["-fomit-frame-pointer"]);
    let (_images, u) = unwinder(&snap);
    let unwind = |bytes: &[u8]| {
        let window = StackWindow {
            sp: snap.regs.sp,
            bytes,
        };
        u.unwind(&mut Cache::new(), snap.regs, window, &snap.chain)
    };
    let full = unwind(&snap.stack);
    let r = full.window_read;
    assert!(
        !r.past_end && r.prefix > 0 && r.prefix < snap.stack.len(),
        "{r:?}"
    );
    assert_eq!(unwind(&snap.stack[..r.prefix]).frames, full.frames);
    let mut after = snap.stack.clone();
    for b in &mut after[r.prefix..] {
        *b ^= 0x5a;
    }
    assert_eq!(unwind(&after).frames, full.frames);
    // The last return address read, clobbered: the chain changes.
    let mut inside = snap.stack.clone();
    inside[r.prefix - 8..r.prefix].copy_from_slice(&1u64.to_le_bytes());
    assert_ne!(unwind(&inside).frames, full.frames);
    // A window cut inside what was read makes the unwind look past its end.
    assert!(unwind(&snap.stack[..r.prefix - 8]).window_read.past_end);
}

#[test]
fn a_window_that_ends_early_is_cut_without_frame_pointers() {
    let (_bin, snap) = snapshot("nofp-cut", &["-fomit-frame-pointer"]);
    let (images, u) = unwinder(&snap);
    let window = StackWindow {
        sp: snap.regs.sp,
        bytes: &snap.stack[..256],
    };
    let w = u.unwind(&mut Cache::new(), snap.regs, window, &snap.chain);
    let n = names(&snap, &images, &w.frames);
    assert_eq!(w.end, End::Cut, "{n:?}");
    assert!(n.len() < CHAIN.len(), "{n:?}");
    assert_eq!(n[..n.len()], CHAIN[..n.len()]);
}

#[test]
fn the_frame_pointer_chain_continues_where_the_window_ends() {
    let (_bin, snap) = snapshot("fp", &["-fno-omit-frame-pointer"]);
    let (images, u) = unwinder(&snap);
    let full = u.unwind(
        &mut Cache::new(),
        snap.regs,
        StackWindow {
            sp: snap.regs.sp,
            bytes: &snap.stack,
        },
        &snap.chain,
    );
    assert_eq!((full.method, full.end), (Method::Cfi, End::Root));
    // 256 bytes hold grab's frame only: level3's 512-byte pad ends the window.
    let w = u.unwind(
        &mut Cache::new(),
        snap.regs,
        StackWindow {
            sp: snap.regs.sp,
            bytes: &snap.stack[..256],
        },
        &snap.chain,
    );
    let n = names(&snap, &images, &w.frames);
    assert_eq!(w.method, Method::Hybrid, "{n:?}");
    // The chain ends in main's caller, which the C runtime's static
    // __libc_start_call_main is (a root) only where libc has a symbol table.
    let root = u.is_root(w.frames[w.frames.len() - 1] - 1);
    assert_eq!(w.end, if root { End::Root } else { End::Cut }, "{n:?}");
    assert_eq!(the_chain(&n), CHAIN, "{n:?}");
    // The spliced tail is the kernel-style chain's, frame for frame.
    assert!(snap.chain.ends_with(&w.frames[w.frames.len() - 2..]));
}
