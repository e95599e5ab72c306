//! `run -it`: a real terminal (the client runs under a pseudo-terminal made by Python's `pty`),
//! window-size changes reach the container, and Ctrl-P Ctrl-Q detaches leaving it running.

mod common;

use common::*;

/// Drives a client under a PTY: types `steps` (text, then a pause), collects the screen.
const DRIVER: &str = r#"
import os, pty, sys, time, select, fcntl, termios, struct, signal
cmd = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
out = b""
def pump(t):
    global out
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return False
    return True
pump(1.5)
for step in os.environ["STEPS"].split("|"):
    if step == "RESIZE":
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.kill(pid, signal.SIGWINCH)
    else:
        os.write(fd, step.encode().decode("unicode_escape").encode("latin-1"))
    if not pump(1.0):
        break
pump(1.0)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.stdout.write("\nEXIT=%d\n" % os.waitstatus_to_exitcode(status))
"#;

fn drive(d: &TestDaemon, client: &[&str], steps: &str) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(DRIVER)
        .args(client)
        .env("STEPS", steps)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.data_root.join("docker-config"))
        .output()
        .unwrap();
    stdout(&out)
}

#[test]
fn interactive_terminal_resize_and_detach() {
    let d = TestDaemon::start("tty");
    d.load_busybox();
    let docker = docker_cli();
    let docker = docker.to_str().unwrap();
    let host = d.host();

    for client in [vec![BERTH, "-H", host.as_str()], vec![docker]] {
        let mut args = client.clone();
        args.extend(["run", "-it", "--rm", "busybox", "sh"]);
        let screen = drive(
            &d,
            &args,
            "stty size\\r|RESIZE|stty size\\r|tty\\r|exit 3\\r",
        );
        assert!(
            screen.contains("30 100"),
            "initial size reaches the container: {screen}"
        );
        assert!(
            screen.contains("40 120"),
            "a resize reaches the container: {screen}"
        );
        assert!(screen.contains("/dev/pts/0"), "{screen}");
        assert!(screen.contains("EXIT=3"), "{screen}");

        // Ctrl-P Ctrl-Q detaches and leaves the container running.
        let mut args = client.clone();
        args.extend(["run", "-it", "--name", "detachable", "busybox", "sh"]);
        let screen = drive(&d, &args, "\\x10\\x11");
        assert!(screen.contains("EXIT=0"), "{screen}");
        let state = stdout(&d.berth(&["inspect", "-f", "{{.State.Running}}", "detachable"]));
        assert_eq!(state.trim(), "true", "{screen}");
        assert_eq!(code(&d.berth(&["rm", "-f", "detachable"])), 0);
    }
}
