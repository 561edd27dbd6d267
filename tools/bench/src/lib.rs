//! The benchmark tool of the workspace (`scripts/bench.sh`; not part of the test suite, see
//! BENCHMARKS.md). The benchmarks themselves are the `micro` (criterion) and `e2e` (end-to-end
//! driver) bench targets; this library holds what they share and what can be tested without
//! running them: the report writer that turns a results directory into BENCHMARKS.md.

pub mod report;

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// (median, min, max) of a non-empty list.
pub fn stats(v: &[f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (med, s[0], s[n - 1])
}
