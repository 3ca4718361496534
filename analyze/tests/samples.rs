//! The real captures committed in samples/ (made by vmon-capture in a booted
//! Debian 6.1 kernel, see samples/README.md) analyze to what the programs did:
//! the binaries are not needed, the captures carry their symbol tables and
//! the kernel's kallsyms.

use std::path::PathBuf;
use std::process::Command;

fn sample(name: &str) -> PathBuf {
    manifest_dir().join("../samples").join(name)
}

/// Runs vmon-analyze with ARGS on the sample and returns its stdout.
fn analyze(name: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
        .arg(sample(name))
        .args(args)
        .output()
        .expect("run vmon-analyze");
    assert!(
        out.status.success(),
        "vmon-analyze {name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Sum of the counts of the folded lines that contain every one of `parts`.
fn folded_count(folded: &str, parts: &[&str]) -> u64 {
    folded
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum()
}

#[test]
fn userstack_sample_has_the_recursion_down_to_the_kernel_nanosleep_path() {
    let folded = analyze("userstack-6.1.vmt", &["--watch", "userstack", "--folded"]);
    let chain = "main;customFunction1;customFunction2;customFunction3;customFunction1;\
                 customFunction2;customFunction3;customFunction1;customFunction2;\
                 customFunction3;customFunction1;customFunction2;customFunction3;bottom_sleep;";
    // One breach, and the sleeping main thread is sampled once in it.
    assert_eq!(
        folded_count(
            &folded,
            &[
                chain,
                "__x64_sys_nanosleep_[k];hrtimer_nanosleep_[k];do_nanosleep_[k]"
            ]
        ),
        1,
        "{folded}"
    );
    let summary = analyze("userstack-6.1.vmt", &[]);
    assert!(
        summary.contains("== watch userstack > 0 (user): 1 breaches"),
        "{summary}"
    );
}

#[test]
fn helloworld_sample_holds_one_dump_of_watch_hw0() {
    // 2049 watches on one timer breach within dump_reset_sec: one dump.
    let summary = analyze("helloworld-6.1.vmt", &[]);
    let heads: Vec<&str> = summary
        .lines()
        .filter(|l| l.starts_with("== watch "))
        .collect();
    assert_eq!(heads.len(), 1, "{summary}");
    assert!(
        heads[0].starts_with("== watch hw0 > 100 (user): 1 breaches"),
        "{summary}"
    );
    // Without the binary: the embedded symbol table names the libc frame.
    let folded = analyze("helloworld-6.1.vmt", &["--comm", "helloworld", "--folded"]);
    assert!(
        folded_count(&folded, &["clock_nanosleep;", "do_nanosleep_[k]"]) >= 1,
        "{folded}"
    );
    // With it (samples/bin, same build-id): its CFI unwinds the static libc
    // frames from the raw stack bytes up to main.
    let bin = sample("bin");
    let bin = bin.to_str().expect("utf-8 path");
    let folded = analyze(
        "helloworld-6.1.vmt",
        &["--comm", "helloworld", "--debug-dir", bin, "--folded"],
    );
    assert!(
        folded_count(
            &folded,
            &[";main;nanosleep;clock_nanosleep;", "do_nanosleep_[k]"]
        ) >= 1,
        "{folded}"
    );
}

#[test]
fn loadmon_sample_has_running_and_uninterruptible_loadgen_tasks() {
    let summary = analyze("loadmon-6.1.vmt", &[]);
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("== watch load1") && l.contains("(kernel:avenrun): 1 breaches")),
        "{summary}"
    );
    let r = analyze(
        "loadmon-6.1.vmt",
        &["--state", "R", "--comm", "vmon_busy", "--folded"],
    );
    assert!(folded_count(&r, &[""]) >= 1, "no R vmon_busy sample: {r}");
    let d = analyze(
        "loadmon-6.1.vmt",
        &["--state", "D", "--comm", "vmon_dwait", "--folded"],
    );
    assert!(
        folded_count(&d, &["_[k]"]) >= 1,
        "no D vmon_dwait sample: {d}"
    );
}

/// vmon-capture in that capture is a static-pie linked by lld, absent from
/// this machine: its frames come from the capture's embedded symbol table,
/// whose addresses sit one page above the file offsets. Its poll(2) wait
/// must be named `poll`, not the `open64` one page below.
#[test]
fn loadmon_sample_names_vmon_captures_poll_through_its_embedded_symbols() {
    let all = analyze("loadmon-6.1.vmt", &["--folded"]);
    let polls: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("__x64_sys_poll_[k]"))
        .collect();
    assert!(!polls.is_empty(), "no poll(2) stack: {all}");
    for l in &polls {
        assert!(
            l.starts_with("poll;"),
            "user frame of the poll(2) stack: {l}"
        );
    }
    assert_eq!(folded_count(&all, &["open64"]), 0, "{all}");
}

/// The crate's directory, read when the test runs: a test binary built in
/// another checkout sharing the target directory stays "fresh" for cargo,
/// and the compile-time path would point into that other checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}
