//! What the capture adds to the kernel's records so that it can be analyzed
//! elsewhere later: kernel symbols, host identity, build-ids and embedded
//! symbol tables of the binaries, `/proc` details of live processes.

use crate::jit::PerfMap;
use crate::process::{AncestorOwned, Enricher, FuncSym, Listing, MapOwned, ProcInfo, SymTab};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vmon_unwind::Image;

/// Files larger than this are not read for build-ids and symbols.
const MAX_BINARY_BYTES: u64 = 1 << 30;

pub struct Host {
    /// Records come from this machine's kernel now: `/proc/PID` is theirs.
    pub live: bool,
    pub embed_symbols: bool,
    /// Where to find binaries of a `--from-raw` stream.
    pub sysroot: Option<PathBuf>,
    seen: HashMap<(u64, u64, String), Vec<u8>>,
    /// Files opened for unwinding, by (dev, ino, path); None when none opened.
    images: HashMap<(u64, u64, String), Option<Arc<Image>>>,
    tables: Vec<SymTab>,
    pub warnings: Vec<String>,
}

impl Host {
    pub fn new(live: bool, embed_symbols: bool, sysroot: Option<PathBuf>) -> Self {
        Host {
            live,
            embed_symbols,
            sysroot,
            seen: HashMap::new(),
            images: HashMap::new(),
            tables: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn candidates(&self, tgid: i32, m: &MapOwned) -> Vec<PathBuf> {
        let rel = m.path.trim_start_matches('/');
        let mut v = Vec::new();
        if self.live {
            // map_files names the very inode mapped; root/ resolves the path
            // in the process's mount namespace (containers).
            v.push(PathBuf::from(format!(
                "/proc/{tgid}/map_files/{:x}-{:x}",
                m.start, m.end
            )));
            v.push(Path::new(&format!("/proc/{tgid}/root")).join(rel));
            // The process may have exited before its records were drained:
            // the same path on this machine (build-id checked when known).
            v.push(PathBuf::from(&m.path));
        } else if let Some(root) = &self.sysroot {
            v.extend(resolve_in_root(root, &m.path));
        }
        v
    }
}

/// `path` looked up as if `root` were `/`: `..` stops at `root` and
/// symlinks (absolute ones re-rooted) are followed inside it, so a mapping
/// path from the captured machine cannot name a file outside the sysroot.
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    use std::path::Component;
    let mut pending: Vec<std::ffi::OsString> = Path::new(path)
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut at: Vec<std::ffi::OsString> = Vec::new();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            at.pop();
            continue;
        }
        let here: PathBuf = root.join(at.iter().collect::<PathBuf>()).join(&c);
        let is_link = std::fs::symlink_metadata(&here).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            at.push(c);
            continue;
        }
        links += 1;
        if links > 40 {
            return None; // a loop, as ELOOP
        }
        let target = std::fs::read_link(&here).ok()?;
        if target.is_absolute() {
            at.clear();
        }
        for t in target.components().rev() {
            match t {
                Component::Normal(n) => pending.push(n.to_os_string()),
                Component::ParentDir => pending.push("..".into()),
                _ => {}
            }
        }
    }
    Some(root.join(at.iter().collect::<PathBuf>()))
}

/// Whether an ELF image has an executable LOAD segment in the file range a
/// mapping of `len` bytes at file offset `pgoff` covers: the check left for
/// a file when the kernel gave no build-id to compare.
fn layout_matches(file: &object::File<'_>, pgoff: u64, len: u64) -> bool {
    use object::{Object, ObjectSegment, SegmentFlags};
    let end = pgoff.saturating_add(len);
    file.segments().any(|seg| {
        let exec = matches!(seg.flags(), SegmentFlags::Elf { p_flags } if p_flags & 1 != 0);
        let (off, size) = seg.file_range();
        exec && size > 0 && off < end && off.saturating_add(size) > pgoff
    })
}

/// Reads a file's GNU build-id and function symbols.
/// With `mapping` (file offset, length), a file that has no executable
/// segment there is refused (None).
pub fn inspect_binary(
    path: &Path,
    want_symbols: bool,
    mapping: Option<(u64, u64)>,
) -> Option<(Vec<u8>, Vec<FuncSym>)> {
    use object::{Object, ObjectSymbol, SymbolKind};
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_BINARY_BYTES {
        return None;
    }
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    if let Some((pgoff, len)) = mapping {
        if !layout_matches(&file, pgoff, len) {
            return None;
        }
    }
    let build_id = file
        .build_id()
        .ok()
        .flatten()
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let mut syms = Vec::new();
    if want_symbols {
        for s in file.symbols().chain(file.dynamic_symbols()) {
            if s.kind() != SymbolKind::Text || !s.is_definition() || s.address() == 0 {
                continue;
            }
            if let Ok(name) = s.name() {
                if !name.is_empty() {
                    syms.push(FuncSym {
                        addr: s.address(),
                        size: s.size(),
                        name: name.to_string(),
                    });
                }
            }
        }
        syms.sort();
        syms.dedup_by(|a, b| a.addr == b.addr && a.name == b.name);
    }
    Some((build_id, syms))
}

impl Enricher for Host {
    fn process(&mut self, tgid: i32, start_ns: u64, mut info: ProcInfo) -> ProcInfo {
        if !self.live || !proc_matches(tgid, start_ns) {
            return info;
        }
        let need_maps = info
            .maps
            .as_ref()
            .is_none_or(|l| l.truncated || l.items.is_empty());
        if need_maps {
            if let Some(maps) = read_proc_maps(tgid) {
                if !maps.is_empty() {
                    info.maps = Some(Listing {
                        items: maps,
                        truncated: false,
                    });
                }
            }
        }
        if info.chain.is_none() {
            let comm = std::fs::read_to_string(format!("/proc/{tgid}/comm")).unwrap_or_default();
            if let Ok(cmd) = std::fs::read(format!("/proc/{tgid}/cmdline")) {
                let c = cmd.strip_suffix(&[0]).unwrap_or(&cmd);
                let args = if c.is_empty() {
                    Vec::new()
                } else {
                    c.split(|&b| b == 0)
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect()
                };
                info.chain = Some(Listing {
                    items: vec![AncestorOwned {
                        pid: tgid,
                        start_ns,
                        comm: comm.trim_end().to_string(),
                        args,
                        truncated: false,
                    }],
                    truncated: true,
                });
            }
        }
        info
    }

    fn binary(&mut self, tgid: i32, mut m: MapOwned) -> MapOwned {
        if !m.path.starts_with('/') {
            return m;
        }
        let key = (m.dev, m.ino, m.path.clone());
        if let Some(bid) = self.seen.get(&key) {
            if m.build_id.is_empty() {
                m.build_id = bid.clone();
            }
            return m;
        }
        let mut found = Vec::new();
        for (k, p) in self.candidates(tgid, &m).into_iter().enumerate() {
            // Only map_files (live, first candidate) is the mapped inode
            // itself; any other file found by path must match the build-id
            // or, without one, at least the mapping's layout.
            let identity = self.live && k == 0;
            let layout = (!identity && m.build_id.is_empty())
                .then(|| (m.pgoff, m.end.saturating_sub(m.start)));
            let Some((bid, syms)) = inspect_binary(&p, self.embed_symbols, layout) else {
                if layout.is_some() && p.is_file() {
                    self.warnings.push(format!(
                        "{}: no build-id recorded for the mapping and the file has no executable \
                         segment at its offset {:#x}: not the mapped file; not embedding its symbols",
                        p.display(),
                        m.pgoff
                    ));
                }
                continue;
            };
            // A file that is not what was mapped (updated, or another
            // machine's) would symbolize wrongly: require the same build-id
            // when the kernel gave one.
            if !m.build_id.is_empty() && bid != m.build_id {
                self.warnings.push(format!(
                    "{}: build-id differs from the mapped file's; not embedding its symbols",
                    p.display()
                ));
                continue;
            }
            found = bid.clone();
            if self.embed_symbols && !syms.is_empty() {
                self.tables.push(SymTab {
                    path: m.path.clone(),
                    build_id: bid,
                    symbols: syms,
                });
            }
            break;
        }
        if m.build_id.is_empty() {
            m.build_id = found.clone();
        }
        self.seen.insert(
            key,
            if found.is_empty() {
                m.build_id.clone()
            } else {
                found
            },
        );
        m
    }

    fn take_symbol_tables(&mut self) -> Vec<SymTab> {
        std::mem::take(&mut self.tables)
    }

    fn perf_map(&mut self, tgid: i32) -> Option<PerfMap> {
        // The JIT writes it in its own mount namespace's /tmp.
        let rel = format!("tmp/perf-{tgid}.map");
        let path = if self.live {
            Path::new(&format!("/proc/{tgid}/root")).join(rel)
        } else {
            resolve_in_root(self.sysroot.as_ref()?, &format!("/{rel}"))?
        };
        PerfMap::read(&path)
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn image(&mut self, tgid: i32, m: &MapOwned) -> Option<Arc<Image>> {
        if !m.path.starts_with('/') {
            return None;
        }
        let key = (m.dev, m.ino, m.path.clone());
        if let Some(i) = self.images.get(&key) {
            return i.clone();
        }
        // The same file that binary() accepted: the build-id, when known,
        // must match.
        let found = self.candidates(tgid, m).into_iter().find_map(|p| {
            let img = Image::open(&p)?;
            (m.build_id.is_empty() || img.build_id().as_deref() == Some(&m.build_id[..]))
                .then(|| Arc::new(img))
        });
        self.images.insert(key, found.clone());
        found
    }
}

/// Does `/proc/tgid` still belong to the process that started at `start_ns`
/// (CLOCK_BOOTTIME)? Unknown start times are trusted.
fn proc_matches(tgid: i32, start_ns: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{tgid}/stat")) else {
        return false;
    };
    if start_ns == 0 {
        return true;
    }
    let Some(ticks) = parse_stat(&stat).map(|st| st.start) else {
        return false;
    };
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let tick_ns = 1_000_000_000 / hz;
    let proc_ns = ticks.saturating_mul(tick_ns);
    proc_ns.abs_diff(start_ns) <= 2 * tick_ns
}

/// What the fields of `/proc/PID[/task/TID]/stat` tell here.
pub(crate) struct TaskStat {
    pub comm: String,
    pub state: char,
    /// Field 22, `starttime`, in clock ticks since boot.
    pub start: u64,
}

/// Parses a stat line: the comm may hold spaces and parentheses, so the
/// fields are counted after the last `)`.
pub(crate) fn parse_stat(s: &str) -> Option<TaskStat> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_string();
    let mut f = s.get(close + 1..)?.split_whitespace();
    let state = f.next()?.chars().next()?;
    // state is field 3; starttime is field 22, the 19th after it.
    let start = f.nth(18)?.parse().ok()?;
    Some(TaskStat { comm, state, start })
}

/// The kernel's `new_encode_dev`, so `/proc` and kernel devices compare.
pub fn encode_dev(major: u64, minor: u64) -> u64 {
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// Executable file mappings from `/proc/PID/maps`.
pub fn read_proc_maps(tgid: i32) -> Option<Vec<MapOwned>> {
    let text = std::fs::read_to_string(format!("/proc/{tgid}/maps")).ok()?;
    Some(parse_proc_maps(&text))
}

pub fn parse_proc_maps(text: &str) -> Vec<MapOwned> {
    let mut v = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms), Some(off), Some(dev), Some(ino)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let path = f.collect::<Vec<_>>().join(" ");
        if !perms.contains('x') || !path.starts_with('/') {
            continue;
        }
        let Some((s, e)) = range.split_once('-') else {
            continue;
        };
        let Some((maj, min)) = dev.split_once(':') else {
            continue;
        };
        let hex = |x: &str| u64::from_str_radix(x, 16).ok();
        let (Some(start), Some(end), Some(pgoff), Some(maj), Some(min), Ok(ino)) = (
            hex(s),
            hex(e),
            hex(off),
            hex(maj),
            hex(min),
            ino.parse::<u64>(),
        ) else {
            continue;
        };
        v.push(MapOwned {
            start,
            end,
            pgoff,
            ino,
            dev: encode_dev(maj, min),
            path,
            build_id: Vec::new(),
        });
    }
    v
}

/// `/proc/kallsyms` as (addr, type, name, module). Without privileges the
/// kernel shows every address as 0: that yields `Ok(None)`.
pub fn parse_kallsyms(text: &str) -> Option<Vec<(u64, u8, &str, &str)>> {
    let mut v = Vec::new();
    let mut nonzero = false;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(a), Some(t), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(a, 16) else {
            continue;
        };
        let module = f
            .next()
            .map(|m| m.trim_start_matches('[').trim_end_matches(']'))
            .unwrap_or("");
        nonzero |= addr != 0;
        v.push((addr, t.bytes().next().unwrap_or(b'?'), name, module));
    }
    nonzero.then_some(v)
}

/// The GNU build-id in `/sys/kernel/notes` (an ELF note section).
pub fn parse_kernel_notes(b: &[u8]) -> Option<Vec<u8>> {
    let mut off = 0usize;
    let u32_at =
        |o: usize| -> Option<u32> { Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?)) };
    let pad4 = |n: usize| n.checked_add(3).map(|v| v & !3);
    while off + 12 <= b.len() {
        let namesz = u32_at(off)? as usize;
        let descsz = u32_at(off + 4)? as usize;
        let ty = u32_at(off + 8)?;
        let name_off = off + 12;
        let desc_off = name_off.checked_add(pad4(namesz)?)?;
        let next = desc_off.checked_add(pad4(descsz)?)?;
        if ty == 3 && b.get(name_off..name_off + namesz)? == b"GNU\0" {
            return b.get(desc_off..desc_off + descsz).map(<[u8]>::to_vec);
        }
        off = next;
    }
    None
}

pub fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_maps_keep_executable_file_mappings() {
        let text = "\
55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1234 /usr/bin/prog
55d0c0a01000-55d0c0a02000 r-xp 00001000 08:01 1234 /usr/bin/prog
7f0000000000-7f0000001000 r-xp 00000000 00:00 0 [vdso]
7f0000002000-7f0000003000 r-xp 00002000 103:02 99 /opt/my app/lib.so
garbage line
";
        let m = parse_proc_maps(text);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].start, m[0].end, m[0].pgoff, m[0].ino),
            (0x55d0c0a01000, 0x55d0c0a02000, 0x1000, 1234)
        );
        assert_eq!(m[0].dev, encode_dev(8, 1));
        assert_eq!(m[0].dev, 0x801);
        assert_eq!(m[1].path, "/opt/my app/lib.so");
        assert_eq!(m[1].dev, encode_dev(0x103, 2));
    }

    #[test]
    fn kallsyms_without_privileges_is_detected() {
        assert!(
            parse_kallsyms("0000000000000000 T _text\n0000000000000000 t foo [mod]\n").is_none()
        );
        let v = parse_kallsyms("ffffffff81000000 T _text\nffffffffc0000000 t foo\t[ext4]\nbad\n")
            .unwrap();
        assert_eq!(
            v,
            vec![
                (0xffffffff81000000, b'T', "_text", ""),
                (0xffffffffc0000000, b't', "foo", "ext4")
            ]
        );
    }

    #[test]
    fn kernel_notes_yield_the_gnu_build_id() {
        let mut b = Vec::new();
        // A Xen note first, then the build-id.
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(b"Xen\0\x01\x02\x03\x04");
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&20u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(b"GNU\0");
        b.extend_from_slice(&[0xab; 20]);
        assert_eq!(parse_kernel_notes(&b), Some(vec![0xab; 20]));
        assert_eq!(parse_kernel_notes(&b[..30]), None);
        assert_eq!(parse_kernel_notes(&[0xff; 64]), None);
    }

    #[test]
    fn own_binary_has_a_build_id_and_functions() {
        let exe = std::env::current_exe().unwrap();
        let (_bid, syms) = inspect_binary(&exe, true, None).unwrap();
        assert!(syms.len() > 100, "{} symbols", syms.len());
        assert!(syms.windows(2).all(|w| w[0].addr <= w[1].addr));
    }
}
