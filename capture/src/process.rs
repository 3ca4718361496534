//! What the capture knows about a process, and the trait that completes it
//! from the machine (`/proc`, the binaries). The converter and the host
//! context both use these types; neither imports the other.

use crate::jit::PerfMap;
use std::sync::Arc;
use vmon_unwind::Image;

/// A list the kernel may have cut short.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Listing<T> {
    pub items: Vec<T>,
    /// The kernel stopped listing at one of its caps.
    pub truncated: bool,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Listing {
            items: Vec::new(),
            truncated: false,
        }
    }
}

/// What the kernel said about one process in one event.
#[derive(Default, Clone)]
pub struct ProcInfo {
    pub maps: Option<Listing<MapOwned>>,
    pub chain: Option<Listing<AncestorOwned>>,
}

/// One executable mapping.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MapOwned {
    pub start: u64,
    pub end: u64,
    pub pgoff: u64,
    pub ino: u64,
    pub dev: u64,
    pub path: String,
    pub build_id: Vec<u8>,
}

/// One process of the chain from the sampled process up to init.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AncestorOwned {
    pub pid: i32,
    pub start_ns: u64,
    pub comm: String,
    pub args: Vec<String>,
    pub truncated: bool,
}

/// A function symbol of a binary (ordered by address, then size, name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FuncSym {
    /// ELF virtual address.
    pub addr: u64,
    pub size: u64,
    /// Raw (mangled) name.
    pub name: String,
}

/// Function symbols of one binary.
pub struct SymTab {
    pub path: String,
    pub build_id: Vec<u8>,
    pub symbols: Vec<FuncSym>,
}

/// Fills in what the kernel's records lack.
pub trait Enricher {
    /// Completes a process's mappings and chain (from `/proc` while alive).
    fn process(&mut self, tgid: i32, start_ns: u64, info: ProcInfo) -> ProcInfo;
    /// Completes one mapping (build-id) and queues its binary's symbols.
    fn binary(&mut self, tgid: i32, m: MapOwned) -> MapOwned;
    /// Symbol tables found since the last call.
    fn take_symbol_tables(&mut self) -> Vec<SymTab>;
    /// Warnings since the last call (files refused, ...).
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// The file mapped by `m` (after [`Enricher::binary`]), for unwinding.
    fn image(&mut self, _tgid: i32, _m: &MapOwned) -> Option<Arc<Image>> {
        None
    }
    /// The perf map of process `tgid` (its JIT functions), read now.
    fn perf_map(&mut self, _tgid: i32) -> Option<PerfMap> {
        None
    }
}
