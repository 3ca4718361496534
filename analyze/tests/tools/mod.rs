//! Where the integration tests find the crate and the sibling binaries
//! they drive, and how they run the real consumers (shared by the test
//! crates that `mod tools;`; not each uses every helper).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// analyze/, at run time when cargo says so, else where it was built.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

/// `vmon-gen`, built beside this test's vmon-analyze (the workspace's
/// `cargo test` builds it; a `-p vmon-analyze` run builds it here).
pub fn vmon_gen() -> PathBuf {
    let analyze = PathBuf::from(env!("CARGO_BIN_EXE_vmon-analyze"));
    let gen = analyze.with_file_name("vmon-gen");
    if !gen.exists() {
        let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "-p", "vmon-gen"])
            .current_dir(manifest_dir())
            .status()
            .expect("run cargo");
        assert!(st.success(), "building vmon-gen");
    }
    gen
}

/// Headless Chromium with a fresh profile in `profile` and the flags this
/// machine's closed network needs (no background connections, no QUIC).
#[allow(dead_code)]
pub fn headless_chromium(bin: &Path, profile: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// `vmon-analyze INPUT --json ARGS...`, which must succeed: its summary.
#[allow(dead_code)]
pub fn analyze_json<S: AsRef<OsStr>>(input: &Path, args: &[S]) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
        .arg(input)
        .arg("--json")
        .args(args)
        .output()
        .expect("run vmon-analyze");
    assert!(
        o.status.success(),
        "vmon-analyze {}: {}",
        input.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("--json is JSON")
}

/// An empty directory under the system temp dir, named for the test and
/// this process (what an earlier run left there is removed).
#[allow(dead_code)]
pub fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `vmon-gen ARGS... --kallsyms shipped -o OUT`, which must succeed.
#[allow(dead_code)]
pub fn gen_capture(out: &Path, args: &[&str]) {
    let o = Command::new(vmon_gen())
        .args(args)
        .args(["--kallsyms", "shipped", "-o"])
        .arg(out)
        .output()
        .expect("run vmon-gen");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
