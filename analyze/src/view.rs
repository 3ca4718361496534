//! What every renderer says the same way, written once: the comparison
//! symbol, the names of breach flags, hex, and a breach's time in the one
//! convention of the outputs (seconds since the start of its capture; the
//! wall clock from the capture's realtime offset).

use vmon_format::{breach_flags, Comparison};

use crate::analysis::Analysis;

/// `>` or `<`.
pub fn cmp_symbol(c: Comparison) -> &'static str {
    match c {
        Comparison::Greater => ">",
        Comparison::Less => "<",
    }
}

/// The breach flags and their names, in the order the outputs list them.
pub const BREACH_FLAGS: [(u32, &str); 4] = [
    (breach_flags::TASKS_TRUNCATED, "tasks-truncated"),
    (breach_flags::TIME_BUDGET, "time-budget"),
    (breach_flags::DROPPED, "records-dropped"),
    (breach_flags::INCOMPLETE, "incomplete"),
];

/// The names of the flags set in a breach's `flags`.
pub fn breach_flag_names(flags: u32) -> Vec<&'static str> {
    BREACH_FLAGS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// Lower-case hex of `bytes` (build-ids).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A breach's time as seconds since its capture's start, negative when
/// before it (a damaged or odd capture), never wrapped.
pub fn rel_seconds(a: &Analysis, input: u32, t: u64) -> f64 {
    let start = a
        .inputs
        .get(input as usize)
        .map(|i| i.meta.start_ns)
        .unwrap_or(0);
    (t as i128 - start as i128) as f64 / 1e9
}

/// CLOCK_REALTIME of a breach (ns since the epoch), when the capture
/// recorded the offset.
pub fn realtime_ns(a: &Analysis, input: u32, t: u64) -> Option<i128> {
    let off = a.inputs.get(input as usize)?.meta.realtime_offset_ns;
    (off != 0).then_some(t as i128 + off as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_in_order() {
        let all = breach_flags::INCOMPLETE | breach_flags::TASKS_TRUNCATED;
        assert_eq!(breach_flag_names(all), ["tasks-truncated", "incomplete"]);
        assert!(breach_flag_names(0).is_empty());
        assert_eq!(hex(&[0xde, 0x0a]), "de0a");
    }
}
