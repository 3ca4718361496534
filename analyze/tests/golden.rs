//! Outputs pinned byte for byte: the summary, `--json`, folded stacks,
//! flamegraph SVGs, the CSV tables, the report and the diffs, on the
//! shipped samples and on captures made by vmon-gen, hashed and compared
//! with `tests/golden/*.sha256` (recorded from the analyzer before its
//! restructuring, so a refactoring that changes a byte fails here).
//!
//! - `samples_outputs_are_unchanged`: the three captures in samples/.
//! - `generated_capture_outputs_are_unchanged`: a 20,000-sample vmon-gen
//!   capture with raw user stacks (unwound here) and embedded symbols.
//! - `million_sample_outputs_are_unchanged` (`#[ignore]`d: about a minute):
//!   the benchmark's 10^6-sample capture. Run it with
//!   `cargo test --release -p vmon-analyze --test golden -- --ignored`.
//!
//! `VMON_GOLDEN_UPDATE=1` rewrites the hash files instead of comparing
//! (only when a change of output is meant; say why in the commit).
//!
//! What varies with the machine and not with the analyzer is replaced
//! before hashing: the checkout's and the work directory's paths, and the
//! kernel release vmon-gen records (its own machine's). Stderr is compared
//! as a sorted set of lines (outputs written in parallel report in either
//! order). vmon-gen compiles
//! its workload binaries with gcc, g++ and rustc, whose DWARF the analyzer
//! reads, so the generated captures are compared only with the same
//! compilers as when the hashes were recorded (the file's `# toolchain`
//! line); with others the test says so and checks the samples alone.

mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use tools::{manifest_dir, vmon_gen};

/// One run of vmon-analyze: its name and arguments, where `$IN` is the
/// input capture, `$BASE` the base of a diff (or a second input), `$OUT`
/// the case's empty output directory and `$BIN` samples/bin.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
}

const fn case(name: &'static str, args: &'static [&'static str]) -> Case {
    Case { name, args }
}

/// Every output the analyzer has, and the filters.
const FULL: &[Case] = &[
    case("summary", &["$IN"]),
    case("summary-top2", &["$IN", "--top", "2"]),
    case("json", &["$IN", "--json"]),
    case("json-gate", &["$IN", "--json", "--fail-if-breaches", "0"]),
    case("strict", &["$IN", "--strict", "--csv", "$OUT/csv"]),
    case("folded", &["$IN", "--folded"]),
    case("folded-comm", &["$IN", "--folded", "--group-by", "comm"]),
    case(
        "folded-process",
        &["$IN", "--folded", "--group-by", "process"],
    ),
    case(
        "folded-thread",
        &["$IN", "--folded", "--group-by", "thread"],
    ),
    case("folded-watch", &["$IN", "--folded", "--group-by", "watch"]),
    case(
        "folded-per-watch",
        &["$IN", "--folded", "$OUT/f.folded", "--folded-per-watch"],
    ),
    case("flamegraph", &["$IN", "--flamegraph", "$OUT/fg.svg"]),
    case(
        "flamegraph-combined",
        &["$IN", "--flamegraph", "$OUT/fg.svg", "--combined"],
    ),
    case(
        "flamegraph-comm",
        &["$IN", "--flamegraph", "$OUT/fg.svg", "--group-by", "comm"],
    ),
    case("csv", &["$IN", "--csv", "$OUT/csv"]),
    case("report", &["$IN", "--report", "$OUT/report"]),
    case(
        "report-gate",
        &["$IN", "--report", "$OUT/report", "--fail-if-breaches", "0"],
    ),
    case(
        "everything",
        &[
            "$IN",
            "--flamegraph",
            "$OUT/fg.svg",
            "--report",
            "$OUT/report",
            "--csv",
            "$OUT/csv",
            "--folded",
            "$OUT/all.folded",
        ],
    ),
    case("kernel-only", &["$IN", "--kernel-only", "--folded"]),
    case("user-only", &["$IN", "--user-only", "--json"]),
    case("state-r", &["$IN", "--state", "R"]),
    case("state-d", &["$IN", "--state", "D", "--folded"]),
    case("from-to", &["$IN", "--from", "0.5", "--to", "1h"]),
    case("from-late", &["$IN", "--from", "1h", "--json"]),
    case("no-inlines", &["$IN", "--no-inlines", "--folded"]),
    case("no-unwind", &["$IN", "--no-unwind", "--folded"]),
    case("full-signatures", &["$IN", "--full-signatures", "--folded"]),
    case("diff", &["$IN", "--diff", "$BASE"]),
    case("diff-folded", &["$IN", "--diff", "$BASE", "--folded"]),
    case(
        "diff-flamegraph",
        &["$IN", "--diff", "$BASE", "--flamegraph", "$OUT/d.svg"],
    ),
    case("merged", &["$IN", "$BASE"]),
    case("merged-json", &["$IN", "$BASE", "--json"]),
];

/// The samples with the binaries they were made from (`$BIN`: samples/bin).
const WITH_BIN: &[Case] = &[
    case("bin-folded", &["$IN", "--debug-dir", "$BIN", "--folded"]),
    case(
        "bin-csv",
        &["$IN", "--debug-dir", "$BIN", "--csv", "$OUT/csv"],
    ),
    case(
        "bin-report",
        &["$IN", "--debug-dir", "$BIN", "--report", "$OUT/r"],
    ),
    case(
        "bin-no-inlines",
        &["$IN", "--debug-dir", "$BIN", "--no-inlines", "--json"],
    ),
];

/// What the 10^6 run checks: the benchmark's outputs.
const MILLION: &[Case] = &[
    case("summary", &["$IN"]),
    case("json", &["$IN", "--json"]),
    case(
        "flamegraph-csv",
        &["$IN", "--flamegraph", "$OUT/fg.svg", "--csv", "$OUT/csv"],
    ),
    case("folded", &["$IN", "--folded"]),
    case("report", &["$IN", "--report", "$OUT/report"]),
];

fn samples_dir() -> PathBuf {
    manifest_dir()
        .join("../samples")
        .canonicalize()
        .expect("samples/")
}

fn work_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vmon-golden-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sha256(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut p = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    let mut stdin = p.stdin.take().unwrap();
    let data = bytes.to_vec();
    let feed = std::thread::spawn(move || stdin.write_all(&data));
    let out = p.wait_with_output().unwrap();
    feed.join().unwrap().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Replaces each `(from, to)` in `bytes`, longest `from` first.
fn normalize(bytes: &[u8], subst: &[(String, String)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (from, to) in subst {
        if from.is_empty() {
            continue;
        }
        let f = from.as_bytes();
        let mut next = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(f) {
                next.extend_from_slice(to.as_bytes());
                i += f.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = next;
    }
    out
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Runs every case on `input` (`base` for the diffs) and returns the
/// hash lines `set/case/what sha256`.
fn run_cases(set: &str, cases: &[Case], input: &Path, base: &Path, work: &Path) -> Vec<String> {
    let mut subst = vec![
        (analyzer().display().to_string(), "$ANALYZER".to_string()),
        (work.display().to_string(), "$WORK".to_string()),
        (samples_dir().display().to_string(), "$SAMPLES".to_string()),
        (
            manifest_dir().display().to_string(),
            "$MANIFEST".to_string(),
        ),
        (kernel_release(), "$KERNEL_RELEASE".to_string()),
    ];
    subst.sort_by_key(|(f, _)| std::cmp::Reverse(f.len()));
    let mut lines = Vec::new();
    for c in cases {
        let out = work.join(format!("{set}-{}", c.name));
        std::fs::create_dir_all(&out).unwrap();
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| {
                a.replace("$IN", &input.display().to_string())
                    .replace("$BASE", &base.display().to_string())
                    .replace("$OUT", &out.display().to_string())
                    .replace("$BIN", &samples_dir().join("bin").display().to_string())
            })
            .collect();
        let o = Command::new(analyzer())
            .args(&args)
            .env_remove("VMON_TIMING")
            .env_remove("NO_COLOR")
            .output()
            .expect("run vmon-analyze");
        let key = format!("{set}/{}", c.name);
        lines.push(format!("{key}/exit {:?}", o.status.code()));
        lines.push(format!(
            "{key}/stdout {}",
            sha256(&normalize(&o.stdout, &subst))
        ));
        // The lines sorted: outputs written side by side report in either order.
        let err = normalize(&o.stderr, &subst);
        let mut err_lines: Vec<&[u8]> = err.split(|&b| b == b'\n').collect();
        err_lines.sort();
        lines.push(format!("{key}/stderr {}", sha256(&err_lines.join(&b'\n'))));
        let mut files = Vec::new();
        files_under(&out, &mut files);
        for f in files {
            let rel = f.strip_prefix(&out).unwrap().display().to_string();
            let bytes = std::fs::read(&f).unwrap();
            lines.push(format!(
                "{key}/{rel} {}",
                sha256(&normalize(&bytes, &subst))
            ));
        }
    }
    lines
}

/// The analyzer under test: this build's, or `VMON_GOLDEN_ANALYZER` (to
/// record the hashes with another build, e.g. the one before a change).
fn analyzer() -> PathBuf {
    std::env::var_os("VMON_GOLDEN_ANALYZER")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_vmon-analyze").into())
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The versions of the compilers vmon-gen builds its workload with.
fn toolchain() -> String {
    let mut all = Vec::new();
    for (cc, arg) in [("gcc", "--version"), ("g++", "--version"), ("rustc", "-V")] {
        let v = Command::new(cc)
            .arg(arg)
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        all.extend_from_slice(&v);
    }
    sha256(&all)[..16].to_string()
}

/// vmon-gen's workload binaries are compiled into one fixed directory
/// (their paths are in the DWARF and in the capture): one run at a time.
static GEN: Mutex<()> = Mutex::new(());

fn generate(out: &Path, args: &[&str]) {
    let _one = GEN.lock().unwrap_or_else(|e| e.into_inner());
    let bins = std::env::temp_dir().join("vmon-golden-bin");
    std::fs::create_dir_all(&bins).unwrap();
    let o = Command::new(vmon_gen())
        .args(args)
        .args(["--kallsyms", "shipped", "--bin-dir"])
        .arg(&bins)
        .arg("-o")
        .arg(out)
        .current_dir(&bins)
        .output()
        .expect("run vmon-gen");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Compares `lines` with the hash file `name` (or rewrites it).
fn check(name: &str, lines: &[String], toolchain: Option<&str>) {
    let path = manifest_dir().join("tests/golden").join(name);
    let mut text = String::new();
    if let Some(t) = toolchain {
        text.push_str(&format!("# toolchain {t}\n"));
    }
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    if std::env::var_os("VMON_GOLDEN_UPDATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (VMON_GOLDEN_UPDATE=1 writes it)", path.display()));
    let want_lines: Vec<&str> = want.lines().collect();
    let got_lines: Vec<&str> = text.lines().collect();
    let changed: Vec<String> = got_lines
        .iter()
        .filter(|l| !want_lines.contains(l))
        .map(|l| format!("  now: {l}"))
        .chain(
            want_lines
                .iter()
                .filter(|l| !got_lines.contains(l))
                .map(|l| format!("  was: {l}")),
        )
        .collect();
    assert!(
        changed.is_empty(),
        "{name}: outputs differ from the recorded ones:\n{}",
        changed.join("\n")
    );
}

/// Whether the generated captures can be compared here: the compilers are
/// those the hashes were recorded with.
fn same_toolchain(name: &str) -> Option<String> {
    let t = toolchain();
    if std::env::var_os("VMON_GOLDEN_UPDATE").is_some() {
        return Some(t);
    }
    let path = manifest_dir().join("tests/golden").join(name);
    let recorded = std::fs::read_to_string(&path).unwrap_or_default();
    if recorded.lines().next() == Some(format!("# toolchain {t}").as_str()) {
        Some(t)
    } else {
        eprintln!(
            "SKIPPED {name}: gcc, g++ or rustc differ from those the hashes were recorded with \
             (vmon-gen's binaries, and so their DWARF, would differ)"
        );
        None
    }
}

#[test]
fn samples_outputs_are_unchanged() {
    let work = work_dir("samples");
    let s = samples_dir();
    let mut lines = Vec::new();
    for (name, base) in [
        ("userstack-6.1.vmt", "loadmon-6.1.vmt"),
        ("helloworld-6.1.vmt", "userstack-6.1.vmt"),
        ("loadmon-6.1.vmt", "helloworld-6.1.vmt"),
    ] {
        lines.extend(run_cases(name, FULL, &s.join(name), &s.join(base), &work));
    }
    // The captured binaries: CFI through the static libc, DWARF lines.
    for name in ["userstack-6.1.vmt", "helloworld-6.1.vmt", "loadmon-6.1.vmt"] {
        lines.extend(run_cases(
            name,
            WITH_BIN,
            &s.join(name),
            &s.join(name),
            &work,
        ));
    }
    check("samples.sha256", &lines, None);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn generated_capture_outputs_are_unchanged() {
    let Some(t) = same_toolchain("gen.sha256") else {
        return;
    };
    let work = work_dir("gen");
    let (a, b) = (work.join("a.vmt"), work.join("b.vmt"));
    generate(
        &a,
        &[
            "--samples",
            "20000",
            "--seed",
            "5",
            "--stacks",
            "300",
            "--raw-stack-bytes",
            "1024",
            "--embed-symbols",
        ],
    );
    generate(&b, &["--samples", "5000", "--seed", "6", "--stacks", "200"]);
    let lines = run_cases("gen", FULL, &a, &b, &work);
    check("gen.sha256", &lines, Some(&t));
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
#[ignore = "about a minute: the benchmark's 10^6-sample capture; run with --ignored"]
fn million_sample_outputs_are_unchanged() {
    let Some(t) = same_toolchain("million.sha256") else {
        return;
    };
    let work = work_dir("million");
    let a = work.join("s1e6.vmt");
    generate(&a, &["--samples", "1000000", "--seed", "7"]);
    let lines = run_cases("million", MILLION, &a, &a, &work);
    check("million.sha256", &lines, Some(&t));
    let _ = std::fs::remove_dir_all(&work);
}
