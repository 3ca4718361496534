//! Unwinding of sampled user stacks.
//!
//! The kernel module gives, for each sampled task, its user registers, the
//! frame-pointer chain it walked, and a window of raw stack bytes copied
//! from the stack pointer up. [`ProcessUnwinder::unwind`] unwinds that window
//! with the binaries' CFI (`.eh_frame`, `.debug_frame`, through framehop),
//! which finds the frames a frame-pointer walk misses (glibc, `-O2` code),
//! and where the window ends, splices the kernel's frame-pointer chain after
//! the frame that owns the frame pointer it stopped at.
//!
//! `vmon-capture` runs it on the monitored machine, where the binaries are,
//! and stores the frames; `vmon-analyze` runs it on captures that kept raw
//! stacks.
#![deny(missing_docs)]

mod image;
mod unwinder;

pub use image::{offset_to_vaddr, segments_of, vaddr_to_offset, Image, Segment};
pub use unwinder::{
    lookup_address, Cache, End, Mapping, Method, ProcessUnwinder, Regs, StackWindow, Unwound,
    WindowRead,
};

/// Frames one unwind yields at most; a deeper stack ends [`End::Cut`].
pub const MAX_FRAMES: usize = 512;
