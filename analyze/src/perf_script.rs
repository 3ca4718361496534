//! `--perf-script FILE|-`: the task samples as `perf script` text, the
//! format inferno's and FlameGraph's `stackcollapse-perf`, speedscope, the
//! Firefox Profiler, Hotspot and many others import.
//!
//! One event per task sample, in the analysis' order:
//!
//! ```text
//! comm tgid/tid [cpu] secs.usecs: 1 task-clock:
//! \t<ip> <symbol>+0x<off> (<dso>)      leaf first, one line per frame
//! \t<ip> <inlined symbol>+0x<off> (inlined)
//!
//! ```
//!
//! as `perf script` prints callchains: kernel frames have the dso
//! `[kernel.kallsyms]` (or `[module]` for a kernel module), so a
//! consumer's kernel annotation (`inferno-collapse-perf --kernel`,
//! `stackcollapse-perf.pl --kernel`) marks them `_[k]` as `--folded` does;
//! an inlined frame is printed as perf prints one, with `(inlined)` for its
//! dso (perf has no `_[i]` marker, so consumers show it unmarked). Names are
//! the full demangled names (a consumer tidies C++ argument lists itself);
//! unresolved frames keep vmon's `module+0xoffset` name. vmon keeps frames,
//! not code addresses: `<ip>` is the frame's id in the analysis and the
//! offset is 0. The time is the capture's clock. A sample without frames
//! gets the one frame `[no stack]` (as in `--folded` and `--pprof`), so
//! every sample is counted.
//!
//! Everything printed is escaped so that no name read from a capture can
//! forge a line or change how a consumer splits one: control characters
//! (newlines included) become `\xNN`; a symbol's leading `(` (which
//! stackcollapse-perf drops as a process name) and the `>` of `->` (which
//! it splits as a Java inline chain) become `\x28` and `\x3e`; a dso's
//! spaces (the dso is the last word of the line) become `\x20`; in the comm
//! (the root frame consumers make of it), a `;` becomes `:` as in
//! `--folded`, and a space before a digit (which would read as the pid)
//! becomes `_`, as consumers write every space of a comm anyway. A backslash is doubled
//! only in a name that needed an escape.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use crate::analysis::{Analysis, FrameId, ModuleKind};

/// The event name on every header line.
pub const EVENT: &str = "task-clock";

/// Writes the analysis as `perf script` text.
pub fn write(a: &Analysis, w: &mut dyn Write) -> std::io::Result<()> {
    // Frame text once per unique frame, not per sample.
    let lines: Vec<String> = (0..a.frames.len())
        .map(|i| frame_line(a, FrameId(i as u32)))
        .collect();
    let mut header = String::with_capacity(128);
    for s in &a.samples {
        header.clear();
        let _ = writeln!(
            header,
            "{} {}/{} [{:03}] {}.{:06}: 1 {EVENT}:",
            comm(a.name(s.comm)),
            s.tgid,
            s.pid,
            s.cpu,
            s.time_ns / 1_000_000_000,
            s.time_ns % 1_000_000_000 / 1000
        );
        w.write_all(header.as_bytes())?;
        let frames = a.stacks.get(s.stack.idx()).map_or(&[][..], |st| &st.frames);
        if frames.is_empty() {
            w.write_all(b"\t0 [no stack] ([unknown])\n")?;
        }
        for f in frames.iter().rev() {
            if let Some(l) = lines.get(f.idx()) {
                w.write_all(l.as_bytes())?;
            }
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// `\t<ip> <symbol>+0x0 (<dso>)\n` of one frame.
fn frame_line(a: &Analysis, id: FrameId) -> String {
    let Some(fr) = a.frames.get(id.idx()) else {
        return format!("\t{:x} [unknown] ([unknown])\n", id.0);
    };
    let (name, module) = match a.funcs.get(fr.func.idx()) {
        Some(f) => (f.name.as_str(), a.modules.get(f.module.idx())),
        None => ("", None),
    };
    let dso: Cow<'_, str> = if fr.inlined {
        "inlined".into()
    } else {
        match module {
            Some(m) if m.kind == ModuleKind::Kernel => {
                if m.path == "[kernel]" || m.path.is_empty() {
                    "[kernel.kallsyms]".into()
                } else {
                    format!("[{}]", m.path).into()
                }
            }
            Some(m) if m.kind == ModuleKind::User && !m.path.is_empty() => m.path.as_str().into(),
            _ => "[unknown]".into(),
        }
    };
    let name = if name.is_empty() { "[unknown]" } else { name };
    format!("\t{:x} {}+0x0 ({})\n", id.0, symbol(name), dso_word(&dso))
}

/// A symbol as printed: see the module doc.
pub fn symbol(name: &str) -> Cow<'_, str> {
    let needs = name.starts_with('(') || name.contains("->") || name.chars().any(char::is_control);
    if !needs {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    let mut prev = None;
    for (i, c) in name.chars().enumerate() {
        match c {
            '(' if i == 0 => out.push_str("\\x28"),
            '>' if prev == Some('-') => out.push_str("\\x3e"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
        prev = Some(c);
    }
    Cow::Owned(out)
}

/// A dso as one word: see the module doc.
fn dso_word(dso: &str) -> Cow<'_, str> {
    if !dso.chars().any(|c| c == ' ' || c.is_control()) {
        return Cow::Borrowed(dso);
    }
    let mut out = String::with_capacity(dso.len() + 8);
    for c in dso.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == ' ' || c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A comm as printed: see the module doc. An empty one is `[unknown]`.
pub fn comm(name: &str) -> Cow<'_, str> {
    if name.is_empty() {
        return Cow::Borrowed("[unknown]");
    }
    let v = crate::aggregate::escape_frame(name);
    if !v.contains(' ') {
        return v;
    }
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars().peekable();
    while let Some(c) = it.next() {
        if c == ' ' && it.peek().is_some_and(char::is_ascii_digit) {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_so_no_line_is_forged_or_split() {
        assert_eq!(symbol("std::vec::Vec<u8>::push"), "std::vec::Vec<u8>::push");
        assert_eq!(symbol("C:\\x"), "C:\\x");
        assert_eq!(symbol("evil\n\tff 0 x (y)"), "evil\\x0a\\x09ff 0 x (y)");
        assert_eq!(
            symbol("(anonymous namespace)::f"),
            "\\x28anonymous namespace)::f"
        );
        assert_eq!(
            symbol("std::unique_ptr<T>::operator->"),
            "std::unique_ptr<T>::operator-\\x3e"
        );
        assert_eq!(comm("V8 WorkerThread"), "V8 WorkerThread");
        assert_eq!(comm("worker 3"), "worker_3");
        assert_eq!(comm("a\nb 1/2 3.0: 1 x:"), "a\\x0ab_1/2_3.0:_1 x:");
        assert_eq!(comm("a;b"), "a:b");
        assert_eq!(comm(""), "[unknown]");
        assert_eq!(dso_word("/opt/my app/lib.so"), "/opt/my\\x20app/lib.so");
    }
}
