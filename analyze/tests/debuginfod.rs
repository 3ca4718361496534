//! Symbols from debuginfod (issue 13 item 5), against the real elfutils
//! `debuginfod` server (Debian package `debuginfod`, installed by
//! scripts/install-deps.sh) started here on loopback over directories of
//! vmon-gen's workload binaries, whose recorded paths no longer exist.
//!
//! Asserted: the folded stacks (inlined frames included) fetched by
//! build-id equal those with the files passed by --debug-dir, for a missing
//! binary (`/executable`) and a stripped local one (`/debuginfo`); the
//! cache holds them and a second run works with the server stopped; a
//! server without them, one that never answers (DEBUGINFOD_TIMEOUT=2) and
//! one that sends another build or too large a file each give their line
//! and the capture's embedded symbols; --no-debuginfod asks no server.

mod tools;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tools::vmon_gen;
use vmon_analyze::symbolize::elf::{hex, ElfFile};

const WORKLOADS: [&str; 3] = ["workload", "workload_cpp", "workload_rs"];

/// One analyzer run's outputs.
struct Run {
    folded: String,
    modules: String,
    stderr: String,
    took: Duration,
}

/// Two captures, their binaries served and what local files give.
struct Fixture {
    root: PathBuf,
    /// The directory the servers scan: `a/` holds capture A's binaries
    /// (recorded under root/a-built, now gone), `b/` capture B's unstripped
    /// binaries as NAME.debug (B's recorded ones are stripped in place).
    served: PathBuf,
    vmt_a: PathBuf,
    vmt_b: PathBuf,
    ids_a: Vec<String>,
    ids_b: Vec<String>,
    /// Capture A with --debug-dir served/a.
    local_a: Run,
    /// Capture B with --debug-dir served/b.
    local_b: Run,
    /// Capture A with no files: the embedded symbols.
    embedded_a: Run,
}

fn debuginfod_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join("debuginfod"))
        .find(|p| p.is_file())
}

/// The real server, or a printed reason to skip.
fn have_debuginfod() -> bool {
    if debuginfod_bin().is_some() {
        return true;
    }
    eprintln!(
        "SKIP: the debuginfod server (Debian package debuginfod) is not installed: run scripts/install-deps.sh"
    );
    false
}

fn gen(root: &Path, built: &str, seed: &str) -> PathBuf {
    let bins = root.join(built);
    std::fs::create_dir_all(&bins).unwrap();
    let vmt = root.join(format!("{built}.vmt"));
    let o = Command::new(vmon_gen())
        .args([
            "--samples",
            "3000",
            "--stacks",
            "150",
            "--seed",
            seed,
            "--embed-symbols",
            "--kallsyms",
            "shipped",
            "--bin-dir",
        ])
        .arg(&bins)
        .arg("-o")
        .arg(&vmt)
        .output()
        .expect("run vmon-gen");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    vmt
}

fn build_ids(dir: &Path, suffix: &str) -> Vec<String> {
    WORKLOADS
        .iter()
        .filter_map(|w| ElfFile::open(&dir.join(format!("{w}{suffix}"))))
        .filter_map(|f| f.build_id())
        .map(|b| hex(&b))
        .collect()
}

/// Runs vmon-analyze on `vmt` with `args`, `env` (DEBUGINFOD_* unset
/// otherwise) and writes into a fresh `out` directory.
fn analyze(vmt: &Path, out: &Path, args: &[&str], env: &[(&str, String)]) -> Run {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let folded = out.join("out.folded");
    let mut c = Command::new(env!("CARGO_BIN_EXE_vmon-analyze"));
    c.arg(vmt)
        .arg("--folded")
        .arg(&folded)
        .arg("--csv")
        .arg(out.join("csv"))
        .args(args)
        .stdout(Stdio::null());
    for k in [
        "DEBUGINFOD_URLS",
        "DEBUGINFOD_CACHE_PATH",
        "DEBUGINFOD_TIMEOUT",
        "DEBUGINFOD_MAXSIZE",
        "http_proxy",
        "HTTP_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let t = Instant::now();
    let o = c.output().expect("run vmon-analyze");
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "vmon-analyze failed:\n{stderr}");
    Run {
        folded: std::fs::read_to_string(&folded).unwrap(),
        modules: std::fs::read_to_string(out.join("csv/modules.csv")).unwrap(),
        stderr,
        took,
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = std::env::temp_dir();
        // Runs that ended leave their directory (the tests share it until
        // the process exits): remove those of processes gone.
        for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("vmon-debuginfod-") {
                if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let root = tmp.join(format!("vmon-debuginfod-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let served = root.join("served");
        std::fs::create_dir_all(&served).unwrap();
        // A: built, then moved to where only the server sees it.
        let vmt_a = gen(&root, "a-built", "5");
        std::fs::rename(root.join("a-built"), served.join("a")).unwrap();
        // B: served unstripped as NAME.debug, stripped where recorded.
        let vmt_b = gen(&root, "b-built", "6");
        std::fs::create_dir_all(served.join("b")).unwrap();
        for w in WORKLOADS {
            let bin = root.join("b-built").join(w);
            if !bin.exists() {
                continue;
            }
            std::fs::copy(&bin, served.join("b").join(format!("{w}.debug"))).unwrap();
            let st = Command::new("strip")
                .arg("--strip-debug")
                .arg(&bin)
                .status()
                .expect("run strip (binutils)");
            assert!(st.success());
        }
        let ids_a = build_ids(&served.join("a"), "");
        let ids_b = build_ids(&served.join("b"), ".debug");
        assert!(!ids_a.is_empty() && !ids_b.is_empty());
        assert_eq!(
            ids_b,
            build_ids(&root.join("b-built"), ""),
            "strip kept the build-ids"
        );
        let local_a = analyze(
            &vmt_a,
            &root.join("out-local-a"),
            &["--debug-dir", served.join("a").to_str().unwrap()],
            &[],
        );
        let local_b = analyze(
            &vmt_b,
            &root.join("out-local-b"),
            &["--debug-dir", served.join("b").to_str().unwrap()],
            &[],
        );
        // DEBUGINFOD_URLS set, but --no-debuginfod: no server is asked.
        let embedded_a = analyze(
            &vmt_a,
            &root.join("out-embedded-a"),
            &["--no-debuginfod"],
            &[("DEBUGINFOD_URLS", "http://127.0.0.1:1".into())],
        );
        assert!(
            !embedded_a.stderr.contains("debuginfod:"),
            "{}",
            embedded_a.stderr
        );
        assert!(
            embedded_a
                .stderr
                .contains("using the capture's symbol table"),
            "{}",
            embedded_a.stderr
        );
        // The local files give inlined frames, and so DWARF.
        for r in [&local_a, &local_b] {
            assert!(r.folded.contains("_[i]"), "no inlined frame:\n{}", r.folded);
            assert!(r.modules.contains(",dwarf,"), "{}", r.modules);
        }
        assert!(!embedded_a.folded.contains("_[i]"));
        assert_ne!(local_a.folded, embedded_a.folded);
        Fixture {
            root,
            served,
            vmt_a,
            vmt_b,
            ids_a,
            ids_b,
            local_a,
            local_b,
            embedded_a,
        }
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The HTTP status of GET `path` on 127.0.0.1:`port`, if it answers.
fn status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A child process killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `debuginfod -F` over `dir`, once it serves the debug info of every id
/// in `ready` (or answers at all, when `ready` is empty).
fn debuginfod(dir: &Path, name: &str, ready: &[String]) -> Server {
    let f = fixture();
    let port = free_port();
    let log = std::fs::File::create(f.root.join(format!("{name}.log"))).unwrap();
    let child = Command::new(debuginfod_bin().unwrap())
        .arg("-F")
        .arg("-p")
        .arg(port.to_string())
        .arg("-d")
        .arg(f.root.join(format!("{name}.sqlite")))
        .arg(dir)
        // Not a federating server: it must not ask others for misses.
        .env_remove("DEBUGINFOD_URLS")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start debuginfod");
    let server = Server { child, port };
    let t = Instant::now();
    loop {
        let up = match ready {
            [] => status(port, "/metrics").is_some(),
            ids => ids
                .iter()
                .all(|id| status(port, &format!("/buildid/{id}/debuginfo")) == Some(200)),
        };
        if up {
            eprintln!("{name}: debuginfod ready in {:?}", t.elapsed());
            return server;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "debuginfod did not serve {ready:?} within 30 s; see {name}.log"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cache_files(cache: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for d in std::fs::read_dir(cache).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            v.push(format!(
                "{}/{}",
                d.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            ));
        }
    }
    v.sort();
    v
}

#[test]
fn fetched_symbols_equal_local_ones_and_are_cached_for_offline_runs() {
    if !have_debuginfod() {
        return;
    }
    let f = fixture();
    let all: Vec<String> = f.ids_a.iter().chain(&f.ids_b).cloned().collect();
    let mut server = debuginfod(&f.served, "full", &all);
    let cache = f.root.join("cache-full");
    let env = |url: String| {
        vec![
            ("DEBUGINFOD_URLS", url),
            ("DEBUGINFOD_CACHE_PATH", cache.display().to_string()),
        ]
    };

    // A: no binary at all; its executable (with DWARF) is fetched.
    let a = analyze(
        &f.vmt_a,
        &f.root.join("out-full-a"),
        &[],
        &env(server.url()),
    );
    assert_eq!(a.folded, f.local_a.folded, "{}", a.stderr);
    assert!(!a.stderr.contains("debuginfod:"), "{}", a.stderr);
    for id in &f.ids_a {
        let p = cache.join(id).join("executable");
        assert!(p.is_file(), "{} not cached", p.display());
        assert!(
            a.modules
                .contains(&format!("{},user,dwarf,{}", id, p.display())),
            "{}",
            a.modules
        );
    }
    // B: the stripped local binary is used, its debug info fetched.
    let b = analyze(
        &f.vmt_b,
        &f.root.join("out-full-b"),
        &[],
        &env(server.url()),
    );
    assert_eq!(b.folded, f.local_b.folded, "{}", b.stderr);
    for id in &f.ids_b {
        let p = cache.join(id).join("debuginfo");
        assert!(p.is_file(), "{} not cached", p.display());
        assert!(!cache.join(id).join("executable").exists());
        assert!(
            b.modules
                .contains(&format!("{},user,dwarf,{}", id, p.display())),
            "{}",
            b.modules
        );
    }
    let files = cache_files(&cache);
    assert!(
        files.iter().all(|n| !n.contains("/.")),
        "temporary files left: {files:?}"
    );
    eprintln!(
        "fetched: A {:?}, B {:?} (local: A {:?}, B {:?})",
        a.took, b.took, f.local_a.took, f.local_b.took
    );

    // Server stopped: the cache alone gives the same output, asking no one.
    server.stop();
    let url = server.url();
    let a2 = analyze(
        &f.vmt_a,
        &f.root.join("out-full-a2"),
        &[],
        &env(url.clone()),
    );
    assert_eq!(a2.folded, f.local_a.folded);
    assert!(!a2.stderr.contains("debuginfod:"), "{}", a2.stderr);
    let b2 = analyze(&f.vmt_b, &f.root.join("out-full-b2"), &[], &env(url));
    assert_eq!(b2.folded, f.local_b.folded);
    eprintln!("cached: A {:?}, B {:?}", a2.took, b2.took);

    // A cached file of another build is not used: re-fetched (here the
    // server is down, so the embedded symbols).
    let id = &f.ids_a[0];
    std::fs::copy(
        cache.join(&f.ids_b[0]).join("debuginfo"),
        cache.join(id).join("executable"),
    )
    .unwrap();
    let a3 = analyze(
        &f.vmt_a,
        &f.root.join("out-full-a3"),
        &[],
        &env(server.url()),
    );
    assert!(
        a3.stderr
            .contains(&format!("is not build-id {id}; fetching it again")),
        "{}",
        a3.stderr
    );
    assert!(a3.stderr.contains("not asking it again"), "{}", a3.stderr);
}

#[test]
fn a_server_without_the_files_says_so_once_per_module_and_embedded_symbols_are_used() {
    if !have_debuginfod() {
        return;
    }
    let f = fixture();
    let empty = f.root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let server = debuginfod(&empty, "empty", &[]);
    // First a port where nothing listens: unreachable, said once.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let cache = f.root.join("cache-empty");
    let r = analyze(
        &f.vmt_a,
        &f.root.join("out-empty"),
        &[],
        &[
            ("DEBUGINFOD_URLS", format!("{closed} {}", server.url())),
            ("DEBUGINFOD_CACHE_PATH", cache.display().to_string()),
        ],
    );
    assert_eq!(r.folded, f.embedded_a.folded, "{}", r.stderr);
    for id in &f.ids_a {
        let line = format!(
            "debuginfod: no debug info for build-id {id} at {} (404)",
            server.url()
        );
        assert_eq!(r.stderr.matches(&line).count(), 1, "{line}:\n{}", r.stderr);
    }
    let down = r
        .stderr
        .lines()
        .filter(|l| l.contains(&closed))
        .collect::<Vec<_>>();
    assert_eq!(down.len(), 1, "{}", r.stderr);
    assert!(
        down[0].contains("unreachable") && down[0].contains("not asking it again"),
        "{}",
        down[0]
    );
    assert!(
        r.stderr.contains("using the capture's symbol table"),
        "{}",
        r.stderr
    );
    assert!(cache_files(&cache).is_empty());
    eprintln!("404s took {:?}", r.took);
}

#[test]
fn a_server_that_never_answers_times_out_once() {
    let f = fixture();
    // Connections complete in the kernel's backlog; nothing ever answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let r = analyze(
        &f.vmt_a,
        &f.root.join("out-silent"),
        &[],
        &[
            ("DEBUGINFOD_URLS", url.clone()),
            ("DEBUGINFOD_TIMEOUT", "2".into()),
            (
                "DEBUGINFOD_CACHE_PATH",
                f.root.join("cache-silent").display().to_string(),
            ),
        ],
    );
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("debuginfod:"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].contains(&format!("{url} timed out after 2 s"))
            && lines[0].contains("not asking it again"),
        "{}",
        lines[0]
    );
    assert_eq!(r.folded, f.embedded_a.folded);
    assert!(r.took < Duration::from_secs(15), "took {:?}", r.took);
    eprintln!("timeout run took {:?}", r.took);
    drop(silent);
}

#[test]
fn a_server_sending_another_build_is_refused() {
    let f = fixture();
    // A plain HTTP server answering every GET with capture B's C workload.
    let wrong = f.served.join("b/workload.debug");
    let wrong_id = hex(&ElfFile::open(&wrong).unwrap().build_id().unwrap());
    let script = r#"
import http.server, sys
data = open(sys.argv[1], 'rb').read()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&wrong)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    let mut port = String::new();
    let mut out = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        port.push(byte[0] as char);
    }
    let mut server = Server {
        child,
        port: port.trim().parse().expect("python3 printed its port"),
    };
    let cache = f.root.join("cache-wrong");
    let r = analyze(
        &f.vmt_a,
        &f.root.join("out-wrong"),
        &[],
        &[
            ("DEBUGINFOD_URLS", server.url()),
            ("DEBUGINFOD_CACHE_PATH", cache.display().to_string()),
        ],
    );
    // Over DEBUGINFOD_MAXSIZE: refused, whatever it holds.
    let small = analyze(
        &f.vmt_a,
        &f.root.join("out-wrong-small"),
        &[],
        &[
            ("DEBUGINFOD_URLS", server.url()),
            ("DEBUGINFOD_CACHE_PATH", cache.display().to_string()),
            ("DEBUGINFOD_MAXSIZE", "1000".into()),
        ],
    );
    server.stop();
    assert!(
        small
            .stderr
            .contains("bytes is over the 1000-byte limit (DEBUGINFOD_MAXSIZE)"),
        "{}",
        small.stderr
    );
    assert_eq!(small.folded, f.embedded_a.folded);
    assert_eq!(r.folded, f.embedded_a.folded, "{}", r.stderr);
    for id in &f.ids_a {
        for what in ["executable", "debuginfo"] {
            let line = format!(
                "debuginfod: refused {}/buildid/{id}/{what}: it sent build-id {wrong_id}",
                server.url()
            );
            assert!(r.stderr.contains(&line), "{line}:\n{}", r.stderr);
        }
    }
    assert!(cache_files(&cache).is_empty(), "{:?}", cache_files(&cache));
}
