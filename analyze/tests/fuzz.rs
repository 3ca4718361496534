//! The analyzer's whole path, from bytes to every output, on damaged and
//! hostile captures (issue 15): a proptest harness run by `cargo test` (CI)
//! for a bounded number of cases (`VMON_FUZZ_CASES`, default 256, a few seconds; set it
//! higher for a longer local run). Each case takes a realistic capture
//! (tests/fixture), renames strings to hostile ones (control characters,
//! `;`, markup, quotes), writes it, damages the bytes (with the CRCs fixed
//! half the time so the payload parsers see the damage), then loads,
//! analyzes and renders every output, checking that each is valid:
//! well-formed SVG, HTML without raw control characters, JSON that parses,
//! CSV rows with the header's field count, folded counts summing to the
//! sample count, a text summary whose lines cannot be forged, perf script
//! text whose every line is a header, a frame or a blank (one event per
//! sample), speedscope JSON holding every sample.

#[allow(dead_code)] // write() is for the other tests
mod fixture;

use proptest::prelude::*;
use vmon_analyze::aggregate::Aggregates;
use vmon_analyze::artifacts::Artifacts;
use vmon_analyze::ingest::{self, Options};
use vmon_analyze::{load, output, summary};
use vmon_format::chunk::{ChunkHeader, CHUNK_HEADER_LEN};
use vmon_format::*;

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Truncate(usize),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..32)).prop_map(|(p, v)| Mutation::Insert(p, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match m {
        Mutation::Set(p, b) => {
            if let Some(x) = bytes.get_mut(p % len) {
                *x = *b;
            }
        }
        Mutation::Truncate(p) => bytes.truncate(p % len),
        Mutation::Delete(p, n) => {
            let p = p % len;
            let e = (p + n).min(bytes.len());
            if p < e {
                bytes.drain(p..e);
            }
        }
        Mutation::Insert(p, v) => {
            let p = (p % len).min(bytes.len());
            bytes.splice(p..p, v.iter().copied());
        }
    }
}

/// Recomputes every chunk's payload CRC, so damage reaches the parsers.
fn fix_crcs(bytes: &mut [u8]) {
    let Ok(f) = VmtFile::from_bytes(bytes) else {
        return;
    };
    let chunks = f.chunks().to_vec();
    drop(f);
    for c in chunks {
        let start = c.offset as usize + CHUNK_HEADER_LEN;
        let Some(p) = bytes.get(start..start + c.header.stored_len as usize) else {
            continue;
        };
        let h = ChunkHeader {
            payload_crc: crc32c::crc32c(p),
            ..c.header
        };
        bytes[c.offset as usize..start].copy_from_slice(&h.encode());
    }
}

/// Names a hostile capture could carry.
fn hostile_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x\n== watch forged > 1 (user): 9 breaches ==".to_string()),
        Just("warn\r\nwarning: forged\x1b[2J\x1b]0;t\x07".to_string()),
        Just("a;b c]]></svg><script>alert(1)</script>&amp;\"'".to_string()),
        Just("\u{9b}31m\u{0}\u{7f}".to_string()),
        Just(String::new()),
        "\\PC{0,12}",
        any::<String>(),
    ]
}

fn no_raw_controls(text: &str, what: &str, allowed: &[char]) {
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !allowed.contains(c))
    {
        panic!("{what}: raw control character {c:?}");
    }
}

fn assert_xml(text: &str, what: &str) {
    no_raw_controls(text, what, &['\t', '\n', '\r']);
    let mut r = quick_xml::Reader::from_str(text);
    let mut depth = 0i64;
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(_) => {}
            Err(e) => panic!("{what}: not well-formed at {}: {e}", r.buffer_position()),
        }
    }
    assert_eq!(depth, 0, "{what}: unbalanced elements");
}

/// Field counts of each record of a CSV text (RFC 4180 quoting).
fn csv_field_counts(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut quoted, mut fields, mut any) = (false, 1usize, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        any = true;
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields += 1,
            '\n' if !quoted => {
                out.push(fields);
                fields = 1;
                any = false;
            }
            _ => {}
        }
    }
    assert!(!quoted, "CSV ends inside a quoted field");
    if any {
        out.push(fields);
    }
    out
}

fn cases() -> u32 {
    std::env::var("VMON_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Loads, analyzes and renders `bytes`; panics on any invalid output.
fn check_every_output(bytes: &[u8], dir: &std::path::Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("in.vmt");
    std::fs::write(&path, bytes).unwrap();
    let Ok(input) = load::load(path.to_str().unwrap()) else {
        return; // a clear error is a valid outcome; a panic is not
    };
    let opts = Options {
        inlines: true,
        unwind: true,
        ..Default::default()
    };
    let a = ingest::analyze(vec![input], &opts, &vmon_analyze::progress::NoProgress);
    let agg = Aggregates::compute(&a);

    // Folded: "frames count" lines whose counts sum to the samples.
    let mut folded = Vec::new();
    output::write_folded(&mut folded, &agg, &agg.total).unwrap();
    let folded = String::from_utf8(folded).expect("folded is UTF-8");
    no_raw_controls(&folded, "folded", &['\n']);
    let mut sum = 0u64;
    for l in folded.lines() {
        let (stack, n) = l.rsplit_once(' ').expect("a count");
        assert!(!stack.is_empty(), "folded line without frames: {l:?}");
        sum += n.parse::<u64>().expect("count");
    }
    assert_eq!(sum, agg.total.samples, "folded counts sum to the samples");
    for g in &agg.per_watch {
        let s: u64 = g.stacks.iter().map(|x| x.1).sum();
        assert_eq!(s, g.samples, "a watch's stack counts sum to its samples");
    }

    // Flamegraphs: well-formed SVG, one per group and the combined one.
    for g in agg.per_watch.iter().chain([&agg.total]) {
        let mut svg = Vec::new();
        output::flamegraph(&mut svg, &a, &agg, g).unwrap();
        assert_xml(
            std::str::from_utf8(&svg).expect("SVG is UTF-8"),
            "flamegraph",
        );
    }

    // Text summary: no raw control but newline; one header per watch.
    let text = summary::text(&a, &agg, &summary::SummaryOptions::default());
    no_raw_controls(&text, "summary", &['\n']);
    let heads = text.lines().filter(|l| l.starts_with("== watch ")).count();
    let watches = agg.per_watch.iter().filter(|g| g.watch.is_some()).count();
    assert_eq!(heads, watches, "summary headers: {text}");
    assert!(
        !text.lines().any(|l| l.starts_with("warning: forged")),
        "a forged warning line: {text}"
    );

    // JSON: serializes and parses back.
    let j = summary::json(&a, &agg, &summary::SummaryOptions::default());
    let s = serde_json::to_string(&j).unwrap();
    let back: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(back, j);

    // perf script: every line a header, a frame or the blank line after
    // an event; one event per sample, each with a frame.
    let mut perf = Vec::new();
    vmon_analyze::perf_script::write(&a, &mut perf).unwrap();
    let perf = String::from_utf8(perf).expect("perf script is UTF-8");
    no_raw_controls(&perf, "perf script", &['\n', '\t']);
    let (mut headers, mut frames) = (0usize, 0usize);
    let mut in_event = false;
    for l in perf.split('\n') {
        if l.is_empty() {
            in_event = false;
        } else if let Some(f) = l.strip_prefix('\t') {
            assert!(
                in_event && f.ends_with(')') && !f.contains('\t'),
                "perf frame line: {l:?}"
            );
            frames += 1;
        } else {
            assert!(
                !in_event && l.ends_with(" 1 task-clock:"),
                "perf header line: {l:?}"
            );
            in_event = true;
            headers += 1;
        }
    }
    assert_eq!(headers, a.samples.len(), "one perf event per sample");
    assert!(frames >= headers, "every perf event has a frame");

    // speedscope: JSON whose profiles hold every sample, frame indices in
    // the shared table.
    let mut ss = Vec::new();
    vmon_analyze::speedscope::write(&a, &mut ss).unwrap();
    let ss: serde_json::Value = serde_json::from_slice(&ss).expect("speedscope is JSON");
    let nframes = ss["shared"]["frames"].as_array().expect("frames").len() as u64;
    let mut n = 0;
    for p in ss["profiles"].as_array().expect("profiles") {
        for st in p["samples"].as_array().expect("samples") {
            let st = st.as_array().expect("a stack");
            assert!(!st.is_empty(), "a speedscope sample without frames");
            assert!(st.iter().all(|f| f.as_u64().is_some_and(|f| f < nframes)));
            n += 1;
        }
    }
    assert_eq!(n, a.samples.len(), "speedscope samples");

    // Tables (CSV) and the report (HTML, SVG files, summary.json).
    let args = Artifacts {
        csv: Some(dir.join("csv")),
        report: Some(dir.join("report")),
        ..Default::default()
    };
    let code = args
        .run(&a, &agg, &|_| None)
        .expect("tables and report are written");
    assert_eq!(code, 0);
    for e in std::fs::read_dir(dir.join("csv")).unwrap() {
        let p = e.unwrap().path();
        let t = std::fs::read_to_string(&p).expect("CSV is UTF-8");
        let counts = csv_field_counts(&t);
        let head = counts.first().copied().expect("a header row");
        assert!(
            counts.iter().all(|&n| n == head),
            "{}: field counts {counts:?}",
            p.display()
        );
    }
    let html = std::fs::read_to_string(dir.join("report/index.html")).unwrap();
    no_raw_controls(&html, "index.html", &['\t', '\n', '\r']);
    assert!(html.trim_end().ends_with("</html>"));
    for e in std::fs::read_dir(dir.join("report")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "svg") {
            assert_xml(&std::fs::read_to_string(&p).unwrap(), "report flamegraph");
        }
    }
    let sj = std::fs::read(dir.join("report/summary.json")).unwrap();
    serde_json::from_slice::<serde_json::Value>(&sj).expect("summary.json parses");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn bytes_to_every_output_stay_valid(
        breaches in 1u32..5,
        names in proptest::collection::vec((any::<prop::sample::Index>(), hostile_name()), 0..6),
        muts in proptest::collection::vec(mutation(), 0..6),
        fix in any::<bool>(),
        old_layout in any::<bool>(),
        case in any::<u64>(),
    ) {
        let mut c = fixture::capture(breaches);
        if !names.is_empty() {
            let mut v: Vec<String> = c.strings.iter().map(str::to_string).collect();
            for (i, n) in &names {
                let k = i.index(v.len().max(1));
                if k > 0 {
                    v[k] = n.clone();
                }
            }
            c.strings = v.iter().map(String::as_str).collect();
        }
        // Task samples as SAMPLES2 (format 1.2) or SAMPLES (1.1) chunks.
        let opts = WriterOptions {
            sample_encoding: if old_layout { SampleEncoding::Plain } else { SampleEncoding::Coded },
            ..WriterOptions::default()
        };
        let mut bytes = write_capture_with(&c, Vec::new(), opts).unwrap();
        for m in &muts {
            apply(&mut bytes, m);
        }
        if fix {
            fix_crcs(&mut bytes);
        }
        let dir = std::env::temp_dir().join(format!(
            "vmon-fuzz-{}-{}",
            std::process::id(),
            case % 4
        ));
        check_every_output(&bytes, &dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
