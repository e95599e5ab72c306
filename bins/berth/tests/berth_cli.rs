//! The `berth` CLI through every core verb.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn run_ps_inspect_rename_pause_kill_prune() {
    let d = TestDaemon::start("cli-life");
    d.load_busybox();

    let out = d.berth(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(
        (code(&out), stdout(&out).as_str()),
        (0, "hi\n"),
        "{}\n{}",
        stderr(&out),
        d.log_text()
    );

    let out = d.berth(&["run", "-d", "--name", "one", "busybox", "sleep", "60"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = d.berth(&["create", "--name", "two", "busybox", "true"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let out = d.berth(&["ps"]);
    let text = stdout(&out);
    assert!(text.starts_with("CONTAINER ID"), "{text}");
    assert!(text.contains("one") && !text.contains("two"), "{text}");
    let out = d.berth(&["container", "ls", "-a", "--format", "{{.Names}}"]);
    assert_eq!(stdout(&out), "two\none\n");
    let out = d.berth(&["ps", "-a", "--filter", "status=created", "-q"]);
    assert_eq!(stdout(&out).trim().len(), 12);
    let out = d.berth(&["ps", "-l", "--format", "{{.Names}}"]);
    assert_eq!(stdout(&out), "two\n");

    let out = d.berth(&["rename", "two", "three"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&d.berth(&["inspect", "-f", "{{.Name}}", "three"])).trim(),
        "/three"
    );

    assert_eq!(code(&d.berth(&["pause", "one"])), 0);
    assert_eq!(
        stdout(&d.berth(&["inspect", "-f", "{{.State.Status}}", "one"])).trim(),
        "paused"
    );
    assert_eq!(code(&d.berth(&["unpause", "one"])), 0);
    assert_eq!(
        stdout(&d.berth(&["inspect", "-f", "{{.State.Status}}", "one"])).trim(),
        "running"
    );

    // pid 1 of a namespace ignores signals it has no handler for, so the default (KILL) it is.
    let out = d.berth(&["kill", "one"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(eventually(Duration::from_secs(5), || stdout(&d.berth(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}}",
        "one"
    ]))
    .trim()
        == "137"));

    let out = d.berth(&["container", "prune", "-f"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&d.berth(&["ps", "-aq"])).trim(), "");
}

#[test]
fn logs_options_and_start_attach() {
    let d = TestDaemon::start("cli-logs");
    d.load_busybox();
    let out = d.berth(&[
        "run",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4; do echo line $i; done; echo oops >&2",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = d.berth(&["logs", "talker"]);
    assert_eq!(stdout(&out), "line 1\nline 2\nline 3\nline 4\n");
    assert_eq!(stderr(&out), "oops\n");
    let out = d.berth(&["logs", "--tail", "2", "talker"]);
    assert_eq!(stdout(&out), "line 4\n");
    assert_eq!(stderr(&out), "oops\n");
    let out = d.berth(&["logs", "-t", "talker"]);
    let first = stdout(&out).lines().next().unwrap().to_owned();
    assert!(first.ends_with("Z line 1") && first.len() > 30, "{first}");

    let out = d.berth(&["start", "-a", "talker"]);
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out), "line 1\nline 2\nline 3\nline 4\n");
    // The tail counts lines of both streams: the last one is stderr's.
    let out = d.berth(&["logs", "--tail", "1", "talker"]);
    assert_eq!(
        (stdout(&out).as_str(), stderr(&out).as_str()),
        ("", "oops\n")
    );
}

#[test]
fn init_and_external_runtime() {
    let d = TestDaemon::start("cli-rt");
    d.load_busybox();
    // With --init the command is not pid 1: docker-init is.
    let out = d.berth(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "echo $$; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_ne!(lines.next(), Some("1"), "{text}");
    assert!(lines.next().unwrap_or("").contains("docker-init"), "{text}");

    // docker-init forwards a stop signal to the command, which dies of it: 128 + 15.
    let out = d.berth(&[
        "run", "-d", "--init", "--name", "inited", "busybox", "sleep", "60",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Like any init, docker-init can only forward a signal once it runs and has its command
    // started: wait for that, so the test is about forwarding and not about start-up timing.
    assert!(eventually(Duration::from_secs(10), || {
        let top = stdout(&d.berth(&["top", "inited"]));
        top.contains("docker-init") && top.contains("sleep 60")
    }));
    let out = d.berth(&["stop", "-t", "20", "inited"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = d.berth(&["inspect", "-f", "{{.State.ExitCode}}", "inited"]);
    assert_eq!(stdout(&out).trim(), "143");

    if std::path::Path::new("/usr/sbin/runc").exists()
        || std::path::Path::new("/usr/bin/runc").exists()
    {
        let out = d.berth(&[
            "run",
            "--rm",
            "--runtime",
            "runc",
            "busybox",
            "sh",
            "-c",
            "echo via runc; exit 2",
        ]);
        assert_eq!(code(&out), 2, "{}\n{}", stderr(&out), d.log_text());
        assert_eq!(stdout(&out), "via runc\n");
        let out = d.berth(&[
            "run",
            "--rm",
            "--runtime",
            "runc",
            "busybox",
            "no-such-command",
        ]);
        assert_eq!(code(&out), 127, "{}", stderr(&out));
    }
    let out = d.berth(&["run", "--rm", "--runtime", "nonesuch", "busybox", "true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
}

#[test]
fn isolation_defaults_are_dockers() {
    let d = TestDaemon::start("cli-iso");
    d.load_busybox();
    let script = "hostname; cat /etc/hostname; grep -c . /etc/hosts >/dev/null && echo hosts; \
                  grep CapEff /proc/self/status; \
                  touch /sys/x 2>/dev/null || echo sys-ro; \
                  cat /proc/kcore >/dev/null 2>&1 && echo kcore-readable || echo kcore-masked; \
                  ls /dev | tr '\\n' ' '; echo; \
                  ip link 2>/dev/null | grep -c '^[0-9]' ; echo $$";
    let out = d.berth(&[
        "run",
        "--rm",
        "--hostname",
        "boxy",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "boxy");
    assert_eq!(lines[1], "boxy");
    assert_eq!(lines[2], "hosts");
    // Docker's default capability set.
    assert_eq!(
        lines[3].split_whitespace().nth(1),
        Some("00000000a80425fb"),
        "{text}"
    );
    assert_eq!(lines[4], "sys-ro");
    assert_eq!(lines[5], "kcore-masked");
    for dev in [
        "null", "zero", "random", "urandom", "tty", "pts", "shm", "mqueue",
    ] {
        assert!(
            lines[6].split_whitespace().any(|d| d == dev),
            "/dev lacks {dev}: {}",
            lines[6]
        );
    }
    assert_eq!(
        lines[7], "2",
        "loopback and eth0 (on the default bridge) in a private network namespace: {text}"
    );
    assert_eq!(
        lines[8], "1",
        "the command is pid 1 in its own pid namespace"
    );

    let out = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "cat",
        "/proc/net/dev",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("lo:"));
}

#[test]
fn unknown_flags_and_bad_names_exit_125() {
    let d = TestDaemon::start("cli-bad");
    d.load_busybox();
    let out = d.berth(&["run", "--no-such-flag", "busybox"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    let out = d.berth(&["run", "--name", "bad name", "busybox", "true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Invalid container name"),
        "{}",
        stderr(&out)
    );
    let out = d.berth(&["logs", "ghost"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("No such container: ghost"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn logs_rotate_so_a_chatty_container_cannot_fill_the_disk() {
    let d = TestDaemon::start("cli-rotate");
    d.load_busybox();
    let out = d.berth(&[
        "run",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = stdout(&d.berth(&["inspect", "-f", "{{.Id}}", "chatty"]))
        .trim()
        .to_owned();
    let dir = d.data_root.join("containers").join(&id);
    let logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{id}-json.log"))
        })
        .collect();
    assert!(
        !logs.is_empty() && logs.len() <= 3,
        "at most max-file files: {logs:?}"
    );
    for l in &logs {
        let len = l.metadata().unwrap().len();
        assert!(len <= 4096 + 200, "{:?} is {len} bytes", l.path());
    }
    // What is kept is the newest output, readable through logs.
    let out = d.berth(&["logs", "--tail", "1", "chatty"]);
    assert_eq!(stdout(&out), "line 2999\n");
}

#[test]
fn an_attached_client_that_never_reads_cannot_grow_the_shim() {
    use std::io::Write;
    let d = TestDaemon::start("cli-slow-attach");
    d.load_busybox();
    let out = d.berth(&[
        "run",
        "-d",
        "--name",
        "flood",
        "--log-opt",
        "max-size=100m",
        "busybox",
        "sh",
        "-c",
        "sleep 1; head -c 40000000 /dev/zero | tr '\\0' x; sleep 60",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    // Attach and never read a byte.
    let mut sock = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    write!(
        sock,
        "POST /containers/{id}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let log = d
        .data_root
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    // The container is not held back by the stuck client: its output all reaches the log.
    assert!(
        eventually(Duration::from_secs(60), || std::fs::metadata(&log)
            .map(|m| m.len())
            .unwrap_or(0)
            > 40_000_000),
        "log has {:?} bytes",
        std::fs::metadata(&log).map(|m| m.len())
    );
    let shim_pid =
        std::fs::read_to_string(d.exec_root.join("c").join(&id).join("shim.pid")).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", shim_pid.trim())).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        rss_kb < 24 * 1024,
        "the shim holds {rss_kb} kB for a client that does not read"
    );
    drop(sock);
}
