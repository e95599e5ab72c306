//! Resource limits, stats, update, hardening and the container-escape CVEs, proven from inside
//! containers and through the `berth` CLI, the `docker` CLI and docker-py against a test daemon.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn ok(out: &std::process::Output, d: &TestDaemon) -> String {
    assert_eq!(
        code(out),
        0,
        "stdout: {}\nstderr: {}\n{}",
        stdout(out),
        stderr(out),
        d.log_text()
    );
    stdout(out)
}

fn id_of(d: &TestDaemon, name: &str) -> String {
    stdout(&d.berth(&["inspect", "-f", "{{.Id}}", name]))
        .trim()
        .to_string()
}

/// A file of the container's cgroup as the host sees it: the v1 controller hierarchy, or the
/// unified one.
fn cgroup_file(id: &str, v1_controller: &str, v1_file: &str, v2_file: &str) -> String {
    let v2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    let p = if v2 {
        format!("/sys/fs/cgroup/berth/{id}/{v2_file}")
    } else {
        format!("/sys/fs/cgroup/{v1_controller}/berth/{id}/{v1_file}")
    };
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// CPU time used by the container's cgroup, in nanoseconds.
fn cpu_usage_ns(id: &str) -> u64 {
    let text = cgroup_file(id, "cpuacct", "cpuacct.usage", "cpu.stat");
    match text.lines().find_map(|l| l.strip_prefix("usage_usec ")) {
        Some(us) => us.trim().parse::<u64>().unwrap() * 1000,
        None => text.trim().parse().unwrap(),
    }
}

#[test]
fn memory_hog_is_oom_killed_and_reported() {
    let d = TestDaemon::start("lim-oom");
    d.load_busybox();
    let out = d.berth(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
    ]);
    assert_eq!(code(&out), 137, "{}\n{}", stderr(&out), d.log_text());
    let state = ok(
        &d.berth(&[
            "inspect",
            "-f",
            "{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}",
            "hog",
        ]),
        &d,
    );
    assert_eq!(state.trim(), "true 137 16777216");
    // The real docker CLI sees the same, and the oom event.
    let out = d.docker(&["inspect", "-f", "{{.State.OOMKilled}}", "hog"]);
    assert_eq!(stdout(&out).trim(), "true", "{}", stderr(&out));
    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    let out = d.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "container=hog",
        "--format",
        "{{.Action}}",
    ]);
    let actions = stdout(&out);
    assert!(
        actions.lines().any(|l| l == "oom"),
        "no oom event: {actions}\n{}",
        stderr(&out)
    );
    let oom_at = actions.lines().position(|l| l == "oom").unwrap();
    let die_at = actions.lines().position(|l| l.starts_with("die")).unwrap();
    assert!(oom_at < die_at, "{actions}");

    // A container that stays under its limit is not reported as OOM-killed.
    let out = d.berth(&[
        "run", "--name", "fine", "--memory", "16m", "busybox", "true",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let state = stdout(&d.berth(&["inspect", "-f", "{{.State.OOMKilled}}", "fine"]));
    assert_eq!(state.trim(), "false");
}

#[test]
fn cpus_half_holds_a_busy_loop_near_half_a_core() {
    let d = TestDaemon::start("lim-cpu");
    d.load_busybox();
    let out = d.berth(&[
        "run",
        "-d",
        "--name",
        "busy",
        "--cpus",
        "0.5",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    ok(&out, &d);
    let id = id_of(&d, "busy");
    let quota = cgroup_file(&id, "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(
        quota.trim() == "50000" || quota.trim() == "50000 100000",
        "quota {quota}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let (t0, u0) = (Instant::now(), cpu_usage_ns(&id));
    std::thread::sleep(Duration::from_secs(3));
    let (t1, u1) = (Instant::now(), cpu_usage_ns(&id));
    let cores = (u1 - u0) as f64 / (t1 - t0).as_nanos() as f64;
    // The limit is the upper bound; on a shared machine (CI runs tests side by side) the loop
    // may get far less than its half core, so the lower bound only proves that it ran.
    assert!(
        (0.02..=0.62).contains(&cores),
        "busy loop used {cores:.2} cores under --cpus 0.5"
    );
    ok(&d.berth(&["rm", "-f", "busy"]), &d);
}

#[test]
fn pids_limit_stops_a_fork_bomb_and_stats_report_it() {
    let d = TestDaemon::start("lim-pids");
    d.load_busybox();
    ok(
        &d.berth(&[
            "run",
            "-d",
            "--name",
            "bomb",
            "--pids-limit",
            "20",
            "busybox",
            "sleep",
            "300",
        ]),
        &d,
    );
    let id = id_of(&d, "bomb");
    // The bomb forks until the kernel refuses; the shell then gives up (busybox exits 2).
    let out = d.berth(&[
        "exec",
        "bomb",
        "sh",
        "-c",
        "while :; do sleep 100 >/dev/null 2>&1 & done",
    ]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("can't fork")
            || stderr(&out).contains("Resource temporarily unavailable"),
        "{}",
        stderr(&out)
    );
    // What it left behind is the limit less the shell that gave up: never more.
    let current: u32 = cgroup_file(&id, "pids", "pids.current", "pids.current")
        .trim()
        .parse()
        .unwrap();
    assert!((18..=20).contains(&current), "{current} pids");
    assert_eq!(
        cgroup_file(&id, "pids", "pids.max", "pids.max").trim(),
        "20"
    );
    // Both CLIs read the count (and the container) from Berth's stats.
    let want = format!("bomb {current}\n");
    let out = d.berth(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "bomb",
    ]);
    assert_eq!(ok(&out, &d), want);
    let out = d.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "bomb",
    ]);
    assert_eq!(stdout(&out), want, "{}", stderr(&out));
    ok(&d.berth(&["rm", "-f", "bomb"]), &d);
}

#[test]
fn stats_in_docker_shape_for_docker_cli_and_docker_py() {
    let d = TestDaemon::start("lim-stats");
    d.load_busybox();
    ok(
        &d.berth(&[
            "run",
            "-d",
            "--name",
            "st",
            "--memory",
            "64m",
            "busybox",
            "sh",
            "-c",
            "head -c 8000000 /dev/zero > /tmp/f; while :; do :; done",
        ]),
        &d,
    );
    std::thread::sleep(Duration::from_secs(1));
    let (status, _, body) = d.api("GET", "/v1.51/containers/st/stats?stream=false", None);
    assert_eq!(status, 200, "{body}");
    let s: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(s["name"], "/st");
    assert_eq!(s["memory_stats"]["limit"], 64 << 20);
    assert!(
        s["memory_stats"]["usage"].as_u64().unwrap() > 1 << 20,
        "{s}"
    );
    assert!(s["pids_stats"]["current"].as_u64().unwrap() >= 1);
    let total = s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap();
    let pre = s["precpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    assert!(
        total > pre && pre > 0,
        "precpu must be the sample a second earlier: {s}"
    );
    assert!(s["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    assert!(s["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);

    // CPU % of a busy loop as both CLIs compute it: well above zero.
    for out in [
        d.berth(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.CPUPerc}}|{{.MemUsage}}",
            "st",
        ]),
        d.docker(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.CPUPerc}}|{{.MemUsage}}",
            "st",
        ]),
    ] {
        let text = stdout(&out);
        let (cpu, mem) = text
            .trim()
            .split_once('|')
            .unwrap_or_else(|| panic!("{text} {}", stderr(&out)));
        let cpu: f64 = cpu.trim_end_matches('%').parse().unwrap();
        // Only "clearly running": on a shared machine the loop may get little CPU.
        assert!(cpu > 1.0, "cpu {cpu}% for a busy loop ({text})");
        assert!(mem.ends_with("/ 64MiB"), "{mem}");
    }
    // `{{json .}}` and `--format json`: the docker CLI's keys, in its (sorted) order.
    let keys = |text: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        v.as_object().unwrap().keys().cloned().collect()
    };
    let ours = ok(
        &d.berth(&["stats", "--no-stream", "--format", "json", "st"]),
        &d,
    );
    let theirs = stdout(&d.docker(&["stats", "--no-stream", "--format", "{{json .}}", "st"]));
    assert_eq!(keys(&ours), keys(&theirs), "{ours}{theirs}");
    assert!(ours.starts_with(r#"{"BlockIO":"#), "{ours}");
    // The default table.
    let out = d.berth(&["stats", "--no-stream"]);
    let text = ok(&out, &d);
    // Column widths follow the values (tabwriter), so compare the header's cells.
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ],
        "{text}"
    );

    // docker-py reads the same document.
    let py = format!(
        "import docker\nc = docker.DockerClient(base_url='{}')\ns = c.containers.get('st').stats(stream=False)\nprint(s['memory_stats']['limit'], s['pids_stats']['current'] >= 1)\n",
        d.host()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &py])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "67108864 True\n", "{}", stderr(&out));

    // Streaming: a document a second, each with the previous sample as precpu.
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "3.5",
            "--unix-socket",
            d.socket.to_str().unwrap(),
            "http://berth/containers/st/stats",
        ])
        .output()
        .unwrap();
    let docs: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!((2..=5).contains(&docs.len()), "{} documents", docs.len());
    assert_eq!(docs[1]["preread"], docs[0]["read"]);
    assert_eq!(
        docs[1]["precpu_stats"]["cpu_usage"]["total_usage"],
        docs[0]["cpu_stats"]["cpu_usage"]["total_usage"]
    );

    // A stopped container answers one empty document.
    ok(&d.berth(&["rm", "-f", "st"]), &d);
    ok(
        &d.berth(&["create", "--name", "idle", "busybox", "true"]),
        &d,
    );
    let (status, _, body) = d.api("GET", "/containers/idle/stats?stream=true", None);
    assert_eq!(status, 200);
    assert_eq!(body.trim().lines().count(), 1, "{body}");
}

#[test]
fn update_changes_limits_of_a_running_container() {
    let d = TestDaemon::start("lim-upd");
    d.load_busybox();
    ok(
        &d.berth(&[
            "run",
            "-d",
            "--name",
            "upd",
            "--memory",
            "64m",
            "--pids-limit",
            "10",
            "busybox",
            "sleep",
            "300",
        ]),
        &d,
    );
    let id = id_of(&d, "upd");
    let mem = || {
        cgroup_file(&id, "memory", "memory.limit_in_bytes", "memory.max")
            .trim()
            .to_string()
    };
    let pids = || {
        cgroup_file(&id, "pids", "pids.max", "pids.max")
            .trim()
            .to_string()
    };
    assert_eq!((mem(), pids()), ("67108864".into(), "10".into()));

    let out = d.berth(&[
        "update",
        "--memory",
        "128m",
        "--memory-swap",
        "256m",
        "--pids-limit",
        "30",
        "--cpus",
        "0.5",
        "upd",
    ]);
    assert_eq!(ok(&out, &d), "upd\n");
    assert_eq!((mem(), pids()), ("134217728".into(), "30".into()));
    let quota = cgroup_file(&id, "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(quota.starts_with("50000"), "{quota}");
    let hc = ok(
        &d.berth(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}",
            "upd",
        ]),
        &d,
    );
    assert_eq!(hc.trim(), "134217728 268435456 30 500000000");

    // The docker CLI drives the same endpoint; -1 lifts the pids limit.
    let out = d.docker(&["update", "--pids-limit", "-1", "upd"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(pids(), "max");
    // Docker's refusals, unchanged limits.
    let out = d.berth(&["update", "--memory", "1m", "upd"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        stderr(&out)
    );
    let out = d.berth(&["update", "--memory", "512m", "upd"]);
    assert!(stderr(&out).contains("memoryswap"), "{}", stderr(&out));
    assert_eq!(mem(), "134217728");
    // The restart policy too, through the docker CLI.
    let out = d.docker(&["update", "--restart", "on-failure:2", "upd"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rp = stdout(&d.berth(&[
        "inspect",
        "-f",
        "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        "upd",
    ]));
    assert_eq!(rp.trim(), "on-failure:2");
    // The stored limits hold on the next start.
    ok(&d.berth(&["restart", "-t", "0", "upd"]), &d);
    let id2 = id_of(&d, "upd");
    assert_eq!(
        cgroup_file(&id2, "memory", "memory.limit_in_bytes", "memory.max").trim(),
        "134217728"
    );
}

/// `/proc/self/status` fields of a fresh container's init.
fn status_of(d: &TestDaemon, args: &[&str]) -> String {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "busybox",
        "grep",
        "-E",
        "^(CapEff|Seccomp|NoNewPrivs):",
        "/proc/self/status",
    ]);
    ok(&d.berth(&all), d)
}

fn field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} missing in {status}"))
        .trim()
        .to_string()
}

#[test]
fn hardening_defaults_and_every_switch() {
    let d = TestDaemon::start("lim-hard");
    d.load_busybox();

    // Docker's defaults: the 14 default capabilities, seccomp filtering, no NNP.
    let s = status_of(&d, &[]);
    assert_eq!(field(&s, "CapEff"), "00000000a80425fb");
    assert_eq!(field(&s, "Seccomp"), "2");
    assert_eq!(field(&s, "NoNewPrivs"), "0");
    // The default profile blocks namespace creation and mount for a non-admin container.
    let out = d.berth(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    // Exec processes get the container's filter too (libcontainer leaves it out of execs).
    ok(
        &d.berth(&["run", "-d", "--name", "hx", "busybox", "sleep", "300"]),
        &d,
    );
    let out = d.berth(&["exec", "hx", "grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(field(&ok(&out, &d), "Seccomp"), "2");
    let out = d.berth(&["exec", "hx", "unshare", "-U", "true"]);
    assert_ne!(code(&out), 0, "an exec escaped the seccomp profile");
    let out = d.docker(&[
        "exec",
        "--privileged",
        "hx",
        "grep",
        "^CapEff:",
        "/proc/self/status",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    ok(&d.berth(&["rm", "-f", "hx"]), &d);
    // ... while fork (clone without namespace flags) works.
    let out = d.berth(&["run", "--rm", "busybox", "sh", "-c", "echo $(echo forked)"]);
    assert_eq!(ok(&out, &d), "forked\n");

    // Seccomp switches: unconfined, and a profile file (read by the client).
    let s = status_of(&d, &["--security-opt", "seccomp=unconfined"]);
    assert_eq!(field(&s, "Seccomp"), "0");
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    for out in [
        d.berth(&[
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "mkdir",
            "/x",
        ]),
        d.docker(&[
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "mkdir",
            "/x",
        ]),
    ] {
        assert_ne!(code(&out), 0);
        assert!(
            stderr(&out).contains("Operation not permitted"),
            "{}",
            stderr(&out)
        );
    }
    let out = d.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=/nonexistent.json",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&out), 125);

    // no-new-privileges.
    let s = status_of(&d, &["--security-opt", "no-new-privileges"]);
    assert_eq!(field(&s, "NoNewPrivs"), "1");
    assert_eq!(field(&s, "Seccomp"), "2");

    // Capabilities: drop ALL, add back one, add ALL.
    let s = status_of(&d, &["--cap-drop", "ALL"]);
    assert_eq!(field(&s, "CapEff"), "0000000000000000");
    let s = status_of(&d, &["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"]);
    assert_eq!(field(&s, "CapEff"), "0000000000001000");
    let out = d.berth(&[
        "run",
        "--rm",
        "--cap-drop",
        "CHOWN",
        "busybox",
        "chown",
        "1",
        "/tmp",
    ]);
    assert_ne!(code(&out), 0);
    let host_bnd = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
        .unwrap();
    let s = status_of(&d, &["--cap-add", "ALL"]);
    assert_eq!(field(&s, "CapEff"), host_bnd);
    let out = d.berth(&[
        "run",
        "--rm",
        "--cap-add",
        "ALL",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    assert_eq!(
        code(&out),
        0,
        "CAP_SYS_ADMIN opens the profile: {}",
        stderr(&out)
    );

    // --privileged: every capability, no seccomp, host devices, writable /sys; with docker too.
    for out in [
        d.berth(&["run", "--rm", "--privileged", "busybox", "sh", "-c",
                  "grep -E '^(CapEff|Seccomp):' /proc/self/status; ls /dev/loop-control; grep ' /sys ' /proc/mounts"]),
        d.docker(&["run", "--rm", "--privileged", "busybox", "sh", "-c",
                   "grep -E '^(CapEff|Seccomp):' /proc/self/status; ls /dev/loop-control; grep ' /sys ' /proc/mounts"]),
    ] {
        let text = stdout(&out);
        assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
        assert_eq!(field(&text, "CapEff"), host_bnd);
        assert_eq!(field(&text, "Seccomp"), "0");
        assert!(text.contains("/dev/loop-control"), "{text}");
        assert!(text.contains("sysfs rw,") || text.contains(" rw,"), "{text}");
    }
    let out = d.berth(&["run", "--rm", "busybox", "ls", "/dev/loop-control"]);
    assert_ne!(code(&out), 0, "host devices leak without --privileged");

    // --device: the node appears with its numbers; only that one.
    let out = d.berth(&[
        "run",
        "--rm",
        "--device",
        "/dev/fuse:/dev/myfuse",
        "busybox",
        "stat",
        "-c",
        "%F %t:%T",
        "/dev/myfuse",
    ]);
    assert_eq!(ok(&out, &d), "character special file a:e5\n");
    let out = d.berth(&[
        "run",
        "--rm",
        "--device",
        "/etc/hostname",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));

    // --read-only, read-only /proc/sys, writable tmpfs-less /tmp denied too.
    let out = d.berth(&[
        "run",
        "--rm",
        "--read-only",
        "busybox",
        "sh",
        "-c",
        "touch /x || echo rootfs-ro; echo 1 > /proc/sys/kernel/domainname || echo procsys-ro",
    ]);
    let text = stdout(&out);
    assert!(
        text.contains("rootfs-ro") && text.contains("procsys-ro"),
        "{text}{}",
        stderr(&out)
    );
    let out = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /proc/sysrq-trigger || echo sysrq-ro",
    ]);
    assert!(stdout(&out).contains("sysrq-ro"), "{}", stdout(&out));

    // --user by number and name, --group-add.
    // As Docker: the primary group is among the supplementary ones.
    let out = d.berth(&[
        "run",
        "--rm",
        "--user",
        "1000:1000",
        "--group-add",
        "50",
        "busybox",
        "grep",
        "^Groups:",
        "/proc/self/status",
    ]);
    assert_eq!(
        ok(&out, &d).split_whitespace().collect::<Vec<_>>(),
        ["Groups:", "50", "1000"]
    );
    let out = d.berth(&["run", "--rm", "--user", "1000:1000", "busybox", "id"]);
    assert_eq!(
        ok(&out, &d),
        "uid=1000(user) gid=1000(user) groups=1000(user)\n"
    );
    let out = d.berth(&["run", "--rm", "--user", "nobody", "busybox", "id", "-u"]);
    assert_eq!(ok(&out, &d), "65534\n");

    // --ulimit within the host's hard limit applies; above it is a clear error.
    let out = d.berth(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=100:200",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn",
    ]);
    assert_eq!(ok(&out, &d), "100\n200\n");
    let out = d.berth(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=100:999999999",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("above the host's hard limit"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn resource_flags_reach_the_cgroups() {
    let d = TestDaemon::start("lim-flags");
    d.load_busybox();
    ok(
        &d.berth(&[
            "run",
            "-d",
            "--name",
            "flags",
            "--memory",
            "64m",
            "--memory-reservation",
            "32m",
            "--cpu-shares",
            "512",
            "--cpu-period",
            "50000",
            "--cpu-quota",
            "25000",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "42",
            "--shm-size",
            "8m",
            "--oom-kill-disable",
            "busybox",
            "sleep",
            "300",
        ]),
        &d,
    );
    let id = id_of(&d, "flags");
    let v2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    if v2 {
        assert_eq!(cgroup_file(&id, "", "", "cpu.max").trim(), "25000 50000");
        assert_eq!(cgroup_file(&id, "", "", "memory.low").trim(), "33554432");
    } else {
        assert_eq!(cgroup_file(&id, "cpu", "cpu.shares", "").trim(), "512");
        assert_eq!(
            cgroup_file(&id, "cpu", "cpu.cfs_period_us", "").trim(),
            "50000"
        );
        assert_eq!(
            cgroup_file(&id, "cpu", "cpu.cfs_quota_us", "").trim(),
            "25000"
        );
        assert_eq!(
            cgroup_file(&id, "memory", "memory.soft_limit_in_bytes", "").trim(),
            "33554432"
        );
        assert!(cgroup_file(&id, "memory", "memory.oom_control", "").contains("oom_kill_disable 1"));
    }
    assert_eq!(
        cgroup_file(&id, "cpuset", "cpuset.cpus", "cpuset.cpus").trim(),
        "0"
    );
    assert_eq!(
        cgroup_file(&id, "pids", "pids.max", "pids.max").trim(),
        "42"
    );
    let out = d.berth(&["exec", "flags", "df", "-k", "/dev/shm"]);
    assert!(ok(&out, &d).contains(" 8192 "), "{}", stdout(&out));

    // Block I/O weight and throttling on a host block device.
    let loop0 = std::path::Path::new("/dev/loop0");
    if loop0.exists() && !v2 {
        ok(
            &d.berth(&[
                "run",
                "-d",
                "--name",
                "blk",
                "--blkio-weight",
                "500",
                "--device-read-bps",
                "/dev/loop0:1mb",
                "--device-write-iops",
                "/dev/loop0:100",
                "busybox",
                "sleep",
                "300",
            ]),
            &d,
        );
        let id = id_of(&d, "blk");
        let weight =
            std::fs::read_to_string(format!("/sys/fs/cgroup/blkio/berth/{id}/blkio.bfq.weight"))
                .or_else(|_| {
                    std::fs::read_to_string(format!("/sys/fs/cgroup/blkio/berth/{id}/blkio.weight"))
                })
                .unwrap();
        assert_eq!(weight.trim(), "500");
        assert_eq!(
            cgroup_file(&id, "blkio", "blkio.throttle.read_bps_device", "").trim(),
            "7:0 1048576"
        );
        assert_eq!(
            cgroup_file(&id, "blkio", "blkio.throttle.write_iops_device", "").trim(),
            "7:0 100"
        );
        ok(&d.berth(&["rm", "-f", "blk"]), &d);
    }
    let out = d.berth(&[
        "create",
        "--device-read-bps",
        "/dev/null:1mb",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&out).contains("not a block device"),
        "{}",
        stderr(&out)
    );

    // --cgroup-parent places the cgroup; --cgroupns private hides the host's paths.
    ok(
        &d.berth(&[
            "run",
            "-d",
            "--name",
            "par",
            "--cgroup-parent",
            "/berth-lim-test",
            "busybox",
            "sleep",
            "300",
        ]),
        &d,
    );
    let pid = stdout(&d.berth(&["inspect", "-f", "{{.State.Pid}}", "par"]))
        .trim()
        .to_string();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains("/berth-lim-test/"), "{cg}");
    ok(&d.berth(&["rm", "-f", "par"]), &d);
    let out = d.berth(&[
        "run",
        "--rm",
        "--cgroupns",
        "private",
        "busybox",
        "cat",
        "/proc/self/cgroup",
    ]);
    let text = ok(&out, &d);
    assert!(!text.contains("/berth/"), "{text}");
    let out = d.berth(&[
        "run",
        "--rm",
        "--cgroupns",
        "host",
        "busybox",
        "cat",
        "/proc/self/cgroup",
    ]);
    assert!(ok(&out, &d).contains("/berth/"));

    // Docker's refusals at create.
    for (args, msg) in [
        (
            vec!["--memory", "1m"],
            "Minimum memory limit allowed is 6MB",
        ),
        (
            vec!["--cpus", "1", "--cpu-period", "100000"],
            "Conflicting options",
        ),
        (vec!["--cpus", "1000"], "Range of CPUs"),
        (
            vec!["--cpuset-cpus", "999"],
            "Requested CPUs are not available",
        ),
        (vec!["--memory-swap", "1g"], "always set the Memory limit"),
        (vec!["--blkio-weight", "5"], "Range of blkio weight"),
    ] {
        let mut all = vec!["create"];
        all.extend(args.iter().copied());
        all.extend(["busybox", "true"]);
        let out = d.berth(&all);
        assert_ne!(code(&out), 0, "{args:?} accepted");
        assert!(stderr(&out).contains(msg), "{args:?}: {}", stderr(&out));
    }
    // The parent cgroup the runtime made for --cgroup-parent (empty now).
    for dir in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(dir.path().join("berth-lim-test"));
    }
    let _ = std::fs::remove_dir("/sys/fs/cgroup/berth-lim-test");
}

#[test]
fn cve_2019_5736_shims_run_from_a_read_only_binary() {
    let d = TestDaemon::start("lim-5736");
    d.load_busybox();
    ok(
        &d.berth(&["run", "-d", "--name", "cve", "busybox", "sleep", "300"]),
        &d,
    );
    let id = id_of(&d, "cve");
    let pid_file = d.exec_root.join("c").join(&id).join("shim.pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    // What an attacker in the container would hold: the shim's (or a forked child's) exe.
    let exe = format!("/proc/{}/exe", pid.trim());
    let fd = nix::fcntl::open(
        exe.as_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let st = nix::sys::statvfs::fstatvfs(&fd).unwrap();
    assert!(
        st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "the shim's executable is on a writable mount"
    );
    let reopen = std::fs::OpenOptions::new().write(true).open(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ));
    assert!(reopen.is_err(), "the shim's executable opened for writing");
    // It is still the berth binary (same contents), not some other program.
    let ours = std::fs::metadata(BERTH).unwrap();
    let theirs = std::fs::metadata(&exe).unwrap();
    assert_eq!(ours.len(), theirs.len());
    // `exec` keeps working from it.
    assert_eq!(ok(&d.berth(&["exec", "cve", "echo", "ok"]), &d), "ok\n");

    // With --init the container's pid 1 *is* the berth binary (docker-init): its exe, which
    // every process in the container can reach as /proc/1/exe, is read-only too.
    ok(
        &d.berth(&[
            "run", "-d", "--init", "--name", "cve-init", "busybox", "sleep", "300",
        ]),
        &d,
    );
    let pid = stdout(&d.berth(&["inspect", "-f", "{{.State.Pid}}", "cve-init"]));
    let exe = format!("/proc/{}/exe", pid.trim());
    assert!(std::fs::read_link(&exe)
        .unwrap()
        .to_string_lossy()
        .contains("docker-init"));
    let fd = nix::fcntl::open(
        exe.as_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let st = nix::sys::statvfs::fstatvfs(&fd).unwrap();
    assert!(
        st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "docker-init is writable"
    );
    let out = d.berth(&["exec", "cve-init", "sh", "-c", "exec 3<>/proc/1/exe"]);
    assert_ne!(code(&out), 0, "/proc/1/exe opened for writing from inside");
}

#[test]
fn cve_2024_21626_no_leaked_fds_and_proc_fd_workdir_fails_safely() {
    let d = TestDaemon::start("lim-21626");
    d.load_busybox();
    // The init holds exactly stdio: nothing of the shim or the runtime leaked in.
    let out = d.berth(&["run", "--rm", "busybox", "sh", "-c", "ls /proc/1/fd; true"]);
    assert_eq!(ok(&out, &d), "0\n1\n2\n");
    let out = d.berth(&["run", "-d", "--name", "ex", "busybox", "sleep", "300"]);
    ok(&out, &d);
    let out = d.berth(&["exec", "ex", "sh", "-c", "ls /proc/$$/fd; true"]);
    assert_eq!(ok(&out, &d), "0\n1\n2\n");
    // A working directory through /proc/self/fd/N never lands outside the container.
    for n in 3..=10 {
        let wd = format!("/proc/self/fd/{n}");
        let out = d.berth(&[
            "run",
            "--rm",
            "-w",
            &wd,
            "busybox",
            "sh",
            "-c",
            "pwd; ls ..",
        ]);
        let text = stdout(&out);
        if code(&out) == 0 {
            assert!(
                !text.contains("unreachable") && !text.contains("berth"),
                "fd {n}: {text}"
            );
        }
    }
    // The same through an image's WORKDIR.
    let tar = busybox_rootfs_tar();
    ok(
        &d.berth(&[
            "import",
            "--change",
            "WORKDIR /proc/self/fd/7",
            tar.to_str().unwrap(),
            "evil:fd",
        ]),
        &d,
    );
    let out = d.berth(&["run", "--rm", "evil:fd", "sh", "-c", "pwd; ls .."]);
    if code(&out) == 0 {
        assert!(!stdout(&out).contains("unreachable"), "{}", stdout(&out));
    }
}

#[test]
fn cve_2021_30465_symlinked_mount_targets_stay_in_the_rootfs() {
    let d = TestDaemon::start("lim-30465");
    d.load_busybox();
    // An image whose /etc/hosts and /etc/resolv.conf point out of the root.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let tar = busybox_rootfs_tar();
    let st = std::process::Command::new("tar")
        .args(["-xf", tar.to_str().unwrap(), "-C", root.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    let escape = format!("/tmp/berth-escape-{}", std::process::id());
    let _ = std::fs::remove_file(&escape);
    for f in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
        let _ = std::fs::remove_file(root.join(f));
        std::os::unix::fs::symlink(
            format!("../../../../../../..{escape}-{}", f.replace('/', "_")),
            root.join(f),
        )
        .unwrap();
    }
    let evil = dir.path().join("evil.tar");
    let st = std::process::Command::new("tar")
        .args([
            "-cf",
            evil.to_str().unwrap(),
            "-C",
            root.to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    ok(
        &d.berth(&[
            "import",
            "--change",
            "CMD [\"/bin/sh\"]",
            evil.to_str().unwrap(),
            "evil:links",
        ]),
        &d,
    );
    let out = d.berth(&["run", "--rm", "evil:links", "cat", "/etc/hostname"]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for f in ["etc_hosts", "etc_resolv.conf", "etc_hostname"] {
        let host_path = format!("{escape}-{f}");
        assert!(
            !std::path::Path::new(&host_path).exists(),
            "{host_path} was created on the host ({})",
            stderr(&out)
        );
        assert!(
            !mounts.contains(&host_path),
            "{host_path} is a mount on the host"
        );
    }
    // As with runc, the container runs and the files are mounted inside its own root.
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log_text());
    let id_hostname = stdout(&out);
    assert!(!id_hostname.trim().is_empty());
    let out = d.berth(&[
        "run",
        "--rm",
        "evil:links",
        "sh",
        "-c",
        &format!("cat /etc/hosts; ls {escape}-etc_hosts"),
    ]);
    let text = stdout(&out);
    assert!(text.contains("localhost"), "{text}{}", stderr(&out));
}

#[test]
fn cve_2025_31133_masked_paths_are_the_real_null_device() {
    let d = TestDaemon::start("lim-31133");
    d.load_busybox();
    let candidates: Vec<&str> = [
        "/proc/keys",
        "/proc/timer_list",
        "/proc/kcore",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|p| std::path::Path::new(p).exists())
    .collect();
    assert!(!candidates.is_empty());
    let mut args = vec!["run", "--rm", "busybox", "stat", "-c", "%n %F %t:%T"];
    args.extend(candidates.iter().copied());
    let text = ok(&d.berth(&args), &d);
    for p in &candidates {
        assert!(
            text.contains(&format!("{p} character special file 1:3")),
            "{p} is not masked by /dev/null: {text}"
        );
    }
    // Masked paths cannot be written through, and /dev/null in the container is the device.
    let out = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "stat -c '%F %t:%T' /dev/null",
    ]);
    assert_eq!(ok(&out, &d), "character special file 1:3\n");
}

fn sha256_of(path: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    stdout(&out)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// CVE-2019-5736 from inside a container, as the exploit did it: the berth binary as it runs
/// in the container — `--init`'s pid 1, and a runtime process made to execute its own
/// `/proc/self/exe` through a `#!` script during `exec` — must not open for writing, and the
/// host's binary stays byte-for-byte the same. (Opened for append, never written: a broken
/// protection fails the test without damaging the binary.)
#[test]
fn cve_2019_5736_overwrite_from_inside_the_container_fails() {
    let d = TestDaemon::start("lim-5736in");
    d.load_busybox();
    let before = sha256_of(BERTH);
    ok(
        &d.berth(&[
            "run", "-d", "--init", "--name", "atk", "busybox", "sleep", "300",
        ]),
        &d,
    );
    let try_open = |pid: &str| -> String {
        ok(
            &d.berth(&[
                "exec",
                "atk",
                "sh",
                "-c",
                &format!(
                    "if (exec 3>>/proc/{pid}/exe) 2>/tmp/err; then echo OPENED; else cat /tmp/err; fi"
                ),
            ]),
            &d,
        )
    };
    let out = try_open("1");
    assert!(!out.contains("OPENED"), "pid 1's exe opened for writing");
    assert!(
        out.contains("Read-only") || out.contains("busy"),
        "unexpected refusal: {out}"
    );

    // The exploit's trick: a script whose interpreter is /proc/self/exe makes the runtime's
    // own process (forked from the shim, about to exec) run its executable in the container.
    ok(
        &d.berth(&[
            "exec",
            "atk",
            "sh",
            "-c",
            "mkdir -p /tmp/x && ln -s /proc/self/exe /tmp/x/docker-init && \
             printf '#!/tmp/x/docker-init /bin/sh\\nsleep 120\\n' > /evil && chmod +x /evil",
        ]),
        &d,
    );
    ok(&d.berth(&["exec", "-d", "atk", "/evil"]), &d);
    let list = "for p in /proc/[0-9]*; do l=$(readlink $p/exe); \
                case \"$l\" in *busybox*|'') ;; *) echo ${p#/proc/} $l;; esac; done";
    let mut found = String::new();
    let seen = eventually(Duration::from_secs(20), || {
        let out = stdout(&d.berth(&["exec", "atk", "sh", "-c", list]));
        match out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .find(|(pid, _)| *pid != "1")
        {
            Some((pid, _)) => {
                found = pid.to_owned();
                true
            }
            None => false,
        }
    });
    assert!(
        seen,
        "the runtime's executable never ran in the container\n{}",
        d.log_text()
    );
    let out = try_open(&found);
    assert!(
        !out.contains("OPENED"),
        "the runtime's executable opened for writing from the container"
    );
    assert!(
        out.contains("Read-only") || out.contains("busy"),
        "unexpected refusal: {out}"
    );
    ok(&d.berth(&["rm", "-f", "atk"]), &d);
    assert_eq!(sha256_of(BERTH), before, "the host's berth binary changed");
}
