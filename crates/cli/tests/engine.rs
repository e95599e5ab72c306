//! The CLI against a live Engine API: Berth's daemon or a real dockerd.
//!
//! These tests are `#[ignore]`d in a plain `cargo test`, so that they show as not run rather
//! than passing without a daemon; `scripts/test.sh` runs them with `--ignored` against a Berth
//! daemon of its own, and they run the same way against a real dockerd. `BERTH_TEST_DOCKER_HOST`
//! names the daemon (e.g. `unix:///run/berth/berth.sock`). The image is
//! `BERTH_TEST_IMAGE` (default `busybox`, which must exist there); the CLI binary is
//! `BERTH_TEST_CLI_BIN` (default: this crate's `berth-cli`).

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

fn host() -> Option<String> {
    let h = std::env::var("BERTH_TEST_DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty());
    assert!(
        h.is_some(),
        "BERTH_TEST_DOCKER_HOST must name a live Engine API (these tests run with --ignored)"
    );
    h
}

fn image() -> String {
    std::env::var("BERTH_TEST_IMAGE").unwrap_or_else(|_| "busybox".into())
}

fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "berthcli-{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn berth(host: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let bin = std::env::var("BERTH_TEST_CLI_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_berth-cli").into());
    let mut cmd = Command::new(bin);
    cmd.arg("-H")
        .arg(host)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("spawn berth-cli");
    if let Some(data) = stdin {
        let mut s = child.stdin.take().unwrap();
        s.write_all(data).unwrap();
    }
    child.wait_with_output().expect("wait berth-cli")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
#[ignore = "needs a live Engine API: set BERTH_TEST_DOCKER_HOST, run with --ignored"]
fn version_and_info_answer() {
    let Some(h) = host() else { return };
    let o = berth(&h, &["version"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("Server:"));
    let o = berth(&h, &["info", "--format", "{{.OSType}}"], None);
    assert_eq!(stdout(&o), "linux\n");
}

#[test]
#[ignore = "needs a live Engine API: set BERTH_TEST_DOCKER_HOST, run with --ignored"]
fn run_streams_output_and_returns_the_exit_code() {
    let Some(h) = host() else { return };
    let img = image();
    let o = berth(
        &h,
        &[
            "run",
            "--rm",
            &img,
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    let o = berth(
        &h,
        &[
            "run",
            "--rm",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            &img,
            "sh",
            "-c",
            "echo $A $(pwd)",
        ],
        None,
    );
    assert_eq!(stdout(&o), "1 /tmp\n");
}

#[test]
#[ignore = "needs a live Engine API: set BERTH_TEST_DOCKER_HOST, run with --ignored"]
fn stdin_reaches_the_container_and_eof_ends_it() {
    let Some(h) = host() else { return };
    let o = berth(
        &h,
        &["run", "--rm", "-i", &image(), "sh", "-c", "cat; echo done"],
        Some(b"hello\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hello\ndone\n");
}

#[test]
#[ignore = "needs a live Engine API: set BERTH_TEST_DOCKER_HOST, run with --ignored"]
fn command_errors_map_to_126_127_125() {
    let Some(h) = host() else { return };
    let img = image();
    let o = berth(&h, &["run", "--rm", &img, "nosuchcmd-xyz"], None);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    let o = berth(&h, &["run", "--rm", &img, "/etc"], None);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    let o = berth(&h, &["run", "--no-such-flag", &img], None);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).starts_with("unknown flag: --no-such-flag\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
#[ignore = "needs a live Engine API: set BERTH_TEST_DOCKER_HOST, run with --ignored"]
fn container_lifecycle_through_the_cli() {
    let Some(h) = host() else { return };
    let name = unique("life");
    let o = berth(
        &h,
        &[
            "create",
            "--name",
            &name,
            "-l",
            "k=v",
            &image(),
            "sh",
            "-c",
            "echo hi; exit 4",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    assert_eq!(id.len(), 64);
    let o = berth(&h, &["start", "-a", &name], None);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(4), "hi\n"),
        "{}",
        stderr(&o)
    );
    let o = berth(
        &h,
        &[
            "inspect",
            "-f",
            r#"{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{index .Config.Labels "k"}}"#,
            &name,
        ],
        None,
    );
    assert_eq!(stdout(&o), format!("exited 4 /{name} v\n"));
    let o = berth(
        &h,
        &[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Names}}|{{.Command}}|{{.Labels}}",
        ],
        None,
    );
    assert_eq!(
        stdout(&o),
        format!("{name}|\"sh -c 'echo hi; exit 4'\"|k=v\n")
    );
    let o = berth(&h, &["logs", &name], None);
    assert_eq!(stdout(&o), "hi\n");
    let o = berth(&h, &["container", "rm", &name], None);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), format!("{name}\n"))
    );
    let o = berth(&h, &["rm", &name], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("Error response from daemon: No such container"),
        "{}",
        stderr(&o)
    );
}

#[test]
#[ignore = "needs a live Engine API: set BERTH_TEST_DOCKER_HOST, run with --ignored"]
fn exec_runs_in_a_running_container() {
    let Some(h) = host() else { return };
    let name = unique("exec");
    let o = berth(
        &h,
        &["run", "-d", "--name", &name, &image(), "sleep", "60"],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = berth(
        &h,
        &["exec", "-e", "X=7", &name, "sh", "-c", "echo $X; exit 5"],
        None,
    );
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(5), "7\n"));
    let o = berth(&h, &["exec", "-i", &name, "cat"], Some(b"piped"));
    assert_eq!(stdout(&o), "piped");
    let o = berth(&h, &["rm", "-f", &name], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
#[ignore = "needs a live Engine API: set BERTH_TEST_DOCKER_HOST, run with --ignored"]
fn missing_objects_are_reported() {
    let Some(h) = host() else { return };
    let o = berth(&h, &["inspect", "no-such-object-xyz"], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "[]\n");
    assert_eq!(stderr(&o), "Error: No such object: no-such-object-xyz\n");
    let o = berth(
        &h,
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
}

/// Runs the CLI on a pseudo-terminal sized 33x101, typing `input` (each after `delay`), and
/// returns its exit status and everything it wrote to the terminal.
fn berth_tty(host: &str, args: &[&str], input: &[(u64, &[u8])]) -> (Option<i32>, String) {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let ws = nix::pty::Winsize {
        ws_row: 33,
        ws_col: 101,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&ws), None).expect("openpty");
    let bin = std::env::var("BERTH_TEST_CLI_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_berth-cli").into());
    let slave = pty.slave;
    let mut child = Command::new(bin)
        .arg("-H")
        .arg(host)
        .args(args)
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("spawn berth-cli");
    let mut master = std::fs::File::from(pty.master);
    let mut reader = master.try_clone().unwrap();
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // EIO once every slave end is closed: the reader simply stops.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    for (delay, data) in input {
        std::thread::sleep(Duration::from_millis(*delay));
        master.write_all(data).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(200));
    let text = String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
    (status, text)
}

#[test]
#[ignore = "needs a live Engine API: set BERTH_TEST_DOCKER_HOST, run with --ignored"]
fn tty_run_sizes_the_terminal_and_returns_the_code() {
    let Some(h) = host() else { return };
    let (code, out) = berth_tty(
        &h,
        &[
            "run",
            "-it",
            "--rm",
            &image(),
            "sh",
            "-c",
            "sleep 0.5; stty size < $(tty); exit 3",
        ],
        &[],
    );
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("33 101"), "{out:?}");
}

#[test]
#[ignore = "needs a live Engine API: set BERTH_TEST_DOCKER_HOST, run with --ignored"]
fn tty_detach_keys_leave_the_container_running() {
    let Some(h) = host() else { return };
    let name = unique("detach");
    let (code, out) = berth_tty(
        &h,
        &["run", "-it", "--name", &name, &image(), "sh"],
        &[(1000, b"echo marker-$((6*7))\r"), (500, b"\x10\x11")],
    );
    assert_eq!(code, Some(0), "{out:?}");
    assert!(out.contains("marker-42"), "{out:?}");
    let o = berth(&h, &["inspect", "-f", "{{.State.Running}}", &name], None);
    assert_eq!(stdout(&o), "true\n");
    let o = berth(&h, &["rm", "-f", &name], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
