//! vmon-capture as a library: drains the vmon kernel module (or a saved raw
//! record stream) into a self-contained .vmt capture. The binary only maps
//! its command line onto [`Options`] and prints the [`Report`].
//!
//! Inside: [`source`] reads the device on its own thread; `convert` turns
//! records into the file's tables, with `context` (the machine: `/proc`,
//! the binaries) completing what the kernel's records lack through the
//! `process` types both share; `ustack` unwinds user stacks where the
//! binaries are; `jit` reads perf maps.

mod checks;
mod context;
mod convert;
pub mod exit;
mod jit;
mod launch;
mod process;
pub mod session;
pub mod source;
pub mod system;
mod ustack;
pub mod watches;

pub use convert::Stats;
pub use exit::{Exit, Failure};
pub use launch::describe as describe_exit;
pub use session::{human, run, Options, Report, Stop};
pub use source::Input;
pub use ustack::UstackStats;
