//! Capture-building helpers shared by the integration tests that make
//! captures by hand (`cli.rs`, `core.rs`).

use vmon_format::{Capture, StackId, StrId};

/// Interns `v` in the capture's string table.
pub fn s(c: &mut Capture, v: &str) -> StrId {
    if let Some(i) = c.strings.iter().position(|x| x == v) {
        return StrId(i as u32);
    }
    c.strings.push(v)
}

/// Pushes a stack given innermost first onto the capture's prefix tree;
/// returns its id.
pub fn stack(c: &mut Capture, inner_first: &[u64]) -> StackId {
    let mut parent = StackId::EMPTY;
    for &f in inner_first.iter().rev() {
        c.stacks.parent.push(parent);
        c.stacks.frame.push(f);
        parent = StackId(c.stacks.frame.len() as u32 - 1);
    }
    parent
}
