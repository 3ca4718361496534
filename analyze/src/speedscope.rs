//! `--speedscope FILE|-`: the analysis as a speedscope JSON file (the
//! published schema, <https://www.speedscope.app/file-format-schema.json>),
//! for the speedscope viewer (speedscope.app, or the `speedscope` npm
//! package offline).
//!
//! One "sampled" profile per watch with samples, named after the watch
//! (`watch NAME > THRESHOLD`), its samples in breach-time order (so
//! speedscope's time-ordered view walks the breaches as they happened),
//! each a stack root first of weight 1 (one task sample; the unit is
//! `none`). The frames table is shared: one entry per unique
//! (function, file, line), with the source file and line when DWARF gave
//! them and the module's path otherwise. Names are the full demangled
//! names, kernel frames unmarked (their file is the kernel module); a
//! sample without frames has the one frame `[no stack]`. Every string is
//! escaped by the JSON encoder, so no name can break the file.

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use crate::analysis::{Analysis, FrameId, ModuleKind};

/// The `$schema` every speedscope file names.
pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(Serialize)]
struct File<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared<'a>,
    profiles: Vec<Profile>,
    name: String,
    #[serde(rename = "activeProfileIndex")]
    active_profile_index: usize,
    exporter: String,
}

#[derive(Serialize)]
struct Shared<'a> {
    frames: Vec<Frame<'a>>,
}

#[derive(Serialize, PartialEq, Eq, Hash, Clone)]
struct Frame<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

#[derive(Serialize)]
struct Profile {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    unit: &'static str,
    #[serde(rename = "startValue")]
    start_value: u64,
    #[serde(rename = "endValue")]
    end_value: u64,
    samples: Vec<Vec<u32>>,
    weights: Vec<u32>,
}

/// Writes the speedscope file of `a`.
pub fn write(a: &Analysis, w: &mut dyn Write) -> std::io::Result<()> {
    let file = build(a);
    serde_json::to_writer(&mut *w, &file)?;
    w.write_all(b"\n")
}

fn build(a: &Analysis) -> File<'_> {
    // The shared frames: analysis frames that print alike share an entry.
    let mut frames: Vec<Frame<'_>> = Vec::new();
    let mut index: HashMap<Frame<'_>, u32> = HashMap::new();
    let of_frame: Vec<u32> = (0..a.frames.len())
        .map(|i| intern(&mut frames, &mut index, frame(a, FrameId(i as u32))))
        .collect();
    let no_stack = intern(
        &mut frames,
        &mut index,
        Frame {
            name: "[no stack]",
            file: None,
            line: None,
        },
    );

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
                    .cloned()
                    .unwrap_or_else(|| vec![no_stack]),
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
    File {
        schema: SCHEMA,
        shared: Shared { frames },
        profiles,
        name: format!("vmon {}", inputs.join(", ")),
        active_profile_index: 0,
        exporter: format!("vmon-analyze {}", env!("CARGO_PKG_VERSION")),
    }
}

/// The index of `f` in `frames`, added when new.
fn intern<'a>(
    frames: &mut Vec<Frame<'a>>,
    index: &mut HashMap<Frame<'a>, u32>,
    f: Frame<'a>,
) -> u32 {
    *index.entry(f.clone()).or_insert_with(|| {
        frames.push(f);
        (frames.len() - 1) as u32
    })
}

/// The speedscope frame of an analysis frame.
fn frame(a: &Analysis, id: FrameId) -> Frame<'_> {
    let Some(fr) = a.frames.get(id.idx()) else {
        return Frame {
            name: "[unknown]",
            file: None,
            line: None,
        };
    };
    let func = a.funcs.get(fr.func.idx());
    let module = func.and_then(|f| a.modules.get(f.module.idx()));
    let file = match (&fr.file, module) {
        (Some(f), _) => Some(f.as_str()),
        (None, Some(m)) if m.kind != ModuleKind::Unknown && !m.path.is_empty() => {
            Some(m.path.as_str())
        }
        _ => None,
    };
    Frame {
        name: func.map_or("[unknown]", |f| f.name.as_str()),
        file,
        line: (fr.file.is_some() && fr.line > 0).then_some(fr.line),
    }
}
