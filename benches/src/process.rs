//! CPU time and resident memory of another process, such as a server under test run as a
//! child, read from `/proc/<pid>`. Linux only: elsewhere the readings are absent.

/// Linux reports process times in units of `USER_HZ`, which is 100 on every architecture.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// Cores kept busy on average by `now - then` ticks over `seconds`; `None` when a reading is
/// missing.
pub fn cores_between(now: Option<u64>, then: Option<u64>, seconds: f64) -> Option<f64> {
    Some(now?.saturating_sub(then?) as f64 / TICKS_PER_SECOND / seconds)
}

/// User + system CPU ticks of every thread of `pid` so far.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    name_and_ticks(&pid.to_string()).map(|(_, ticks)| ticks)
}

/// Command name and user + system ticks of `/proc/<pid>/stat`; `pid` may be `self`.
pub fn name_and_ticks(pid: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Resident set size of `pid` in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, "VmRSS:").map(|kib| kib * 1024)
}

/// Highest resident set size of `pid` since it started, in bytes (`VmHWM`).
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, "VmHWM:").map(|kib| kib * 1024)
}

fn parse_stat(stat: &str) -> Option<(String, u64)> {
    // The command name is in parentheses and may hold spaces and ')'; the numeric fields
    // follow the last ')'.
    let (head, tail) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_string();
    let fields: Vec<&str> = tail.split_whitespace().collect();
    // After the name: state is field 3 of proc(5), utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    let mut words = line[key.len()..].split_whitespace();
    let value = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_follow_the_last_parenthesis() {
        let stat = "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 3 0 1 0 0";
        assert_eq!(parse_stat(stat), Some(("a) b".to_string(), 12)));
        assert_eq!(parse_stat("42 (cut"), None);
    }

    #[test]
    fn status_values_are_read_in_kib() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS:"), Some(1024));
        assert_eq!(parse_status_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(parse_status_kib(status, "VmSwap:"), None);
        assert_eq!(parse_status_kib("VmRSS:\t12 pages\n", "VmRSS:"), None);
    }

    #[test]
    fn this_process_has_readings_on_linux() {
        if cfg!(target_os = "linux") {
            let pid = std::process::id();
            assert!(cpu_ticks(pid).is_some());
            assert!(rss_bytes(pid).is_some_and(|rss| rss > 0));
            assert!(peak_rss_bytes(pid).is_some());
        }
    }
}
