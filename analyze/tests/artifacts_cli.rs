//! The table, report and gate options, through the real binary on a capture
//! written with the format crate.

mod fixture;

use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vmon-artifacts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn analyze(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
        .args(args)
        .output()
        .expect("run vmon-analyze")
}

#[test]
fn csv_report_and_gate() {
    let d = tmp("gate");
    let vmt = d.join("run.vmt");
    fixture::write(&vmt, 12);
    let csv = d.join("csv");
    let report = d.join("report");
    let out = analyze(&[
        vmt.as_os_str(),
        "--csv".as_ref(),
        csv.as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
        "--fail-if-breaches".as_ref(),
        "10".as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 12 + 6 breaches > 10: the gate fails with its own status.
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("18 breaches, more than the 10 allowed"),
        "{stderr}"
    );

    let read = |t: &str| std::fs::read_to_string(csv.join(format!("{t}.csv"))).unwrap();
    assert_eq!(read("breaches").lines().count(), 1 + 18);
    // 12 breaches x 5 tasks + 6 x 4.
    assert_eq!(read("task_samples").lines().count(), 1 + 84);
    let functions = read("functions");
    let first = functions.lines().nth(1).unwrap();
    // Every sample of the first watch and most of the second run under main.
    assert!(
        first.starts_with("main,vmon-demo-app,false,"),
        "{functions}"
    );
    assert!(functions.contains("io_schedule,"), "{functions}");
    let modules = read("modules");
    assert!(
        modules.contains("vmon-demo-app,/usr/bin/vmon-demo-app,deadbeef,user,embedded,"),
        "{modules}"
    );

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["breaches"], 18);
    assert_eq!(json["task_samples"], 84);
    assert_eq!(json["gate"]["failed"], true);
    assert_eq!(json["watches"][0]["name"], "load_avg");
    assert_eq!(json["watches"][0]["worst_value"], 7);
    assert_eq!(json["watches"][1]["worst_value"], 0);
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("CI gate FAILED"));
    assert!(
        html.contains("data=\"flame-1-"),
        "flamegraphs are files beside index.html"
    );
    assert!(
        !html.contains("src=\"http"),
        "the report must not load anything"
    );

    // A gate with room passes.
    let out = analyze(&[
        vmt.as_os_str(),
        "--fail-if-breaches".as_ref(),
        "18".as_ref(),
        "--csv".as_ref(),
        csv.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[cfg(feature = "polars")]
#[test]
fn query_and_parquet() {
    let d = tmp("query");
    let vmt = d.join("run.vmt");
    fixture::write(&vmt, 4);
    let out = analyze(&[
        vmt.as_os_str(),
        "--query".as_ref(),
        "SELECT state, COUNT(*) AS n FROM task_samples GROUP BY state ORDER BY state".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 4 breaches x (3 R + 2 D) + 2 x (1 R + 3 D).
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "state,n\nD,14\nR,14\n"
    );

    let pq = d.join("pq");
    let out = analyze(&[vmt.as_os_str(), "--parquet".as_ref(), pq.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::metadata(pq.join("task_samples.parquet"))
            .unwrap()
            .len()
            > 100
    );

    let out = analyze(&[
        vmt.as_os_str(),
        "--query".as_ref(),
        "SELECT nope FROM task_samples".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("query failed"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[cfg(not(feature = "polars"))]
#[test]
fn without_polars_csv_works_and_query_explains() {
    let d = tmp("nopolars");
    let vmt = d.join("run.vmt");
    fixture::write(&vmt, 4);
    let csv = d.join("csv");
    let out = analyze(&[vmt.as_os_str(), "--csv".as_ref(), csv.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(csv.join("task_samples.csv"))
            .unwrap()
            .lines()
            .count(),
        1 + 28
    );
    let out = analyze(&[vmt.as_os_str(), "--query".as_ref(), "SELECT 1".as_ref()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`polars` cargo feature"));
    std::fs::remove_dir_all(&d).unwrap();
}
