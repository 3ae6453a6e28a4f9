//! The standard `process_*` family, read from `/proc/self` at scrape time.
//!
//! Written by hand rather than through a collector crate: it is a handful of
//! gauges, and reading procfs directly keeps the dependency tree small. On
//! systems without procfs the family is simply absent.

use std::fmt::Write as _;

/// Linux's USER_HZ: the unit of the CPU times in `/proc/self/stat`. It is 100
/// on every mainstream architecture, which spares an unsafe `sysconf` call.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

pub fn render() -> String {
    let mut out = String::with_capacity(1024);
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return out;
    };
    // Fields after the command name, which is parenthesised and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // `fields[0]` is field 3 (state) of proc(5).
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        let (user, system) = (
            utime / CLOCK_TICKS_PER_SECOND,
            stime / CLOCK_TICKS_PER_SECOND,
        );
        metric(
            &mut out,
            "process_cpu_user_seconds_total",
            "counter",
            "Total user CPU time spent in seconds.",
            user,
        );
        metric(
            &mut out,
            "process_cpu_system_seconds_total",
            "counter",
            "Total system CPU time spent in seconds.",
            system,
        );
        metric(
            &mut out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            user + system,
        );
    }
    if let (Some(start_ticks), Some(btime)) = (field(22), boot_time()) {
        metric(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            btime + start_ticks / CLOCK_TICKS_PER_SECOND,
        );
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(kb) = status_kb(&status, "VmRSS:") {
            metric(
                &mut out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                kb * 1024.0,
            );
        }
        if let Some(kb) = status_kb(&status, "VmSize:") {
            metric(
                &mut out,
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                kb * 1024.0,
            );
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        metric(
            &mut out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            dir.count() as f64,
        );
    }
    if let Some(max) = max_fds() {
        metric(
            &mut out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max,
        );
    }
    out
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    );
}

fn status_kb(status: &str, key: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn boot_time() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn max_fds() -> Option<f64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
}
