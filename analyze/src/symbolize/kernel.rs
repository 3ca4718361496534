//! Kernel frames from the capture's kallsyms snapshot: a table sorted by
//! address, searched with a binary search.

use vmon_format::{Capture, KernelSymbol};

/// One kallsyms snapshot, reduced to text symbols.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kallsyms {
    addrs: Vec<u64>,
    /// (name, module) parallel to `addrs`; module is "" for the core kernel.
    names: Vec<(String, String)>,
    /// The snapshot had only zero addresses (kptr_restrict).
    pub zeroed: bool,
}

/// How far past the last symbol an address may lie and still belong to it.
/// kallsyms has no sizes; past the last text symbol there is no function.
const LAST_SYMBOL_SPAN: u64 = 1 << 20;

fn is_text(kind: u8) -> bool {
    matches!(kind, b't' | b'T' | b'w' | b'W')
}

impl Kallsyms {
    pub fn from_capture(c: &Capture) -> Kallsyms {
        Self::from_symbols(&c.kernel_symbols, |id| c.str(id).to_string())
    }

    pub fn from_symbols(
        syms: &[KernelSymbol],
        name: impl Fn(vmon_format::StrId) -> String,
    ) -> Kallsyms {
        let zeroed = !syms.is_empty() && syms.iter().all(|s| s.addr == 0);
        let mut v: Vec<(u64, bool, String, String)> = syms
            .iter()
            .filter(|s| is_text(s.kind) && s.addr != 0)
            .map(|s| {
                (
                    s.addr,
                    s.kind.is_ascii_uppercase(),
                    name(s.name),
                    name(s.module),
                )
            })
            .collect();
        // At one address prefer the global symbol, then the smallest name,
        // so lookups do not depend on the snapshot's line order.
        v.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.1.cmp(&a.1))
                .then_with(|| a.2.cmp(&b.2))
        });
        v.dedup_by_key(|e| e.0);
        let mut t = Kallsyms {
            zeroed,
            ..Default::default()
        };
        for (addr, _, n, m) in v {
            t.addrs.push(addr);
            t.names.push((n, m));
        }
        t
    }

    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// The symbol containing `addr`: (name, module, offset into the symbol).
    pub fn lookup(&self, addr: u64) -> Option<(&str, &str, u64)> {
        let i = self.addrs.partition_point(|&a| a <= addr).checked_sub(1)?;
        let start = *self.addrs.get(i)?;
        if i + 1 == self.addrs.len() && addr - start >= LAST_SYMBOL_SPAN {
            return None;
        }
        let (n, m) = self.names.get(i)?;
        Some((n, m, addr - start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmon_format::StrId;

    fn table(entries: &[(u64, u8, &str, &str)]) -> Kallsyms {
        let mut strings = vec![String::new()];
        let mut syms = Vec::new();
        for (addr, kind, name, module) in entries {
            strings.push(name.to_string());
            let n = StrId(strings.len() as u32 - 1);
            let m = if module.is_empty() {
                StrId(0)
            } else {
                strings.push(module.to_string());
                StrId(strings.len() as u32 - 1)
            };
            syms.push(KernelSymbol {
                addr: *addr,
                kind: *kind,
                name: n,
                module: m,
            });
        }
        Kallsyms::from_symbols(&syms, |id| strings[id.0 as usize].clone())
    }

    #[test]
    fn kallsyms_lookup_edges() {
        // Unsorted input, a data symbol, a duplicate address, a module symbol.
        let t = table(&[
            (0xffff_ffff_8100_2000, b'T', "schedule", ""),
            (0xffff_ffff_8100_1000, b't', "__local_alias", ""),
            (0xffff_ffff_8100_1000, b'T', "do_syscall_64", ""),
            (0xffff_ffff_8200_0000, b'D', "some_data", ""),
            (0xffff_ffff_c000_0000, b't', "ext4_readdir", "ext4"),
        ]);
        assert_eq!(t.len(), 3);
        // Below the first symbol: nothing.
        assert_eq!(t.lookup(0xffff_ffff_8100_0fff), None);
        // Exactly at a symbol; duplicates resolve to the global one.
        assert_eq!(
            t.lookup(0xffff_ffff_8100_1000),
            Some(("do_syscall_64", "", 0))
        );
        // One before the next symbol still belongs to the previous one.
        assert_eq!(
            t.lookup(0xffff_ffff_8100_1fff),
            Some(("do_syscall_64", "", 0xfff))
        );
        assert_eq!(t.lookup(0xffff_ffff_8100_2000), Some(("schedule", "", 0)));
        // The data symbol is not a function: schedule spans up to the module.
        assert_eq!(
            t.lookup(0xffff_ffff_8200_0010).map(|x| x.0),
            Some("schedule")
        );
        assert_eq!(
            t.lookup(0xffff_ffff_c000_0040),
            Some(("ext4_readdir", "ext4", 0x40))
        );
        // Far past the last symbol: unresolved, not attributed to it.
        assert_eq!(t.lookup(0xffff_ffff_c100_0000), None);
        assert_eq!(t.lookup(u64::MAX), None);
        assert!(!t.zeroed);
    }

    #[test]
    fn kallsyms_zeroed_and_empty() {
        let t = table(&[(0, b'T', "a", ""), (0, b'T', "b", "")]);
        assert!(t.zeroed);
        assert!(t.is_empty());
        assert_eq!(t.lookup(0x1234), None);
        assert_eq!(table(&[]).lookup(0), None);
    }
}
