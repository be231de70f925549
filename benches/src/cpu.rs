//! CPU time of this process, of local Postgres processes and of the whole machine, read from
//! `/proc`, so a run shows which side is busy. Linux only: elsewhere the readings are absent.

use std::time::Instant;

use crate::process::{self, name_and_ticks};

#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    own: Option<u64>,
    postgres: Option<u64>,
    machine: Option<MachineTicks>,
}

#[derive(Debug, Clone, Copy)]
struct MachineTicks {
    busy: u64,
    iowait: u64,
}

/// Cores kept busy on average between two samples (1.0 = one core all the time).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub own: Option<f64>,
    pub postgres: Option<f64>,
    pub machine: Option<f64>,
    pub iowait: Option<f64>,
}

pub fn sample() -> CpuSample {
    CpuSample {
        at: Instant::now(),
        own: name_and_ticks("self").map(|(_, ticks)| ticks),
        postgres: postgres_ticks(),
        machine: machine_ticks(),
    }
}

impl CpuSample {
    pub fn since(&self, earlier: &CpuSample) -> CpuUse {
        let seconds = self.at.duration_since(earlier.at).as_secs_f64();
        if seconds <= 0.0 {
            return CpuUse::default();
        }
        let cores = |now, then| process::cores_between(now, then, seconds);
        CpuUse {
            own: cores(self.own, earlier.own),
            postgres: cores(self.postgres, earlier.postgres),
            machine: cores(
                self.machine.map(|m| m.busy),
                earlier.machine.map(|m| m.busy),
            ),
            iowait: cores(
                self.machine.map(|m| m.iowait),
                earlier.machine.map(|m| m.iowait),
            ),
        }
    }
}

/// Sum over every process named `postgres`; absent when there is none (a remote server).
/// Backends that exit between two samples make the difference an underestimate.
fn postgres_ticks() -> Option<u64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str() else {
            continue;
        };
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some((name, ticks)) = name_and_ticks(pid)
            && name == "postgres"
        {
            total = Some(total.unwrap_or(0) + ticks);
        }
    }
    total
}

/// The machine's `cpu` line of `/proc/stat`: busy is everything but idle and iowait.
fn machine_ticks() -> Option<MachineTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    let idle = *values.get(3)?;
    let iowait = *values.get(4)?;
    let all: u64 = values.iter().take(8).sum();
    Some(MachineTicks {
        busy: all.saturating_sub(idle + iowait),
        iowait,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_reading_on_linux() {
        if cfg!(target_os = "linux") {
            let (name, _) = name_and_ticks("self").expect("own stat");
            assert!(!name.is_empty());
            assert!(machine_ticks().is_some());
        }
    }
}
