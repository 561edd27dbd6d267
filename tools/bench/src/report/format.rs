//! The small formatters of the report: durations, counts, sizes, `median [min – max]`, ratios,
//! and command lines for display.

use crate::stats;

/// Nanoseconds: `412 ns`, `2.87 µs`, `1.20 ms`.
pub fn ns(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v < 1_000.0 {
        format!("{v:.0} ns")
    } else if v < 1_000_000.0 {
        format!("{:.2} µs", v / 1e3)
    } else {
        format!("{:.2} ms", v / 1e6)
    }
}

/// Milliseconds: `4.10 ms`, `233 ms`, `1.40 s`.
pub fn msf(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 1000.0 {
        format!("{v:.0} ms")
    } else {
        format!("{:.2} s", v / 1000.0)
    }
}

/// Seconds: `61.0 s`.
pub fn secs(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.1} s")
    }
}

/// A count with thousands separators: `11,210`.
pub fn num(v: f64) -> String {
    if v.is_nan() {
        return "–".into();
    }
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Kilobytes as MiB: `60.0 MiB`.
pub fn mib(kb: f64) -> String {
    if kb.is_nan() {
        "–".into()
    } else {
        format!("{:.1} MiB", kb / 1024.0)
    }
}

/// `median [min – max]` with a formatter.
pub fn mmm(v: &[f64], f: fn(f64) -> String) -> String {
    let (m, lo, hi) = stats(v);
    if v.is_empty() {
        return "–".into();
    }
    format!("{} [{} – {}]", f(m), f(lo), f(hi))
}

/// The median.
pub fn med(v: &[f64]) -> f64 {
    stats(v).0
}

/// A ratio as a percentage: `42 %`.
pub fn pct(r: f64) -> String {
    format!("{:.0} %", r * 100.0)
}

/// Shell-quotes an argument list for display.
pub fn shell(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replaces the bench's absolute paths with short names for display.
pub fn tidy(s: &str, root: &str) -> String {
    s.replace(
        &format!("{root}/target/bench-media/"),
        "target/bench-media/",
    )
    .replace(&format!("{root}/target/bench-tmp/"), "target/bench-tmp/")
}
