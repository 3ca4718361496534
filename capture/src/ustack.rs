//! User stacks at capture time. The kernel copies a window of each sampled
//! task's user stack; this tool runs on the machine that has the binaries,
//! so it unwinds the window here with their CFI (vmon-unwind), splices the
//! kernel's frame-pointer chain where the window ends, and stores the frames
//! with flags that say how they were found and whether they reached the
//! thread's root. The raw bytes are kept only on request, or when they
//! could not be unwound here (the analyzer may find the binaries later).

use std::collections::HashMap;
use std::sync::Arc;

use vmon_format::task_flags;
use vmon_unwind::{
    Cache, End, Image, Mapping, Method, ProcessUnwinder, Regs, StackWindow, Unwound, WindowRead,
};

/// One executable mapping of a process, with its file if it could be opened.
pub struct MappedImage {
    pub start: u64,
    pub end: u64,
    pub file_offset: u64,
    pub image: Option<Arc<Image>>,
}

/// How the stored user stacks were obtained (the summary's figures).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UstackStats {
    /// Unwound with CFI all the way.
    pub cfi: u64,
    /// CFI, then the kernel's frame-pointer chain.
    pub hybrid: u64,
    /// The kernel's frame-pointer chain alone.
    pub frame_pointer: u64,
    /// Stacks whose unwinder reached the thread's root.
    pub root: u64,
    /// Stacks whose unwinder stopped before the root.
    pub cut: u64,
    /// Raw windows that could not be unwound here (kept in the file).
    pub raw_kept_unwound_later: u64,
    /// Frames stored for unwound stacks.
    pub frames: u64,
    /// Unwinds answered from the memo (same registers, chain and bytes as a
    /// sample before: a task asleep across breaches).
    pub memo_hits: u64,
    /// Windows the kernel ended just above a valid frame-pointer chain
    /// (raw_stack_trim) instead of copying all of raw_stack_bytes.
    pub trimmed_windows: u64,
}

/// The user stack to store for one task sample.
pub struct UserStack {
    /// The ip, then return addresses, innermost first.
    pub frames: Vec<u64>,
    /// `task_flags::USTACK_*` bits.
    pub flags: u32,
    /// Store the raw window too.
    pub keep_raw: bool,
}

pub struct UserStacks {
    keep_raw: bool,
    /// By process index in the file; None when none of its files opened.
    unwinders: HashMap<u32, Option<ProcessUnwinder>>,
    cache: Cache,
    memo: Memo,
    pub stats: UstackStats,
}

/// The last unwind of each (process, ip, sp, bp): a task that slept between
/// two breaches is sampled with the same registers and the same stack, and
/// unwinding it again would give the same frames. An entry answers only
/// when the kernel's chain and every byte the unwind read are equal (and
/// the window's length, when the unwind read past it): exact, not a hash.
#[derive(Default)]
struct Memo {
    map: HashMap<MemoKey, MemoEntry>,
    /// Bytes held in entries' prefixes and chains, bounded by MEMO_BYTES.
    bytes: usize,
}

/// Bytes the memo holds at most before it starts over.
const MEMO_BYTES: usize = 16 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct MemoKey {
    process: u32,
    regs: Regs,
}

struct MemoEntry {
    fp_chain: Vec<u64>,
    prefix: Vec<u8>,
    /// The window's length, when the unwind depended on it.
    window_len: Option<usize>,
    unwound: Unwound,
}

impl MemoEntry {
    /// Bytes it holds, roughly.
    fn cost(&self) -> usize {
        self.prefix.len() + 8 * (self.fp_chain.len() + self.unwound.frames.len()) + 128
    }
}

impl Memo {
    fn get(&self, key: &MemoKey, raw: &[u8], fp_chain: &[u64]) -> Option<&Unwound> {
        let e = self.map.get(key)?;
        let same = e.fp_chain == fp_chain
            && e.window_len.is_none_or(|l| l == raw.len())
            && raw.get(..e.prefix.len()) == Some(&e.prefix[..]);
        same.then_some(&e.unwound)
    }

    fn put(&mut self, key: MemoKey, raw: &[u8], fp_chain: &[u64], unwound: &Unwound) {
        let WindowRead { prefix, past_end } = unwound.window_read;
        let prefix = &raw[..prefix.min(raw.len())];
        let e = MemoEntry {
            fp_chain: fp_chain.to_vec(),
            prefix: prefix.to_vec(),
            window_len: past_end.then_some(raw.len()),
            unwound: unwound.clone(),
        };
        if self.bytes + e.cost() > MEMO_BYTES {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += e.cost();
        if let Some(old) = self.map.insert(key, e) {
            self.bytes -= old.cost();
        }
    }
}

impl UserStacks {
    pub fn new(keep_raw: bool) -> UserStacks {
        UserStacks {
            keep_raw,
            unwinders: HashMap::new(),
            cache: Cache::new(),
            memo: Memo::default(),
            stats: UstackStats::default(),
        }
    }

    /// Does a module of the process written with `index` hold `addr`?
    pub fn knows(&self, index: u32, addr: u64) -> bool {
        self.unwinders
            .get(&index)
            .and_then(Option::as_ref)
            .is_some_and(|u| u.knows(addr))
    }

    /// Registers the mappings of the process written with `index`.
    pub fn add_process(&mut self, index: u32, maps: &[MappedImage]) {
        let mappings: Vec<Mapping<'_>> = maps
            .iter()
            .filter_map(|m| {
                Some(Mapping {
                    start: m.start,
                    end: m.end,
                    file_offset: m.file_offset,
                    image: m.image.as_deref()?,
                })
            })
            .collect();
        let u = (!mappings.is_empty()).then(|| ProcessUnwinder::new(&mappings));
        self.unwinders.insert(index, u);
        // Its modules changed: what was remembered for it may not hold.
        self.memo.map.retain(|k, _| k.process != index);
    }

    /// The stack to store for a task of process `process` whose kernel
    /// record holds `fp_chain` and the raw window `raw` at `regs.sp`.
    pub fn resolve(
        &mut self,
        process: Option<u32>,
        regs: Regs,
        raw: &[u8],
        fp_chain: &[u64],
    ) -> UserStack {
        if fp_chain.is_empty() && raw.is_empty() {
            // A kernel thread, or no user registers: no user stack.
            return UserStack {
                frames: Vec::new(),
                flags: 0,
                keep_raw: false,
            };
        }
        let s = self.unwind(process, regs, raw, fp_chain);
        self.stats.frames += s.frames.len() as u64;
        s
    }

    fn unwind(
        &mut self,
        process: Option<u32>,
        regs: Regs,
        raw: &[u8],
        fp_chain: &[u64],
    ) -> UserStack {
        let unwinder = process
            .and_then(|p| self.unwinders.get(&p))
            .and_then(Option::as_ref)
            .filter(|u| u.knows(regs.ip));
        let Some(u) = unwinder else {
            // Nothing to unwind or judge with here: keep the window, if
            // any, for an analyzer that finds the binaries.
            self.stats.frame_pointer += 1;
            self.stats.raw_kept_unwound_later += u64::from(!raw.is_empty());
            return UserStack {
                frames: fp_chain.to_vec(),
                flags: 0,
                keep_raw: !raw.is_empty(),
            };
        };
        let chain_only =
            |end: End, keep_raw: bool| (fp_chain.to_vec(), Method::FramePointer, end, keep_raw);
        let (frames, method, end, keep_raw) = if raw.is_empty() {
            chain_only(u.judge_chain(fp_chain), false)
        } else {
            let key = MemoKey {
                process: process.unwrap_or(u32::MAX),
                regs,
            };
            let w = match self.memo.get(&key, raw, fp_chain) {
                Some(w) => {
                    self.stats.memo_hits += 1;
                    w.clone()
                }
                None => {
                    let window = StackWindow {
                        sp: regs.sp,
                        bytes: raw,
                    };
                    let w = u.unwind(&mut self.cache, regs, window, fp_chain);
                    self.memo.put(key, raw, fp_chain, &w);
                    w
                }
            };
            // A CFI walk that stopped early loses to a longer frame-pointer
            // chain (code without unwind tables), as the analyzer always did.
            if w.end == End::Cut && w.method == Method::Cfi && fp_chain.len() > w.frames.len() {
                chain_only(u.judge_chain(fp_chain), self.keep_raw)
            } else {
                (w.frames, w.method, w.end, self.keep_raw)
            }
        };
        let mut flags = match method {
            Method::Cfi => {
                self.stats.cfi += 1;
                task_flags::USTACK_CFI
            }
            Method::Hybrid => {
                self.stats.hybrid += 1;
                task_flags::USTACK_HYBRID
            }
            Method::FramePointer => {
                self.stats.frame_pointer += 1;
                0
            }
        };
        flags |= match end {
            End::Root => {
                self.stats.root += 1;
                task_flags::USTACK_ROOT
            }
            End::Cut => {
                self.stats.cut += 1;
                task_flags::USTACK_CUT
            }
        };
        UserStack {
            frames,
            flags,
            keep_raw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unwound(prefix: usize, past_end: bool) -> Unwound {
        Unwound {
            frames: vec![1, 2, 3],
            method: Method::Cfi,
            end: End::Root,
            window_read: WindowRead { prefix, past_end },
        }
    }

    #[test]
    fn the_memo_answers_only_for_the_same_chain_and_bytes_read() {
        let key = MemoKey {
            process: 1,
            regs: Regs {
                ip: 10,
                sp: 20,
                bp: 30,
            },
        };
        let raw: Vec<u8> = (0..=255).collect();
        let mut m = Memo::default();
        m.put(key, &raw, &[10, 11], &unwound(64, false));
        assert!(m.get(&key, &raw, &[10, 11]).is_some());
        let mut after = raw.clone();
        after[200] ^= 1; // past what was read
        after.truncate(100);
        assert!(m.get(&key, &after, &[10, 11]).is_some());
        let mut inside = raw.clone();
        inside[63] ^= 1;
        assert!(m.get(&key, &inside, &[10, 11]).is_none());
        assert!(m.get(&key, &raw[..32], &[10, 11]).is_none());
        assert!(m.get(&key, &raw, &[10, 12]).is_none());
        let other = MemoKey { process: 2, ..key };
        assert!(m.get(&other, &raw, &[10, 11]).is_none());
        // An unwind that read past the end depends on the length too.
        m.put(key, &raw[..64], &[10, 11], &unwound(64, true));
        assert!(m.get(&key, &raw[..64], &[10, 11]).is_some());
        assert!(m.get(&key, &raw, &[10, 11]).is_none());
        // Replacing an entry keeps the byte count honest.
        assert_eq!(m.bytes, m.map.values().map(MemoEntry::cost).sum::<usize>());
    }
}
