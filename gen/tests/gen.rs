//! Runs the generator and checks its capture is realistic and symbolizable.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use object::Object;
use vmon_format::*;

fn generate(dir: &Path, name: &str, extra: &[&str]) -> Vec<u8> {
    let out = dir.join(name);
    let st = Command::new(env!("CARGO_BIN_EXE_vmon-gen"))
        .args([
            "--samples",
            "3000",
            "--stacks",
            "200",
            "--depth",
            "30",
            "--seed",
            "7",
            "-o",
        ])
        .arg(&out)
        .args(extra)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(&out).unwrap()
}

#[test]
fn generated_capture_is_realistic_and_deterministic() {
    let dir = std::env::temp_dir().join(format!("vmon-gen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = generate(&dir, "a.vmt", &["--embed-symbols"]);
    assert_eq!(
        generate(&dir, "a.vmt", &["--embed-symbols"]),
        bytes,
        "same seed, same file"
    );

    let f = VmtFile::from_bytes(&bytes).unwrap();
    assert!(f.is_finished());
    let d = f.decode_with_warnings().unwrap();
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let cap = d.capture;
    assert_eq!(cap.samples.len(), 3000);
    assert!(cap.breaches.len() > 50);
    assert!(cap.kernel_symbols.len() > 1000);
    assert_eq!(
        cap.symbol_tables.len(),
        cap.processes
            .iter()
            .map(|p| cap.str(p.mappings[0].path))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );

    let states: std::collections::HashSet<_> = cap.samples.iter().map(|s| s.state).collect();
    assert!(states.contains(&TaskState::Running) && states.contains(&TaskState::Uninterruptible));

    // Skewed popularity over a few hundred distinct stacks.
    let mut pop: HashMap<(StackId, StackId), usize> = HashMap::new();
    for s in &cap.samples {
        *pop.entry((s.kstack, s.ustack)).or_default() += 1;
    }
    assert!(
        pop.len() > 50 && pop.len() <= 200,
        "{} distinct stacks",
        pop.len()
    );
    assert!(
        *pop.values().max().unwrap() > 3000 / 20,
        "top stack is not popular enough"
    );

    let kmin = cap
        .kernel_symbols
        .iter()
        .map(|k| k.addr)
        .filter(|&a| a != 0)
        .min()
        .unwrap();
    let kmax = cap.kernel_symbols.iter().map(|k| k.addr).max().unwrap();
    let mut build_ids: HashMap<String, Vec<u8>> = HashMap::new();
    for s in &cap.samples {
        let k: Vec<u64> = cap.stacks.frames(s.kstack).collect();
        let u: Vec<u64> = cap.stacks.frames(s.ustack).collect();
        assert!(
            (10..=60).contains(&(k.len() + u.len())),
            "depth {}",
            k.len() + u.len()
        );
        assert!(
            k.iter().all(|&a| a > kmin && a < kmax + 4096),
            "kernel frame outside kallsyms"
        );
        assert_eq!(s.regs.ip, u[0]);
        let p = &cap.processes[s.process.unwrap() as usize];
        assert_eq!(p.tgid, s.tgid);
        let m = &p.mappings[0];
        assert!(
            u.iter().all(|&a| a >= m.start && a < m.end),
            "user frame outside its mapping"
        );
        // The mapping names a real binary with the build-id it records.
        let path = cap.str(m.path).to_string();
        let id = build_ids.entry(path.clone()).or_insert_with(|| {
            let data = std::fs::read(&path).unwrap();
            let obj = object::File::parse(&*data).unwrap();
            assert!(
                obj.section_by_name(".debug_info").is_some(),
                "{path} has no DWARF"
            );
            obj.build_id().unwrap().unwrap().to_vec()
        });
        assert_eq!(&m.build_id, id);
    }
    assert!(build_ids.len() >= 2, "only {:?}", build_ids.keys());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shipped_kallsyms_snapshot_works_anywhere() {
    let dir = std::env::temp_dir().join(format!("vmon-gen-test-ks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = generate(
        &dir,
        "b.vmt",
        &["--kallsyms", "shipped", "--raw-stack-bytes", "64"],
    );
    let cap = VmtFile::from_bytes(&bytes).unwrap().decode().unwrap();
    assert!(cap.kernel_symbols.len() > 5000 && cap.kernel_symbols.len() < 10000);
    assert!(cap
        .meta
        .extra
        .iter()
        .any(|(k, v)| k == "kallsyms_source" && v.contains("fixtures")));
    let names: std::collections::HashSet<&str> =
        cap.kernel_symbols.iter().map(|k| cap.str(k.name)).collect();
    assert!(names.contains("__schedule") && names.contains("do_syscall_64"));
    assert_eq!(cap.raw_stacks.len(), 3000);
    assert!(cap
        .samples
        .iter()
        .all(|s| cap.raw_stacks[s.raw_stack.unwrap() as usize].bytes.len() == 64));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs the generator with its own seed, size and chunking.
fn generate_with(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let out = dir.join(name);
    let st = Command::new(env!("CARGO_BIN_EXE_vmon-gen"))
        .args(["--kallsyms", "shipped", "-o"])
        .arg(&out)
        .args(args)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(&out).unwrap()
}

#[test]
fn kernel_frames_are_never_padding_or_thunks() {
    let dir = std::env::temp_dir().join(format!("vmon-gen-test-pfx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = generate_with(
        &dir,
        "p.vmt",
        &["--samples", "4000", "--stacks", "400", "--all-kallsyms"],
    );
    let cap = VmtFile::from_bytes(&bytes).unwrap().decode().unwrap();
    let mut syms: Vec<(u64, &str)> = cap
        .kernel_symbols
        .iter()
        .filter(|k| matches!(k.kind, b't' | b'T'))
        .map(|k| (k.addr, cap.str(k.name)))
        .collect();
    syms.sort();
    assert!(
        syms.iter().any(|s| s.1.starts_with("__pfx_")),
        "the snapshot has no padding symbols: the test proves nothing"
    );
    let mut frames = 0;
    for s in &cap.samples {
        for a in cap.stacks.frames(s.kstack) {
            let i = syms.partition_point(|k| k.0 <= a);
            assert!(i > 0, "frame {a:#x} below every symbol");
            let name = syms[i - 1].1;
            for bad in ["__pfx_", "__cfi_", "__SCT__", "__x86_indirect_"] {
                assert!(
                    !name.starts_with(bad),
                    "kernel frame {a:#x} symbolizes to {name}"
                );
            }
            frames += 1;
        }
    }
    assert!(frames > 10_000, "{frames} kernel frames");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Streams the samples of `bytes`; returns them with every warning, in the
/// order `decode_with_warnings` gives them.
fn stream(bytes: &[u8]) -> (Vec<TaskSample>, Vec<Warning>) {
    let f = VmtFile::from_bytes(bytes).unwrap();
    let t = f.tables().unwrap();
    let mut s = t.samples();
    let mut out = Vec::new();
    while let Some(b) = s.next_block() {
        assert!(!b.is_empty() && b.len() <= BLOCK);
        for (i, x) in b.iter().enumerate() {
            assert_eq!(b.pid()[i], x.pid);
            assert_eq!(b.kstack()[i], x.kstack);
            assert_eq!(b.process()[i], x.process);
            assert_eq!(b.get(i).as_ref(), Some(&x));
        }
        out.extend(b.iter());
    }
    let report = s.report();
    assert_eq!(report.kept as usize, out.len());
    let mut w = t.warnings().to_vec();
    w.extend(report.warnings());
    (out, w)
}

#[test]
fn streamed_samples_equal_decoded_samples_on_generated_files() {
    let dir = std::env::temp_dir().join(format!("vmon-gen-test-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (seed, n, chunk, extra) in [
        ("1", "5000", "700", &["--raw-stack-bytes", "32"][..]),
        ("2", "2049", "1024", &["--no-compress"][..]),
        (
            "3",
            "3000",
            "16384",
            &["--raw-stack-bytes", "16", "--no-compress"][..],
        ),
        ("4", "257", "256", &[][..]),
    ] {
        let mut args = vec![
            "--samples",
            n,
            "--stacks",
            "300",
            "--seed",
            seed,
            "--chunk-samples",
            chunk,
        ];
        args.extend_from_slice(extra);
        let bytes = generate_with(&dir, &format!("s{seed}.vmt"), &args);
        let d = VmtFile::from_bytes(&bytes)
            .unwrap()
            .decode_with_warnings()
            .unwrap();
        assert!(d.warnings.is_empty(), "seed {seed}: {:?}", d.warnings);
        assert_eq!(d.capture.samples.len(), n.parse::<usize>().unwrap());
        assert!(d.capture.samples.iter().all(|s| s.process.is_some()));
        if extra.contains(&"--raw-stack-bytes") {
            assert!(d.capture.samples.iter().all(|s| s.raw_stack.is_some()));
        }
        let (samples, warnings) = stream(&bytes);
        assert_eq!(samples, d.capture.samples, "seed {seed}");
        assert_eq!(warnings, d.warnings, "seed {seed}");
        // Cut in the middle of the samples: both agree on what is left.
        let cut = &bytes[..bytes.len() * 2 / 3];
        let d = VmtFile::from_bytes(cut)
            .unwrap()
            .decode_with_warnings()
            .unwrap();
        let (samples, warnings) = stream(cut);
        assert_eq!(samples, d.capture.samples, "seed {seed}, cut");
        assert_eq!(warnings, d.warnings, "seed {seed}, cut");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `-o` into a directory that does not exist is an error and creates
/// nothing (it used to create the whole path, `/nonexistent/` included).
#[test]
fn output_in_a_missing_directory_creates_nothing() {
    let dir = std::env::temp_dir().join(format!("vmon-gen-missing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("nonexistent");
    let o = Command::new(env!("CARGO_BIN_EXE_vmon-gen"))
        .arg("-o")
        .arg(missing.join("x.vmt"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!missing.exists(), "created {}", missing.display());
    // --bin-dir with a missing parent: the same.
    let o = Command::new(env!("CARGO_BIN_EXE_vmon-gen"))
        .arg("-o")
        .arg(dir.join("x.vmt"))
        .arg("--bin-dir")
        .arg(missing.join("bin"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!missing.exists(), "created {}", missing.display());
    let _ = std::fs::remove_dir_all(&dir);
}
