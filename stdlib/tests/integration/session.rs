//! What a session guarantees: failed statements change nothing, writes are atomic,
//! interrupts stop work, and the JSON output keeps its contract.

use std::sync::atomic::Ordering;

use crate::{run, run_in, session};

#[test]
fn a_failing_statement_changes_no_binding() {
    let mut s = session();
    assert!(
        run_in(&mut s, "x = 1\nt = table a = [1, 2]", "a")
            .error
            .is_none()
    );
    let failed = run_in(&mut s, "y = 2\nx = nope + 1\nz = 3", "b");
    assert!(failed.error.unwrap().contains("unknown name `nope`"));
    // The statement before the failure took effect; the failing one and those after did not.
    assert_eq!(run_in(&mut s, "x", "c").text, "1\n");
    assert_eq!(run_in(&mut s, "y", "d").text, "2\n");
    assert!(run_in(&mut s, "z", "e").error.is_some());
    // A failing `use` leaves the current table alone.
    run_in(&mut s, "use t", "f");
    assert!(
        run_in(&mut s, "use x", "g")
            .error
            .unwrap()
            .contains("not a table")
    );
    assert!(run_in(&mut s, "head 1", "h").text.contains("shape: (1, 1)"));
}

#[test]
fn assignment_is_not_evaluated_twice_and_shows_nothing() {
    let out = run("x = 6 * 7");
    assert_eq!(out.text, "");
    assert_eq!(out.json, "");
}

#[test]
fn interrupt_stops_long_work_within_a_second() {
    use spel_grammar::Span;
    use spel_stdlib::work::Work;
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let setter = std::sync::Arc::clone(&flag);
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        setter.store(true, Ordering::SeqCst);
    });
    let work = Work {
        interrupt: &flag,
        progress: None,
    };
    let started = std::time::Instant::now();
    let result = work.run("sleeping", Span::default(), || {
        std::thread::sleep(std::time::Duration::from_secs(30));
        Ok(())
    });
    assert_eq!(result.unwrap_err().message, "interrupted");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

/// A read runs on in its thread after "interrupted" unless it looks at the flag as it
/// goes: the job below reports whether its read stopped or ran to the end.
#[test]
fn an_interrupted_read_stops_at_its_next_batch() {
    use spel_grammar::Span;
    use spel_stdlib::files::{Encoding, ReadOptions, read};
    use spel_stdlib::work::Work;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut text = String::from("practice,patients,share\n");
    for i in 0..1_500_000 {
        text.push_str(&format!(
            "P{i},{},{}\n",
            i % 9_973,
            (i % 101) as f64 / 100.0
        ));
    }
    std::fs::write(&path, text).unwrap();
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let setter = std::sync::Arc::clone(&flag);
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        setter.store(true, Ordering::SeqCst);
    });
    let (stopped_tx, stopped) = std::sync::mpsc::channel();
    let work = Work {
        interrupt: &flag,
        progress: None,
    };
    let options = ReadOptions {
        delimiter: b',',
        encoding: Encoding::Utf8,
        null_values: Vec::new(),
        source_file: false,
    };
    let result = work.run("reading", Span::default(), move || {
        let outcome = read(&path, None, &options, Span::default());
        let _ = stopped_tx.send(outcome.is_err());
        outcome.map(|_| ())
    });
    assert_eq!(result.unwrap_err().message, "interrupted");
    let read_stopped = stopped
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the read's thread ended");
    assert!(read_stopped, "the read ran to its end after the interrupt");
}

#[test]
fn an_interrupted_statement_keeps_the_bindings() {
    let mut s = session();
    run_in(&mut s, "x = 1", "a");
    let flag = s.interrupt_handle();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = std::sync::Arc::clone(&done);
    // Press Ctrl-C again and again while the statement reads and stacks two files.
    let presser = std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            flag.store(true, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    let out = run_in(
        &mut s,
        "x = read \"examples/data/pcn_workforce_*.csv\", encoding = \"cp1252\"",
        "b",
    );
    done.store(true, Ordering::SeqCst);
    presser.join().unwrap();
    assert!(out.error.unwrap().contains("interrupted"));
    assert_eq!(run_in(&mut s, "x", "c").text, "1\n");
}

#[test]
fn json_lines_follow_the_output_contract() {
    let out = run("table a = [1, 2], b = [\"x\", \"y\"]\n6 * 7\nprint \"hi\"");
    let lines: Vec<serde_json::Value> = out
        .json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "table");
    assert_eq!(lines[0]["columns"], serde_json::json!(["a", "b"]));
    assert_eq!(lines[0]["dtypes"], serde_json::json!(["f64", "str"]));
    assert_eq!(
        lines[0]["rows"],
        serde_json::json!([[1.0, "x"], [2.0, "y"]])
    );
    assert_eq!(lines[0]["n_rows"], 2);
    assert_eq!(
        lines[1],
        serde_json::json!({"type": "value", "value": 42.0})
    );
    assert_eq!(
        lines[2],
        serde_json::json!({"type": "message", "text": "hi"})
    );
}

#[test]
fn json_truncates_after_ten_thousand_rows() {
    let big = crate::repo_root().join("examples/data/pcn_workforce_2022_09.csv");
    let out = run(&format!(
        "read \"{}\", encoding = \"cp1252\"",
        big.display()
    ));
    let line: serde_json::Value = serde_json::from_str(out.json.trim()).unwrap();
    assert_eq!(line["rows"].as_array().unwrap().len(), 10_000);
    assert!(line["n_rows"].as_u64().unwrap() > 10_000);
    assert_eq!(line["truncated"], true);
}

#[test]
fn write_is_atomic_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let parquet = dir.path().join("out.parquet");
    let src = format!(
        "t = table region = [\"London\", \"North West\"], fte = [1.5, 2]\n\
         write t to \"{}\"\n\
         t |> write to \"{}\"\n\
         read \"{}\" |> summarise total = sum(fte)\n\
         read \"{}\" |> summarise total = sum(fte)",
        csv.display(),
        parquet.display(),
        csv.display(),
        parquet.display()
    );
    let out = run(&src);
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.text.contains("wrote 2 rows × 2 columns to"));
    assert_eq!(out.text.matches("3.5").count(), 2, "{}", out.text);
    // Written with the permissions of any new file (the umask's), not a temporary's.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode();
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        assert_eq!(mode(&csv), mode(&plain));
        assert_eq!(mode(&parquet), mode(&plain));
        std::fs::remove_file(&plain).unwrap();
    }

    // A table that fails while being computed leaves no file, and no temporary file.
    let failing = dir.path().join("failing.csv");
    let src = format!(
        "p = read \"{}\"\nwrite p to \"{}\"",
        parquet.display(),
        failing.display()
    );
    let mut s = session();
    let first = run_in(&mut s, &src.replace("write", "# write"), "a");
    assert!(first.error.is_none());
    std::fs::remove_file(&parquet).unwrap();
    let out = run_in(
        &mut s,
        &format!("write p to \"{}\"", failing.display()),
        "b",
    );
    assert!(out.error.is_some());
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["out.csv".to_string()],
        "files left behind: {left:?}"
    );

    // A folder that does not exist is named.
    let out = run(&format!(
        "t = table a = [1]\nwrite t to \"{}\"",
        dir.path().join("no/such/folder.csv").display()
    ));
    assert!(out.error.unwrap().contains("does not exist"));
}
