//! The real `docker` CLI, pointed at Berth with DOCKER_HOST, runs containers.

mod common;

use common::*;
use std::time::Duration;

/// The same scenarios on the built-in runtime and on Debian's runc.
macro_rules! on_each_runtime {
    ($($scenario:ident),*) => {
        mod builtin {
            $(#[test] fn $scenario() { super::$scenario("berth") })*
        }
        mod runc {
            $(#[test] fn $scenario() { super::$scenario("runc") })*
        }
    };
}

on_each_runtime!(
    docker_run_prints_output_and_returns_exit_codes,
    docker_stdin_tty_env_user_workdir,
    docker_detached_lifecycle_logs_exec_inspect
);

fn docker_run_prints_output_and_returns_exit_codes(runtime: &str) {
    let d = TestDaemon::start_with(
        &format!("dk-run-{runtime}"),
        &["--default-runtime", runtime],
    );
    d.load_busybox();

    let out = d.docker(&["run", "--rm", "busybox", "echo", "hello from berth"]);
    assert_eq!(code(&out), 0, "stderr: {}\n{}", stderr(&out), d.log_text());
    assert_eq!(stdout(&out), "hello from berth\n");

    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(code(&out), 3);
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");

    // Docker's exit codes for commands that cannot run.
    let out = d.docker(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(code(&out), 127, "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("executable file not found"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["run", "--rm", "busybox", "/bin/not-executable"]);
    assert_eq!(code(&out), 126, "stderr: {}", stderr(&out));

    // --rm removed every one of them.
    let out = d.docker(&["ps", "-aq"]);
    assert_eq!(stdout(&out).trim(), "", "containers left: {}", stdout(&out));
}

fn docker_stdin_tty_env_user_workdir(runtime: &str) {
    let d = TestDaemon::start_with(&format!("dk-io-{runtime}"), &["--default-runtime", runtime]);
    d.load_busybox();

    let out = d.docker_stdin(
        &["run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z"],
        Some(b"piped through\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "PIPED THROUGH\n");

    let out = d.docker(&["run", "--rm", "-t", "busybox", "tty"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).starts_with("/dev/pts/"), "{:?}", stdout(&out));

    let out = d.docker(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi",
        "-w",
        "/made/here",
        "-u",
        "user",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING $(pwd) $(id -u) $HOME $HOSTNAME",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let words: Vec<String> = stdout(&out).split_whitespace().map(str::to_owned).collect();
    assert_eq!(
        &words[..4],
        &["hi", "/made/here", "1000", "/home/user"],
        "{}",
        stdout(&out)
    );
    assert_eq!(
        words[4].len(),
        12,
        "HOSTNAME is the short ID: {}",
        stdout(&out)
    );
}

fn docker_detached_lifecycle_logs_exec_inspect(runtime: &str) {
    let d = TestDaemon::start_with(
        &format!("dk-life-{runtime}"),
        &["--default-runtime", runtime],
    );
    d.load_busybox();

    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "app=demo",
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), d.log_text());
    let id = stdout(&out).trim().to_owned();
    assert_eq!(id.len(), 64);

    let out = d.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(stdout(&out).starts_with("web Up"), "{}", stdout(&out));
    let out = d.docker(&["ps", "-q", "--filter", "label=app=demo"]);
    assert_eq!(stdout(&out).trim(), &id[..12]);

    assert!(eventually(Duration::from_secs(5), || stdout(
        &d.docker(&["logs", "web"])
    ) == "started\n"));

    let out = d.docker(&["exec", "web", "sh", "-c", "echo in-exec; exit 4"]);
    assert_eq!(code(&out), 4);
    assert_eq!(stdout(&out), "in-exec\n");
    // Docker answers a missing exec command with 126 or 127 depending on version; either way
    // it names the missing executable.
    let out = d.docker(&["exec", "web", "no-such-command"]);
    assert!(
        matches!(code(&out), 126 | 127),
        "{} {}",
        code(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("executable file not found")
            || stdout(&out).contains("executable file not found"),
        "{}",
        stderr(&out)
    );

    let out = d.docker(&["inspect", "--format", "{{.State.Status}} {{.State.Running}} {{.Name}} {{.HostConfig.LogConfig.Type}} {{index .Config.Labels \"app\"}}", "web"]);
    assert_eq!(
        stdout(&out).trim(),
        "running true /web json-file demo",
        "{}",
        stderr(&out)
    );

    let out = d.docker(&["top", "web"]);
    assert!(stdout(&out).contains("while true"), "{}", stdout(&out));

    let out = d.docker(&["stop", "-t", "5", "web"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = d.docker(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        "web",
    ]);
    assert_eq!(stdout(&out).trim(), "exited 0");
    assert_eq!(stdout(&d.docker(&["logs", "web"])), "started\nbye\n");

    let out = d.docker(&["rm", "web"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = d.docker(&["inspect", "web"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("No such"), "{}", stderr(&out));
}

#[test]
fn docker_errors_are_dockers() {
    let d = TestDaemon::start("dk-err");
    d.load_busybox();
    let out = d.docker(&["run", "--rm", "no-such-image-here"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Unable to find image 'no-such-image-here:latest' locally"),
        "{}",
        stderr(&out)
    );

    let out = d.docker(&["create", "--name", "dup", "busybox"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // `docker run` reports engine errors as 125 (`docker create` as 1, like Docker's CLI).
    let out = d.docker(&["run", "--name", "dup", "busybox"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("is already in use"),
        "{}",
        stderr(&out)
    );

    let out = d.docker(&["stop", "nope"]);
    assert!(
        stderr(&out).contains("No such container: nope"),
        "{}",
        stderr(&out)
    );

    let out = d.docker(&["run", "-d", "--name", "busy", "busybox", "sleep", "30"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = d.docker(&["rm", "busy"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("container is running"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["rm", "-f", "busy"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn docker_events_replay_and_filter() {
    let d = TestDaemon::start("dk-events");
    d.load_busybox();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let out = d.docker(&["run", "--rm", "--name", "evented", "busybox", "true"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = d.docker(&["create", "--name", "other", "busybox"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let out = d.docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "container=evented",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);
    // With --until the stream ends at that time: history first, then live events until then.
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            "container create evented",
            "container start evented",
            "container die evented",
            "container destroy evented"
        ],
        "{}",
        stderr(&out)
    );
}
