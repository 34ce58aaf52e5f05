//! What validation needs to know about the host: usable cores and the locked-memory limit.
//!
//! Read from `/proc` rather than through `libc` calls, so this module needs no `unsafe`.

/// The host a configuration is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// Cores this process may run on, ascending (its CPU affinity).
    pub cores: Vec<u16>,
    /// The soft locked-memory limit (`RLIMIT_MEMLOCK`), in bytes; `None` when unlimited.
    pub memlock_bytes: Option<u64>,
}

impl Machine {
    /// Reads this process's CPU affinity and locked-memory limit. When `/proc` cannot be
    /// read, assumes cores `0..available_parallelism` and the common 8 MiB limit.
    pub fn probe() -> Machine {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let cores = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .and_then(|list| parse_cpu_list(list.trim()))
            .unwrap_or_else(cores_fallback);
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let memlock_bytes = parse_memlock(&limits).unwrap_or(Some(MEMLOCK_FALLBACK_BYTES));
        Machine {
            cores,
            memlock_bytes,
        }
    }
}

/// The locked-memory limit assumed when `/proc/self/limits` is unreadable.
const MEMLOCK_FALLBACK_BYTES: u64 = 8 << 20;

fn cores_fallback() -> Vec<u16> {
    let count = std::thread::available_parallelism().map_or(1, |n| n.get());
    (0..count)
        .filter_map(|core| u16::try_from(core).ok())
        .collect()
}

/// Parses a kernel CPU list such as `0-3,8,10-11`.
pub(crate) fn parse_cpu_list(list: &str) -> Option<Vec<u16>> {
    let mut cores = Vec::new();
    for part in list.split(',').filter(|part| !part.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => {
                let first: u16 = first.parse().ok()?;
                let last: u16 = last.parse().ok()?;
                cores.extend(first..=last);
            }
            None => cores.push(part.parse().ok()?),
        }
    }
    cores.sort_unstable();
    cores.dedup();
    (!cores.is_empty()).then_some(cores)
}

/// The soft limit from the `Max locked memory` row of `/proc/self/limits`: `Some(None)`
/// when unlimited, `None` when the row is missing or malformed.
pub(crate) fn parse_memlock(limits: &str) -> Option<Option<u64>> {
    let row = limits
        .lines()
        .find(|line| line.starts_with("Max locked memory"))?;
    let soft = row
        .trim_start_matches("Max locked memory")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(None);
    }
    soft.parse().ok().map(Some)
}
