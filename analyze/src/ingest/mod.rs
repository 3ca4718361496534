//! From decoded captures to an [`Analysis`], in stages that each have their
//! own types:
//!
//! 1. [`merge`]: per input, its tables merged into the analysis (inputs,
//!    kallsyms, watches, the breaches the time filter keeps, process
//!    mappings on module ids, embedded symbol tables): a [`merge::Merged`].
//! 2. [`filter`]: the first pass over the input's samples, which pass the
//!    filters and which raw user stacks to unwind: a [`filter::Selection`].
//! 3. [`stacks`]: the raw stacks unwound, then the second pass: every
//!    sample's unsymbolized stack interned as addresses ([`stacks::RawStacks`]).
//! 4. symbolization of every unique address once ([`crate::symbolize`]).
//! 5. [`finish`]: functions, frames and final stacks interned, the quality
//!    figures.
//!
//! Every id is handed out by one owner: the module and name tables of the
//! [`Analysis`] being built ([`Builder`]), the address and raw-stack tables
//! of [`stacks::RawStacks`].

mod filter;
mod finish;
mod merge;
mod stacks;

use std::path::PathBuf;

use crate::analysis::{Analysis, ModuleKind, NameId};
use crate::intern::Interner;
use crate::progress::Progress;
use crate::symbolize::{self, EmbeddedSymbols, Kallsyms, SymbolizeOptions};

pub use crate::analysis::Filters;
pub use crate::load::LoadedInput;
pub use crate::symbolize::UNKNOWN_MODULE;

/// How to analyze.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Which samples and frames to keep.
    pub filters: Filters,
    /// Where to look for binaries and debug files.
    pub debug_dirs: Vec<PathBuf>,
    /// Expand inlined frames (on by default in the CLI).
    pub inlines: bool,
    /// Unwind raw user stacks with CFI where they were captured.
    pub unwind: bool,
    /// Fetch what is not found locally from these debuginfod servers.
    pub debuginfod: Option<symbolize::debuginfod::Shared>,
}

/// The analysis being built, with the tables that hand out its module and
/// name ids, and what the inputs contribute to symbolization.
pub(crate) struct Builder {
    pub(crate) an: Analysis,
    names: Interner<String, NameId>,
    /// Watches merged across inputs.
    watch_keys: Interner<merge::WatchKey, crate::analysis::WatchId>,
    /// The inputs' kallsyms snapshots; identical ones share one table.
    kallsyms: Vec<Kallsyms>,
    /// The files of the modules, resolved once for unwinding and symbolizing.
    files: crate::symbolize::elf::ModuleFiles,
    /// Embedded symbol tables per module, with the file range mapped.
    embedded: crate::analysis::FxHashMap<crate::analysis::ModuleId, EmbeddedSymbols>,
}

impl Builder {
    fn new(opts: &Options) -> Builder {
        let mut an = Analysis {
            filters: opts.filters.clone(),
            ..Default::default()
        };
        an.modules.intern(ModuleKind::Unknown, "[unknown]", &[]);
        Builder {
            an,
            names: Interner::default(),
            watch_keys: Interner::default(),
            kallsyms: Vec::new(),
            embedded: Default::default(),
            files: crate::symbolize::elf::ModuleFiles::with_debuginfod(opts.debuginfod.clone()),
        }
    }

    /// The id of a comm (or another short string), interned.
    fn name(&mut self, s: &str) -> NameId {
        self.names.intern_ref(s)
    }
}

/// Builds the analysis. `progress` receives the phases and their counts:
/// the task samples of each pass, the raw stacks unwound, the unique
/// addresses symbolized.
pub fn analyze(inputs: Vec<LoadedInput>, opts: &Options, progress: &dyn Progress) -> Analysis {
    let mut b = Builder::new(opts);
    let mut raw = stacks::RawStacks::default();
    let mut mapped = merge::MappedRanges::default();
    for (idx, input) in inputs.iter().enumerate() {
        progress.phase(&format!("merging {}", input.path), None);
        let merged = merge::merge(&mut b, &mut mapped, idx, input);
        progress.phase(&format!("filtering the samples of {}", input.path), None);
        let selection = filter::select(&mut b, input, &merged, opts, progress);
        let unwound = if !selection.unwind {
            Default::default()
        } else {
            progress.phase(
                "unwinding raw user stacks",
                Some(selection.raw_todo.len() as u64),
            );
            stacks::unwind_input(
                input,
                &selection.raw_todo,
                &merged.maps,
                &b.an,
                &mut b.files,
                opts,
                progress,
            )
        };
        progress.phase(
            &format!("collecting the stacks of {}", input.path),
            Some(selection.pass.len() as u64),
        );
        stacks::collect(
            &mut b, &mut raw, input, &merged, &selection, &unwound, opts, progress,
        );
    }
    mapped.attach(&mut b.embedded);

    progress.phase("symbolizing unique addresses", Some(raw.addrs.len() as u64));
    let sym_opts = SymbolizeOptions {
        debug_dirs: opts.debug_dirs.clone(),
        inlines: opts.inlines,
    };
    let mut warnings = Vec::new();
    let sym = symbolize::symbolize_with(
        raw.addrs.values(),
        &b.kallsyms,
        &mut b.an.modules,
        &mut b.files,
        &b.embedded,
        &sym_opts,
        &mut warnings,
        progress,
    );
    b.an.warnings.extend(warnings);
    b.an.quality.unique_addresses = raw.addrs.len() as u64;

    progress.phase("building stacks", None);
    finish::finish(b, raw, sym)
}
