//! `--perf-script` read by a real consumer: inferno's perf collapser
//! (`inferno::collapse::perf::Folder`, what `inferno-collapse-perf` runs),
//! with its kernel annotation on (`--kernel`), over vmon's perf script text
//! of the shipped samples and a generated capture, must give exactly the
//! stacks and counts vmon's own `--folded` gives:
//!
//! - with the comm inferno puts first: `--folded --group-by comm`, whose
//!   root frame is the comm (inferno writes a comm's spaces as `_`);
//! - without it: plain `--folded`.
//!
//! Kernel frames come out as `name_[k]` on both sides (vmon's suffix;
//! inferno's `--kernel` from the `[kernel.kallsyms]`/`[module]` dso).
//! `perf script` has no marker for an inlined frame (`(inlined)` is its
//! dso), so inferno shows inlined frames without vmon's `_[i]`: that one
//! suffix is taken off vmon's side, and the test checks there were inlined
//! frames to take it from in the generated capture.
//!
//! Names: perf script carries the full C++ names and each side strips the
//! argument lists its own way. They agree but on C++ operators, where
//! inferno's tidying errs (it keeps the argument list of `operator<` and
//! cuts the `()` of `operator()`): on inferno's side a name is passed
//! through vmon's [`strip_signature`] and `::operator` read as
//! `::operator()`, and the test checks only operator names needed it.
//!
//! A hostile capture (newlines and control characters in the comm and a
//! function name, a leading `(`, `->`) keeps every event on its lines.

mod tools;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use inferno::collapse::perf::{Folder, Options};
use inferno::collapse::Collapse;
use tools::manifest_dir;
use vmon_analyze::aggregate::strip_signature;

fn analyze(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let o = Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
        .args(args)
        .arg("-q")
        .output()
        .expect("run vmon-analyze");
    assert!(
        o.status.success(),
        "vmon-analyze {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// inferno's folded stacks of perf script text, `--kernel` on.
fn inferno_fold(perf: &[u8]) -> String {
    let mut opt = Options::default();
    opt.annotate_kernel = true;
    opt.nthreads = 1;
    let mut out = Vec::new();
    Folder::from(opt)
        .collapse(perf, &mut out)
        .expect("inferno collapses it");
    String::from_utf8(out).expect("utf-8")
}

/// `stack count` lines as stack -> count (added up).
fn parse(folded: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for l in folded.lines().filter(|l| !l.is_empty()) {
        let (stack, n) = l.rsplit_once(' ').expect("`stack count`");
        *m.entry(stack.to_string()).or_default() += n.parse::<u64>().expect("a count");
    }
    m
}

/// vmon's folded stacks with `_[i]` taken off every frame, and how many
/// frames had it.
fn without_inline_marks(m: &BTreeMap<String, u64>) -> (BTreeMap<String, u64>, usize) {
    let mut out = BTreeMap::new();
    let mut marked = 0;
    for (stack, n) in m {
        let s: Vec<&str> = stack
            .split(';')
            .map(|f| match f.strip_suffix("_[i]") {
                Some(base) => {
                    marked += 1;
                    base
                }
                None => f,
            })
            .collect();
        *out.entry(s.join(";")).or_default() += n;
    }
    (out, marked)
}

/// What differs: the frame names found on one side only, and a few stacks.
fn diff(want: &BTreeMap<String, u64>, got: &BTreeMap<String, u64>) -> String {
    use std::collections::BTreeSet;
    let frames = |m: &BTreeMap<String, u64>| -> BTreeSet<String> {
        m.keys()
            .flat_map(|k| k.split(';').map(str::to_string))
            .collect()
    };
    let (fw, fg) = (frames(want), frames(got));
    let mut d = String::new();
    for f in fw.difference(&fg).take(10) {
        d += &format!("  frame only in vmon's: {f}\n");
    }
    for f in fg.difference(&fw).take(10) {
        d += &format!("  frame only in inferno's: {f}\n");
    }
    for (k, v) in want.iter().filter(|(k, v)| got.get(*k) != Some(v)).take(3) {
        d += &format!("  vmon {v} / inferno {:?}: {k}\n", got.get(k));
    }
    d
}

/// inferno's names with its C++ operator tidying undone (see the module
/// doc); panics if a name other than an operator's needed it.
fn inferno_operators_fixed(m: &BTreeMap<String, u64>, stem: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (stack, n) in m {
        let s: Vec<String> = stack
            .split(';')
            .map(|f| {
                let fixed = strip_signature(f);
                let fixed = match fixed.strip_suffix("::operator") {
                    Some(base) => format!("{base}::operator()"),
                    None => fixed.to_string(),
                };
                assert!(
                    fixed == f || f.contains("operator"),
                    "{stem}: inferno changed a name that is not an operator's: {f}"
                );
                fixed
            })
            .collect();
        *out.entry(s.join(";")).or_default() += n;
    }
    out
}

/// Returns how many `_[i]` frames vmon's side had.
fn check(input: &Path) -> usize {
    let stem = input.file_stem().unwrap().to_string_lossy().to_string();
    let perf = analyze(&[input.as_os_str(), "--perf-script".as_ref(), "-".as_ref()]);
    let text = String::from_utf8(perf.clone()).expect("perf script text is UTF-8");
    let events = text.matches(" 1 task-clock:\n").count();

    let folded =
        parse(&String::from_utf8(analyze(&[input.as_os_str(), "--folded".as_ref()])).unwrap());
    let total: u64 = folded.values().sum();
    assert!(total > 0, "{stem}: no samples");
    assert_eq!(events as u64, total, "{stem}: one event per task sample");
    assert!(
        folded.keys().any(|k| k.contains("_[k]")),
        "{stem}: kernel frames to compare"
    );

    let inf = parse(&inferno_fold(&perf));
    let inf = inferno_operators_fixed(&inf, &stem);
    assert_eq!(inf.values().sum::<u64>(), total, "{stem}: inferno's total");

    // With the comm: --group-by comm, its spaces as inferno writes them.
    let grouped = parse(
        &String::from_utf8(analyze(&[
            input.as_os_str(),
            "--folded".as_ref(),
            "--group-by".as_ref(),
            "comm".as_ref(),
        ]))
        .unwrap(),
    );
    let grouped: BTreeMap<String, u64> = grouped
        .into_iter()
        .map(|(k, n)| match k.split_once(';') {
            Some((comm, rest)) => (format!("{};{rest}", comm.replace(' ', "_")), n),
            None => (k, n),
        })
        .fold(BTreeMap::new(), |mut m, (k, n)| {
            *m.entry(k).or_default() += n;
            m
        });
    let (want, _) = without_inline_marks(&grouped);
    assert!(
        want == inf,
        "{stem}: inferno's folded stacks differ from vmon's --folded --group-by comm:\n{}",
        diff(&want, &inf)
    );

    // Without it: plain --folded.
    let mut rootless: BTreeMap<String, u64> = BTreeMap::new();
    for (k, n) in &inf {
        let rest = k.split_once(';').map_or("", |(_, r)| r);
        *rootless.entry(rest.to_string()).or_default() += n;
    }
    let (want, marked) = without_inline_marks(&folded);
    assert!(
        want == rootless,
        "{stem}: inferno's stacks without the comm differ from vmon's --folded:\n{}",
        diff(&want, &rootless)
    );
    eprintln!(
        "{stem}: {total} samples, {} stacks: inferno agrees with --folded",
        folded.len()
    );
    marked
}

fn tmpdir(name: &str) -> PathBuf {
    tools::fresh_dir(&format!("vmon-perfscript-{name}"))
}

#[test]
fn inferno_folds_the_shipped_samples_as_vmon_does() {
    for s in ["helloworld-6.1.vmt", "loadmon-6.1.vmt", "userstack-6.1.vmt"] {
        check(&manifest_dir().join("../samples").join(s));
    }
}

#[test]
fn inferno_folds_a_generated_capture_as_vmon_does() {
    let d = tmpdir("gen");
    let vmt = d.join("gen.vmt");
    tools::gen_capture(&vmt, &["--samples", "20000", "--seed", "11"]);
    let marked = check(&vmt);
    assert!(marked > 0, "the generated capture has inlined frames");
    let _ = std::fs::remove_dir_all(&d);
}

#[allow(dead_code)]
mod fixture;

/// Names that try to forge events: every line stays a header, a frame or
/// the blank line between events, inferno sees every sample, and the
/// hostile function is one frame, neither dropped (leading `(`) nor split
/// (`->`).
#[test]
fn hostile_names_stay_on_their_lines() {
    let d = tmpdir("hostile");
    let mut c = fixture::capture(3);
    let mut v: Vec<String> = c.strings.iter().map(str::to_string).collect();
    for x in v.iter_mut() {
        match x.as_str() {
            "demo-app" => *x = "evil\n1/1 [000] 1.0: 1 task-clock:\n\tff forged (x)".into(),
            "io-worker" => *x = "io worker 42".into(),
            "worker_loop" => *x = "(worker\nloop->x\r\x1b[2J".into(),
            _ => {}
        }
    }
    c.strings = v.iter().map(String::as_str).collect();
    let vmt = d.join("hostile.vmt");
    vmon_format::write_capture(&c, std::fs::File::create(&vmt).unwrap()).unwrap();

    let perf = analyze(&[vmt.as_os_str(), "--perf-script".as_ref(), "-".as_ref()]);
    let text = String::from_utf8(perf.clone()).unwrap();
    let folded =
        parse(&String::from_utf8(analyze(&[vmt.as_os_str(), "--folded".as_ref()])).unwrap());
    let total: u64 = folded.values().sum();
    assert!(total > 0);
    let mut headers = 0;
    let mut frames = 0;
    for l in text.split('\n') {
        assert!(
            !l.contains(['\r', '\x1b']),
            "a control character printed raw: {l:?}"
        );
        if l.is_empty() {
            continue;
        }
        if l.starts_with('\t') {
            assert!(l.ends_with(')'), "a frame line: {l:?}");
            frames += 1;
        } else {
            assert!(l.ends_with(" 1 task-clock:"), "a header line: {l:?}");
            headers += 1;
        }
    }
    assert_eq!(headers, total, "one header per sample");
    assert!(frames > headers, "frames under the headers");
    assert!(!text.contains("\nforged"), "{text}");

    let inf = parse(&inferno_fold(&perf));
    assert_eq!(
        inf.values().sum::<u64>(),
        total,
        "inferno counts every sample"
    );
    let hostile = r"\x28worker\x0aloop-\x3ex\x0d\x1b[2J";
    let with: u64 = inf
        .iter()
        .filter(|(k, _)| k.split(';').any(|f| f == hostile))
        .map(|(_, n)| n)
        .sum();
    let want: u64 = folded
        .iter()
        .filter(|(k, _)| k.contains("loop->x"))
        .map(|(_, n)| n)
        .sum();
    assert!(want > 0, "the fixture samples worker_loop");
    assert_eq!(with, want, "inferno keeps the hostile frame whole: {inf:?}");
    assert!(
        inf.keys().any(|k| k.starts_with("evil\\x0a1/1_[000]_1.0:_1_task-clock:\\x0a\\x09ff_forged_(x);")),
        "the hostile comm is one root frame: {inf:?}"
    );
    assert!(
        inf.keys().any(|k| k.starts_with("io_worker_42;")),
        "{inf:?}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// `--perf-script FILE` writes the file (and nothing on stdout); an input
/// as FILE is refused before anything is written; `-` shares stdout with
/// no other output.
#[test]
fn perf_script_file_stdout_and_input_refused() {
    let d = tmpdir("cli");
    let vmt = d.join("a.vmt");
    std::fs::copy(manifest_dir().join("../samples/helloworld-6.1.vmt"), &vmt).unwrap();
    let bytes = std::fs::read(&vmt).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap()
    };
    let o = run(&["a.vmt", "--perf-script", "out.txt"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty(), "no summary when a file is written");
    let file = std::fs::read(d.join("out.txt")).unwrap();
    assert_eq!(
        file,
        analyze(&[vmt.as_os_str(), "--perf-script".as_ref(), "-".as_ref()])
    );
    for args in [
        vec!["a.vmt", "--perf-script", "a.vmt"],
        vec!["a.vmt", "--perf-script", "./a.vmt"],
        vec!["a.vmt", "--pprof", "a.vmt"],
        vec!["a.vmt", "--speedscope", "a.vmt"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("is the input"),
            "{args:?}"
        );
        assert_eq!(std::fs::read(&vmt).unwrap(), bytes, "input intact");
    }
    for args in [
        vec!["a.vmt", "--perf-script", "-", "--folded"],
        vec!["a.vmt", "--perf-script", "-", "--json"],
        vec!["a.vmt", "--perf-script", "-", "--speedscope", "-"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("stdout"),
            "{args:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}
