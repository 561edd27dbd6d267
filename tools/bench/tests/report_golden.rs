//! The report (BENCHMARKS.md) rendered from hand-made results directories, compared byte for byte
//! with committed golden files, so that a change of the report's text or figures cannot go
//! unnoticed.
//!
//! `fixture-results/<name>/` is a results directory in the layout `scripts/bench.sh` leaves in
//! `target/bench-results`, with plausible values: `misses` misses several targets (so every
//! section, the list of misses and their analysis render), `met` meets them all (the other
//! branches: an idle machine, a bounded memory growth, "every target is met"). Two things in it
//! are not results: `@ROOT@` in its files stands for the work tree the bench ran in (the ffmpeg
//! arguments' absolute paths, which the report shortens), and `nginx.conf` is what the report
//! reads from `<work tree>/target/bench-tmp/nginx/nginx.conf`. The test copies a fixture into a
//! scratch work tree with both in place and renders it; `empty` is a results directory with
//! nothing in it ("Not run." everywhere).
//!
//! The golden files were made by the report code as it was before it became a library and was
//! split into one module per section: the `e2e report` binary built at c353fc5 (and, identically,
//! at 58d5612), run on the same fixtures; the one change since is the benches' paths and package
//! named in the text (tools/bench, -p stream-bench). After an intended change of the report,
//! `STREAM_BENCH_BLESS=1 cargo test -p stream-bench --test report_golden`
//! rewrites them; review their diff.

use std::fs;
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixture-results");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// Copies `from` into `to`, `@ROOT@` replaced with `root` in every file.
fn copy_fixture(from: &Path, to: &Path, root: &str) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_fixture(&e.path(), &target, root);
        } else {
            let text = fs::read_to_string(e.path()).unwrap();
            fs::write(&target, text.replace("@ROOT@", root)).unwrap();
        }
    }
}

/// A scratch work tree `<tmp>/<name>/root` and the fixture `name` copied into
/// `<tmp>/<name>/results` (empty when there is no such fixture); returns (results, root).
fn materialize(name: &str) -> (PathBuf, String) {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-golden-{name}"));
    let _ = fs::remove_dir_all(&scratch);
    let root = scratch.join("root");
    let results = scratch.join("results");
    fs::create_dir_all(root.join("target/bench-tmp/nginx")).unwrap();
    fs::create_dir_all(&results).unwrap();
    let root = root
        .to_str()
        .expect("a UTF-8 temporary directory")
        .to_string();
    let fixture = Path::new(FIXTURES).join(name);
    if fixture.is_dir() {
        copy_fixture(&fixture, &results, &root);
        fs::copy(
            results.join("nginx.conf"),
            format!("{root}/target/bench-tmp/nginx/nginx.conf"),
        )
        .unwrap();
    }
    (results, root)
}

fn check(name: &str) {
    let (results, root) = materialize(name);
    let actual = stream_bench::report::render(&results, &root);
    let golden_path = Path::new(GOLDEN).join(format!("{name}.md"));
    if std::env::var_os("STREAM_BENCH_BLESS").is_some() {
        fs::write(&golden_path, &actual).unwrap();
        return;
    }
    let golden = fs::read_to_string(&golden_path).unwrap();
    if actual == golden {
        return;
    }
    let actual_path = results.with_file_name(format!("{name}.actual.md"));
    fs::write(&actual_path, &actual).unwrap();
    let (a, g): (Vec<&str>, Vec<&str>) = (actual.lines().collect(), golden.lines().collect());
    let first = match (0..a.len().max(g.len())).find(|&i| a.get(i) != g.get(i)) {
        Some(i) => {
            format!(
                "first at line {}:\ngolden: {:?}\nactual: {:?}",
                i + 1,
                g.get(i),
                a.get(i)
            )
        }
        None => "in the line endings".to_string(),
    };
    panic!(
        "the report of fixture `{name}` differs from {} (written to {}), {first}",
        golden_path.display(),
        actual_path.display()
    );
}

#[test]
fn report_of_a_run_with_misses() {
    check("misses");
}

#[test]
fn report_of_a_run_that_meets_every_target() {
    check("met");
}

#[test]
fn report_of_an_empty_results_directory() {
    check("empty");
}
