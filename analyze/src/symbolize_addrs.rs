//! `--symbolize-addrs ADDRS --binary FILE`: the analyzer's symbolizer on a
//! plain list of addresses, printing what `addr2line -a -f -i -C` prints.
//! It exists for the benchmark against binutils, llvm-symbolizer and
//! gimli's `addr2line` (analyze/bench/run.sh) and for checking a frame by
//! hand; captures never go through it.
//!
//! Input: one address per line, hex with or without `0x`, as ELF virtual
//! addresses of FILE (what `nm` and `addr2line` use). Output, per address:
//! `0x<addr as 16 hex digits>`, then for each frame, innermost (inlined)
//! first, the function name and `file:line` (`??` and `??:0` when unknown).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::analysis::{ModuleId, ModuleInfo, ModuleKind, Modules, SymbolSource};
use crate::symbolize::elf::ElfFile;
use crate::symbolize::{symbolize, AddrKey, SymbolizeOptions};

/// Parses the address list; an unparsable line is an error naming it.
pub fn parse_addrs(input: impl BufRead) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line.context("reading the address list")?;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let hex = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        match u64::from_str_radix(hex, 16) {
            Ok(a) => out.push(a),
            Err(e) => bail!("line {}: {t:?} is not a hex address ({e}); give one address per line, like 0x4a2f10", n + 1),
        }
    }
    Ok(out)
}

/// `0x` and the address as 16 lower-case hex digits, then a newline.
fn push_addr(buf: &mut Vec<u8>, addr: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.extend_from_slice(b"0x");
    for k in (0..16).rev() {
        buf.push(HEX[((addr >> (k * 4)) & 0xf) as usize]);
    }
    buf.push(b'\n');
}

/// Symbolizes `addrs` in `binary` and writes them in addr2line's format.
pub fn run(binary: &Path, addrs: &[u64], inlines: bool, out: &mut dyn Write) -> Result<()> {
    let elf = ElfFile::open(binary)
        .with_context(|| format!("{}: not a readable ELF file", binary.display()))?;
    let segments = elf.load_segments();
    let name = binary.file_name().map_or_else(
        || binary.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut modules: Modules = [ModuleInfo {
        kind: ModuleKind::User,
        path: binary.display().to_string(),
        name,
        build_id: elf.build_id().unwrap_or_default(),
        source: SymbolSource::default(),
        build_id_mismatch: false,
    }]
    .into_iter()
    .collect();
    let keys: Vec<AddrKey> = addrs
        .iter()
        .map(|&a| AddrKey::User {
            module: ModuleId(0),
            offset: vmon_unwind::vaddr_to_offset(&segments, a),
        })
        .collect();
    let mut warnings = Vec::new();
    let frames = symbolize(
        &keys,
        &[],
        &mut modules,
        &mut crate::symbolize::elf::ModuleFiles::default(),
        &HashMap::new(),
        &SymbolizeOptions {
            debug_dirs: Vec::new(),
            inlines,
        },
        &mut warnings,
    );
    for w in &warnings {
        eprintln!("vmon-analyze: warning: {w}");
    }
    let mut buf = Vec::with_capacity(1 << 20);
    let mut num = itoa::Buffer::new();
    for (addr, fr) in addrs.iter().zip(&frames) {
        push_addr(&mut buf, *addr);
        // Ours are outermost first; addr2line prints the innermost first.
        for f in fr.iter().rev() {
            buf.extend_from_slice(if f.resolved { f.name.as_bytes() } else { b"??" });
            buf.push(b'\n');
            match &f.file {
                Some(file) => {
                    buf.extend_from_slice(file.as_bytes());
                    buf.push(b':');
                    buf.extend_from_slice(num.format(f.line).as_bytes());
                    buf.push(b'\n');
                }
                None => buf.extend_from_slice(b"??:0\n"),
            }
        }
        if buf.len() > 1 << 20 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_with_and_without_prefix_and_rejects_junk() {
        let a = parse_addrs("0x10\n  ff \n\n# c\n0XaB\n".as_bytes()).unwrap();
        assert_eq!(a, [0x10, 0xff, 0xab]);
        let e = parse_addrs("0x10\nzz\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn addresses_print_as_sixteen_hex_digits() {
        for a in [0u64, 0x4a2f10, u64::MAX, 0x0123_4567_89ab_cdef] {
            let mut b = Vec::new();
            push_addr(&mut b, a);
            assert_eq!(String::from_utf8(b).unwrap(), format!("0x{a:016x}\n"));
        }
    }

    /// Symbolizes this test binary's own function and checks the name.
    #[test]
    fn symbolizes_a_function_of_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let elf = ElfFile::open(&exe).unwrap();
        let obj = elf.object().unwrap();
        use object::{Object, ObjectSymbol};
        let sym = obj
            .symbols()
            .find(|s| {
                s.name()
                    .is_ok_and(|n| n.contains("parse_addrs") && !n.contains("closure"))
            })
            .expect("parse_addrs is in the symbol table");
        let mut out = Vec::new();
        run(&exe, &[sym.address()], true, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), format!("0x{:016x}", sym.address()));
        // line-tables-only DWARF names the function without its path.
        assert!(lines.next().unwrap().starts_with("parse_addrs"), "{text}");
        assert!(text.contains("symbolize_addrs.rs:"), "{text}");
    }
}
