//! The perf profile of streamd serving the playlist route (section 2, and the analysis of a miss).

use std::fmt::Write as _;
use std::path::Path;

/// The profile: its text for section 2 and the shares the analysis quotes (% of samples).
pub(super) struct Perf {
    pub text: String,
    pub kernel: f64,
    pub futex: f64,
    pub fcntl: f64,
    pub wal: f64,
    pub socket: f64,
    pub render: f64,
}

/// The share (children, %) of the first line whose symbol is `sym`.
fn perf_share(lines: &str, sym: &str) -> f64 {
    lines
        .lines()
        .find(|l| {
            let t: Vec<&str> = l.split_whitespace().skip(2).filter(|x| *x != "-").collect();
            t.join(" ") == sym
        })
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.trim_end_matches('%').parse().ok())
        .unwrap_or(0.0)
}

/// perf-dso.txt and perf-symbols.txt (`perf report` of streamd under wrk), when perf ran.
pub(super) fn summary(dir: &Path) -> Option<Perf> {
    let dso = std::fs::read_to_string(dir.join("perf-dso.txt")).ok()?;
    let syms = std::fs::read_to_string(dir.join("perf-symbols.txt")).ok()?;
    if dso.trim().is_empty() {
        return None;
    }
    let mut by_dso: Vec<(String, f64)> = dso
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let p: f64 = it.next()?.trim_end_matches('%').parse().ok()?;
            Some((it.next()?.to_string(), p))
        })
        .collect();
    by_dso.sort_by(|a, b| b.1.total_cmp(&a.1));
    let kernel = by_dso
        .iter()
        .filter(|(d, _)| d.contains("kernel"))
        .map(|x| x.1)
        .sum::<f64>();
    let futex = perf_share(&syms, "[k] __x64_sys_futex");
    let fcntl = perf_share(&syms, "[k] __x64_sys_fcntl");
    let wal = perf_share(&syms, "[k] __x64_sys_pwrite64")
        + perf_share(&syms, "[k] __x64_sys_fsync")
        + perf_share(&syms, "[k] __x64_sys_fdatasync");
    let socket = perf_share(&syms, "[.] __GI___writev")
        .max(perf_share(&syms, "[k] __x64_sys_writev"))
        + perf_share(&syms, "[k] __x64_sys_recvfrom");
    let render = perf_share(&syms, "[.] stream_core::hls::playlist::variant");
    let mut text = String::new();
    let _ = writeln!(
        text,
        "**Profile of the playlist route** (`perf record -F 999 -g -p <streamd>` for 4 s while wrk \
         loads the short playlist; `perf report`): {kernel:.0} % of streamd's CPU samples are in \
         the kernel ({}). By system call (samples under it, children): **futex {futex:.0} %** \
         (thread hand-offs and lock waits), **fcntl {fcntl:.0} %** (SQLite file locks), \
         pwrite/fsync {wal:.0} % (the WAL), socket reads and writes {socket:.0} %; rendering the \
         playlist (`playlist::variant`) {render:.1} %.\n",
        by_dso.iter().take(4).map(|(d, p)| format!("{d} {p:.0} %")).collect::<Vec<_>>().join(", ")
    );
    let top: Vec<String> = syms
        .lines()
        .take(40)
        .map(|l| {
            l.split_whitespace()
                .filter(|x| *x != "-")
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let _ = writeln!(
        text,
        "<details><summary>perf report, top 40 symbols (children: samples in the symbol and below \
         it)</summary>\n\n\
         ```\n\
         {}\n\
         ```\n\
         </details>\n",
        top.join("\n")
    );
    Some(Perf {
        text,
        kernel,
        futex,
        fcntl,
        wal,
        socket,
        render,
    })
}
