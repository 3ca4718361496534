//! `--speedscope FILE|-`: the analysis as a speedscope JSON file (the
//! published schema, <https://www.speedscope.app/file-format-schema.json>),
//! for the speedscope viewer (speedscope.app, or the `speedscope` npm
//! package offline).
//!
//! One "sampled" profile per watch with samples, named after the watch
//! (`watch NAME > THRESHOLD`), its samples in breach-time order (so
//! speedscope's time-ordered view walks the breaches as they happened),
//! each a stack root first of weight 1 (one task sample; the unit is
//! `none`). The frames table is shared: one entry per function (what
//! speedscope's left-heavy and sandwich views add up by), inlined or not,
//! with its source file and the lowest line of it seen in the samples when
//! DWARF gave them (vmon knows the lines of calls, not of declarations),
//! the module's path otherwise. Names are the full demangled names, kernel
//! frames unmarked (their file is the kernel module, `[kernel]` for the
//! core kernel); a sample without frames has the one frame `[no stack]`. Every string is
//! escaped by the JSON encoder, so no name can break the file.

use std::io::Write;

use serde::Serialize;

use crate::analysis::{Analysis, ModuleKind};

/// The `$schema` every speedscope file names.
pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(Serialize)]
struct File<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared<'a>,
    profiles: Vec<Profile<'a>>,
    name: String,
    #[serde(rename = "activeProfileIndex")]
    active_profile_index: usize,
    exporter: String,
}

#[derive(Serialize)]
struct Shared<'a> {
    frames: Vec<Frame<'a>>,
}

#[derive(Serialize)]
struct Frame<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

#[derive(Serialize)]
struct Profile<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    unit: &'static str,
    #[serde(rename = "startValue")]
    start_value: u64,
    #[serde(rename = "endValue")]
    end_value: u64,
    samples: Vec<&'a [u32]>,
    weights: Vec<u32>,
}

/// Writes the speedscope file of `a`.
pub fn write(a: &Analysis, w: &mut dyn Write) -> std::io::Result<()> {
    // The shared frames: one per function (what speedscope's views add
    // up by), then `[no stack]`.
    let mut frames: Vec<Frame<'_>> = a
        .funcs
        .iter()
        .map(|f| Frame {
            name: f.name.as_str(),
            file: a
                .modules
                .get(f.module.idx())
                .filter(|m| m.kind != ModuleKind::Unknown && !m.path.is_empty())
                .map(|m| m.path.as_str()),
            line: None,
        })
        .collect();
    // A function's file and line: its source file (that of the first of
    // its frames with one) and the lowest line seen there.
    let mut has_source = vec![false; frames.len()];
    for fr in &a.frames {
        let (Some(f), Some(file)) = (frames.get_mut(fr.func.idx()), fr.file.as_deref()) else {
            continue;
        };
        let seen = has_source.get_mut(fr.func.idx());
        match seen {
            Some(seen) if !*seen => {
                *seen = true;
                f.file = Some(file);
                f.line = (fr.line > 0).then_some(fr.line);
            }
            Some(_) if f.file == Some(file) && fr.line > 0 => {
                f.line = Some(f.line.map_or(fr.line, |l| l.min(fr.line)));
            }
            _ => {}
        }
    }
    let no_stack = frames.len() as u32;
    frames.push(Frame {
        name: "[no stack]",
        file: None,
        line: None,
    });
    let of_frame: Vec<u32> = a.frames.iter().map(|fr| fr.func.0).collect();

    // Each stack's frame indices, root first, once per unique stack.
    let stacks: Vec<Vec<u32>> = a
        .stacks
        .iter()
        .map(|st| {
            let v: Vec<u32> = st
                .frames
                .iter()
                .filter_map(|f| of_frame.get(f.idx()).copied())
                .collect();
            if v.is_empty() {
                vec![no_stack]
            } else {
                v
            }
        })
        .collect();

    let no_stack_stack = [no_stack];

    // The samples of each watch in breach-time order (the capture's clock,
    // then the input, the breach and the sample's own order).
    let mut order: Vec<usize> = (0..a.samples.len()).collect();
    let breach_time = |i: usize| {
        let s = &a.samples[i];
        let t = a
            .breaches
            .get(s.breach.idx())
            .map_or(s.time_ns, |b| b.time_ns);
        (s.watch.idx(), t, s.input.idx(), s.breach.idx(), i)
    };
    order.sort_by_key(|&i| breach_time(i));

    let mut profiles = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let watch = a.samples[order[i]].watch;
        let mut samples = Vec::new();
        while i < order.len() && a.samples[order[i]].watch == watch {
            let s = &a.samples[order[i]];
            samples.push(
                stacks
                    .get(s.stack.idx())
                    .map_or(&no_stack_stack[..], Vec::as_slice),
            );
            i += 1;
        }
        let name = a.watches.get(watch.idx()).map_or_else(
            || "?".to_string(),
            |w| format!("watch {}", crate::output::watch_title(w)),
        );
        let n = samples.len();
        profiles.push(Profile {
            kind: "sampled",
            name,
            unit: "none",
            start_value: 0,
            end_value: n as u64,
            samples,
            weights: vec![1; n],
        });
    }

    let inputs: Vec<&str> = a
        .inputs
        .iter()
        .map(|i| i.path.rsplit('/').next().unwrap_or(&i.path))
        .collect();
    let file = File {
        schema: SCHEMA,
        shared: Shared { frames },
        profiles,
        name: format!("vmon {}", inputs.join(", ")),
        active_profile_index: 0,
        exporter: format!("vmon-analyze {}", env!("CARGO_PKG_VERSION")),
    };
    serde_json::to_writer(&mut *w, &file)?;
    w.write_all(b"\n")
}
