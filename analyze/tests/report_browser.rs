//! `--report` in a real browser: headless Chromium renders index.html; the
//! DOM must hold the summary, tables and quality line, and the screenshot
//! must show the embedded flamegraphs. Skipped, with the reason printed,
//! where Chromium is not installed (Debian: `apt-get install chromium`).

mod fixture;
mod tools;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VMON_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn chrome(bin: &Path, profile: &Path, extra: &[String], page: &Path) -> std::process::Output {
    tools::headless_chromium(bin, profile)
        .args(["--hide-scrollbars", "--virtual-time-budget=5000"])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium")
}

/// A PNG decoded to RGB rows: enough of the format for Chromium's
/// screenshots (8-bit RGB or RGBA, not interlaced).
fn decode_png(bytes: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut w, mut h, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    let mut p = 8;
    while p + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[p..p + 4].try_into().unwrap()) as usize;
        let kind = &bytes[p + 4..p + 8];
        let data = &bytes[p + 8..p + 8 + len];
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                h = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "bit depth");
                assert_eq!(data[12], 0, "interlaced");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("PNG colour type {t}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        p += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(idat.as_slice())
        .read_to_end(&mut raw)
        .unwrap();
    let stride = w * channels;
    let mut prev = vec![0u8; stride];
    let mut px = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        let filter = row[0];
        let mut cur = row[1..].to_vec();
        for i in 0..stride {
            let a = if i >= channels { cur[i - channels] } else { 0 };
            let b = prev[i];
            let c = if i >= channels { prev[i - channels] } else { 0 };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let (pa, pb, pc) = (
                        (i16::from(b) - i16::from(c)).abs(),
                        (i16::from(a) - i16::from(c)).abs(),
                        (i16::from(a) + i16::from(b) - 2 * i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            cur[i] = cur[i].wrapping_add(pred);
        }
        for x in 0..w {
            px.push([
                cur[x * channels],
                cur[x * channels + 1],
                cur[x * channels + 2],
            ]);
        }
        prev = cur;
    }
    (w, h, px)
}

/// Pixels in flamegraph colours: inferno's frames are saturated warm or
/// green/aqua fills, the page itself is grey, white and dark blue-grey.
fn saturated(px: &[[u8; 3]]) -> usize {
    px.iter()
        .filter(|p| {
            let (mx, mn) = (*p.iter().max().unwrap(), *p.iter().min().unwrap());
            mx >= 120 && mx - mn >= 60
        })
        .count()
}

/// A copy of the report page with every flamegraph's file reference
/// removed: the baseline for "the graphs were drawn".
fn bare_copy(index: &Path) -> PathBuf {
    let html = std::fs::read_to_string(index).unwrap();
    let bare = html
        .split("<object class=\"flame\"")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                return part.to_owned();
            }
            let at = part.find(" data=\"").expect("object data") + " data=\"".len();
            let end = at + part[at..].find('"').unwrap();
            format!("<object class=\"flame\"{}{}", &part[..at], &part[end..])
        })
        .collect::<String>();
    let page = index.with_file_name("bare.html");
    std::fs::write(&page, bare).unwrap();
    page
}

/// A real-sized capture (10^6 task samples, made by vmon-gen): its
/// flamegraphs are several MB each, which Chromium left blank as `data:`
/// URLs; as files beside index.html they must be drawn.
#[test]
fn report_of_a_million_samples_draws_its_flamegraphs() {
    let Some(bin) = chromium() else {
        eprintln!("SKIPPED report_of_a_million_samples_draws_its_flamegraphs: no Chromium (install the Debian package `chromium`, or set VMON_CHROMIUM)");
        return;
    };
    let d = std::env::temp_dir().join(format!("vmon-report-big-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let vmt = d.join("big.vmt");
    tools::gen_capture(&vmt, &["--samples", "1000000", "--seed", "3"]);
    let report = d.join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
        .arg(&vmt)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let index = report.join("index.html");
    let html = std::fs::read_to_string(&index).unwrap();
    let first = html
        .split("<object class=\"flame\"")
        .nth(1)
        .expect("a flamegraph");
    let at = first.find(" data=\"").unwrap() + 7;
    let file = &first[at..at + first[at..].find('"').unwrap()];
    let svg_len = std::fs::metadata(report.join(file)).unwrap().len();
    assert!(
        svg_len > 2 << 20,
        "the test needs a graph over Chromium's 2 MB data: URL limit; {file} is {svg_len} bytes"
    );
    let shot = |page: &Path, profile: &str, png: &Path| {
        let o = chrome(
            &bin,
            &d.join(profile),
            &[
                format!("--screenshot={}", png.display()),
                "--window-size=1400,2000".into(),
            ],
            page,
        );
        assert!(
            png.exists(),
            "no screenshot: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        decode_png(&std::fs::read(png).unwrap())
    };
    let (_, _, px) = shot(&index, "big1", &d.join("big.png"));
    let (_, _, bare_px) = shot(&bare_copy(&index), "big2", &d.join("bare.png"));
    let (with, without) = (saturated(&px), saturated(&bare_px));
    assert!(
        with > without + 40_000,
        "flamegraph of a 10^6-sample capture not drawn: {with} flame-coloured pixels with it, {without} without ({})",
        d.join("big.png").display()
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        eprintln!("SKIPPED report_renders_in_headless_chromium: no Chromium (install the Debian package `chromium`, or set VMON_CHROMIUM)");
        return;
    };
    let d = std::env::temp_dir().join(format!("vmon-report-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let vmt = d.join("run.vmt");
    fixture::write(&vmt, 12);
    let report = d.join("report");
    let out = Command::new(env!("CARGO_BIN_EXE_vmon-analyze"))
        .arg(&vmt)
        .arg("--report")
        .arg(&report)
        .args(["--fail-if-breaches", "100"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = report.join("index.html");

    // The DOM as the browser built it.
    let dom = chrome(&bin, &d.join("profile1"), &["--dump-dom".into()], &index);
    let html = String::from_utf8_lossy(&dom.stdout);
    for want in [
        "CI gate PASSED",
        "Watch <code>load_avg</code> &gt; 4",
        "Watch <code>free_slots</code> &lt; 2",
        "compute_checksum",
        "io_schedule",
        "frames resolved",
        "symbolization:",
        "ci-runner-7",
        "vmon-demo-app",
    ] {
        assert!(
            html.contains(want),
            "rendered DOM lacks {want:?}; stderr: {}",
            String::from_utf8_lossy(&dom.stderr)
        );
    }
    assert_eq!(
        html.matches("<object class=\"flame\"").count(),
        2,
        "one flamegraph per watch"
    );

    // The screenshot: not blank, and the flamegraphs drawn. The same page
    // with the graphs' data removed is the baseline for "drawn".
    let shot = |page: &Path, profile: &str, png: &Path| {
        let o = chrome(
            &bin,
            &d.join(profile),
            &[
                format!("--screenshot={}", png.display()),
                "--window-size=1400,2600".into(),
            ],
            page,
        );
        assert!(
            png.exists(),
            "no screenshot: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        decode_png(&std::fs::read(png).unwrap())
    };
    let png = std::env::var_os("VMON_REPORT_SCREENSHOT")
        .map_or_else(|| d.join("report.png"), PathBuf::from);
    let (w, h, px) = shot(&index, "profile2", &png);
    assert_eq!((w, h), (1400, 2600));
    let mut colours: Vec<[u8; 3]> = px.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 200,
        "screenshot looks blank: {} colours",
        colours.len()
    );

    let bare_page = bare_copy(&index);
    let (_, _, bare_px) = shot(&bare_page, "profile3", &d.join("bare.png"));
    let (with, without) = (saturated(&px), saturated(&bare_px));
    assert!(
        with > without + 40_000,
        "flamegraphs not drawn: {with} flame-coloured pixels with them, {without} without (screenshot {})",
        png.display()
    );
    eprintln!(
        "report screenshot: {} ({with} flame-coloured pixels, {without} without graphs)",
        png.display()
    );
}
