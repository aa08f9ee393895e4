//! What a scenario cost in CPU, process by process: the servers, Postgres, Redis and the load
//! generator itself, read from `/proc` (user + system time) before and after the sending window.
//! On a box where all of them share the cores, throughput is cores divided by this cost, so it is
//! the steadier figure to compare runs by.

use std::fs;

/// Reads the CPU time of the processes a run involves.
pub struct CpuMeter {
    servers: Vec<u32>,
    /// The Postgres and Redis to meter: a server process and its children, or, when not given,
    /// every process of that name on the machine.
    postgres: Option<u32>,
    redis: Option<u32>,
}

/// CPU time used so far, in microseconds, by role.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTime {
    pub servers: u64,
    pub postgres: u64,
    pub redis: u64,
    pub generator: u64,
}

impl CpuMeter {
    /// Meters the given server processes, this process, and Postgres and Redis: the given
    /// instances (their main process and its children), or every `postgres` and `redis-server`
    /// process of this machine.
    pub fn new(servers: Vec<u32>, postgres: Option<u32>, redis: Option<u32>) -> Self {
        Self {
            servers,
            postgres,
            redis,
        }
    }

    /// The CPU time used so far. Processes are looked up at each reading, so Postgres backends
    /// opened meanwhile count (one that ended meanwhile takes its time with it).
    pub fn read(&self) -> CpuTime {
        let sum = |pids: &[u32]| pids.iter().filter_map(|pid| cpu_micros(*pid)).sum();
        let instance = |main: Option<u32>, named: fn(&str) -> bool| match main {
            Some(main) => family_of(main),
            None => processes_named(named),
        };
        CpuTime {
            servers: sum(&self.servers),
            postgres: sum(&instance(self.postgres, |name| name == "postgres")),
            redis: sum(&instance(self.redis, |name| {
                name.starts_with("redis-server")
            })),
            generator: cpu_micros(std::process::id()).unwrap_or(0),
        }
    }
}

/// CPU µs per message, by role, over one sending window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuPerMessage {
    pub servers: f64,
    pub postgres: f64,
    pub redis: f64,
    pub generator: f64,
}

impl CpuTime {
    /// What each role spent per message from `before` to `self`.
    pub fn per_message_since(&self, before: &CpuTime, messages: u64) -> CpuPerMessage {
        let per =
            |after: u64, before: u64| after.saturating_sub(before) as f64 / messages.max(1) as f64;
        CpuPerMessage {
            servers: per(self.servers, before.servers),
            postgres: per(self.postgres, before.postgres),
            redis: per(self.redis, before.redis),
            generator: per(self.generator, before.generator),
        }
    }
}

impl CpuPerMessage {
    /// The roles in the order of [`CPU_PER_MESSAGE`], with their figures.
    pub fn by_role(&self) -> [(&'static str, f64); 4] {
        [
            ("servers", self.servers),
            ("Postgres", self.postgres),
            ("Redis", self.redis),
            ("generator", self.generator),
        ]
    }
}

/// `servers / Postgres / Redis / generator`, in whole µs.
impl std::fmt::Display for CpuPerMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} / {:.0} / {:.0} / {:.0}",
            self.servers, self.postgres, self.redis, self.generator
        )
    }
}

/// The label of [`CpuTime::per_message_since`]'s figure in a report.
pub const CPU_PER_MESSAGE: &str = "CPU µs per message (servers / Postgres / Redis / generator)";

/// A process and its children (Postgres' backends are children of its main process).
fn family_of(main: u32) -> Vec<u32> {
    let mut family: Vec<u32> = all_processes()
        .into_iter()
        .filter(|pid| parent_of(*pid) == Some(main))
        .collect();
    family.push(main);
    family
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn all_processes() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// Process ids whose command name passes `wanted`.
fn processes_named(wanted: impl Fn(&str) -> bool) -> Vec<u32> {
    all_processes()
        .into_iter()
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|name| wanted(name.trim_end()))
        })
        .collect()
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User + system CPU time of a process, in microseconds.
pub fn cpu_micros(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in clock ticks of 1/100 s.
    Some(ticks * 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_is_its_main_process_and_its_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep runs");
        let family = family_of(std::process::id());
        let _ = child.kill();
        let _ = child.wait();
        assert!(family.contains(&std::process::id()));
        assert!(family.contains(&child.id()), "{family:?}");
    }

    #[test]
    fn this_process_is_metered() {
        let meter = CpuMeter::new(vec![std::process::id()], None, None);
        let before = meter.read();
        let mut spin = 0u64;
        for n in 0..20_000_000u64 {
            spin = spin.wrapping_add(n * n);
        }
        assert_ne!(spin, 1);
        let after = meter.read();
        assert!(after.generator >= before.generator);
        assert!(after.servers >= before.servers);
        assert_eq!(
            after.per_message_since(&after, 10).to_string(),
            "0 / 0 / 0 / 0",
            "nothing is spent between one reading and itself"
        );
    }
}
