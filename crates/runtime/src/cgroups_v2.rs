//! Accounting of a cgroup v2 (unified) container, read from its files directly.
//!
//! libcgroups 0.7's v2 `stats()` fails as a whole when any file it expects is missing, and on
//! real v2 hosts several routinely are: `nr_periods`/`nr_throttled`/`throttled_usec` in
//! `cpu.stat` exist only while the `cpu` controller is enabled for the cgroup, the
//! `*.pressure` files only on kernels with PSI, `memory.swap.*` only with swap accounting, and
//! `hugetlb.*` only where that controller is delegated. Docker's stats need none of those to
//! answer, so this reader takes what is there: a missing file or key reads as zero, a present
//! but malformed one is an error. The result is libcgroups' [`Stats`], as on v1, with v2's
//! units (microseconds for CPU, bytes for memory).

use std::collections::HashMap;
use std::path::Path;

use libcgroups::stats::{BlkioDeviceStat, MemoryData, Stats};

use crate::error::RuntimeError;

/// Reads the accounting of the cgroup directory `dir` (e.g. `/sys/fs/cgroup/berth/<id>`).
pub fn stats_at(dir: &Path) -> Result<Stats, RuntimeError> {
    if !dir.is_dir() {
        return Err(RuntimeError::NotFound(dir.display().to_string()));
    }
    let mut st = Stats::default();

    // `cpu.stat` exists in every v2 cgroup (its first three keys are core accounting).
    let cpu = flat_keyed(dir, "cpu.stat")?.unwrap_or_default();
    let get = |m: &HashMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    st.cpu.usage.usage_total = get(&cpu, "usage_usec");
    st.cpu.usage.usage_user = get(&cpu, "user_usec");
    st.cpu.usage.usage_kernel = get(&cpu, "system_usec");
    st.cpu.throttling.periods = get(&cpu, "nr_periods");
    st.cpu.throttling.throttled_periods = get(&cpu, "nr_throttled");
    st.cpu.throttling.throttled_time = get(&cpu, "throttled_usec");

    st.memory.memory = memory_data(dir, "memory")?;
    st.memory.memswap = memory_data(dir, "memory.swap")?;
    st.memory.stats = flat_keyed(dir, "memory.stat")?.unwrap_or_default();

    if let Some(current) = single(dir, "pids.current")? {
        st.pids.current = current;
        // "max" (unlimited) reads as 0, as libcgroups reports it.
        st.pids.limit = single(dir, "pids.max")?
            .filter(|&v| v != u64::MAX)
            .unwrap_or(0);
    }

    if let Some(text) = read(dir, "io.stat")? {
        let (bytes, ios) = parse_io_stat(&text, &dir.join("io.stat"))?;
        st.blkio.service_bytes = bytes;
        st.blkio.serviced = ios;
    }
    Ok(st)
}

fn read(dir: &Path, file: &str) -> Result<Option<String>, RuntimeError> {
    let p = dir.join(file);
    match std::fs::read_to_string(&p) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RuntimeError::io(format!("read {}", p.display()), e)),
    }
}

fn malformed(dir: &Path, file: &str, what: &str) -> RuntimeError {
    RuntimeError::Runtime {
        op: "stats",
        message: format!("{}: malformed {what}", dir.join(file).display()),
    }
}

/// A one-value file; `max` reads as `u64::MAX`.
fn single(dir: &Path, file: &str) -> Result<Option<u64>, RuntimeError> {
    let Some(text) = read(dir, file)? else {
        return Ok(None);
    };
    let v = text.trim();
    if v == "max" {
        return Ok(Some(u64::MAX));
    }
    v.parse()
        .map(Some)
        .map_err(|_| malformed(dir, file, &format!("value {v:?}")))
}

/// A `key value` per line file (`cpu.stat`, `memory.stat`, `memory.events`).
fn flat_keyed(dir: &Path, file: &str) -> Result<Option<HashMap<String, u64>>, RuntimeError> {
    let Some(text) = read(dir, file)? else {
        return Ok(None);
    };
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace();
        let (Some(k), Some(v), None) = (f.next(), f.next(), f.next()) else {
            return Err(malformed(dir, file, &format!("line {line:?}")));
        };
        let v = v
            .parse()
            .map_err(|_| malformed(dir, file, &format!("line {line:?}")))?;
        out.insert(k.to_owned(), v);
    }
    Ok(Some(out))
}

/// `<prefix>.current`, `.max`, `.peak` and the `oom` count of `.events` (libcgroups' choice
/// for `fail_count`); all zero when the controller is not enabled.
fn memory_data(dir: &Path, prefix: &str) -> Result<MemoryData, RuntimeError> {
    let Some(usage) = single(dir, &format!("{prefix}.current"))? else {
        return Ok(MemoryData::default());
    };
    Ok(MemoryData {
        usage,
        limit: single(dir, &format!("{prefix}.max"))?.unwrap_or(u64::MAX),
        max_usage: single(dir, &format!("{prefix}.peak"))?.unwrap_or(0),
        fail_count: flat_keyed(dir, &format!("{prefix}.events"))?
            .and_then(|m| m.get("oom").copied())
            .unwrap_or(0),
    })
}

type DeviceStats = Vec<BlkioDeviceStat>;

/// `io.stat`: `MAJ:MIN rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…` per device. Docker's
/// v2 shape has bytes and operations, `read` and `write` (discards are left out, as by
/// Docker).
fn parse_io_stat(text: &str, path: &Path) -> Result<(DeviceStats, DeviceStats), RuntimeError> {
    let bad = |l: &str| RuntimeError::Runtime {
        op: "stats",
        message: format!("{}: malformed line {l:?}", path.display()),
    };
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace();
        let dev = f.next().ok_or_else(|| bad(line))?;
        let (maj, min) = dev.split_once(':').ok_or_else(|| bad(line))?;
        let major: u64 = maj.parse().map_err(|_| bad(line))?;
        let minor: u64 = min.parse().map_err(|_| bad(line))?;
        for kv in f {
            let (k, v) = kv.split_once('=').ok_or_else(|| bad(line))?;
            let value: u64 = v.parse().map_err(|_| bad(line))?;
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "read"),
                "wbytes" => (&mut bytes, "write"),
                "rios" => (&mut ios, "read"),
                "wios" => (&mut ios, "write"),
                _ => continue,
            };
            list.push(BlkioDeviceStat {
                major,
                minor,
                op_type: Some(op.to_owned()),
                value,
            });
        }
    }
    Ok((bytes, ios))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/cgroup-v2")
            .join(name)
    }

    #[test]
    fn a_full_v2_cgroup_reads_like_the_kernel_wrote_it() {
        let st = stats_at(&fixture("full")).unwrap();
        assert_eq!(st.cpu.usage.usage_total, 2_500_000);
        assert_eq!(st.cpu.usage.usage_user, 2_000_000);
        assert_eq!(st.cpu.usage.usage_kernel, 500_000);
        assert_eq!(st.cpu.throttling.periods, 120);
        assert_eq!(st.cpu.throttling.throttled_periods, 30);
        assert_eq!(st.cpu.throttling.throttled_time, 1_500_000);
        assert_eq!(st.memory.memory.usage, 52_428_800);
        assert_eq!(st.memory.memory.limit, 104_857_600);
        assert_eq!(st.memory.memory.max_usage, 60_000_000);
        assert_eq!(st.memory.memory.fail_count, 1);
        assert_eq!(st.memory.memswap.usage, 4096);
        assert_eq!(st.memory.memswap.limit, u64::MAX);
        assert_eq!(st.memory.stats["inactive_file"], 6_291_456);
        assert_eq!(st.memory.stats["anon"], 41_943_040);
        assert_eq!(st.pids.current, 7);
        assert_eq!(st.pids.limit, 100);
        let b = &st.blkio.service_bytes;
        assert_eq!(b.len(), 4);
        assert_eq!(
            (b[0].major, b[0].minor, b[0].op_type.as_deref(), b[0].value),
            (8, 0, Some("read"), 1_048_576)
        );
        assert_eq!(
            (b[3].major, b[3].minor, b[3].op_type.as_deref(), b[3].value),
            (253, 1, Some("write"), 8192)
        );
        let ios: Vec<u64> = st.blkio.serviced.iter().map(|d| d.value).collect();
        assert_eq!(ios, vec![16, 1, 0, 2]);
    }

    #[test]
    fn missing_controllers_read_as_zero_not_as_an_error() {
        // Only the core cpu.stat keys: no cpu, memory, pids or io controller enabled (and
        // no PSI, swap or hugetlb files), where libcgroups' v2 stats() gives up.
        let st = stats_at(&fixture("cpu-only")).unwrap();
        assert_eq!(st.cpu.usage.usage_total, 1000);
        assert_eq!(st.cpu.throttling.periods, 0);
        assert_eq!(st.memory.memory.usage, 0);
        assert_eq!(st.pids.current, 0);
        assert!(st.blkio.service_bytes.is_empty());
        assert!(stats_at(&fixture("no-such-cgroup")).is_err());
    }

    #[test]
    fn unlimited_and_malformed_values() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cpu.stat"), "usage_usec 1\n").unwrap();
        std::fs::write(dir.path().join("pids.current"), "3\n").unwrap();
        std::fs::write(dir.path().join("pids.max"), "max\n").unwrap();
        std::fs::write(dir.path().join("memory.current"), "10\n").unwrap();
        std::fs::write(dir.path().join("memory.max"), "max\n").unwrap();
        let st = stats_at(dir.path()).unwrap();
        assert_eq!(st.pids.limit, 0);
        assert_eq!(st.memory.memory.limit, u64::MAX);

        std::fs::write(dir.path().join("io.stat"), "8:0 rbytes=x\n").unwrap();
        assert!(stats_at(dir.path()).is_err());
        std::fs::write(dir.path().join("io.stat"), "").unwrap();
        std::fs::write(dir.path().join("memory.current"), "ten\n").unwrap();
        assert!(stats_at(dir.path()).is_err());
        std::fs::write(dir.path().join("memory.current"), "10\n").unwrap();
        std::fs::write(dir.path().join("cpu.stat"), "usage_usec\n").unwrap();
        assert!(stats_at(dir.path()).is_err());
    }
}
