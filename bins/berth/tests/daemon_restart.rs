//! The daemon can be SIGKILLed and restarted while containers run: they keep running and
//! logging, and afterwards ps, logs -f, exec, stop and wait work on them.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn containers_survive_a_sigkilled_daemon() {
    let mut d = TestDaemon::start("restart");
    d.load_busybox();
    let out = d.berth(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; trap 'exit 7' TERM; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
    ]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log_text());
    let id = stdout(&out).trim().to_owned();
    let pid_before = stdout(&d.berth(&["inspect", "--format", "{{.State.Pid}}", "ticker"]))
        .trim()
        .to_owned();
    assert!(pid_before.parse::<i32>().unwrap() > 0);

    d.kill9();
    // While the daemon is dead the container keeps running and logging.
    let log_path = d
        .data_root
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    let len_at_kill = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        std::fs::metadata(&log_path).unwrap().len() > len_at_kill,
        "the shim keeps logging without the daemon"
    );
    assert!(
        std::path::Path::new(&format!("/proc/{pid_before}")).exists(),
        "the container outlives the daemon"
    );

    d.spawn();
    let out = d.berth(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(stdout(&out).trim(), "ticker running", "{}", stderr(&out));
    let pid_after = stdout(&d.berth(&["inspect", "--format", "{{.State.Pid}}", "ticker"]))
        .trim()
        .to_owned();
    assert_eq!(pid_before, pid_after);

    let out = d.docker(&["exec", "ticker", "echo", "still here"]);
    assert_eq!(stdout(&out), "still here\n", "{}", stderr(&out));

    // attach reaches the re-adopted shim and streams live output.
    let out = std::process::Command::new("timeout")
        .args([
            // The docker CLI proxies or ignores SIGTERM while attached: end it with SIGKILL.
            "-s",
            "KILL",
            "1.5",
            docker_cli().to_str().unwrap(),
            "attach",
            "--no-stdin",
            "ticker",
        ])
        .env("DOCKER_HOST", d.host())
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("tick "),
        "attach after restart: {:?} {}",
        stdout(&out),
        stderr(&out)
    );

    // logs -f follows live output, and ends when the container stops.
    let mut follower = std::process::Command::new(BERTH)
        .args(["-H", &d.host(), "logs", "-f", "--tail", "1", "ticker"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let waiter = std::process::Command::new(BERTH)
        .args(["-H", &d.host(), "wait", "ticker"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = d.berth(&["stop", "ticker"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let waited = waiter.wait_with_output().unwrap();
    assert_eq!(stdout(&waited).trim(), "7");
    let followed = {
        let status = follower.wait().unwrap();
        assert!(status.success());
        let mut s = String::new();
        use std::io::Read;
        follower
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    assert!(
        followed.lines().count() >= 2,
        "logs -f saw live lines: {followed:?}"
    );
    let out = d.berth(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        "ticker",
    ]);
    assert_eq!(stdout(&out).trim(), "exited 7");
}

#[test]
fn exit_while_daemon_is_down_is_recorded() {
    let mut d = TestDaemon::start("restart-exit");
    d.load_busybox();
    let out = d.berth(&[
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 5",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    d.kill9();
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn();
    assert!(
        eventually(Duration::from_secs(5), || {
            stdout(&d.berth(&[
                "inspect",
                "--format",
                "{{.State.Status}} {{.State.ExitCode}}",
                "short",
            ]))
            .trim()
                == "exited 5"
        }),
        "{}",
        stdout(&d.berth(&["inspect", "short"]))
    );
    // Nothing of the run is left mounted.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(d.exec_root.to_str().unwrap()),
        "leaked mount under the exec root"
    );
    let out = d.berth(&["start", "-a", "short"]);
    assert_eq!(
        code(&out),
        5,
        "a stopped container starts again: {}",
        stderr(&out)
    );
}
