//! Stage 5: the symbolized addresses become functions and frames, each raw
//! stack a final stack (distinct raw stacks can symbolize to the same
//! frames), and the quality figures are counted.

use super::stacks::RawStacks;
use super::Builder;
use crate::analysis::{
    Analysis, FrameId, FrameInfo, FuncId, FuncInfo, FxHashMap, ModuleId, ModuleKind, StackHandle,
    StackInfo, SymbolSource,
};
use crate::intern::Interner;
use crate::symbolize::{self, AddrKey, SymFrame};

/// The frames of every unique address, and whether all of them resolved.
struct AddrFrames {
    frames: Vec<Vec<FrameId>>,
    resolved: Vec<bool>,
}

/// Completes the analysis from the symbolized addresses `sym` (one entry
/// per address of `raw.addrs`).
pub(super) fn finish(b: Builder, raw: RawStacks, sym: Vec<Vec<SymFrame>>) -> Analysis {
    let Builder { mut an, names, .. } = b;
    an.names = names.into_values();
    let addr_frames = intern_frames(&mut an, sym);
    let raw_to_stack = final_stacks(&mut an, &raw, &addr_frames);
    for (s, r) in an.samples.iter_mut().zip(&raw.of_sample) {
        s.stack = raw_to_stack.get(*r as usize).copied().unwrap_or_default();
    }
    module_lists(&mut an);
    an
}

/// Functions and frames, each once.
fn intern_frames(an: &mut Analysis, sym: Vec<Vec<SymFrame>>) -> AddrFrames {
    let mut funcs: Interner<FuncInfo, FuncId> = Interner::default();
    let mut frames: Interner<FrameInfo, FrameId> = Interner::default();
    let mut out = AddrFrames {
        frames: Vec::with_capacity(sym.len()),
        resolved: Vec::with_capacity(sym.len()),
    };
    for fs in sym {
        out.resolved.push(fs.iter().all(|f| f.resolved));
        let v = fs
            .into_iter()
            .map(|sf| {
                let func = funcs.intern(FuncInfo {
                    name: sf.name.to_string(),
                    module: sf.module,
                    kernel: sf.kernel,
                    resolved: sf.resolved,
                });
                frames.intern(FrameInfo {
                    func,
                    file: sf.file.map(|f| f.to_string()),
                    line: sf.line,
                    inlined: sf.inlined,
                })
            })
            .collect();
        out.frames.push(v);
    }
    an.funcs = funcs.into_values();
    an.frames = frames.into_values();
    out
}

/// Interns the final stack of every raw stack (returned in raw stack
/// order) and counts the frames resolved, weighted by samples.
fn final_stacks(an: &mut Analysis, raw: &RawStacks, addr: &AddrFrames) -> Vec<StackHandle> {
    let mut raw_counts = vec![0u64; raw.stacks.len()];
    for r in &raw.of_sample {
        if let Some(c) = raw_counts.get_mut(*r as usize) {
            *c += 1;
        }
    }
    let addr_keys = raw.addrs.values();
    let mut stacks: Interner<StackInfo, StackHandle> = Interner::default();
    let mut raw_to_stack: Vec<StackHandle> = Vec::with_capacity(raw.stacks.len());
    let mut unresolved: FxHashMap<ModuleId, u64> = FxHashMap::default();
    for (rs, count) in raw.stacks.values().iter().zip(&raw_counts) {
        let mut st = StackInfo::default();
        let user_addrs = rs.addrs.len() - (rs.kernel as usize).min(rs.addrs.len());
        for (k, a) in rs.addrs.iter().enumerate() {
            let fr = addr
                .frames
                .get(*a as usize)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if k >= user_addrs {
                st.kernel_frames += fr.len() as u32;
            }
            st.frames.extend_from_slice(fr);
            if addr_keys.get(*a as usize) == Some(&AddrKey::Truncated) {
                continue; // a marker, not a frame
            }
            an.quality.frames_total += count;
            if addr.resolved.get(*a as usize).copied().unwrap_or(false) {
                an.quality.frames_resolved += count;
            } else if let Some(first) = fr.first() {
                *unresolved
                    .entry(an.funcs[an.frames[first.idx()].func.idx()].module)
                    .or_default() += count;
            }
        }
        raw_to_stack.push(stacks.intern(st));
    }
    an.stacks = stacks.into_values();
    let mut un: Vec<(String, u64)> = unresolved
        .into_iter()
        .map(|(m, n)| {
            (
                an.modules
                    .get(m.idx())
                    .map(|m| m.path.clone())
                    .unwrap_or_default(),
                n,
            )
        })
        .collect();
    un.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    an.quality.unresolved_by_module = un;
    raw_to_stack
}

/// The user modules without DWARF, and those whose local file is another
/// build.
fn module_lists(an: &mut Analysis) {
    let mut missing: Vec<String> = an
        .modules
        .iter()
        .filter(|m| {
            m.kind == ModuleKind::User
                && !symbolize::is_jit_module(&m.path)
                && matches!(
                    m.source,
                    SymbolSource::SymtabOnly(_) | SymbolSource::Embedded | SymbolSource::Missing
                )
        })
        .map(|m| m.path.clone())
        .collect();
    missing.sort();
    an.quality.missing_debug_info = missing;
    let mut mism: Vec<String> = an
        .modules
        .iter()
        .filter(|m| m.build_id_mismatch)
        .map(|m| m.path.clone())
        .collect();
    mism.sort();
    an.quality.build_id_mismatches = mism;
}
