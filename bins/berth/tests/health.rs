//! Healthchecks, restart policies, `--init` and stop signals, through the berth CLI and the real
//! docker CLI pointed at a Berth test daemon. Waits are polls with generous deadlines: these
//! machines are shared and slow, so nothing here asserts how fast something happens, only that
//! it happens (or, for back-off, that it does not happen a hundred times).

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn inspect(d: &TestDaemon, name: &str) -> Value {
    let out = d.berth(&["inspect", name]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    v[0].clone()
}

fn field(d: &TestDaemon, name: &str, template: &str) -> String {
    stdout(&d.berth(&["inspect", "--format", template, name]))
        .trim()
        .to_owned()
}

fn health_status(d: &TestDaemon, name: &str) -> String {
    inspect(d, name)["State"]["Health"]["Status"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn run_ok(d: &TestDaemon, args: &[&str]) -> String {
    let out = d.berth(args);
    assert_eq!(
        code(&out),
        0,
        "{args:?}: {}\n{}",
        stderr(&out),
        d.log_text()
    );
    stdout(&out).trim().to_owned()
}

/// Waits until the container has printed `ready` `n` times in all: its trap is set.
fn wait_ready(d: &TestDaemon, name: &str, n: usize) {
    assert!(
        eventually(WAIT, || stdout(&d.berth(&["logs", name]))
            .matches("ready")
            .count()
            >= n),
        "{name} never got ready"
    );
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Loads `name` as an image made of the busybox rootfs and `config` (the image's `config`
/// object: Cmd, Healthcheck, StopSignal, …), as a docker-save archive.
fn load_image_with_config(d: &TestDaemon, name: &str, config: Value) {
    let dir = tempfile::tempdir().unwrap();
    let layer = busybox_rootfs_tar();
    let sum = std::process::Command::new("sha256sum")
        .arg(&layer)
        .output()
        .unwrap();
    let digest = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let image_config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{digest}")]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "test"}],
    });
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": [name],
        "Layers": ["layer.tar"],
    }]);
    let archive = dir.path().join("image.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    add("config.json", image_config.to_string().as_bytes());
    add("manifest.json", manifest.to_string().as_bytes());
    b.append_path_with_name(&layer, "layer.tar").unwrap();
    b.finish().unwrap();
    drop(b);
    run_ok(d, &["load", "-i", archive.to_str().unwrap()]);
}

#[test]
fn health_transitions_log_events_and_ps() {
    let d = TestDaemon::start("health");
    d.load_busybox();
    let since = unix_now().to_string();
    // The first probe comes an interval after the start: until then it is starting.
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "ok",
            "--health-cmd",
            "echo fine",
            "--health-interval",
            "5s",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let status = run_ok(
        &d,
        &["ps", "--filter", "name=ok", "--format", "{{.Status}}"],
    );
    assert!(status.ends_with("(health: starting)"), "{status}");
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "bad",
            "--health-cmd",
            "echo bad; exit 1",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            "busybox",
            "sleep",
            "300",
        ],
    );
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "slow",
            "--health-cmd",
            "echo partial; sleep 10",
            "--health-interval",
            "1s",
            "--health-timeout",
            "300ms",
            "--health-retries",
            "1",
            "busybox",
            "sleep",
            "300",
        ],
    );
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "booting",
            "--health-cmd",
            "exit 1",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "--health-start-period",
            "1h",
            "busybox",
            "sleep",
            "300",
        ],
    );

    assert!(
        eventually(WAIT, || health_status(&d, "ok") == "healthy"),
        "{}",
        d.log_text()
    );
    let h = &inspect(&d, "ok")["State"]["Health"];
    assert_eq!(h["FailingStreak"], 0);
    let log = h["Log"].as_array().unwrap();
    assert_eq!(log[0]["ExitCode"], 0);
    assert_eq!(log[0]["Output"], "fine\n");
    assert!(log[0]["Start"].as_str().unwrap() <= log[0]["End"].as_str().unwrap());
    let status = run_ok(
        &d,
        &["ps", "--filter", "name=ok", "--format", "{{.Status}}"],
    );
    assert!(status.ends_with("(healthy)"), "{status}");

    // Two consecutive failures (retries=2) make it unhealthy; the log keeps the last five.
    assert!(eventually(WAIT, || health_status(&d, "bad") == "unhealthy"));
    let h = &inspect(&d, "bad")["State"]["Health"];
    assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h}");
    assert_eq!(h["Log"][0]["ExitCode"], 1);
    assert_eq!(h["Log"][0]["Output"], "bad\n");
    assert!(eventually(WAIT, || {
        inspect(&d, "bad")["State"]["Health"]["FailingStreak"]
            .as_i64()
            .unwrap()
            >= 7
    }));
    assert_eq!(
        inspect(&d, "bad")["State"]["Health"]["Log"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // A probe over its timeout is killed and counts as a failure, with Docker's message.
    assert!(eventually(WAIT, || health_status(&d, "slow") == "unhealthy"));
    let h = &inspect(&d, "slow")["State"]["Health"];
    assert_eq!(h["Log"][0]["ExitCode"], -1);
    assert_eq!(
        h["Log"][0]["Output"],
        "Health check exceeded timeout (300ms): partial\n"
    );
    // …and is killed: timed-out probes do not pile up (at most the one running now).
    assert!(eventually(WAIT, || {
        inspect(&d, "slow")["State"]["Health"]["FailingStreak"]
            .as_i64()
            .unwrap()
            >= 4
    }));
    let procs = stdout(&d.berth(&["exec", "slow", "ps", "-o", "args"]));
    assert!(
        procs.lines().filter(|l| l.contains("sleep 10")).count() <= 1,
        "{procs}"
    );

    // Within the start period failures are logged but do not count.
    assert!(eventually(WAIT, || {
        inspect(&d, "booting")["State"]["Health"]["Log"]
            .as_array()
            .is_some_and(|l| l.len() >= 3)
    }));
    let h = &inspect(&d, "booting")["State"]["Health"];
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0);

    // ps filters on health.
    let healthy = run_ok(
        &d,
        &["ps", "--filter", "health=healthy", "--format", "{{.Names}}"],
    );
    assert_eq!(healthy, "ok");
    let mut unhealthy: Vec<String> = run_ok(
        &d,
        &[
            "ps",
            "--filter",
            "health=unhealthy",
            "--format",
            "{{.Names}}",
        ],
    )
    .lines()
    .map(str::to_owned)
    .collect();
    unhealthy.sort();
    assert_eq!(unhealthy, ["bad", "slow"]);
    run_ok(
        &d,
        &["run", "-d", "--name", "plain", "busybox", "sleep", "300"],
    );
    let none = run_ok(
        &d,
        &["ps", "--filter", "health=none", "--format", "{{.Names}}"],
    );
    assert_eq!(none, "plain");
    let out = d.berth(&["ps", "--filter", "health=bogus"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("Unrecognised filter value for health: bogus"),
        "{}",
        stderr(&out)
    );

    // health_status events, selected by Docker's prefix match.
    let until = (unix_now() + 1).to_string();
    let events = run_ok(
        &d,
        &[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "event=health_status",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ],
    );
    assert!(events.contains("health_status: healthy ok"), "{events}");
    assert!(events.contains("health_status: unhealthy bad"), "{events}");
    assert!(!events.contains("booting"), "{events}");
}

#[test]
fn health_from_image_and_docker_cli() {
    let d = TestDaemon::start("healthimg");
    load_image_with_config(
        &d,
        "hc:1",
        serde_json::json!({
            "Cmd": ["sleep", "300"],
            "Healthcheck": {"Test": ["CMD", "cat", "/etc/hostname"], "Interval": 1_000_000_000u64},
        }),
    );
    let out = d.docker(&["run", "-d", "--name", "img", "hc:1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    assert!(eventually(WAIT, || {
        stdout(&d.docker(&["inspect", "--format", "{{.State.Health.Status}}", "img"])).trim()
            == "healthy"
    }));
    let out = d.docker(&["inspect", "--format", "{{json .State.Health.Log}}", "img"]);
    let log: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(log[0]["Output"], format!("{}\n", &id[..12]));
    let out = d.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(stdout(&out).contains("img Up"), "{}", stdout(&out));
    assert!(stdout(&out).contains("(healthy)"), "{}", stdout(&out));

    // The request's settings override the image's, field by field.
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "tuned",
        "--health-retries",
        "7",
        "hc:1",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let hc = stdout(&d.docker(&[
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        "tuned",
    ]));
    let hc: Value = serde_json::from_str(&hc).unwrap();
    assert_eq!(
        hc["Test"],
        serde_json::json!(["CMD", "cat", "/etc/hostname"])
    );
    assert_eq!(hc["Retries"], 7);
    assert_eq!(hc["Interval"], 1_000_000_000u64);

    // --no-healthcheck turns the image's off; it conflicts with --health-*.
    let out = d.docker(&["run", "-d", "--name", "off", "--no-healthcheck", "hc:1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(1500));
    let out = d.docker(&["inspect", "--format", "{{json .State.Health}}", "off"]);
    assert_eq!(stdout(&out).trim(), "null");
    let out = d.berth(&["run", "--no-healthcheck", "--health-retries", "1", "hc:1"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("--no-healthcheck conflicts with --health-* options"));
    // Docker's API validation.
    let (status, _, body) = d.api(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"hc:1","Healthcheck":{"Test":["CMD","true"],"Interval":1000}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("Interval in Healthcheck cannot be less than 1ms"),
        "{body}"
    );
}

#[test]
fn health_on_runc() {
    let d = TestDaemon::start("healthrunc");
    d.load_busybox();
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--runtime",
            "runc",
            "--name",
            "viarunc",
            "--health-cmd",
            "echo via runc >&2",
            "--health-interval",
            "1s",
            "busybox",
            "sleep",
            "300",
        ],
    );
    assert!(
        eventually(WAIT, || health_status(&d, "viarunc") == "healthy"),
        "{}",
        d.log_text()
    );
    let h = &inspect(&d, "viarunc")["State"]["Health"];
    assert_eq!(
        h["Log"][0]["Output"], "via runc\n",
        "stderr is captured too"
    );
}

#[test]
fn health_monitoring_resumes_after_daemon_sigkill() {
    let mut d = TestDaemon::start("healthrestore");
    d.load_busybox();
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "flip",
            "--health-cmd",
            "test -e /tmp/ok",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "busybox",
            "sleep",
            "300",
        ],
    );
    assert!(eventually(WAIT, || health_status(&d, "flip") == "unhealthy"));
    d.kill9();
    d.spawn();
    assert_eq!(health_status(&d, "flip"), "unhealthy");
    run_ok(&d, &["exec", "flip", "touch", "/tmp/ok"]);
    assert!(
        eventually(WAIT, || health_status(&d, "flip") == "healthy"),
        "the monitor resumed: {}",
        d.log_text()
    );
}

fn restart_count(d: &TestDaemon, name: &str) -> i64 {
    field(d, name, "{{.RestartCount}}").parse().unwrap_or(-1)
}

#[test]
fn restart_policies() {
    let d = TestDaemon::start("restartpol");
    d.load_busybox();
    let since = unix_now().to_string();
    // on-failure:2 — two restarts, then it stays down with its last exit code.
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "fail2",
            "--restart",
            "on-failure:2",
            "busybox",
            "sh",
            "-c",
            "exit 3",
        ],
    );
    assert!(eventually(WAIT, || {
        field(
            &d,
            "fail2",
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}",
        ) == "exited 2 3"
    }));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(restart_count(&d, "fail2"), 2);
    let until = (unix_now() + 1).to_string();
    let events = run_ok(
        &d,
        &[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=fail2",
            "--filter",
            "event=die",
            "--format",
            "{{.Action}}",
        ],
    );
    assert_eq!(events.lines().count(), 3, "{events}");

    // on-failure does not restart a clean exit.
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "clean",
            "--restart",
            "on-failure",
            "busybox",
            "true",
        ],
    );
    assert!(eventually(WAIT, || field(&d, "clean", "{{.State.Status}}") == "exited"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(restart_count(&d, "clean"), 0);

    // always restarts clean exits too, with a back-off that doubles: an instantly exiting
    // container is restarted a handful of times in four seconds, not hundreds.
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "loop",
            "--restart",
            "always",
            "busybox",
            "true",
        ],
    );
    assert!(eventually(WAIT, || restart_count(&d, "loop") >= 2));
    std::thread::sleep(Duration::from_secs(4));
    let n = restart_count(&d, "loop");
    assert!(n < 12, "no back-off: {n} restarts");
    let state = field(&d, "loop", "{{.State.Status}}");
    assert!(state == "restarting" || state == "running", "{state}");

    // stop by hand ends restarting, even while it waits out a back-off.
    let out = d.berth(&["stop", "loop"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let n = restart_count(&d, "loop");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(field(&d, "loop", "{{.State.Status}}"), "exited");
    assert_eq!(restart_count(&d, "loop"), n);

    // kill by hand too.
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "victim",
            "--restart",
            "always",
            "busybox",
            "sleep",
            "300",
        ],
    );
    run_ok(&d, &["kill", "victim"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        field(&d, "victim", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    // A manual start (or restart) starts the policy afresh: RestartCount back to 0.
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "counted",
            "--restart",
            "on-failure",
            "busybox",
            "sh",
            "-c",
            "[ -e /ran ] && exec sleep 300; touch /ran; exit 1",
        ],
    );
    // Its second run stays up.
    assert!(eventually(WAIT, || {
        field(&d, "counted", "{{.State.Status}} {{.RestartCount}}") == "running 1"
    }));
    run_ok(&d, &["restart", "-t", "1", "counted"]);
    assert_eq!(
        field(&d, "counted", "{{.State.Status}} {{.RestartCount}}"),
        "running 0"
    );

    // --rm with a restart policy is refused, as Docker does.
    let out = d.berth(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert_ne!(code(&out), 0);
    let out = d.berth(&["run", "--restart", "bogus", "busybox", "true"]);
    assert_ne!(code(&out), 0);
}

#[test]
fn restart_policies_across_a_daemon_sigkill() {
    let mut d = TestDaemon::start("restartkill");
    d.load_busybox();
    for (name, policy) in [
        ("always_stopped", "always"),
        ("unless_stopped", "unless-stopped"),
        ("unless_running", "unless-stopped"),
        ("failing", "on-failure"),
        ("never", "no"),
    ] {
        run_ok(
            &d,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--restart",
                policy,
                "busybox",
                "sleep",
                "300",
            ],
        );
    }
    run_ok(&d, &["stop", "-t", "0", "always_stopped", "unless_stopped"]);
    let pids: Vec<(String, i32)> = ["unless_running", "failing", "never"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                field(&d, n, "{{.State.Pid}}").parse().unwrap(),
            )
        })
        .collect();
    d.kill9();
    // These die while the daemon is down: the shim records the exit, the daemon learns it at
    // start-up and applies the policy.
    for (_, pid) in &pids {
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    std::thread::sleep(Duration::from_millis(500));
    d.spawn();
    let state = |n: &str| field(&d, n, "{{.State.Status}}");
    assert!(
        eventually(WAIT, || state("always_stopped") == "running"),
        "always comes back when the daemon starts: {}",
        d.log_text()
    );
    assert!(eventually(WAIT, || state("unless_running") == "running"));
    assert!(eventually(WAIT, || state("failing") == "running"));
    assert_eq!(restart_count(&d, "failing"), 1);
    assert_eq!(restart_count(&d, "unless_running"), 1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        state("unless_stopped"),
        "exited",
        "stopped by hand stays down"
    );
    assert_eq!(
        field(&d, "never", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
}

#[test]
fn stop_signal_and_timeout_via_docker_cli() {
    let d = TestDaemon::start("stopsig");
    d.load_busybox();
    // --stop-signal: stop and restart send it; the trap's exit code proves it arrived.
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "usr1",
        "--stop-signal",
        "SIGUSR1",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' USR1; echo ready; while true; do sleep 0.1; done",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    wait_ready(&d, "usr1", 1);
    let out = d.docker(&["stop", "usr1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&d.docker(&["inspect", "--format", "{{.State.ExitCode}}", "usr1"])).trim(),
        "42"
    );
    run_ok(&d, &["start", "usr1"]);
    wait_ready(&d, "usr1", 2);
    let since = unix_now().to_string();
    let out = d.docker(&["restart", "usr1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let until = (unix_now() + 1).to_string();
    let events = |event: &str, attr: &str| {
        stdout(&d.docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=usr1",
            "--filter",
            &format!("event={event}"),
            "--format",
            &format!("{{{{.Actor.Attributes.{attr}}}}}"),
        ]))
    };
    // `since` has a resolution of a second: the earlier stop may be in the window too.
    let last = |s: String| s.lines().last().unwrap_or("").to_owned();
    assert_eq!(last(events("kill", "signal")), "10");
    assert_eq!(last(events("die", "exitCode")), "42");
    assert_eq!(events("restart", "name").trim(), "usr1");

    // The image's STOPSIGNAL.
    load_image_with_config(
        &d,
        "sig:1",
        serde_json::json!({
            "Cmd": ["sh", "-c", "trap 'exit 43' USR2; echo ready; while true; do sleep 0.1; done"],
            "StopSignal": "SIGUSR2",
        }),
    );
    let out = d.docker(&["run", "-d", "--name", "imgsig", "sig:1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    wait_ready(&d, "imgsig", 1);
    assert_eq!(code(&d.docker(&["stop", "imgsig"])), 0);
    assert_eq!(field(&d, "imgsig", "{{.State.ExitCode}}"), "43");

    // --stop-timeout: a process that ignores SIGTERM is SIGKILLed after it, not after the
    // default 10 s.
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "--stop-timeout",
        "1",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    wait_ready(&d, "stubborn", 1);
    let t = Instant::now();
    assert_eq!(code(&d.docker(&["stop", "stubborn"])), 0);
    assert!(t.elapsed() < Duration::from_secs(9), "{:?}", t.elapsed());
    assert_eq!(field(&d, "stubborn", "{{.State.ExitCode}}"), "137");
    assert_eq!(field(&d, "stubborn", "{{.Config.StopTimeout}}"), "1");
}

#[test]
fn init_reaps_zombies() {
    let d = TestDaemon::start("initreap");
    d.load_busybox();
    // The inner shell exits at once, orphaning `sleep 0.2`, which is re-parented to pid 1.
    let orphan = "sh -c 'sleep 0.2 &'; exec sleep 300";
    run_ok(
        &d,
        &["run", "-d", "--name", "bare", "busybox", "sh", "-c", orphan],
    );
    run_ok(
        &d,
        &[
            "run", "-d", "--init", "--name", "inited", "busybox", "sh", "-c", orphan,
        ],
    );
    let zombies = |name: &str| {
        stdout(&d.berth(&["exec", name, "ps", "-o", "stat,comm"]))
            .lines()
            .filter(|l| l.trim_start().starts_with('Z'))
            .count()
    };
    // Without an init, `sleep` as pid 1 never reaps: the orphan stays a zombie. With --init,
    // docker-init reaps it.
    assert!(eventually(WAIT, || zombies("bare") == 1));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(zombies("inited"), 0);
    let top = stdout(&d.berth(&["exec", "inited", "ps", "-o", "pid,comm"]));
    assert!(top.contains("1 docker-init"), "{top}");
}

#[test]
fn shutdown_stops_containers_when_live_restore_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("daemon.json");
    std::fs::write(&cfg, r#"{"live-restore": false}"#).unwrap();
    let mut d = TestDaemon::start_with("liverestore", &["--config-file", cfg.to_str().unwrap()]);
    d.load_busybox();
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "polite",
            "--stop-signal",
            "USR1",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 42' USR1; echo ready; while true; do sleep 0.1; done",
        ],
    );
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "comeback",
            "--restart",
            "unless-stopped",
            "busybox",
            "sleep",
            "300",
        ],
    );
    wait_ready(&d, "polite", 1);
    let pid: i32 = field(&d, "polite", "{{.State.Pid}}").parse().unwrap();
    // A clean shutdown (SIGTERM) stops the containers with their own stop signal.
    let mut child = d.child.take().unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container was stopped with the daemon"
    );
    d.spawn();
    assert_eq!(
        field(&d, "polite", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 42"
    );
    // Stopped by the daemon, not by hand: unless-stopped brings it back.
    assert!(
        eventually(WAIT, || field(&d, "comeback", "{{.State.Status}}")
            == "running"),
        "{}",
        d.log_text()
    );
}

const DOCKER_PY: &str = r#"
import sys, time, docker
c = docker.DockerClient(base_url=sys.argv[1], version="1.44")
ct = c.containers.run("busybox", ["sleep", "300"], detach=True, name="py-health",
    healthcheck={"test": ["CMD-SHELL", "echo py; exit 0"], "interval": 1000000000, "retries": 2})
deadline = time.time() + 30
while time.time() < deadline:
    ct.reload()
    h = ct.attrs["State"].get("Health") or {}
    if h.get("Status") == "healthy":
        break
    time.sleep(0.2)
assert h.get("Status") == "healthy", ct.attrs["State"]
assert h["Log"][-1]["Output"] == "py\n", h
assert ct.attrs["Config"]["Healthcheck"]["Retries"] == 2
r = c.containers.run("busybox", ["sh", "-c", "exit 5"], detach=True, name="py-restart",
    restart_policy={"Name": "on-failure", "MaximumRetryCount": 1})
deadline = time.time() + 30
while time.time() < deadline:
    r.reload()
    if r.attrs["State"]["Status"] == "exited" and r.attrs["RestartCount"] == 1:
        break
    time.sleep(0.2)
assert r.attrs["RestartCount"] == 1 and r.attrs["State"]["ExitCode"] == 5, r.attrs["State"]
assert r.attrs["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 1}
print("docker-py health ok")
"#;

#[test]
fn health_and_restart_via_docker_py() {
    let d = TestDaemon::start("healthpy");
    d.load_busybox();
    assert!(d.docker_py(DOCKER_PY).contains("docker-py health ok"));
}

#[test]
fn restart_backoff_survives_a_daemon_sigkill() {
    let mut d = TestDaemon::start("backoffkill");
    d.load_busybox();
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "crashy",
            "--restart",
            "always",
            "busybox",
            "false",
        ],
    );
    // Back-offs 100 ms, 200 ms, … : after the 7th exit it waits 6.4 s.
    assert!(eventually(Duration::from_secs(60), || restart_count(
        &d, "crashy"
    ) >= 7));
    let n = restart_count(&d, "crashy");
    d.kill9();
    d.spawn();
    // The new daemon resumes the long wait instead of restarting at once.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(restart_count(&d, "crashy"), n);
    assert_eq!(field(&d, "crashy", "{{.State.Status}}"), "restarting");
    assert!(eventually(Duration::from_secs(60), || {
        restart_count(&d, "crashy") > n
    }));
}

#[test]
fn update_changes_the_restart_policy() {
    let d = TestDaemon::start("updrestart");
    d.load_busybox();
    run_ok(
        &d,
        &[
            "run", "-d", "--name", "upd", "busybox", "sh", "-c",
            "[ -e /ran ] && exec sleep 300; touch /ran; while [ ! -e /go ]; do sleep 0.1; done; exit 1",
        ],
    );
    let out = d.docker(&["update", "--restart", "on-failure:3", "upd"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        field(
            &d,
            "upd",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure 3"
    );
    // The next exit follows the new policy.
    run_ok(&d, &["exec", "upd", "touch", "/go"]);
    assert!(
        eventually(WAIT, || field(
            &d,
            "upd",
            "{{.State.Status}} {{.RestartCount}}"
        ) == "running 1"),
        "{}",
        d.log_text()
    );
    let out = d.berth(&["update", "--restart", "always:2", "upd"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("maximum retry count can only be used with 'on-failure'"),
        "{}",
        stderr(&out)
    );
    run_ok(&d, &["create", "--rm", "--name", "gone", "busybox", "true"]);
    let out = d.berth(&["update", "--restart", "always", "gone"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("AutoRemove is enabled"),
        "{}",
        stderr(&out)
    );
}
