//! Where the integration tests find the crate and the sibling binaries
//! they drive (shared by golden.rs, pprof_go.rs and report_browser.rs).

use std::path::PathBuf;
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
