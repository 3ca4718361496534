//! `--fail-if-share`, `--fail-if-growth` and the change against a base,
//! through the real binary on vmon-gen captures. The expected shares are
//! computed here from `--folded` (every watch, one line per stack) and
//! cross-checked against `--json` top functions, independently of the
//! gate's own code.

mod tools;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use tools::vmon_gen;

/// Two captures with other seeds and stack counts: other shares.
struct Captures {
    a: PathBuf,
    b: PathBuf,
}

fn captures() -> &'static Captures {
    static C: OnceLock<Captures> = OnceLock::new();
    C.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vmon-gates-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bins = dir.join("bin");
        std::fs::create_dir_all(&bins).unwrap();
        let gen = |name: &str, seed: &str, stacks: &str| {
            let out = dir.join(name);
            let o = Command::new(vmon_gen())
                .args(["--samples", "3000", "--stacks", stacks, "--seed", seed])
                .args(["--embed-symbols", "--kallsyms", "shipped", "--bin-dir"])
                .arg(&bins)
                .arg("-o")
                .arg(&out)
                .current_dir(&bins)
                .output()
                .expect("run vmon-gen");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            out
        };
        Captures {
            a: gen("a.vmt", "1", "40"),
            b: gen("b.vmt", "7", "300"),
        }
    })
}

fn analyze(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
        .args(args)
        .arg("--quiet")
        .output()
        .expect("run vmon-analyze")
}

fn run(args: &[&str]) -> Output {
    let v: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    analyze(&v)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Inclusive samples per function and the total, from `--folded`: each
/// stack line counts once for each distinct function on it.
fn shares(vmt: &Path) -> (HashMap<String, u64>, u64) {
    let o = run(&[s(vmt), "--folded"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut m: HashMap<String, u64> = HashMap::new();
    let mut total = 0;
    for l in String::from_utf8(o.stdout).unwrap().lines() {
        let (stack, n) = l.rsplit_once(' ').unwrap();
        let n: u64 = n.parse().unwrap();
        total += n;
        let mut fs: Vec<&str> = stack
            .split(';')
            .map(|f| f.trim_end_matches("_[k]").trim_end_matches("_[i]"))
            .collect();
        fs.sort();
        fs.dedup();
        for f in fs {
            *m.entry(f.to_string()).or_default() += n;
        }
    }
    (m, total)
}

fn pct(n: u64, t: u64) -> f64 {
    100.0 * n as f64 / t as f64
}

/// The function with the largest share that is not on every sample (so
/// no tie with the root frames), and its share.
fn pick(m: &HashMap<String, u64>, t: u64) -> (String, f64) {
    let mut v: Vec<(&String, &u64)> = m.iter().filter(|(_, n)| **n < t).collect();
    v.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
    let (f, n) = v[0];
    (f.clone(), pct(*n, t))
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

#[test]
fn share_gate_fails_just_below_and_passes_just_above_the_share() {
    let c = captures();
    let (m, t) = shares(&c.a);
    let (f, p) = pick(&m, t);
    // As the gate prints its limit back: f64's shortest form.
    let below = format!("{f}>{}%", p - 0.01);
    let above = format!("{f}>{}%", p + 0.01);
    let o = run(&[s(&c.a), "--fail-if-share", &below, "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "--fail-if-share '{below}': {f} has {p:.2}% of the task samples ({} samples)",
            m[&f]
        )),
        "{err}"
    );
    assert!(err.contains("failing (exit 3)"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line per failed gate: {err}");
    let j = json(&o);
    let g = &j["function_gates"][0];
    assert_eq!(g["kind"], "share");
    assert_eq!(g["function"], f.as_str());
    assert_eq!(g["failed"], true);
    assert_eq!(g["checked"][0]["samples"], m[&f]);
    assert!((g["checked"][0]["share_percent"].as_f64().unwrap() - p).abs() < 1e-9);
    assert!((g["limit"].as_f64().unwrap() - (p - 0.01)).abs() < 1e-3);
    // Old keys stay; no --diff: no change.
    assert!(j["gate"].is_null() && j["change"].is_null());

    let o = run(&[s(&c.a), "--fail-if-share", &above, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["function_gates"][0]["failed"], false);

    // Two gates, one failing: exit 3 and one line, for the failing one.
    let o = run(&[
        s(&c.a),
        "--fail-if-share",
        &above,
        "--fail-if-share",
        &below,
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));

    // A function with no samples has 0%: `>0%` passes.
    let o = run(&[s(&c.a), "--fail-if-share", "no_such_function>0%"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn share_is_inclusive_as_the_summary_top_functions() {
    // One watch: the JSON's top function of that watch, over its samples.
    let c = captures();
    let o = run(&[s(&c.a), "--json"]);
    let j = json(&o);
    let w = &j["watches"][0];
    let name = w["name"].as_str().unwrap().to_string();
    let n = w["task_samples"].as_u64().unwrap();
    let top = &w["top_functions"][0];
    let f = top["function"].as_str().unwrap().to_string();
    let p = pct(top["total_samples"].as_u64().unwrap(), n);
    for (limit, code) in [(p - 0.01, 3), (p + 0.01, 0)] {
        let spec = format!("{f}>{limit:.4}%");
        let o = run(&[s(&c.a), "--watch", &name, "--fail-if-share", &spec]);
        assert_eq!(o.status.code(), Some(code), "{spec}: {}", stderr(&o));
    }
}

#[test]
fn any_function_names_the_worst() {
    let c = captures();
    let (m, t) = shares(&c.a);
    // The root frames are on every sample: `*` hits 100%.
    let max = m.values().copied().max().unwrap();
    let worst: Vec<&String> = m
        .iter()
        .filter(|(_, n)| **n == max)
        .map(|(f, _)| f)
        .collect();
    let o = run(&[s(&c.a), "--fail-if-share", "*>99.99%", "--json"]);
    assert_eq!(o.status.code(), Some(if max == t { 3 } else { 0 }));
    let (f, p) = pick(&m, t);
    let spec = format!("*>{:.4}%", p - 0.01);
    let o = run(&[s(&c.a), "--fail-if-share", &spec, "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let j = json(&o);
    let checked = j["function_gates"][0]["checked"].as_array().unwrap();
    let failing = m.values().filter(|n| pct(**n, t) > p - 0.01).count();
    assert_eq!(checked.len(), failing.min(10));
    assert!(checked.iter().all(|x| x["failed"] == true));
    assert_eq!(checked[0]["samples"].as_u64().unwrap(), max, "worst first");
    assert!(
        worst.contains(&&checked[0]["function"].as_str().unwrap().to_string()),
        "{checked:?}"
    );
    assert!(stderr(&o).contains(&format!("{f} has {p:.2}%")) || failing > 5);
    // Above every share: passes, and says the one closest to the limit.
    let o = run(&[s(&c.a), "--fail-if-share", "*>100%", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let j = json(&o);
    assert_eq!(j["function_gates"][0]["checked"][0]["samples"], max);
}

#[test]
fn growth_against_itself_is_one() {
    let c = captures();
    let (m, t) = shares(&c.a);
    let (f, _) = pick(&m, t);
    for (spec, code) in [
        (format!("{f}>1.01x"), 0),
        (format!("{f}>0.99x"), 3),
        ("*>1.01x".to_string(), 0),
        ("*>0.99x".to_string(), 3),
    ] {
        let o = run(&[s(&c.a), "--diff", s(&c.a), "--fail-if-growth", &spec]);
        assert_eq!(o.status.code(), Some(code), "{spec}: {}", stderr(&o));
        if code == 3 && !spec.starts_with('*') {
            assert!(
                stderr(&o).contains(&format!("{f} grew 1.00x")),
                "{}",
                stderr(&o)
            );
        }
    }
    // --baseline is --diff.
    let o = run(&[
        s(&c.a),
        "--baseline",
        s(&c.a),
        "--fail-if-growth",
        &format!("{f}>0.99x"),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn growth_between_two_captures() {
    let c = captures();
    let (mb, tb) = shares(&c.b);
    let (ma, ta) = shares(&c.a);
    // The function in both whose share grew most from b to a.
    let mut grown: Vec<(f64, &String)> = ma
        .iter()
        .filter_map(|(f, n)| {
            let bn = *mb.get(f)?;
            Some((pct(*n, ta) / pct(bn, tb), f))
        })
        .filter(|(g, _)| *g > 1.05)
        .collect();
    grown.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(y.1)));
    let (g, f) = grown[0];
    let below = format!("{f}>{}x", g * 0.999);
    let o = run(&[
        s(&c.a),
        "--diff",
        s(&c.b),
        "--fail-if-growth",
        &below,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{f} grew {g:.2}x ({:.2}% in the base, {:.2}% now)",
            pct(mb[f], tb),
            pct(ma[f], ta)
        )),
        "{err}"
    );
    let j = json(&o);
    let m = &j["function_gates"][0]["checked"][0];
    assert_eq!(m["base_samples"], mb[f]);
    assert_eq!(m["samples"], ma[f]);
    assert!((m["growth"].as_f64().unwrap() - g).abs() < 1e-9);
    let above = format!("{f}>{}x", g * 1.001);
    let o = run(&[s(&c.a), "--diff", s(&c.b), "--fail-if-growth", &above]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_function_absent_from_the_base_grew_infinitely() {
    let c = captures();
    let base = tools::manifest_dir().join("../samples/helloworld-6.1.vmt");
    let (mh, _) = shares(&base);
    let (ma, _) = shares(&c.a);
    let f = ma
        .keys()
        .filter(|f| !mh.contains_key(*f))
        .min()
        .expect("a function of the generated workload that helloworld lacks");
    let spec = format!("{f}>1000000x");
    let o = run(&[
        s(&c.a),
        "--diff",
        s(&base),
        "--fail-if-growth",
        &spec,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("{f} is absent from the base")),
        "{}",
        stderr(&o)
    );
    let j = json(&o);
    let m = &j["function_gates"][0]["checked"][0];
    assert!(m["growth"].is_null());
    assert_eq!(m["base_samples"], 0);
    assert_eq!(m["samples"], ma[f]);
    // Absent from both: nothing grew.
    let o = run(&[
        s(&c.a),
        "--diff",
        s(&base),
        "--fail-if-growth",
        "no_such_function>0x",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn bad_specs_are_usage_errors() {
    let c = captures();
    for (flag, spec, form) in [
        ("--fail-if-share", "FUNC>5", "FUNCTION>PERCENT%"),
        ("--fail-if-share", ">5%", "FUNCTION>PERCENT%"),
        ("--fail-if-share", "FUNC>x%", "FUNCTION>PERCENT%"),
        ("--fail-if-share", "FUNC<5%", "FUNCTION>PERCENT%"),
        ("--fail-if-share", "FUNC>150%", "FUNCTION>PERCENT%"),
        ("--fail-if-growth", "FUNC>x", "FUNCTION>FACTORx"),
        ("--fail-if-growth", "FUNC>2", "FUNCTION>FACTORx"),
        ("--fail-if-growth", "FUNC<2x", "FUNCTION>FACTORx"),
    ] {
        let o = run(&[s(&c.a), "--diff", s(&c.a), flag, spec]);
        assert_eq!(o.status.code(), Some(2), "{flag} {spec}");
        assert!(stderr(&o).contains(form), "{flag} {spec}: {}", stderr(&o));
    }
    // Growth needs a base.
    let o = run(&[s(&c.a), "--fail-if-growth", "f>2x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--diff"), "{}", stderr(&o));
}

#[test]
fn report_shows_the_change_against_the_base() {
    let c = captures();
    let (mb, tb) = shares(&c.b);
    let (ma, ta) = shares(&c.a);
    let dir = std::env::temp_dir().join(format!("vmon-gates-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, _) = pick(&ma, ta);
    let o = run(&[
        s(&c.a),
        "--diff",
        s(&c.b),
        "--report",
        s(&dir),
        "--fail-if-growth",
        &format!("{f}>1000x"),
        "--fail-if-share",
        &format!("{f}>0%"),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("<h2>Change against the base</h2>"));
    assert!(
        html.contains("data=\"diff.svg\""),
        "the differential flamegraph"
    );
    let svg = std::fs::read_to_string(dir.join("diff.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("vmon diff"));
    assert!(html.contains("CI gate PASSED: --fail-if-growth"));
    assert!(html.contains("CI gate FAILED: --fail-if-share"));

    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let gates = j["function_gates"].as_array().unwrap();
    assert_eq!(gates.len(), 2);
    assert_eq!(gates[0]["kind"], "share");
    assert_eq!(gates[0]["failed"], true);
    assert_eq!(gates[1]["kind"], "growth");
    assert_eq!(gates[1]["failed"], false);
    let ch = &j["change"];
    assert_eq!(ch["base_task_samples"], tb);
    assert_eq!(ch["task_samples"], ta);
    // The largest |delta| first, computed here from the folded stacks.
    let mut names: Vec<&String> = ma.keys().chain(mb.keys()).collect();
    names.sort();
    names.dedup();
    let delta = |f: &String| {
        pct(ma.get(f).copied().unwrap_or(0), ta) - pct(mb.get(f).copied().unwrap_or(0), tb)
    };
    let max = names.iter().map(|f| delta(f).abs()).fold(0.0, f64::max);
    let d = ch["deltas"].as_array().unwrap();
    assert_eq!(d.len(), names.len().min(20));
    assert!((d[0]["delta_points"].as_f64().unwrap().abs() - max).abs() < 1e-9);
    for row in d {
        let f = row["function"].as_str().unwrap().to_string();
        assert!((row["delta_points"].as_f64().unwrap() - delta(&f)).abs() < 1e-9);
        assert_eq!(row["samples"], ma.get(&f).copied().unwrap_or(0));
        assert_eq!(row["base_samples"], mb.get(&f).copied().unwrap_or(0));
        assert!(html.contains(&format!("{:+.2}", delta(&f))));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
