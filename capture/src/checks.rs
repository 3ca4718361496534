//! Checks of a run's inputs and outputs before anything is written, and
//! of a converted file's kernel symbols after.

use crate::context;
use crate::session::Options;
use anyhow::{anyhow, Result};
use std::fs::File;
use std::io::Read;
use vmon_format as vf;
use vmon_kabi::records::parse_record;

/// Same device and inode: the same file under any name (hard links,
/// symlinks, `./x` vs `x`).
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// `-o` and `--dump-raw` are created (truncated) before the input is read:
/// refuse any that is an input of the run, or both the same file.
pub fn refuse_overwriting_inputs(args: &Options) -> Result<()> {
    let inputs = [
        ("--from-raw", args.from_raw()),
        ("--kallsyms", args.kallsyms.as_ref()),
    ];
    let outputs = [
        ("-o", Some(&args.output)),
        ("--dump-raw", args.dump_raw.as_ref()),
    ];
    for (oname, o) in outputs {
        let Some(o) = o else { continue };
        for (iname, i) in inputs {
            if let Some(i) = i.filter(|i| same_file(i, o)) {
                return Err(anyhow!(
                    "{oname} {} is the same file as {iname} {}: writing it would destroy the \
                     input before it is read; choose another output file",
                    o.display(),
                    i.display()
                ));
            }
        }
    }
    if let Some(d) = &args.dump_raw {
        if same_file(d, &args.output) || d == &args.output {
            return Err(anyhow!(
                "--dump-raw {} and -o {} are the same file; choose two different files",
                d.display(),
                args.output.display()
            ));
        }
    }
    Ok(())
}

/// The kernel release in the HELLO record that starts a raw stream file
/// (None for a FIFO, which cannot be peeked, or a stream without HELLO).
fn raw_stream_release(path: &std::path::Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut head = Vec::new();
    (&mut f).take(64 << 10).read_to_end(&mut head).ok()?;
    match parse_record(&head, 0).ok()?.body {
        vmon_kabi::Body::Hello(h) => Some(vmon_kabi::records::lossy(h.release).into_owned()),
        _ => None,
    }
}

/// `--kallsyms /proc/kallsyms` with a stream from another kernel names
/// every kernel frame wrongly: refuse it. (A saved copy carries no release
/// to check.)
pub fn check_kallsyms_kernel(args: &Options) -> Result<()> {
    let (Some(k), Some(raw)) = (&args.kallsyms, args.from_raw()) else {
        return Ok(());
    };
    let proc = std::path::Path::new("/proc/kallsyms");
    if !(k.as_path() == proc || same_file(k, proc)) {
        return Ok(());
    }
    let host = context::read_trimmed("/proc/sys/kernel/osrelease");
    match raw_stream_release(raw) {
        Some(r) if !r.is_empty() && r != host => Err(anyhow!(
            "--kallsyms {} is this machine's kernel ({host}), but the stream was recorded on \
             kernel {r}: its kernel frames would get wrong names; pass a copy of the capturing \
             machine's /proc/kallsyms, or omit --kallsyms",
            k.display()
        )),
        _ => Ok(()),
    }
}

/// A saved `--kallsyms` carries no release to compare: check what can be
/// checked instead. A task's kernel stack ends where the kernel was entered
/// (entry_SYSCALL_64..., ret_from_fork..., asm_... for interrupts), so with
/// the right symbols most outermost kernel frames fall in such a function;
/// with another kernel's or boot's they fall anywhere. Returns a warning
/// when fewer than a quarter of at least 8 do.
pub fn kallsyms_plausibility(out: &std::path::Path) -> Option<String> {
    let f = vf::VmtFile::open(out).ok()?;
    let t = f.tables().ok()?;
    let c = t.capture();
    let mut syms: Vec<(u64, &str)> = c
        .kernel_symbols
        .iter()
        .filter(|k| k.addr != 0)
        .map(|k| (k.addr, c.str(k.name)))
        .collect();
    if syms.is_empty() {
        return None;
    }
    syms.sort_unstable();
    let st = &c.stacks;
    let (mut roots, mut entry) = (0u64, 0u64);
    for i in 0..st.frame.len() {
        let a = st.frame[i];
        if !st.parent[i].is_empty() || a < 0xffff_8000_0000_0000 {
            continue;
        }
        roots += 1;
        let k = syms.partition_point(|s| s.0 <= a);
        let Some(&(_, name)) = k.checked_sub(1).and_then(|k| syms.get(k)) else {
            continue;
        };
        let entryish = [
            "entry_",
            "ret_from_fork",
            "asm_",
            "secondary_startup",
            "start_kernel",
            "x86_64_start",
            "common_startup",
            "kthread",
            "__do_softirq",
            "irq_",
            "native_",
            "do_idle",
        ];
        if entryish.iter().any(|p| name.starts_with(p)) {
            entry += 1;
        }
    }
    (roots >= 8 && entry * 4 < roots).then(|| {
        format!(
            "the --kallsyms symbols look wrong for this stream: only {entry} of {roots} kernel \
             stacks end in a kernel entry point (entry_*, ret_from_fork*, asm_*); the file is \
             probably from another kernel or another boot (KASLR). Kernel frames in {} will be \
             named wrongly: convert again with the capturing machine's /proc/kallsyms of that boot",
            out.display()
        )
    })
}
