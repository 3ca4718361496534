//! `--speedscope` read by the real consumer: the speedscope viewer (its
//! npm package's built files, served on loopback by this test) in headless
//! Chromium loads each watch's profile through `#profileURL=`, and its
//! sandwich view must show the profile's name and, for the functions on
//! screen, the total and self counts vmon's own summary (`--json`) gives
//! for that watch, the top self function first. The file is also checked
//! against the schema the package ships (file-format-schema.json) by
//! python's jsonschema, and for its shape: one profile per watch with
//! samples, as many samples as the watch has, weight 1 each, in
//! breach-time order. On the shipped samples and a generated capture.
//! speedscope's `perf script` importer also reads vmon's `--perf-script`
//! text of the shipped samples: one profile per thread, each named.
//!
//! The test installs what it needs (`npm install speedscope` into
//! ~/.cache/vmon-speedscope, as scripts/install-deps.sh does); without
//! npm, Chromium or jsonschema it fails under CI and is skipped, saying
//! why, outside.

mod tools;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tools::manifest_dir;

/// The speedscope version the test loads (scripts/install-deps.sh installs
/// the same).
const SPEEDSCOPE: &str = "speedscope@1.25.0";

fn skip(why: &str) {
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("SKIPPED: {why}");
}

/// speedscope's built files (index.html and its bundle), installed from
/// npm when missing.
fn speedscope_dist() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("VMON_SPEEDSCOPE_DIST") {
        return Some(PathBuf::from(d));
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    let prefix = home.join(".cache/vmon-speedscope");
    let dist = prefix.join("node_modules/speedscope/dist/release");
    if dist.join("index.html").exists() {
        return Some(dist);
    }
    let o = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg(SPEEDSCOPE)
        .output();
    match o {
        Ok(o) if o.status.success() && dist.join("index.html").exists() => Some(dist),
        Ok(o) => {
            skip(&format!(
                "npm install {SPEEDSCOPE} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
            None
        }
        Err(e) => {
            skip(&format!(
                "no npm ({e}): scripts/install-deps.sh installs nodejs and {SPEEDSCOPE}"
            ));
            None
        }
    }
}

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VMON_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let found = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        skip("no Chromium (install the Debian package `chromium`: scripts/install-deps.sh)");
    }
    found
}

/// Serves the files of `root` on a loopback port for the rest of the test
/// process; returns the port.
fn serve(root: PathBuf) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let path = path.split(['?', '#']).next().unwrap_or("/");
            let rel = path.trim_start_matches('/');
            let file = root.join(if rel.is_empty() { "index.html" } else { rel });
            let (status, body) = match (rel.contains(".."), std::fs::read(&file)) {
                (false, Ok(b)) => ("200 OK", b),
                _ => ("404 Not Found", b"not found".to_vec()),
            };
            let ctype = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("json") => "application/json",
                Some("wasm") => "application/wasm",
                Some("png") => "image/png",
                _ => "application/octet-stream",
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(&body);
        }
    });
    port
}

/// The DOM of `url` as headless Chromium built it.
fn dump_dom(bin: &Path, profile: &Path, url: &str) -> String {
    dump_dom_within(bin, profile, url, 10_000)
}

fn dump_dom_within(bin: &Path, profile: &Path, url: &str, budget_ms: u32) -> String {
    let o = tools::headless_chromium(bin, profile)
        .args(["--window-size=1400,4000", "--dump-dom"])
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(url)
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The sandwich view's DOM once its rows are there: on a loaded machine the
/// virtualised table may still be empty when the first budget runs out, so
/// it is asked again with longer budgets (the assertions stay the same).
fn sandwich_dom(bin: &Path, profile: &Path, url: &str) -> String {
    let mut dom = String::new();
    for budget in [10_000, 30_000, 60_000] {
        dom = dump_dom_within(bin, profile, url, budget);
        if !sandwich_rows(&dom).is_empty() {
            break;
        }
    }
    dom
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// `1,616 (30%)` -> 1616.
fn count(cell: &str) -> Option<u64> {
    cell.split_whitespace()
        .next()?
        .replace(',', "")
        .parse()
        .ok()
}

/// The sandwich view's rows on screen, in the viewer's order (self
/// descending): (function, total, self). A name can be on several rows
/// (functions of one name in several binaries).
fn sandwich_rows(dom: &str) -> Vec<(String, u64, u64)> {
    let mut rows = Vec::new();
    // The sandwich table follows its header (the profile menu is a table too).
    let table = dom.split_once("Symbol Name").map_or("", |(_, t)| t);
    for tr in table.split("<tr").skip(1) {
        let cells: Vec<&str> = tr.split("<td").skip(1).collect();
        if cells.len() < 3 {
            continue;
        }
        let text = |c: &str| -> String {
            let inner = c.split_once('>').map_or("", |(_, r)| r);
            inner.split('<').next().unwrap_or("").to_string()
        };
        let (Some(total), Some(selfc)) = (count(&text(cells[0])), count(&text(cells[1]))) else {
            continue;
        };
        let name_cell = cells[2];
        let name = name_cell
            .split_once("</span>")
            .map_or("", |(_, r)| r)
            .split("</td>")
            .next()
            .unwrap_or("");
        rows.push((unescape(name), total, selfc));
    }
    rows
}

fn analyze_json(input: &Path, out: &Path) -> Value {
    tools::analyze_json(
        input,
        &[
            OsStr::new("-q"),
            OsStr::new("--speedscope"),
            out.as_os_str(),
        ],
    )
}

/// Validates `file` against speedscope's published schema with python's
/// jsonschema (a real validator); false when it cannot run.
fn schema_valid(schema: &Path, file: &Path) -> bool {
    let script = "import json,sys,jsonschema\n\
s=json.load(open(sys.argv[1]))\n\
d=json.load(open(sys.argv[2]))\n\
jsonschema.validators.validator_for(s)(s).validate(d)\n\
print('valid')\n";
    let o = match Command::new("python3")
        .args(["-c", script])
        .arg(schema)
        .arg(file)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            skip(&format!("no python3 for the schema check: {e}"));
            return false;
        }
    };
    let err = String::from_utf8_lossy(&o.stderr);
    if err.contains("No module named 'jsonschema'") {
        skip("python3 has no jsonschema (scripts/install-deps.sh installs it)");
        return false;
    }
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("valid"),
        "{} does not validate against speedscope's schema: {err}",
        file.display()
    );
    true
}

/// Each watch's task samples as `--csv` lists them (watch names are plain
/// in the test inputs), sorted by breach time: their `stack_id`s in the
/// order the watch's profile must follow.
fn stacks_in_breach_order(input: &Path, dir: &Path) -> HashMap<String, Vec<u64>> {
    let csv = dir.join(format!(
        "csv-{}",
        input.file_stem().unwrap().to_string_lossy()
    ));
    let o = Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
        .arg(input)
        .args(["-q", "--csv"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(csv.join("task_samples.csv")).unwrap();
    let _ = std::fs::remove_dir_all(&csv);
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| {
        head.iter()
            .position(|h| *h == n)
            .unwrap_or_else(|| panic!("column {n}: {head:?}"))
    };
    let (w, t, b, st) = (col("watch"), col("time_ns"), col("breach"), col("stack_id"));
    let mut rows: Vec<(String, u64, u64, usize, u64)> = Vec::new();
    for (i, l) in lines.enumerate() {
        let f: Vec<&str> = l.split(',').collect();
        rows.push((
            f[w].trim_matches('"').to_string(),
            f[t].parse().unwrap(),
            f[b].parse().unwrap(),
            i,
            f[st].parse().unwrap(),
        ));
    }
    rows.sort();
    let mut m: HashMap<String, Vec<u64>> = HashMap::new();
    for (w, _, _, _, st) in rows {
        m.entry(w).or_default().push(st);
    }
    m
}

fn check(input: &Path, site: &Path, dist: &Path, bin: Option<&Path>, port: u16) {
    let stem = input.file_stem().unwrap().to_string_lossy().to_string();
    let file = site.join(format!("{stem}.json"));
    let j = analyze_json(input, &file);
    let ss: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    schema_valid(&dist.join("file-format-schema.json"), &file);
    assert_eq!(
        ss["$schema"],
        "https://www.speedscope.app/file-format-schema.json"
    );

    let watches: Vec<&Value> = j["watches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["task_samples"].as_u64().unwrap() > 0)
        .collect();
    let profiles = ss["profiles"].as_array().unwrap();
    assert_eq!(
        profiles.len(),
        watches.len(),
        "{stem}: one profile per watch"
    );
    let nframes = ss["shared"]["frames"].as_array().unwrap().len() as u64;
    let order = stacks_in_breach_order(input, site);
    for (i, (p, w)) in profiles.iter().zip(&watches).enumerate() {
        let wname = w["name"].as_str().unwrap();
        let pname = p["name"].as_str().unwrap();
        assert!(
            pname.starts_with(&format!("watch {wname} ")),
            "{stem}: profile {i} is {pname:?}, watch {wname}"
        );
        assert_eq!(p["type"], "sampled");
        let samples = p["samples"].as_array().unwrap();
        let n = w["task_samples"].as_u64().unwrap();
        assert_eq!(samples.len() as u64, n, "{stem}: {wname}: samples");
        assert_eq!(p["endValue"].as_u64(), Some(n));
        let weights = p["weights"].as_array().unwrap();
        assert_eq!(weights.len() as u64, n);
        assert!(
            weights.iter().all(|x| x.as_u64() == Some(1)),
            "weight 1 each"
        );
        assert!(
            samples
                .iter()
                .flat_map(|s| s.as_array().unwrap())
                .all(|f| f.as_u64().is_some_and(|f| f < nframes)),
            "{stem}: every frame index is in the shared table"
        );

        // Breach-time order: the k-th sample is the k-th of the table's
        // samples sorted by breach time, so one vmon stack is always one
        // speedscope stack along the sequence.
        let ids = &order[wname];
        assert_eq!(ids.len(), samples.len(), "{stem}: {wname}: table samples");
        let mut seen: HashMap<u64, &Value> = HashMap::new();
        for (k, (id, st)) in ids.iter().zip(samples).enumerate() {
            let prev = seen.entry(*id).or_insert(st);
            assert_eq!(
                *prev, st,
                "{stem}: {wname}: sample {k} (stack {id}) out of breach-time order"
            );
        }

        let Some(bin) = bin else { continue };
        // The viewer shows the profile named by activeProfileIndex.
        let mut one = ss.clone();
        one["activeProfileIndex"] = i.into();
        let name = format!("{stem}-{i}.json");
        std::fs::write(site.join(&name), serde_json::to_vec(&one).unwrap()).unwrap();
        let url = format!(
            "http://127.0.0.1:{port}/index.html#profileURL=http%3A%2F%2F127.0.0.1%3A{port}%2F{name}&view=sandwich"
        );
        let dom = sandwich_dom(bin, &site.join(format!("chrome-{stem}-{i}")), &url);
        assert!(
            dom.contains(
                &pname
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            ),
            "{stem}: the viewer does not show the profile {pname:?}:\n{}",
            &dom[..dom.len().min(3000)]
        );
        if profiles.len() > 1 {
            let which = format!("({}/{})", i + 1, profiles.len());
            assert!(
                dom.contains(&which),
                "{stem}: the viewer is not on profile {which}"
            );
        }
        let rows = sandwich_rows(&dom);
        assert!(
            !rows.is_empty(),
            "{stem}: {wname}: no sandwich rows:\n{}",
            &dom[..dom.len().min(3000)]
        );
        let top_self = &w["top_functions_self"][0];
        let want_top = top_self["function"].as_str().unwrap();
        let want_self = top_self["self_samples"].as_u64().unwrap();
        let first = &rows[0];
        assert_eq!(
            first.2, want_self,
            "{stem}: {wname}: the viewer's top self function {first:?}, vmon's {want_top} {want_self}"
        );
        assert!(
            rows.iter().any(|r| r.0 == want_top && r.2 == want_self),
            "{stem}: {wname}: vmon's top self function {want_top} ({want_self}) not shown"
        );
        let last_self = rows.last().map_or(0, |r| r.2);
        let mut checked = 0;
        for key in ["top_functions", "top_functions_self"] {
            for f in w[key].as_array().unwrap() {
                let fname = f["function"].as_str().unwrap();
                let want = (
                    f["total_samples"].as_u64().unwrap(),
                    f["self_samples"].as_u64().unwrap(),
                );
                let named: Vec<(u64, u64)> = rows
                    .iter()
                    .filter(|r| r.0 == fname)
                    .map(|r| (r.1, r.2))
                    .collect();
                let homonyms = ss["shared"]["frames"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|f| f["name"] == fname)
                    .count();
                if named.contains(&want) {
                    checked += 1;
                } else if named.is_empty() || homonyms > 1 {
                    // Off screen (or, for a name of several functions in
                    // several binaries, another row of that name) only if
                    // it sorts below every row shown.
                    assert!(
                        want.1 <= last_self,
                        "{stem}: {wname}: {fname} (self {}) missing from the viewer's rows",
                        want.1
                    );
                } else {
                    panic!(
                        "{stem}: {wname}: {fname} (total, self) {want:?} in vmon, {named:?} in the viewer"
                    );
                }
            }
        }
        let first = &first.0;
        eprintln!("{stem}: {wname}: speedscope shows {pname:?}, top {first}, {checked} counts equal vmon's");
    }
}

/// speedscope also imports `--perf-script` text (its `perf script`
/// importer, one profile per thread): every thread of the text must be a
/// profile, named as speedscope names them, `comm pid: P tid: T`.
fn check_perf_script(input: &Path, site: &Path, bin: &Path, port: u16) {
    let stem = input.file_stem().unwrap().to_string_lossy().to_string();
    let name = format!("{stem}.perf.txt");
    let o = Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
        .arg(input)
        .args(["-q", "--perf-script"])
        .arg(site.join(&name))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(site.join(&name)).unwrap();
    let mut threads = std::collections::BTreeSet::new();
    for l in text.lines().filter(|l| l.ends_with(" 1 task-clock:")) {
        // comm tgid/tid [cpu] time: 1 task-clock:
        let w: Vec<&str> = l.split(' ').collect();
        let at = w.len() - 5;
        let (tgid, tid) = w[at].split_once('/').expect("tgid/tid");
        threads.insert(format!("{} pid: {tgid} tid: {tid}", w[..at].join(" ")));
    }
    assert!(!threads.is_empty(), "{stem}: no events");
    let url = format!(
        "http://127.0.0.1:{port}/index.html#profileURL=http%3A%2F%2F127.0.0.1%3A{port}%2F{name}"
    );
    let dom = dump_dom(bin, &site.join(format!("chrome-{stem}-perf")), &url);
    if threads.len() > 1 {
        let which = format!("(1/{})", threads.len());
        assert!(
            dom.contains(&which),
            "{stem}: speedscope made other than {} thread profiles of the perf script:\n{}",
            threads.len(),
            &dom[..dom.len().min(3000)]
        );
    }
    for t in &threads {
        assert!(
            dom.contains(
                &t.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            ),
            "{stem}: speedscope's perf importer does not show the thread {t:?}:\n{}",
            &dom[..dom.len().min(3000)]
        );
    }
    eprintln!(
        "{stem}: speedscope imports the perf script: {} thread profiles",
        threads.len()
    );
}

#[test]
fn speedscope_shows_the_shipped_samples_and_a_generated_capture_as_vmon_summarizes_them() {
    let Some(dist) = speedscope_dist() else {
        return;
    };
    let bin = chromium();
    let d = std::env::temp_dir().join(format!("vmon-speedscope-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let site = d.join("site");
    std::fs::create_dir_all(&site).unwrap();
    for e in std::fs::read_dir(&dist).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), site.join(e.file_name())).unwrap();
    }
    let port = serve(site.clone());

    let vmt = d.join("gen.vmt");
    tools::gen_capture(&vmt, &["--samples", "20000", "--seed", "5"]);
    let mut inputs: Vec<PathBuf> = ["helloworld-6.1.vmt", "loadmon-6.1.vmt", "userstack-6.1.vmt"]
        .iter()
        .map(|s| manifest_dir().join("../samples").join(s))
        .collect();
    inputs.push(vmt);
    for input in &inputs {
        check(input, &site, &dist, bin.as_deref(), port);
    }
    if let Some(bin) = &bin {
        for input in &inputs[..3] {
            check_perf_script(input, &site, bin, port);
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}
