//! Encode/decode throughput and size of `.vmt` files. Run through
//! `formats/bench.sh`, which generates the inputs; by hand:
//! `cargo bench -p vmon-format --bench format -- FILE.vmt [FILE.vmt ...]`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vmon_format::chunk::type_name;
use vmon_format::*;

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.expect("runs >= 1"))
}

/// CPU time of the calling thread: immune to other processes sharing the cores.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Best CPU time of `runs` calls, measured on the calling thread.
fn best_cpu<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = thread_cpu();
        std::hint::black_box(f());
        best = best.min(thread_cpu() - t);
    }
    best
}

/// Streams every sample of `file` (tables first); returns the sample count.
fn stream_all(file: &VmtFile<'_>) -> usize {
    stream_samples(&file.tables().expect("tables"))
}

/// Streams every sample block, touching every column the way a consumer
/// that aggregates would; returns the sample count.
fn stream_samples(t: &Tables<'_>) -> usize {
    let mut s = t.samples();
    let mut n = 0;
    while let Some(b) = s.next_block() {
        n += b.len();
        std::hint::black_box(b);
    }
    n
}

fn rate(n: f64, d: Duration) -> f64 {
    n / d.as_secs_f64()
}

fn main() {
    let files: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if files.is_empty() {
        eprintln!("usage: cargo bench -p vmon-format --bench format -- FILE.vmt ... (see formats/bench.sh)");
        std::process::exit(2);
    }
    let runs: usize = std::env::var("VMT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    for path in files {
        let bytes = std::fs::read(&path).expect("read input");
        let file = VmtFile::from_bytes(&bytes).expect("open");
        assert!(file.warnings().is_empty(), "{:?}", file.warnings());
        if let Some(k) = std::env::var("VMT_BENCH_PROFILE_STREAM")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            // A loop to run under `perf record`: the sample stream alone.
            let t = file.tables().expect("tables");
            let total: usize = if std::env::var_os("VMT_BENCH_PROFILE_DECODE").is_some() {
                (0..k)
                    .map(|_| file.decode().expect("decode").samples.len())
                    .sum()
            } else if std::env::var_os("VMT_BENCH_PROFILE_TABLES").is_some() {
                (0..k)
                    .map(|_| file.tables().expect("tables").capture().strings.len())
                    .sum()
            } else {
                (0..k).map(|_| stream_samples(&t)).sum()
            };
            println!("streamed {total} task samples");
            continue;
        }
        println!("## {path}");
        let cap = file.decode().expect("decode");
        let n = cap.samples.len() as f64;
        let mb = bytes.len() as f64 / 1e6;

        // Size by chunk type.
        let mut by_type: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for c in file.chunks() {
            let e = by_type.entry(type_name(c.header.ty)).or_default();
            e.0 += 1;
            e.1 += 28 + c.header.stored_len as u64;
            e.2 += c.header.raw_len as u64;
        }
        // SAMPLES (format 1.1) and SAMPLES2 (1.2) chunks.
        let samples_of = |f: fn(&(u64, u64, u64)) -> u64| -> u64 {
            ["SAMPLES", "SAMPLES2"]
                .iter()
                .filter_map(|t| by_type.get(*t))
                .map(f)
                .sum()
        };
        let samples_bytes = samples_of(|e| e.1);
        let samples_raw = samples_of(|e| e.2);

        let (d1, _) = best_of(runs, || one.install(|| file.decode().expect("decode")));
        // The floor of any decoder into Vec<TaskSample>: allocating and
        // writing the output (page faults included).
        let proto = cap.samples.first().cloned();
        let floor = best_cpu(runs, || proto.clone().map(|p| vec![p; cap.samples.len()]));
        println!(
            "floor: allocate + fill Vec<TaskSample> of {}: {:.1} ms CPU",
            cap.samples.len(),
            floor.as_secs_f64() * 1e3
        );
        // The same capture without its task samples: what the tables cost.
        let tables_only = write_capture(
            &Capture {
                samples: Vec::new(),
                ..cap.clone()
            },
            Vec::new(),
        )
        .expect("encode");
        let tf = VmtFile::from_bytes(&tables_only).expect("open");
        let ct = one.install(|| best_cpu(runs, || tf.decode().expect("decode")));
        println!(
            "decode of the tables alone (strings, kallsyms, stacks, breaches ...): {:.1} ms CPU",
            ct.as_secs_f64() * 1e3
        );
        let c1 = one.install(|| best_cpu(runs, || file.decode().expect("decode")));
        // Streaming decode, 1 thread (the stream never uses rayon): tables
        // plus every sample block, and the sample blocks alone.
        let (ds, streamed) = best_of(runs, || stream_all(&file));
        assert_eq!(streamed, cap.samples.len(), "stream and decode() disagree");
        let cs = best_cpu(runs, || stream_all(&file));
        let tables = file.tables().expect("tables");
        let tcpu = best_cpu(runs, || {
            file.tables().expect("tables").capture().strings.len()
        });
        let (dss, _) = best_of(runs, || stream_samples(&tables));
        let css = best_cpu(runs, || stream_samples(&tables));
        println!(
            "streaming decode 1 thread (tables + samples): {:.1} ms wall, {:.1} ms CPU  {:.1} M task samples/s (CPU)  {:.0} MB/s",
            ds.as_secs_f64() * 1e3,
            cs.as_secs_f64() * 1e3,
            rate(n, cs) / 1e6,
            rate(mb, cs)
        );
        println!(
            "streaming decode 1 thread, samples only (tables {:.1} ms CPU): {:.1} ms wall, {:.1} ms CPU  {:.1} M task samples/s (CPU)",
            tcpu.as_secs_f64() * 1e3,
            dss.as_secs_f64() * 1e3,
            css.as_secs_f64() * 1e3,
            rate(n, css) / 1e6
        );
        println!(
            "materializing decode() 1 thread: {:.1} ms wall, {:.1} ms CPU  {:.1} M task samples/s (CPU)",
            d1.as_secs_f64() * 1e3,
            c1.as_secs_f64() * 1e3,
            rate(n, c1) / 1e6
        );
        if std::env::var_os("VMT_BENCH_DECODE_ONLY").is_some() {
            println!(
                "decode 1 thread: {:.1} ms wall, {:.1} ms CPU",
                d1.as_secs_f64() * 1e3,
                c1.as_secs_f64() * 1e3
            );
            continue;
        }
        let (dp, _) = best_of(runs, || file.decode().expect("decode"));
        let (open, _) = best_of(runs, || {
            VmtFile::from_bytes(&bytes).expect("open").chunks().len()
        });

        let enc = |o: WriterOptions| {
            write_capture_with(&cap, Vec::with_capacity(bytes.len() * 2), o).expect("encode")
        };
        let default = WriterOptions::default();
        let zstd = WriterOptions {
            sample_compression: Compression::Zstd(3),
            table_compression: Compression::Zstd(3),
            ..WriterOptions::default()
        };
        let plain = WriterOptions {
            sample_compression: Compression::None,
            table_compression: Compression::None,
            ..WriterOptions::default()
        };
        let old_layout = WriterOptions {
            sample_encoding: SampleEncoding::Plain,
            ..WriterOptions::default()
        };
        let co = best_cpu(runs, || enc(old_layout.clone()));
        let (ed, vd) = best_of(runs, || enc(default.clone()));
        let cd = best_cpu(runs, || enc(default.clone()));
        let (ez, vz) = best_of(runs, || enc(zstd.clone()));
        let cz = best_cpu(runs, || enc(zstd.clone()));
        let cp = best_cpu(runs, || enc(plain.clone()));
        let (ep, vp) = best_of(runs, || enc(plain.clone()));

        // perf.data equivalent: a `perf record -g` sample of type
        // IP|TID|TIME|CALLCHAIN|PERIOD is 8 (header) + 5*8 + 8 per callchain
        // entry; the chain holds kernel and user frames plus one context
        // marker per part (PERF_CONTEXT_KERNEL / PERF_CONTEXT_USER).
        let mut frames = 0u64;
        let mut perf = 0u64;
        for s in &cap.samples {
            let k = cap.stacks.frames(s.kstack).count() as u64;
            let u = cap.stacks.frames(s.ustack).count() as u64;
            frames += k + u;
            perf += 48 + 8 * (k + u + (k > 0) as u64 + (u > 0) as u64);
        }

        println!(
            "task samples: {}  file: {} bytes  stack nodes: {}  strings: {}  kernel symbols: {}",
            cap.samples.len(),
            bytes.len(),
            cap.stacks.len(),
            cap.strings.len(),
            cap.kernel_symbols.len()
        );
        println!(
            "mean frames per task sample (kernel+user): {:.1}",
            frames as f64 / n
        );
        println!("| chunk type | chunks | stored bytes | raw bytes |");
        println!("|---|---:|---:|---:|");
        for (t, (c, s, r)) in &by_type {
            println!("| {t} | {c} | {s} | {r} |");
        }
        println!("bytes per task sample: whole file {:.2}; SAMPLES chunks {:.2} (uncompressed columns {:.2})", bytes.len() as f64 / n, samples_bytes as f64 / n, samples_raw as f64 / n);
        println!("perf.data equivalent (same samples and stacks): {perf} bytes = {:.1} bytes/sample; .vmt is {:.1}x smaller", perf as f64 / n, perf as f64 / bytes.len() as f64);
        println!("open (locate chunks): {:.3} ms", open.as_secs_f64() * 1e3);
        println!(
            "decode 1 thread:  {:.1} ms  {:.1} M task samples/s  {:.0} MB/s",
            d1.as_secs_f64() * 1e3,
            rate(n, d1) / 1e6,
            rate(mb, d1)
        );
        println!(
            "decode {} threads: {:.1} ms  {:.1} M task samples/s  {:.0} MB/s",
            rayon::current_num_threads(),
            dp.as_secs_f64() * 1e3,
            rate(n, dp) / 1e6,
            rate(mb, dp)
        );
        println!("encode default (zstd tables, write_capture, 1 thread): {:.1} ms  {:.1} M task samples/s  {:.0} MB/s out, {} bytes; CPU {:.1} ms", ed.as_secs_f64() * 1e3, rate(n, ed) / 1e6, rate(vd.len() as f64 / 1e6, ed), vd.len(), cd.as_secs_f64() * 1e3);
        println!("encode all zstd (write_capture, 1 thread): {:.1} ms  {:.1} M task samples/s  {:.0} MB/s out, {} bytes", ez.as_secs_f64() * 1e3, rate(n, ez) / 1e6, rate(vz.len() as f64 / 1e6, ez), vz.len());
        println!(
            "decode 1 thread, CPU time: {:.1} ms  {:.1} M task samples/s  {:.0} MB/s",
            c1.as_secs_f64() * 1e3,
            rate(n, c1) / 1e6,
            rate(mb, c1)
        );
        println!("encode CPU time: zstd {:.1} ms ({:.1} M task samples/s), uncompressed {:.1} ms ({:.1} M task samples/s)", cz.as_secs_f64() * 1e3, rate(n, cz) / 1e6, cp.as_secs_f64() * 1e3, rate(n, cp) / 1e6);
        println!("encode uncompressed (1 thread): {:.1} ms  {:.1} M task samples/s  {:.0} MB/s out, {} bytes", ep.as_secs_f64() * 1e3, rate(n, ep) / 1e6, rate(vp.len() as f64 / 1e6, ep), vp.len());
        println!(
            "encode default but SAMPLES chunks (the 1.1 layout), CPU time: {:.1} ms",
            co.as_secs_f64() * 1e3
        );
        println!();
    }
}
