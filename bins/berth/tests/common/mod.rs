//! The integration-test harness: every test gets a daemon of its own (own data root, exec root
//! and socket), so tests run in parallel and never touch the host's defaults. Images are made
//! offline from the host's static busybox.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A running `berth daemon` on private paths; stopped and cleaned up on drop.
pub struct TestDaemon {
    pub name: String,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub child: Option<Child>,
    pub extra_args: Vec<String>,
    /// This daemon's default bridge; its networks take /24s of [`TEST_ADDRESS_POOL`], chosen by
    /// the daemon (under a host-wide lock) to collide with no other bridge or route.
    pub bridge: String,
    /// Extra environment for the daemon process.
    pub env: Vec<(String, String)>,
    _tmp: tempfile::TempDir,
}

/// The address pool every test daemon's networks come from (never the host's defaults).
pub const TEST_ADDRESS_POOL: &str = "base=10.224.0.0/11,size=24";

/// A bridge name unique to this process and call (`bt` + hex pid + hex counter ≤ 15 chars).
pub fn unique_bridge_name() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("bt{:x}x{:x}", std::process::id(), n)
}

fn require_root() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "integration tests run as root (they create containers)"
    );
}

impl TestDaemon {
    pub fn start(name: &str) -> TestDaemon {
        Self::start_with(name, &[])
    }

    pub fn start_with(name: &str, extra_args: &[&str]) -> TestDaemon {
        let mut d = Self::unstarted(name, extra_args);
        d.spawn();
        d
    }

    /// A daemon on private paths, not started yet (call [`TestDaemon::spawn`]).
    pub fn unstarted(name: &str, extra_args: &[&str]) -> TestDaemon {
        require_root();
        let tmp = tempfile::Builder::new()
            .prefix(&format!("berth-it-{name}-"))
            .tempdir()
            .expect("tempdir");
        let data_root = tmp.path().join("data");
        // Unix socket paths are limited to 108 bytes: keep the exec root short.
        let exec_root = PathBuf::from(format!("/run/bt/{}-{}", name, std::process::id()));
        let _ = std::fs::remove_dir_all(&exec_root);
        std::fs::create_dir_all(&exec_root).unwrap();
        let socket = exec_root.join("api.sock");
        let log = tmp.path().join("daemon.log");
        TestDaemon {
            name: name.to_owned(),
            data_root,
            exec_root,
            socket,
            log,
            child: None,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            bridge: unique_bridge_name(),
            env: Vec::new(),
            _tmp: tmp,
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Starts (or restarts) the daemon process and waits for its socket to answer.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(BERTH)
            .arg("daemon")
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("-H")
            .arg(self.host())
            .arg("--log-level")
            .arg("debug")
            .args(self.network_args())
            .args(&self.extra_args)
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawning berth daemon");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("daemon exited early ({status}); log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not come up; log:\n{}", self.log_text());
    }

    /// `--bridge` and `--default-address-pool` unless the test gives its own.
    fn network_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if !self
            .extra_args
            .iter()
            .any(|a| a == "--bridge" || a == "-b" || a.starts_with("--bridge="))
        {
            v.extend(["--bridge".to_string(), self.bridge.clone()]);
        }
        if !self
            .extra_args
            .iter()
            .any(|a| a.starts_with("--default-address-pool"))
        {
            v.extend([
                "--default-address-pool".to_string(),
                TEST_ADDRESS_POOL.to_string(),
            ]);
        }
        v
    }

    /// SIGKILLs the daemon: containers must survive this.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs the berth CLI against this daemon.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_stdin(args, None)
    }

    pub fn berth_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(BERTH);
        cmd.arg("-H").arg(self.host()).args(args);
        run_with_stdin(cmd, stdin)
    }

    /// Runs the real docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_stdin(args, None)
    }

    pub fn docker_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(docker_cli());
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.data_root.join("docker-config"))
            .args(args);
        run_with_stdin(cmd, stdin)
    }

    /// Loads the busybox test image as `busybox:latest`.
    pub fn load_busybox(&self) {
        let tar = busybox_rootfs_tar();
        let out = self.berth(&[
            "import",
            "--change",
            "CMD [\"/bin/sh\"]",
            tar.to_str().unwrap(),
            "busybox:latest",
        ]);
        assert!(
            out.status.success(),
            "import failed: {}\n{}",
            stderr(&out),
            self.log_text()
        );
    }

    /// Runs a docker-py script against this daemon (its `sys.argv[1]` is the daemon's host) and
    /// returns its stdout; a failing script fails the test with its output and the daemon log.
    pub fn docker_py(&self, script: &str) -> String {
        let out = Command::new("python3")
            .args(["-c", script, &self.host()])
            .output()
            .expect("running python3");
        assert!(
            out.status.success(),
            "docker-py script failed\nstdout: {}\nstderr: {}\n{}",
            stdout(&out),
            stderr(&out),
            self.log_text()
        );
        stdout(&out)
    }

    /// A raw HTTP request on the API socket; returns (status, headers, body).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
        use std::io::Read;
        let mut s = std::os::unix::net::UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let text = String::from_utf8_lossy(&resp).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, head.to_owned(), dechunk(body))
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        // Stop every container this daemon made, then the daemon, then clean up mounts.
        if self.child.is_some() {
            if let Ok(out) = Command::new(BERTH)
                .args(["-H", &self.host(), "ps", "-aq"])
                .output()
            {
                for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new(BERTH)
                        .args(["-H", &self.host(), "rm", "-f", id])
                        .output();
                }
            }
        }
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
        // The daemon's bridges and firewall rules outlive it by design; a test's go with it.
        let _ = Command::new(BERTH)
            .arg("daemon")
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .args(self.network_args())
            .args(&self.extra_args)
            .arg("--network-cleanup")
            .output();
        // Anything still mounted below our roots (a failed test) is detached.
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            let mut targets: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|t| {
                    t.starts_with(self.exec_root.to_str().unwrap())
                        || t.starts_with(self.data_root.to_str().unwrap())
                })
                .collect();
            targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
            for t in targets {
                let c = std::ffi::CString::new(t).unwrap();
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let _ = std::fs::remove_dir_all(&self.exec_root);
    }
}

fn run_with_stdin(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("spawning client");
    if let Some(data) = stdin {
        let mut w = child.stdin.take().unwrap();
        w.write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn dechunk(body: &str) -> String {
    // Good enough for tests: strip chunk-size lines of a chunked body.
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size_line, after)) = rest.split_once("\r\n") else {
            return if out.is_empty() { body.to_owned() } else { out };
        };
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
            return if out.is_empty() { body.to_owned() } else { out };
        };
        if size == 0 || after.len() < size {
            return out;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The docker CLI to test with.
pub fn docker_cli() -> PathBuf {
    for p in ["/usr/local/bin/docker", "/usr/bin/docker"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("the docker CLI is required (scripts/test.sh installs it)");
}

/// A rootfs tar made from the host's static busybox, like ../shared/tools/anchors.sh does:
/// built once per busybox binary and shared by every test process (a temporary name, then a
/// rename, so that processes racing to build it never see half a file).
pub fn busybox_rootfs_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox-static is required (scripts/test.sh installs it)");
        let list = Command::new(busybox).arg("--list").output().unwrap();
        let meta = std::fs::metadata(busybox).unwrap();
        let path = std::env::temp_dir().join(format!(
            "berth-busybox-{}-{}.tar",
            meta.len(),
            std::os::unix::fs::MetadataExt::mtime(&meta)
        ));
        if path.exists() {
            return path;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let file = std::fs::File::create(&tmp).unwrap();
        let mut b = tar::Builder::new(file);
        let dir = |b: &mut tar::Builder<std::fs::File>, name: &str, mode: u32| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_size(0);
            h.set_mtime(1_700_000_000);
            b.append_data(&mut h, name, std::io::empty()).unwrap();
        };
        for (d, m) in [("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700), ("home", 0o755), ("home/user", 0o755)] {
            dir(&mut b, d, m);
        }
        b.append_path_with_name(busybox, "bin/busybox").unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            if applet == "busybox" {
                continue;
            }
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            b.append_link(&mut h, format!("bin/{applet}"), "busybox").unwrap();
        }
        let file = |b: &mut tar::Builder<std::fs::File>, name: &str, data: &str, mode: u32| {
            let mut h = tar::Header::new_gnu();
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_size(data.len() as u64);
            h.set_mtime(1_700_000_000);
            b.append_data(&mut h, name, data.as_bytes()).unwrap();
        };
        file(&mut b, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n", 0o644);
        file(&mut b, "etc/group", "root:x:0:\nuser:x:1000:\nstaff:x:50:user\nnogroup:x:65534:\n", 0o644);
        file(&mut b, "bin/not-executable", "#!/bin/sh\necho no\n", 0o644);
        b.into_inner().unwrap().sync_all().unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    })
    .clone()
}

/// Polls `f` until it returns true or the timeout passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}
