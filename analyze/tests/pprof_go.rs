//! `--pprof` read by the real consumer, `go tool pprof` (Debian's
//! golang-go, installed by scripts/install-deps.sh): on the shipped samples
//! and a generated 10^5-sample capture, its totals (`-top`, `-traces`,
//! `-raw`), the flat and cumulative counts of vmon's top functions per
//! watch, and the label values (`-tags`) equal vmon's own summary (`--json`).
//! Without `go` the test fails under CI and is skipped, saying why, outside.

mod tools;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use tools::manifest_dir;

use serde_json::Value;

fn go_available() -> bool {
    match Command::new("go").arg("version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "go is missing: scripts/install-deps.sh installs golang-go"
            );
            eprintln!(
                "SKIPPED: no `go` (install the Debian package golang-go: scripts/install-deps.sh)"
            );
            false
        }
    }
}

fn pprof(args: &[&str], file: &Path) -> String {
    let o = Command::new("go")
        .args(["tool", "pprof"])
        .args(args)
        .arg(file)
        .env("PPROF_BINARY_PATH", "/nonexistent")
        .output()
        .expect("run go tool pprof");
    assert!(
        o.status.success(),
        "go tool pprof {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

/// `vmon-analyze INPUT --json --pprof OUT`: the summary.
fn analyze(input: &Path, out: &Path) -> Value {
    tools::analyze_json(input, &[OsStr::new("--pprof"), out.as_os_str()])
}

/// `-top` rows: function name -> (flat, cum); and the total.
fn top(out: &str) -> (HashMap<String, (u64, u64)>, u64) {
    let mut rows = HashMap::new();
    let mut total = None;
    for l in out.lines() {
        if let Some(rest) = l.trim().strip_prefix("Showing nodes accounting for ") {
            // "X, Y% of Z total"
            let z = rest
                .split(" of ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next());
            total = z.and_then(count);
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 6 || !f[1].ends_with('%') || !f[4].ends_with('%') {
            continue;
        }
        let (Some(flat), Some(cum)) = (count(f[0]), count(f[3])) else {
            continue;
        };
        let name = f[5..].join(" ");
        let name = name.strip_suffix(" (inline)").unwrap_or(&name).to_string();
        let e = rows.entry(name).or_insert((0, 0));
        e.0 += flat;
        e.1 = e.1.max(cum);
    }
    (rows, total.expect("-top prints its total"))
}

/// Sum of the sample values in `-raw`.
fn raw_total(out: &str) -> u64 {
    let mut in_samples = false;
    let mut sum = 0;
    for l in out.lines() {
        if l.starts_with("Samples:") {
            in_samples = true;
            continue;
        }
        if l.starts_with("Locations") || l.starts_with("Mappings") {
            in_samples = false;
        }
        if !in_samples {
            continue;
        }
        if let Some((v, _)) = l.split_once(':') {
            if let Ok(n) = v.trim().parse::<u64>() {
                sum += n;
            }
        }
    }
    sum
}

/// Sum of the per-sample counts in `-traces` (the number on the first
/// line after each separator that starts with one).
fn traces_total(out: &str) -> u64 {
    let mut sum = 0;
    let mut want = false;
    for l in out.lines() {
        if l.starts_with("-----------+") {
            want = true;
            continue;
        }
        if want {
            if let Some(n) = l.split_whitespace().next().and_then(count) {
                sum += n;
                want = false;
            }
        }
    }
    sum
}

/// A count as pprof prints it (`4`, or `4.0` in `-tags`).
fn count(w: &str) -> Option<u64> {
    let v = w.parse::<f64>().ok()?;
    (v >= 0.0 && v.fract() == 0.0).then_some(v as u64)
}

/// `-tags` for one key: value -> count.
fn tags(out: &str, key: &str) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    let mut on = false;
    for l in out.lines() {
        let t = l.trim();
        // a key's header: "KEY: Total N"
        if let Some((k, n)) = t.split_once(": Total ") {
            if !k.contains(' ') && count(n).is_some() {
                on = k == key;
                continue;
            }
        }
        if !on || t.is_empty() {
            continue;
        }
        // "N (P%): VALUE"
        if let Some((n, rest)) = t.split_once(' ') {
            if let (Some(n), Some((_, v))) = (count(n), rest.split_once("): ")) {
                m.insert(v.to_string(), n);
            }
        }
    }
    m
}

fn regex_quote(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

fn check(input: &Path, dir: &Path) {
    let stem = input.file_stem().unwrap().to_string_lossy().to_string();
    let pb = dir.join(format!("{stem}.pb.gz"));
    let j = analyze(input, &pb);
    let total = j["task_samples"].as_u64().unwrap();
    assert!(total > 0, "{stem}: no samples");
    let all = ["-nodecount=1000000", "-nodefraction=0", "-edgefraction=0"];

    let (_, top_total) = top(&pprof(&[&["-top"], &all[..]].concat(), &pb));
    assert_eq!(top_total, total, "{stem}: -top total");
    assert_eq!(
        raw_total(&pprof(&["-raw"], &pb)),
        total,
        "{stem}: -raw total"
    );
    assert_eq!(
        traces_total(&pprof(&["-traces"], &pb)),
        total,
        "{stem}: -traces total"
    );

    let tag_out = pprof(&["-tags"], &pb);
    let mut comms: HashMap<String, u64> = HashMap::new();
    let mut states: HashMap<String, u64> = HashMap::new();
    let mut watches: HashMap<String, u64> = HashMap::new();
    for w in j["watches"].as_array().unwrap() {
        let name = w["name"].as_str().unwrap();
        let n = w["task_samples"].as_u64().unwrap();
        if n == 0 {
            continue;
        }
        *watches.entry(name.to_string()).or_default() += n;
        for c in w["comms"].as_array().unwrap() {
            *comms
                .entry(c["comm"].as_str().unwrap().to_string())
                .or_default() += c["samples"].as_u64().unwrap();
        }
        for s in w["states"].as_array().unwrap() {
            *states
                .entry(s["state"].as_str().unwrap().to_string())
                .or_default() += s["samples"].as_u64().unwrap();
        }
        // this watch's top functions, cumulative and self
        // (the total -top prints under -tagfocus is the whole profile's)
        let (rows, _) = top(&pprof(
            &[
                &["-top"],
                &all[..],
                &["-tagfocus", &format!("watch=^{}$", regex_quote(name))],
            ]
            .concat(),
            &pb,
        ));
        for key in ["top_functions", "top_functions_self"] {
            for f in w[key].as_array().unwrap() {
                let fname = f["function"].as_str().unwrap();
                let got = rows.get(fname).copied();
                let want = (
                    f["self_samples"].as_u64().unwrap(),
                    f["total_samples"].as_u64().unwrap(),
                );
                assert_eq!(
                    got,
                    Some(want),
                    "{stem}: watch {name}: {key} {fname} (flat, cum)"
                );
            }
        }
    }
    assert_eq!(tags(&tag_out, "watch"), watches, "{stem}: watch labels");
    assert_eq!(tags(&tag_out, "comm"), comms, "{stem}: comm labels");
    assert_eq!(tags(&tag_out, "state"), states, "{stem}: state labels");
    for key in ["breach", "pid", "tid", "cgroup"] {
        let sum: u64 = tags(&tag_out, key).values().sum();
        assert_eq!(sum, total, "{stem}: every sample has a {key} label");
    }
    eprintln!(
        "{stem}: {total} task samples, {} watches: go tool pprof agrees",
        watches.len()
    );
}

fn tmpdir(name: &str) -> PathBuf {
    tools::fresh_dir(&format!("vmon-pprof-{name}"))
}

#[test]
fn go_tool_pprof_reads_the_shipped_samples_as_vmon_summarizes_them() {
    if !go_available() {
        return;
    }
    let d = tmpdir("samples");
    for s in ["helloworld-6.1.vmt", "loadmon-6.1.vmt", "userstack-6.1.vmt"] {
        check(&manifest_dir().join("../samples").join(s), &d);
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn go_tool_pprof_reads_a_generated_capture_of_100k_samples() {
    if !go_available() {
        return;
    }
    let d = tmpdir("gen");
    let vmt = d.join("gen100k.vmt");
    tools::gen_capture(&vmt, &["--samples", "100000", "--seed", "7"]);
    check(&vmt, &d);
    let _ = std::fs::remove_dir_all(&d);
}
