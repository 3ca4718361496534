//! Fetching a module's executable or debug info by build-id from the
//! debuginfod servers in `DEBUGINFOD_URLS` (the elfutils protocol:
//! `GET URL/buildid/HEX/debuginfo` and `.../executable`).
//!
//! Files land in the elfutils client cache (`$DEBUGINFOD_CACHE_PATH`, else
//! `$XDG_CACHE_HOME/debuginfod_client`, else `~/.cache/debuginfod_client`)
//! as `CACHE/HEX/debuginfo` and `CACHE/HEX/executable`, written to a
//! temporary file and renamed, so a run killed mid-transfer never leaves a
//! half file. Whatever a server or the cache holds is hostile input: a file
//! is used only once it parses as ELF with the build-id asked for.
//!
//! A server that times out or cannot be reached is not asked again in the
//! same run; one line says so. A server without the file (404) gets one
//! line per module.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::elf::{hex, ElfFile};

/// The whole-transfer timeout when `DEBUGINFOD_TIMEOUT` is unset (elfutils'
/// default is 90 s too, for the first bytes).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);
/// The connect timeout (or the whole timeout when that is shorter).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest file accepted when `DEBUGINFOD_MAXSIZE` is unset.
pub const DEFAULT_MAX_SIZE: u64 = 4 << 30;

/// Why a client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("debuginfod: no cache directory: set DEBUGINFOD_CACHE_PATH, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    #[error("debuginfod: DEBUGINFOD_{name}={value:?} is not a number")]
    BadNumber { name: &'static str, value: String },
}

/// What to fetch for a build-id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Artifact {
    /// The separate debug file (or an unstripped binary).
    Debuginfo,
    /// The executable or shared library itself.
    Executable,
}

impl Artifact {
    fn as_str(self) -> &'static str {
        match self {
            Artifact::Debuginfo => "debuginfo",
            Artifact::Executable => "executable",
        }
    }
}

struct Server {
    url: String,
    /// Timed out or unreachable once: not asked again.
    dead: AtomicBool,
}

/// A debuginfod client: servers, cache, limits. `Sync`: modules resolve in
/// parallel.
pub struct Client {
    servers: Vec<Server>,
    cache: PathBuf,
    timeout: Duration,
    max_size: u64,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field(
                "servers",
                &self.servers.iter().map(|s| &s.url).collect::<Vec<_>>(),
            )
            .field("cache", &self.cache)
            .field("timeout", &self.timeout)
            .field("max_size", &self.max_size)
            .finish()
    }
}

/// Temporary file names unique within the process.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_number(name: &'static str) -> Result<Option<u64>, Error> {
    match env(&format!("DEBUGINFOD_{name}")) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Error::BadNumber { name, value: v }),
    }
}

/// The elfutils client cache directory.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(p) = env("DEBUGINFOD_CACHE_PATH") {
        return Some(p.into());
    }
    if let Some(p) = env("XDG_CACHE_HOME") {
        return Some(Path::new(&p).join("debuginfod_client"));
    }
    env("HOME").map(|h| Path::new(&h).join(".cache/debuginfod_client"))
}

impl Client {
    /// The client `DEBUGINFOD_URLS` asks for (space-separated URLs, as
    /// elfutils), with `DEBUGINFOD_TIMEOUT` (seconds, whole transfer),
    /// `DEBUGINFOD_MAXSIZE` (bytes) and the cache directory from the
    /// environment; `None` when no URL is set. URLs that are not http or
    /// https are dropped with a line in `notes`.
    pub fn from_env(notes: &mut Vec<String>) -> Result<Option<Client>, Error> {
        let Some(urls) = env("DEBUGINFOD_URLS") else {
            return Ok(None);
        };
        let urls: Vec<String> = urls.split_whitespace().map(str::to_string).collect();
        let timeout = env_number("TIMEOUT")?
            .filter(|&s| s > 0)
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        let max_size = env_number("MAXSIZE")?
            .filter(|&s| s > 0)
            .unwrap_or(DEFAULT_MAX_SIZE);
        let cache = default_cache_dir().ok_or(Error::NoCacheDir)?;
        let c = Client::new(&urls, cache, timeout, max_size, notes);
        Ok((!c.servers.is_empty()).then_some(c))
    }

    /// A client for `urls` caching in `cache`.
    pub fn new(
        urls: &[String],
        cache: PathBuf,
        timeout: Duration,
        max_size: u64,
        notes: &mut Vec<String>,
    ) -> Client {
        let mut servers = Vec::new();
        for u in urls {
            let lower = u.to_ascii_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") {
                servers.push(Server {
                    url: u.trim_end_matches('/').to_string(),
                    dead: AtomicBool::new(false),
                });
            } else {
                notes.push(format!(
                    "debuginfod: ignoring {u:?} in DEBUGINFOD_URLS (only http:// and https:// URLs)"
                ));
            }
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(CONNECT_TIMEOUT)))
            .user_agent(concat!("vmon-analyze/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            servers,
            cache,
            timeout,
            max_size,
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    /// `what` of `build_id`, from the cache or else from the first server
    /// that has it. `Err` lists the servers that answered they do not
    /// have it (`URL (404)`); other failures go to `notes`.
    pub fn fetch(
        &self,
        build_id: &[u8],
        what: Artifact,
        notes: &mut Vec<String>,
    ) -> Result<ElfFile, Vec<String>> {
        let mut missing: Vec<String> = Vec::new();
        // Real build-ids are 16 or 20 bytes; anything else is not asked for.
        if !(4..=64).contains(&build_id.len()) {
            return Err(missing);
        }
        let id = hex(build_id);
        let dir = self.cache.join(&id);
        let path = dir.join(what.as_str());
        // elfutils marks a miss with an empty file: not ELF, so not used.
        if let Some(f) = ElfFile::open(&path) {
            if f.build_id().as_deref() == Some(build_id) {
                return Ok(f);
            }
            notes.push(format!(
                "debuginfod: the cached {} is not build-id {id}; fetching it again",
                path.display()
            ));
            let _ = fs::remove_file(&path);
        }
        for s in &self.servers {
            if s.dead.load(Ordering::Relaxed) {
                continue;
            }
            let url = format!("{}/buildid/{id}/{}", s.url, what.as_str());
            match self.download(&url, &dir, &path, build_id) {
                Ok(f) => return Ok(f),
                Err(Failure::Status(code)) => missing.push(format!("{} ({code})", s.url)),
                Err(Failure::Refused(why)) => {
                    notes.push(format!("debuginfod: refused {url}: {why}"))
                }
                Err(Failure::Cache(e)) => {
                    notes.push(format!(
                        "debuginfod: cannot write the cache {}: {e}",
                        dir.display()
                    ));
                    return Err(missing);
                }
                Err(Failure::Down(why)) => {
                    // Only the first module to see it says so.
                    if !s.dead.swap(true, Ordering::Relaxed) {
                        notes.push(format!(
                            "debuginfod: {} {why} (fetching the {} of build-id {id}); not asking it again in this run",
                            s.url,
                            what.as_str()
                        ));
                    }
                }
            }
        }
        Err(missing)
    }

    fn download(
        &self,
        url: &str,
        dir: &Path,
        path: &Path,
        build_id: &[u8],
    ) -> Result<ElfFile, Failure> {
        let resp = match self.agent.get(url).call() {
            Ok(r) => r,
            Err(e) => return Err(classify(&e, self.timeout)),
        };
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(Failure::Status(status));
        }
        let len = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if len.is_some_and(|l| l > self.max_size) {
            return Err(Failure::Refused(format!(
                "{} bytes is over the {}-byte limit (DEBUGINFOD_MAXSIZE)",
                len.unwrap_or(0),
                self.max_size
            )));
        }
        fs::create_dir_all(dir).map_err(Failure::Cache)?;
        let tmp = dir.join(format!(
            ".{}.{}.{}.tmp",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let r = self.write_verified(resp, &tmp, path, build_id);
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    fn write_verified(
        &self,
        resp: ureq::http::Response<ureq::Body>,
        tmp: &Path,
        path: &Path,
        build_id: &[u8],
    ) -> Result<ElfFile, Failure> {
        let mut out = fs::File::create(tmp).map_err(Failure::Cache)?;
        let mut body = resp.into_body().into_reader().take(self.max_size + 1);
        let mut buf = vec![0u8; 1 << 16];
        let mut total: u64 = 0;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(classify_io(&e, self.timeout)),
            };
            total += n as u64;
            if total > self.max_size {
                return Err(Failure::Refused(format!(
                    "larger than the {}-byte limit (DEBUGINFOD_MAXSIZE)",
                    self.max_size
                )));
            }
            out.write_all(&buf[..n]).map_err(Failure::Cache)?;
        }
        out.sync_all().map_err(Failure::Cache)?;
        drop(out);
        let Some(f) = ElfFile::open(tmp) else {
            return Err(Failure::Refused(format!(
                "{total} bytes that are not an ELF file"
            )));
        };
        match f.build_id() {
            Some(b) if b == build_id => {}
            Some(b) => return Err(Failure::Refused(format!("it sent build-id {}", hex(&b)))),
            None => return Err(Failure::Refused("it sent a file without a build-id".into())),
        }
        drop(f);
        fs::rename(tmp, path).map_err(Failure::Cache)?;
        ElfFile::open(path)
            .ok_or_else(|| Failure::Cache(std::io::Error::other("the renamed file cannot be read")))
    }
}

/// Why one server gave nothing.
enum Failure {
    /// An HTTP status other than 200 (404: it does not have it).
    Status(u16),
    /// It answered with something unusable.
    Refused(String),
    /// Timed out or unreachable.
    Down(String),
    /// The cache could not be written.
    Cache(std::io::Error),
}

fn classify(e: &ureq::Error, timeout: Duration) -> Failure {
    match e {
        ureq::Error::Timeout(_) => {
            Failure::Down(format!("timed out after {} s", timeout.as_secs()))
        }
        ureq::Error::Io(io) => classify_io(io, timeout),
        ureq::Error::HostNotFound => Failure::Down("is unreachable (host not found)".into()),
        ureq::Error::ConnectionFailed => Failure::Down("is unreachable (connection failed)".into()),
        other => Failure::Down(format!("failed: {other}")),
    }
}

fn classify_io(e: &std::io::Error, timeout: Duration) -> Failure {
    use std::io::ErrorKind as K;
    let text = e.to_string();
    if matches!(e.kind(), K::TimedOut | K::WouldBlock) || text.contains("timeout") {
        return Failure::Down(format!("timed out after {} s", timeout.as_secs()));
    }
    match e.kind() {
        K::ConnectionRefused => Failure::Down("is unreachable (connection refused)".into()),
        _ => Failure::Down(format!("failed: {text}")),
    }
}

/// A shared client, as the analyzer's options carry it.
pub type Shared = Arc<Client>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_kept() {
        let mut notes = Vec::new();
        let c = Client::new(
            &["http://a:1/".into(), "HTTPS://b".into(), "file:///x".into()],
            "/nonexistent".into(),
            Duration::from_secs(1),
            10,
            &mut notes,
        );
        assert_eq!(c.servers.len(), 2);
        assert_eq!(c.servers[0].url, "http://a:1");
        assert_eq!(notes.len(), 1, "{notes:?}");
    }

    #[test]
    fn odd_build_ids_are_not_asked_for() {
        let mut notes = Vec::new();
        let c = Client::new(
            &["http://127.0.0.1:1".into()],
            "/nonexistent".into(),
            Duration::from_secs(1),
            10,
            &mut notes,
        );
        assert!(c.fetch(&[1, 2], Artifact::Debuginfo, &mut notes).is_err());
        assert!(notes.is_empty());
    }
}
