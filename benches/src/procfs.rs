//! What `/proc` says about processes under measurement: CPU time (per process, per thread, and
//! for the whole machine, so that a run can tell how much CPU something else took) and memory.

use std::collections::BTreeMap;
use std::time::Duration;

/// CPU time (user + system) a process has used so far; `None` for this process.
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = pid.map_or_else(|| "/proc/self/stat".to_owned(), |pid| format!("/proc/{pid}/stat"));
    stat_cpu(&std::fs::read_to_string(path).ok()?)
}

/// CPU time used so far by each thread of `pid`, summed by thread name (`spool-writer`,
/// `actix-server wo`…).
pub fn thread_cpu(pid: u32) -> BTreeMap<String, Duration> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return by_name };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let name = stat.split_once('(').and_then(|(_, rest)| rest.rsplit_once(')')).map(|(n, _)| n.trim().to_owned());
        if let (Some(name), Some(cpu)) = (name, stat_cpu(&stat)) {
            *by_name.entry(name).or_default() += cpu;
        }
    }
    by_name
}

/// Busy CPU time of the whole machine so far (everything but idle and I/O wait), from
/// `/proc/stat`.
pub fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).take(8).filter_map(|f| f.parse().ok()).collect();
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = fields.as_slice() else { return None };
    Some(ticks(user + nice + system + irq + softirq + steal))
}

fn stat_cpu(stat: &str) -> Option<Duration> {
    // Fields after the command name (which may hold spaces) start at the state, field 3;
    // utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(ticks(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?))
}

fn ticks(n: u64) -> Duration {
    static PER_SECOND: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let per_second = *PER_SECOND.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    });
    Duration::from_secs_f64(n as f64 / per_second)
}

/// A `/proc/PID/status` size field (`VmRSS`, `VmHWM`) in bytes.
pub fn memory(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
