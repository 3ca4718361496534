use super::*;
use crate::analysis::*;
use vmon_format::Comparison;

/// Two watches, three breaches, six samples over five stacks: one
/// recursive (`main;work;work`, so total counts a function once per
/// sample), one with an inlined frame, one kernel-only, one empty and one
/// with an unresolved frame.
pub(crate) fn analysis() -> Analysis {
    let watch = |name: &str, cmp, threshold, id| WatchInfo {
        name: name.into(),
        cmp,
        threshold,
        kind: "user".into(),
        trigger: Default::default(),
        sources: vec![(InputId(0), id)],
    };
    let breach = |event_id, time_ns, watch, value, flags| BreachRow {
        input: InputId(0),
        watch: WatchId(watch),
        event_id,
        time_ns,
        value,
        nr_candidates: 4,
        collect_ns: 1500,
        flags,
        samples: 2,
    };
    let sample = |breach: u32, pid, comm, state, stack, flags| SampleRow {
        input: InputId(0),
        watch: WatchId(if breach == 1 { 1 } else { 0 }),
        breach: BreachId(breach),
        time_ns: 1000 * (u64::from(breach) + 1),
        pid,
        tgid: 10,
        comm: NameId(comm),
        state,
        cpu: 1,
        cgroup_id: 77,
        stack: StackHandle(stack),
        flags,
        process: None,
    };
    let module = |name: &str, kind, source| ModuleInfo {
        kind,
        path: format!("/bin/{name}"),
        name: name.into(),
        build_id: vec![0xab, 0xcd],
        source,
        build_id_mismatch: false,
    };
    let func = |name: &str, module, kernel, resolved| FuncInfo {
        name: name.into(),
        module: ModuleId(module),
        kernel,
        resolved,
    };
    let frame = |f, inlined| FrameInfo {
        func: FuncId(f),
        file: None,
        line: 0,
        inlined,
    };
    let stack = |frames: &[u32], kernel_frames| StackInfo {
        frames: frames.iter().map(|&f| FrameId(f)).collect(),
        kernel_frames,
    };
    Analysis {
        inputs: vec![InputInfo {
            path: "a.vmt".into(),
            ..Default::default()
        }],
        watches: vec![
            watch("load", Comparison::Greater, 5, 1),
            watch("queue,len", Comparison::Less, -3, 2),
        ],
        breaches: vec![
            breach(100, 1_000, 0, 9, 0),
            breach(101, 2_000, 1, -7, breach_flags::DROPPED),
            breach(102, 3_000, 0, 6, breach_flags::TASKS_TRUNCATED),
        ],
        samples: vec![
            sample(0, 11, 0, TaskState::Running, 0, task_flags::ON_CPU),
            sample(0, 12, 2, TaskState::Uninterruptible, 1, 0),
            // The effective flags ingest gives a frame-pointer walk the kernel cut.
            sample(
                1,
                11,
                0,
                TaskState::Running,
                0,
                task_flags::USTACK_TRUNC | task_flags::USTACK_CUT,
            ),
            sample(1, 13, 1, TaskState::Uninterruptible, 2, task_flags::KTHREAD),
            sample(2, 11, 0, TaskState::Running, 4, 0),
            sample(2, 12, 2, TaskState::RtLock, 3, 0),
        ],
        modules: vec![
            module(
                "app",
                ModuleKind::User,
                SymbolSource::Dwarf("/bin/app".into()),
            ),
            module("[kernel]", ModuleKind::Kernel, SymbolSource::Kallsyms),
            module("unused", ModuleKind::User, SymbolSource::Missing),
        ]
        .into_iter()
        .collect(),
        funcs: vec![
            func("main", 0, false, true),
            func("work", 0, false, true),
            func("read;line", 0, false, true),
            func("do_syscall_64", 1, true, true),
            func("worker_thread", 1, true, true),
            func("app+0x10", 0, false, false),
        ],
        frames: vec![
            frame(0, false),
            frame(1, false),
            frame(2, true),
            frame(3, false),
            frame(4, false),
            frame(5, false),
        ],
        stacks: vec![
            stack(&[0, 1, 1], 0),
            stack(&[0, 2, 3], 1),
            stack(&[3, 4], 2),
            stack(&[], 0),
            stack(&[0, 5], 0),
        ],
        names: vec!["app".into(), "kworker/0:1".into(), "db \"main\"".into()],
        ..Default::default()
    }
}

fn tables(a: &Analysis) -> TableSet {
    build(a, &Aggregates::compute(a)).unwrap()
}

fn col_cells(t: &Table, name: &str) -> Vec<String> {
    let c = t
        .column(name)
        .unwrap_or_else(|| panic!("no column {name} in {}", t.name()));
    (0..t.rows()).map(|r| c.cell(r)).collect()
}

#[test]
fn tables_hold_breaches_samples_stacks_functions_modules() {
    let a = analysis();
    let set = tables(&a);
    let names: Vec<_> = set.tables.iter().map(Table::name).collect();
    assert_eq!(
        names,
        [
            "breaches",
            "task_samples",
            "stacks",
            "stack_frames",
            "functions",
            "modules"
        ]
    );

    let b = set.get("breaches").unwrap();
    assert_eq!(col_cells(b, "watch"), ["load", "queue,len", "load"]);
    assert_eq!(col_cells(b, "watch_id"), ["1", "2", "1"]);
    assert_eq!(col_cells(b, "cmp"), [">", "<", ">"]);
    assert_eq!(col_cells(b, "threshold"), ["5", "-3", "5"]);
    assert_eq!(col_cells(b, "dropped"), ["false", "true", "false"]);
    assert_eq!(col_cells(b, "tasks_truncated"), ["false", "false", "true"]);

    let s = set.get("task_samples").unwrap();
    assert_eq!(s.rows(), 6);
    assert_eq!(col_cells(s, "state"), ["R", "D", "R", "D", "R", "L"]);
    assert_eq!(
        col_cells(s, "comm"),
        [
            "app",
            "db \"main\"",
            "app",
            "kworker/0:1",
            "app",
            "db \"main\""
        ]
    );
    assert_eq!(
        col_cells(s, "watch"),
        ["load", "load", "queue,len", "queue,len", "load", "load"]
    );
    assert_eq!(
        col_cells(s, "kernel_frames"),
        ["0", "1", "0", "2", "0", "0"]
    );
    assert_eq!(col_cells(s, "user_frames"), ["3", "2", "3", "0", "2", "0"]);
    assert_eq!(
        col_cells(s, "truncated"),
        ["false", "false", "true", "false", "false", "false"]
    );

    let st = set.get("stacks").unwrap();
    // By count, then folded text.
    assert_eq!(col_cells(st, "stack_id"), ["0", "3", "2", "4", "1"]);
    assert_eq!(col_cells(st, "samples"), ["2", "1", "1", "1", "1"]);
    assert_eq!(
        col_cells(st, "folded"),
        [
            "main;work;work",
            "[no stack]",
            "do_syscall_64_[k];worker_thread_[k]",
            "main;app+0x10",
            "main;read:line_[i];do_syscall_64_[k]"
        ]
    );
    assert_eq!(
        col_cells(st, "leaf"),
        ["work", "", "worker_thread", "app+0x10", "do_syscall_64"]
    );
    assert_eq!(
        col_cells(st, "leaf_module"),
        ["app", "", "[kernel]", "app", "[kernel]"]
    );

    let fr = set.get("stack_frames").unwrap();
    // Stacks 0, 3 (empty), 2, 4, 1.
    assert_eq!(fr.rows(), 3 + 2 + 2 + 3);
    assert_eq!(
        col_cells(fr, "inlined")
            .iter()
            .filter(|c| *c == "true")
            .count(),
        1
    );

    let f = set.get("functions").unwrap();
    // work: 2 self, 2 total (the recursion counts once); main: 4 total.
    assert_eq!(
        col_cells(f, "function"),
        [
            "main",
            "do_syscall_64",
            "work",
            "app+0x10",
            "read;line",
            "worker_thread"
        ]
    );
    assert_eq!(
        col_cells(f, "total_samples"),
        ["4", "2", "2", "1", "1", "1"]
    );
    assert_eq!(col_cells(f, "self_samples"), ["0", "1", "2", "1", "0", "1"]);
    assert_eq!(
        col_cells(f, "module"),
        ["app", "[kernel]", "app", "app", "app", "[kernel]"]
    );

    let m = set.get("modules").unwrap();
    assert_eq!(col_cells(m, "kind"), ["user", "kernel", "user"]);
    assert_eq!(col_cells(m, "debug_info"), ["dwarf", "kallsyms", "none"]);
    assert_eq!(col_cells(m, "debug_file"), ["/bin/app", "", ""]);
    assert_eq!(col_cells(m, "build_id"), ["abcd", "abcd", "abcd"]);
    assert_eq!(col_cells(m, "functions"), ["4", "2", "0"]);
    assert_eq!(col_cells(m, "frames"), ["10", "3", "0"]);
    assert_eq!(col_cells(m, "unresolved_frames"), ["1", "0", "0"]);
    assert_eq!(col_cells(m, "self_samples"), ["3", "2", "0"]);
}

#[test]
fn inconsistent_input_is_an_error_not_a_panic() {
    let mut a = analysis();
    a.samples[1].stack = StackHandle(99);
    let agg = Aggregates {
        stack_names: vec![String::new(); a.stacks.len()],
        ..Default::default()
    };
    let err = build(&a, &agg)
        .err()
        .expect("bad stack id must fail")
        .to_string();
    assert!(err.contains("task sample 1"), "{err}");

    let mut a = analysis();
    a.stacks[0].frames.push(FrameId(42));
    let agg = Aggregates {
        stack_names: vec![String::new(); a.stacks.len()],
        ..Default::default()
    };
    let err = build(&a, &agg)
        .err()
        .expect("bad frame id must fail")
        .to_string();
    assert!(err.contains("frame 42"), "{err}");

    let a = analysis();
    let err = build(&a, &Aggregates::default())
        .err()
        .expect("missing stack names must fail")
        .to_string();
    assert!(err.contains("stack names"), "{err}");
}

#[test]
fn plain_csv_quotes_like_polars() {
    let a = analysis();
    let set = tables(&a);
    let mut out = Vec::new();
    write_csv_plain(set.get("task_samples").unwrap(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "file,breach,watch,time_ns,offset_ns,pid,tgid,comm,state,cpu,cgroup_id,stack_id,kernel_frames,user_frames,on_cpu,kthread,truncated,user_stack,user_complete"
    );
    assert_eq!(
        lines.next().unwrap(),
        "a.vmt,0,load,1000,1000,11,10,app,R,1,77,0,0,3,true,false,false,fp,unknown"
    );
    // A quote inside is doubled, which forces quoting; a comma forces quoting.
    assert_eq!(
        lines.next().unwrap(),
        "a.vmt,0,load,1000,1000,12,10,\"db \"\"main\"\"\",D,1,77,1,1,2,false,false,false,fp,unknown"
    );
    assert!(text.contains(",\"queue,len\","));
    assert_eq!(text.lines().count(), 7);
    // The empty stack.
    assert!(text.lines().last().unwrap().contains(",3,0,0,"));
    let mut modules = Vec::new();
    write_csv_plain(set.get("modules").unwrap(), &mut modules).unwrap();
    // Empty strings are quoted, as polars does.
    assert!(String::from_utf8(modules)
        .unwrap()
        .contains(",kallsyms,\"\",false,"));
}

/// A table big enough to be formatted in several windows of parallel
/// chunks, with a partial last chunk: rows must come out whole and in order.
fn big_stack_frames(rows: usize) -> Table {
    let n = rows as u32;
    Table {
        schema: schema("stack_frames"),
        columns: vec![
            ColumnData::U32((0..n).map(|i| i / 7).collect()),
            ColumnData::U32((0..n).map(|i| i % 7).collect()),
            dict(
                vec!["main".into(), "a,b".into(), "q\"x".into(), String::new()],
                (0..n).map(|i| i % 4).collect(),
            ),
            dict(vec!["app".into()], vec![0; rows]),
            ColumnData::Bool((0..n).map(|i| i % 3 == 0).collect()),
            ColumnData::Bool((0..n).map(|i| i % 5 == 0).collect()),
        ],
    }
}

#[test]
fn csv_chunks_keep_every_row_in_order() {
    let rows = CSV_CHUNK_ROWS * 4 * rayon::current_num_threads().max(1) * 2 + 123;
    let t = big_stack_frames(rows);
    let mut out = Vec::new();
    write_csv_plain(&t, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), rows + 1);
    let names = ["main", "\"a,b\"", "\"q\"\"x\"", "\"\""];
    for (i, l) in lines[1..].iter().enumerate() {
        let want = format!(
            "{},{},{},app,{},{}",
            i / 7,
            i % 7,
            names[i % 4],
            i % 3 == 0,
            i % 5 == 0
        );
        assert_eq!(*l, want, "row {i}");
    }
}

/// The built-in writer is the only CSV writer; polars' CsvWriter is the
/// reference for its quoting and number formats.
#[cfg(feature = "polars")]
#[test]
fn csv_writer_writes_what_polars_writes() {
    use polars::prelude::{CsvWriter, SerWriter};
    let a = analysis();
    let set = tables(&a);
    let mut all: Vec<&Table> = set.tables.iter().collect();
    let big = big_stack_frames(CSV_CHUNK_ROWS * 3 + 5);
    all.push(&big);
    for t in all {
        let mut ours = Vec::new();
        write_csv_plain(t, &mut ours).unwrap();
        let mut theirs = Vec::new();
        let mut df = polars_frame::to_dataframe(t).unwrap();
        CsvWriter::new(&mut theirs).finish(&mut df).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap(),
            "{}",
            t.name()
        );
    }
}

#[test]
fn csv_dir_writes_every_table() {
    let a = analysis();
    let set = tables(&a);
    let dir = std::env::temp_dir().join(format!("vmon-tables-{}", std::process::id()));
    let written = write_csv_dir(&set, &dir).unwrap();
    assert_eq!(written.len(), SCHEMA.len());
    for t in SCHEMA {
        let text = std::fs::read_to_string(dir.join(format!("{}.csv", t.name))).unwrap();
        let header: Vec<_> = text.lines().next().unwrap().split(',').collect();
        let want: Vec<_> = t.columns.iter().map(|c| c.name).collect();
        assert_eq!(header, want, "{}", t.name);
        // The built-in writer and the one in use agree byte for byte.
        let mut plain = Vec::new();
        write_csv_plain(set.get(t.name).unwrap(), &mut plain).unwrap();
        assert_eq!(text.as_bytes(), plain.as_slice(), "{}", t.name);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tables_md_documents_every_column() {
    let path = manifest_dir().join("TABLES.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    if std::env::var_os("VMON_BLESS").is_some() {
        let (head, rest) = doc
            .split_once("<!-- schema:begin -->")
            .expect("TABLES.md lacks the schema:begin marker");
        let (_, tail) = rest
            .split_once("<!-- schema:end -->")
            .expect("TABLES.md lacks the schema:end marker");
        let new = format!(
            "{head}<!-- schema:begin -->\n\n{}<!-- schema:end -->{tail}",
            schema_markdown()
        );
        std::fs::write(path, new).unwrap();
        return;
    }
    let start = doc
        .find("<!-- schema:begin -->")
        .expect("TABLES.md lacks the schema:begin marker");
    let end = doc
        .find("<!-- schema:end -->")
        .expect("TABLES.md lacks the schema:end marker");
    let body = doc[start + "<!-- schema:begin -->".len()..end].trim();
    assert_eq!(
        body,
        schema_markdown().trim(),
        "TABLES.md is stale: regenerate it with `VMON_BLESS=1 cargo test --release -p vmon-analyze tables_md`"
    );
}

#[cfg(feature = "polars")]
#[test]
fn sql_query_joins_tables() {
    let a = analysis();
    let set = tables(&a);
    let mut out = Vec::new();
    let rows = query(
        &set,
        "SELECT s.comm, COUNT(*) AS n, SUM(st.depth) AS frames FROM task_samples s \
         JOIN stacks st ON s.stack_id = st.stack_id GROUP BY s.comm ORDER BY n DESC, s.comm",
        &mut out,
    )
    .unwrap();
    assert_eq!(rows, 3);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "comm,n,frames\napp,3,8\n\"db \"\"main\"\"\",2,3\nkworker/0:1,1,2\n"
    );

    let err = query(&set, "SELECT nope FROM nowhere", &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("tables: breaches"), "{err}");
}

#[cfg(feature = "polars")]
#[test]
fn parquet_round_trips() {
    use polars::prelude::{ParquetReader, SerReader};
    let a = analysis();
    let set = tables(&a);
    let dir = std::env::temp_dir().join(format!("vmon-parquet-{}", std::process::id()));
    write_parquet_dir(&set, &dir).unwrap();
    for t in &set.tables {
        let f = File::open(dir.join(format!("{}.parquet", t.name()))).unwrap();
        let df = ParquetReader::new(f).finish().unwrap();
        assert_eq!(df, polars_frame::to_dataframe(t).unwrap(), "{}", t.name());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(not(feature = "polars"))]
#[test]
fn without_polars_parquet_and_query_say_so() {
    let a = analysis();
    let set = tables(&a);
    let err = query(&set, "SELECT 1", &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("`polars` cargo feature"), "{err}");
    let err = write_parquet_dir(&set, Path::new("/nonexistent"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--parquet"), "{err}");
}

/// Every example in TABLES.md runs.
#[cfg(feature = "polars")]
#[test]
fn tables_md_example_queries_run() {
    let doc = std::fs::read_to_string(manifest_dir().join("TABLES.md")).unwrap();
    let (_, rest) = doc
        .split_once("```sql")
        .expect("TABLES.md has an sql block");
    let (block, _) = rest.split_once("```").unwrap();
    let queries: Vec<String> = block
        .split(';')
        .map(|q| {
            q.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|q| !q.trim().is_empty())
        .collect();
    assert!(queries.len() >= 4);
    let a = analysis();
    let set = tables(&a);
    for q in &queries {
        let mut out = Vec::new();
        query(&set, q, &mut out).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert!(!out.is_empty(), "{q}");
    }
}

/// The crate's directory, read when the test runs: a test binary built in
/// another checkout sharing the target directory stays "fresh" for cargo,
/// and the compile-time path would point into that other checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}
