//! Progress (issue 15, item 18): the library counts every item of its long
//! phases, the binary shows them on a terminal only, and never with `-q`;
//! every output file is announced once ("wrote X"), and not with `-q`.

mod tools;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

use vmon_analyze::aggregate::Aggregates;
use vmon_analyze::artifacts::Artifacts;
use vmon_analyze::ingest::{self, Options};
use vmon_analyze::load;
use vmon_analyze::progress::Progress;

use tools::vmon_gen;

/// Every phase with its declared total and the count it reached.
#[derive(Default)]
struct Recorder {
    phases: Mutex<Vec<(String, Option<u64>, u64)>>,
    notes: Mutex<Vec<String>>,
}

impl Progress for Recorder {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.phases
            .lock()
            .unwrap()
            .push((name.to_string(), total, 0));
    }
    fn inc(&self, n: u64) {
        let mut p = self.phases.lock().unwrap();
        p.last_mut().expect("inc before any phase").2 += n;
    }
    fn note(&self, line: &str) {
        self.notes.lock().unwrap().push(line.to_string());
    }
}

impl Recorder {
    /// The one phase whose name starts with `prefix`: (total, count).
    fn only(&self, prefix: &str) -> (Option<u64>, u64) {
        let p = self.phases.lock().unwrap();
        let hits: Vec<_> = p.iter().filter(|x| x.0.starts_with(prefix)).collect();
        assert_eq!(hits.len(), 1, "one {prefix:?} phase in {p:?}");
        (hits[0].1, hits[0].2)
    }
}

fn analyzer() -> PathBuf {
    env!("CARGO_BIN_EXE_vmon-analyze").into()
}

/// A 10,000-sample capture with raw user stacks (unwound by the analyzer)
/// and two watches, made once for all the tests here.
fn capture() -> &'static Path {
    static CAPTURE: OnceLock<PathBuf> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        // In the target directory, replaced by the next run.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("progress");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let out = dir.join("gen.vmt");
        let o = Command::new(vmon_gen())
            .args([
                "--samples",
                "10000",
                "--seed",
                "11",
                "--stacks",
                "300",
                "--raw-stack-bytes",
                "1024",
                "--kallsyms",
                "shipped",
                "--bin-dir",
            ])
            .arg(dir.join("bin"))
            .arg("-o")
            .arg(&out)
            .current_dir(&dir)
            .output()
            .expect("run vmon-gen");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    })
}

fn out_dir(name: &str) -> PathBuf {
    let d = capture().parent().unwrap().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_library_counts_every_item_of_each_phase() {
    let input = load::load(capture().to_str().unwrap()).unwrap();
    let opts = Options {
        inlines: true,
        unwind: true,
        ..Default::default()
    };
    let rec = Recorder::default();
    let a = ingest::analyze(vec![input], &opts, &rec);
    let samples = a.inputs[0].samples_total;
    assert_eq!(samples, 10_000);

    // Both passes over the samples count each sample once.
    let (total, n) = rec.only("filtering the samples");
    assert_eq!((total, n), (None, samples));
    let (total, n) = rec.only("collecting the stacks");
    assert_eq!((total, n), (Some(samples), samples));

    // Unwinding: every unique raw stack it was given.
    let (total, n) = rec.only("unwinding");
    assert!(n > 0, "the capture has raw stacks to unwind");
    assert_eq!(total, Some(n));

    // Symbolizing: every unique address, each once.
    let (total, n) = rec.only("symbolizing");
    assert_eq!(n, a.quality.unique_addresses);
    assert_eq!(total, Some(n));
    assert!(n > 100, "{n} addresses");

    // Writing: one count per file, the "wrote" lines handed over.
    let agg = Aggregates::compute(&a);
    let dir = out_dir("lib");
    let art = Artifacts {
        csv: Some(dir.join("csv")),
        report: Some(dir.join("report")),
        ..Default::default()
    };
    rec.phase("writing", Some(art.files()));
    art.run_with(&a, &agg, &|_| None, &rec).unwrap();
    let (total, n) = rec.only("writing");
    let csvs = std::fs::read_dir(dir.join("csv")).unwrap().count() as u64;
    assert_eq!(n, csvs + 1, "each CSV table and the report");
    assert_eq!(total, Some(n));
    let notes = rec.notes.lock().unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].starts_with(&format!("wrote {csvs} tables to ")));
    assert!(notes[1].ends_with("index.html"), "{notes:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the analyzer with stdout and stderr piped (not terminals).
fn run_piped(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(analyzer())
        .args(args)
        .env_remove("VMON_TIMING")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// What a bar or spinner leaves in a stream.
fn has_progress(s: &str) -> bool {
    s.contains('\x1b')
        || s.contains('\r')
        || s.contains("symbolizing")
        || s.contains("unwinding")
        || s.contains("ETA")
        || s.chars().any(|c| "⠁⠂⠄⡀⢀⠠⠐⠈".contains(c))
}

/// The output options of the terminal and pipe runs: two watches' SVGs,
/// a folded file, the CSV tables.
fn outputs(d: &Path) -> Vec<std::ffi::OsString> {
    vec![
        capture().into(),
        "--flamegraph".into(),
        d.join("fg.svg").into(),
        "--folded".into(),
        d.join("all.folded").into(),
        "--csv".into(),
        d.join("csv").into(),
    ]
}

fn wrote_lines(stderr: &str) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in stderr.lines() {
        // On a terminal, the line starts where the bar was cleared.
        let l = l.rsplit('\r').next().unwrap_or(l);
        if let Some(w) = l.strip_prefix("vmon-analyze: wrote ") {
            *m.entry(w.to_string()).or_insert(0) += 1;
        }
    }
    m
}

#[test]
fn piped_stderr_has_no_progress_and_each_file_is_announced_once() {
    let d = out_dir("piped");
    let args = outputs(&d);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let o = run_piped(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(!has_progress(&err), "progress on a pipe: {err:?}");
    assert!(o.stdout.is_empty(), "every output went to files");
    let wrote = wrote_lines(&err);
    let svgs: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(svgs.len() >= 2, "one SVG per watch: {svgs:?}");
    for f in svgs
        .iter()
        .cloned()
        .chain([d.join("all.folded").display().to_string()])
    {
        assert_eq!(wrote.get(&f), Some(&1), "wrote {f} once: {err}");
    }
    let tables = wrote
        .keys()
        .filter(|k| k.ends_with(&format!("tables to {}", d.join("csv").display())))
        .count();
    assert_eq!(tables, 1, "{err}");
    assert_eq!(
        wrote.values().sum::<usize>(),
        svgs.len() + 2,
        "nothing announced but the files: {err}"
    );

    // -q: nothing at all on stderr.
    let mut q = args.clone();
    q.push("-q".as_ref());
    let o = run_piped(&q);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr), "", "-q is quiet");
    assert!(o.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&d);
}

/// Runs the analyzer under a pseudo-terminal (util-linux `script`), its
/// stdout and stderr both on it; returns what the terminal received, or
/// None without `script`.
fn run_on_terminal(args: &[std::ffi::OsString]) -> Option<String> {
    let mut cmd = shell_quote(analyzer().as_os_str());
    for a in args {
        cmd.push(' ');
        cmd.push_str(&shell_quote(a));
    }
    let o = Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("VMON_TIMING")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "under script: {text} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(text)
}

fn shell_quote(s: &std::ffi::OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

#[test]
fn a_terminal_shows_progress_unless_quiet() {
    let d = out_dir("tty");
    let Some(tty) = run_on_terminal(&outputs(&d)) else {
        eprintln!("no util-linux script: skipping the terminal test");
        return;
    };
    // Drawing is rate-limited, so a short phase may not show: some
    // counted phase (with its ETA) must.
    assert!(
        [
            "unwinding raw user stacks [",
            "collecting the stacks of ",
            "symbolizing unique addresses [",
            "writing outputs [",
        ]
        .iter()
        .any(|p| tty.contains(p))
            && tty.contains("ETA"),
        "a progress line on the terminal: {tty:?}"
    );
    assert!(tty.contains('\x1b'), "drawn with escapes: {tty:?}");
    // The bar is cleared around the "wrote" lines: each appears whole, once.
    let plain = strip_escapes(&tty);
    let wrote = wrote_lines(&plain);
    assert_eq!(
        wrote.get(&d.join("all.folded").display().to_string()),
        Some(&1),
        "{plain:?}"
    );
    let _ = std::fs::remove_dir_all(&d);

    let d = out_dir("tty-q");
    let mut q = outputs(&d);
    q.push("-q".into());
    let tty = run_on_terminal(&q).expect("script ran before");
    assert!(!has_progress(&tty), "-q shows no progress: {tty:?}");
    assert_eq!(tty, "", "-q writes nothing to the terminal");
    assert!(d.join("all.folded").exists());
    let _ = std::fs::remove_dir_all(&d);
}

/// The text of a terminal stream without its CSI escape sequences.
fn strip_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            if it.peek() == Some(&'[') {
                it.next();
                for c in it.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out.replace("\r\n", "\n")
}
