//! The unwinder of one process: its modules at their addresses, and the
//! CFI walk with the frame-pointer splice.

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{FrameAddress, Module, Unwinder};

use crate::image::{offset_to_vaddr, Image, SectionBytes};
use crate::MAX_FRAMES;

/// One mapping of a module in a process.
pub struct Mapping<'a> {
    /// First address of the mapping.
    pub start: u64,
    /// One past its last address.
    pub end: u64,
    /// The file offset mapped at `start`.
    pub file_offset: u64,
    /// The file mapped.
    pub image: &'a Image,
}

/// The user registers a sample starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Regs {
    /// Instruction pointer.
    pub ip: u64,
    /// Stack pointer.
    pub sp: u64,
    /// Frame pointer (rbp).
    pub bp: u64,
}

/// Raw stack bytes copied from `sp` up.
#[derive(Clone, Copy, Debug)]
pub struct StackWindow<'a> {
    /// The address of `bytes[0]`.
    pub sp: u64,
    /// The bytes.
    pub bytes: &'a [u8],
}

impl StackWindow<'_> {
    fn read(&self, addr: u64) -> Result<u64, ()> {
        let off = usize::try_from(addr.checked_sub(self.sp).ok_or(())?).map_err(|_| ())?;
        let b = self
            .bytes
            .get(off..off.checked_add(8).ok_or(())?)
            .ok_or(())?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| ())?))
    }
}

/// How the frames of an [`Unwound`] were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The kernel's frame-pointer chain alone.
    FramePointer,
    /// CFI over the raw window, all the way.
    Cfi,
    /// CFI over the raw window, then the kernel's frame-pointer chain from
    /// the frame where the window ended.
    Hybrid,
}

/// Where an unwind ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The thread's root was reached: the unwind information marks the
    /// outermost frame as the root (`_start`, `clone3` ... leave the return
    /// address undefined), or a frame-pointer chain ended in a root function.
    Root,
    /// The unwind stopped short: the window ended and no frame pointer could
    /// continue it, a frame had no rule, [`MAX_FRAMES`] was reached, or a
    /// frame-pointer chain ended outside the root functions.
    Cut,
}

/// The result of one unwind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unwound {
    /// The instruction pointer, then return addresses, innermost first (the
    /// convention of the kernel's frame-pointer chain).
    pub frames: Vec<u64>,
    /// How they were found.
    pub method: Method,
    /// Where the unwind ended.
    pub end: End,
    /// What of the window it read: the same registers, chain and bytes give
    /// the same frames (a cache key, see [`WindowRead`]).
    pub window_read: WindowRead,
}

/// How much of a [`StackWindow`] an unwind depended on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowRead {
    /// Bytes from the window's start that were read.
    pub prefix: usize,
    /// A read went past the window's end, so its length mattered too.
    pub past_end: bool,
}

/// A window that records how far it was read.
struct Tracked<'a> {
    window: StackWindow<'a>,
    read: std::cell::Cell<WindowRead>,
}

impl<'a> Tracked<'a> {
    fn new(window: StackWindow<'a>) -> Self {
        Tracked {
            window,
            read: std::cell::Cell::new(WindowRead::default()),
        }
    }

    fn read(&self, addr: u64) -> Result<u64, ()> {
        let v = self.window.read(addr);
        let mut r = self.read.get();
        match addr.checked_sub(self.window.sp) {
            Some(off) if v.is_ok() => {
                r.prefix = r.prefix.max(off as usize + 8);
            }
            // below sp: independent of the bytes
            None => {}
            Some(_) => r.past_end = true,
        }
        self.read.set(r);
        v
    }
}

/// framehop's per-thread rule cache; one per worker, reused across unwinds.
pub struct Cache(CacheX86_64);

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache(CacheX86_64::new())
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new()
    }
}

/// The modules of one process at their addresses.
pub struct ProcessUnwinder {
    unwinder: UnwinderX86_64<SectionBytes>,
    /// Address ranges of the modules added, sorted.
    ranges: Vec<(u64, u64)>,
    /// Address ranges of their thread-root functions.
    roots: Vec<(u64, u64)>,
    /// Of those, where unwinding stops (Go's stack switches).
    stops: Vec<(u64, u64)>,
}

impl ProcessUnwinder {
    /// `mappings` may hold several mappings of one file; they become one
    /// module spanning them. Overlapping modules after the first are left out.
    pub fn new(mappings: &[Mapping<'_>]) -> ProcessUnwinder {
        struct Span<'a> {
            image: &'a Image,
            start: u64,
            end: u64,
            bias: u64,
        }
        let mut spans: Vec<Span<'_>> = Vec::new();
        for m in mappings.iter().filter(|m| m.end > m.start) {
            match spans.iter_mut().find(|s| std::ptr::eq(s.image, m.image)) {
                Some(s) => {
                    s.start = s.start.min(m.start);
                    s.end = s.end.max(m.end);
                }
                None => {
                    let vaddr = offset_to_vaddr(&m.image.load_segments(), m.file_offset);
                    spans.push(Span {
                        image: m.image,
                        start: m.start,
                        end: m.end,
                        bias: m.start.wrapping_sub(vaddr),
                    });
                }
            }
        }
        // framehop wants non-overlapping module ranges.
        spans.sort_by_key(|s| s.start);
        let mut unwinder = UnwinderX86_64::new();
        let mut ranges = Vec::new();
        let mut roots = Vec::new();
        let mut stops = Vec::new();
        for s in spans {
            if ranges.last().is_some_and(|&(_, end)| s.start < end) {
                continue;
            }
            ranges.push((s.start, s.end));
            let r = s.image.roots();
            let at = |&(lo, hi): &(u64, u64)| (lo.wrapping_add(s.bias), hi.wrapping_add(s.bias));
            roots.extend(r.all.iter().map(at));
            stops.extend(r.stops.iter().map(at));
            let name = s.image.path().display().to_string();
            unwinder.add_module(Module::new(
                name,
                s.start..s.end,
                s.bias,
                s.image.sections(),
            ));
        }
        ProcessUnwinder {
            unwinder,
            ranges,
            roots,
            stops,
        }
    }

    /// How many modules it knows.
    pub fn modules(&self) -> usize {
        self.ranges.len()
    }

    /// Is `addr` inside one of its modules?
    pub fn knows(&self, addr: u64) -> bool {
        let i = self.ranges.partition_point(|&(start, _)| start <= addr);
        i > 0 && addr < self.ranges[i - 1].1
    }

    /// Is `addr` inside a function where threads begin (`_start`,
    /// `start_thread`, `clone3`, the Go runtime's `goexit` ...)?
    pub fn is_root(&self, addr: u64) -> bool {
        self.roots.iter().any(|&(lo, hi)| (lo..hi).contains(&addr))
    }

    fn is_stop(&self, addr: u64) -> bool {
        self.stops.iter().any(|&(lo, hi)| (lo..hi).contains(&addr))
    }

    /// Whether a frame-pointer chain alone (innermost first, ip first)
    /// reached the thread's root: its outermost frame is in a root function.
    pub fn judge_chain(&self, fp_chain: &[u64]) -> End {
        match fp_chain.last() {
            Some(&a) if self.is_root(lookup(fp_chain, a)) => End::Root,
            _ => End::Cut,
        }
    }

    /// Unwinds from `regs` over `window` with CFI. Where the window ends, the
    /// walk continues with `fp_chain` (the kernel's frame-pointer walk from
    /// `regs.bp`: the ip, then the return address above each frame pointer)
    /// when the frame it stopped in owns one of that chain's frame pointers.
    pub fn unwind(
        &self,
        cache: &mut Cache,
        regs: Regs,
        window: StackWindow<'_>,
        fp_chain: &[u64],
    ) -> Unwound {
        let tracked = Tracked::new(window);
        let mut read = |addr: u64| tracked.read(addr);
        let mut r = UnwindRegsX86_64::new(regs.ip, regs.sp, regs.bp);
        let mut frames = vec![regs.ip];
        let mut addr = FrameAddress::InstructionPointer(regs.ip);
        let stopped = loop {
            if frames.len() >= MAX_FRAMES {
                return cut(frames, Method::Cfi, tracked.read.get());
            }
            // Above Go's stack switches lie stale frames of another stack.
            if frames
                .last()
                .is_some_and(|&a| self.is_stop(lookup(&frames, a)))
            {
                break None;
            }
            match self
                .unwinder
                .unwind_frame(addr, &mut r, &mut cache.0, &mut read)
            {
                Ok(Some(ra)) => match FrameAddress::from_return_address(ra) {
                    Some(next) => {
                        frames.push(ra);
                        addr = next;
                    }
                    None => break None,
                },
                Ok(None) => break None,
                Err(_) => break Some(r.bp()),
            }
        };
        let Some(bp) = stopped else {
            // framehop also ends on a zero frame pointer in code it has no
            // rule for: only a frame inside a module is a root it found.
            let root = frames
                .last()
                .is_some_and(|&a| self.knows(lookup(&frames, a)));
            let end = if root { End::Root } else { End::Cut };
            return Unwound {
                frames,
                method: Method::Cfi,
                end,
                window_read: tracked.read.get(),
            };
        };
        match splice_point(&tracked, regs.bp, fp_chain, bp, r.sp()) {
            Some(j) => {
                frames.extend_from_slice(&fp_chain[1 + j..]);
                let end = self.judge_chain(&frames);
                Unwound {
                    frames,
                    method: Method::Hybrid,
                    end,
                    window_read: tracked.read.get(),
                }
            }
            None => cut(frames, Method::Cfi, tracked.read.get()),
        }
    }
}

fn cut(frames: Vec<u64>, method: Method, window_read: WindowRead) -> Unwound {
    Unwound {
        frames,
        method,
        end: End::Cut,
        window_read,
    }
}

/// The address to look up for frame `index` of a stack (ip first, then
/// return addresses): a return address points after its call, so its call
/// is one byte before.
pub fn lookup_address(index: usize, addr: u64) -> u64 {
    if index == 0 {
        addr
    } else {
        addr.wrapping_sub(1)
    }
}

/// The lookup address of `a`, the last of `frames`.
fn lookup(frames: &[u64], a: u64) -> u64 {
    lookup_address(frames.len().saturating_sub(1), a)
}

/// Where the kernel's chain continues a CFI walk that stopped in a frame
/// whose frame pointer register holds `bp` (with the stack pointer at `sp`):
/// the index `j` of that frame pointer in the chain, whose return address is
/// `fp_chain[1 + j]`. The chain's frame pointers are followed through the
/// window as far as it holds them (fp_0 is the sample's rbp).
fn splice_point(
    window: &Tracked<'_>,
    bp0: u64,
    fp_chain: &[u64],
    bp: u64,
    sp: u64,
) -> Option<usize> {
    if bp == 0 || bp < sp {
        return None;
    }
    let mut fp = bp0;
    for j in 0..fp_chain.len().saturating_sub(1) {
        if fp == bp {
            return Some(j);
        }
        match window.read(fp) {
            Ok(next) if next > fp => fp = next,
            _ => return None,
        }
    }
    None
}
