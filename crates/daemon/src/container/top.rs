//! `top`: the host's `ps` output, filtered to the container's processes (those in the init's
//! pid namespace), as Docker does.

use std::collections::HashSet;

use berth_types::api::ContainerTopResponse;

use crate::error::{Error, Result};
use crate::Daemon;

/// Host pids of every process in the pid namespace of `init_pid`.
fn pids_in_namespace_of(init_pid: i64) -> Result<HashSet<i64>> {
    let ns = std::fs::read_link(format!("/proc/{init_pid}/ns/pid")).map_err(Error::io(format!(
        "reading the pid namespace of {init_pid}"
    )))?;
    let mut pids = HashSet::new();
    for e in std::fs::read_dir("/proc")
        .map_err(Error::io("listing /proc"))?
        .flatten()
    {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .ok()
            .as_ref()
            == Some(&ns)
        {
            pids.insert(pid);
        }
    }
    Ok(pids)
}

/// Splits `ps` output into titles and rows, keeping rows whose PID is in `pids`. The last
/// column (the command) may contain spaces, so each row is split into as many fields as there
/// are titles.
pub(crate) fn filter_ps(output: &str, pids: &HashSet<i64>) -> Result<ContainerTopResponse> {
    let mut lines = output.lines();
    let header = lines
        .next()
        .ok_or_else(|| Error::Internal("ps printed nothing".into()))?;
    let titles: Vec<String> = header.split_whitespace().map(str::to_owned).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::InvalidArgument("Couldn't find PID field in ps output".into()))?;
    let mut processes = Vec::new();
    for line in lines {
        let mut fields: Vec<String> = Vec::new();
        let mut rest = line.trim_start();
        while fields.len() + 1 < titles.len() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            fields.push(rest[..end].to_owned());
            rest = rest[end..].trim_start();
        }
        if !rest.is_empty() {
            fields.push(rest.to_owned());
        }
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i64>().ok()) else {
            continue;
        };
        if pids.contains(&pid) {
            processes.push(fields);
        }
    }
    Ok(ContainerTopResponse {
        titles: Some(titles),
        processes: Some(processes),
    })
}

impl Daemon {
    pub async fn top_container(
        &self,
        key: &str,
        ps_args: Option<String>,
    ) -> Result<ContainerTopResponse> {
        let c = self.containers.lookup(key)?.snapshot();
        if !c.state.status.is_running() || c.state.pid <= 0 {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let pids = pids_in_namespace_of(c.state.pid)?;
        let args = ps_args.unwrap_or_else(|| "-ef".into());
        // The host's ps, never anything from the container's root.
        let output = tokio::process::Command::new("ps")
            .args(args.split_whitespace())
            .output()
            .await
            .map_err(Error::io("running ps"))?;
        if !output.status.success() {
            return Err(Error::Internal(format!(
                "Error running ps: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        filter_ps(&String::from_utf8_lossy(&output.stdout), &pids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_split_and_filtered() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 07:00 ? 00:00:00 sleep 100\nroot 11 1 0 07:00 ? 00:00:00 other\n";
        let top = filter_ps(out, &HashSet::from([10])).unwrap();
        assert_eq!(top.titles.unwrap().len(), 8);
        let p = top.processes.unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0][7], "sleep 100");
        assert!(filter_ps("A B\n", &HashSet::new()).is_err());
    }
}
