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
