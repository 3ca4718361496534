//! `--pprof FILE`: the analysis as a pprof profile (gzipped `profile.proto`,
//! what `go tool pprof`, Pyroscope, Parca and Grafana read), encoded by the
//! vmon-pprof crate.
//!
//! One sample type, `task samples` (count): every task sample is a pprof
//! sample of value 1 with its stack (leaf first; a run of inlined frames
//! and the frame they were inlined into form one location, innermost line
//! first) and the labels `watch`, `breach` (the capture's event id),
//! `comm`, `pid` (tgid), `tid`, `state` (R, D, L or ?), `cgroup`, and
//! `input` when there are several inputs. Functions carry their source
//! file, lines their line number; every module is a mapping with its path
//! and build-id, marked as symbolized so pprof does not look for the
//! binaries again. A sample without frames has the one frame `[no stack]`.

use std::path::Path;

use anyhow::{Context, Result};
use vmon_pprof::{
    Function, FunctionHandle, Label, LabelValue, Line, Location, LocationHandle, Mapping,
    MappingHandle, ProfileBuilder,
};

use crate::analysis::{Analysis, StackHandle};

/// Builds the profile of `a`.
pub fn build(a: &Analysis) -> Result<ProfileBuilder> {
    let mut b = ProfileBuilder::new(&[("task samples", "count")]);
    b.set_period("task samples", "count", 1);
    let mappings: Vec<MappingHandle> = a
        .modules
        .iter()
        .map(|m| {
            let build_id = crate::view::hex(&m.build_id);
            b.mapping(&Mapping {
                start: 0,
                limit: 0,
                file_offset: 0,
                filename: &m.path,
                build_id: &build_id,
                symbolized: true,
            })
        })
        .collect();
    // A function's file: that of the first of its frames with one.
    let mut func_file: Vec<Option<&str>> = vec![None; a.funcs.len()];
    for fr in &a.frames {
        if let (Some(slot @ None), Some(f)) = (func_file.get_mut(fr.func.idx()), &fr.file) {
            *slot = Some(f.as_str());
        }
    }
    let functions: Vec<FunctionHandle> = a
        .funcs
        .iter()
        .zip(&func_file)
        .map(|(f, file)| {
            b.function(&Function {
                name: &f.name,
                system_name: &f.name,
                filename: file.unwrap_or(""),
                start_line: 0,
            })
        })
        .collect();

    // A sample without frames gets the one frame "[no stack]", as in the
    // folded output: pprof's -raw and -traces leave out samples without
    // locations.
    let no_stack = b.function(&Function {
        name: "[no stack]",
        system_name: "[no stack]",
        filename: "",
        start_line: 0,
    });
    let no_stack = b.location(&Location {
        mapping: None,
        address: 0,
        lines: &[Line {
            function: no_stack,
            line: 0,
        }],
    })?;
    let mut stacks: Vec<Option<Vec<LocationHandle>>> = vec![None; a.stacks.len()];
    let multi = a.inputs.len() > 1;
    for s in &a.samples {
        let slot = stacks
            .get_mut(s.stack.idx())
            .context("a sample's stack is not in the analysis")?;
        if slot.is_none() {
            let mut locs = locations(a, &mut b, &mappings, &functions, s.stack)?;
            if locs.is_empty() {
                locs.push(no_stack);
            }
            *slot = Some(locs);
        }
        let locs = slot.as_deref().unwrap_or_default();
        let watch = a.watches.get(s.watch.idx()).map_or("", |w| w.name.as_str());
        let event = a.breaches.get(s.breach.idx()).map_or(0, |br| br.event_id);
        let input = a.inputs.get(s.input.idx()).map_or("", |i| i.path.as_str());
        let mut labels = vec![
            Label::str("watch", watch),
            Label::num("breach", i64::try_from(event).unwrap_or(i64::MAX)),
            Label::str("comm", a.name(s.comm)),
            Label::num("pid", i64::from(s.tgid)),
            Label::num("tid", i64::from(s.pid)),
            Label::str("state", Analysis::state_letter(s.state)),
            Label {
                key: "cgroup",
                value: LabelValue::Num(i64::try_from(s.cgroup_id).unwrap_or(i64::MAX), ""),
            },
        ];
        if multi {
            labels.push(Label::str("input", input));
        }
        b.sample(locs, &[1], &labels)?;
    }

    if let Some(i) = a.inputs.first() {
        let start = crate::summary::realtime_ns(a, 0, i.meta.start_ns)
            .and_then(|t| i64::try_from(t).ok())
            .unwrap_or(0);
        let dur = i.meta.end_ns.saturating_sub(i.meta.start_ns);
        b.set_time(start, i64::try_from(dur).unwrap_or(i64::MAX));
    }
    b.comment(&format!("vmon-analyze {}", env!("CARGO_PKG_VERSION")));
    for i in &a.inputs {
        b.comment(&format!("input {}", i.path));
    }
    Ok(b)
}

/// The locations of a stack, leaf first. Frames are root first, and an
/// inlined frame belongs to the location of the next frame towards the
/// root (the one it was inlined into).
fn locations(
    a: &Analysis,
    b: &mut ProfileBuilder,
    mappings: &[MappingHandle],
    functions: &[FunctionHandle],
    stack: StackHandle,
) -> Result<Vec<LocationHandle>> {
    let st = a.stack(stack);
    let mut out = Vec::new();
    let mut lines: Vec<Line> = Vec::new();
    for f in st.frames.iter().rev() {
        let fr = a.frame(*f);
        let function = *functions
            .get(fr.func.idx())
            .context("a frame's function is not in the analysis")?;
        lines.push(Line {
            function,
            line: i64::from(fr.line),
        });
        if fr.inlined {
            continue;
        }
        let mapping = mappings.get(a.func(fr.func).module.idx()).copied();
        out.push(b.location(&Location {
            mapping,
            address: 0,
            lines: &lines,
        })?);
        lines.clear();
    }
    if !lines.is_empty() {
        // inlined frames with nothing towards the root: a location of their own
        out.push(b.location(&Location {
            mapping: None,
            address: 0,
            lines: &lines,
        })?);
    }
    Ok(out)
}

/// Writes `--pprof FILE`.
pub fn write(a: &Analysis, path: &Path) -> Result<()> {
    let b = build(a)?;
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    b.write_gzip(std::io::BufWriter::new(f))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
