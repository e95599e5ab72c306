//! A runc-compatible runtime binary (`runc`, `crun`, `youki`) driven through its command line.
//!
//! Every call runs `<binary> <args> --root <root> --log <file> --log-format json <verb> ...` and
//! waits for it. Errors are read from the JSON log (runc writes the fatal error there at level
//! `error`), falling back to stderr.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::RuntimeError;
use crate::{ProcessIo, Runtime, RuntimeState, Status};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct External {
    binary: PathBuf,
    args: Vec<String>,
    root: PathBuf,
}

impl External {
    /// `binary` with extra global `args`, keeping its state under `root` (`--root`).
    pub fn new(binary: impl Into<PathBuf>, args: Vec<String>, root: impl Into<PathBuf>) -> Self {
        External {
            binary: binary.into(),
            args,
            root: root.into(),
        }
    }

    fn command(&self, log: &Path) -> Command {
        let mut c = Command::new(&self.binary);
        c.args(&self.args)
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(log)
            .arg("--log-format")
            .arg("json");
        c
    }

    fn log_path(&self, id: &str, op: &str) -> PathBuf {
        self.root.join(format!(".berth-{id}-{op}.log"))
    }

    /// Run a command that does not involve container stdio, capturing stderr.
    fn run(&self, op: &'static str, id: &str, verb_args: &[&str]) -> Result<String, RuntimeError> {
        self.ensure_root()?;
        let log = self.log_path(id, op);
        let out = self
            .command(&log)
            .args(verb_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| RuntimeError::io(format!("run {}", self.binary.display()), e))?;
        let err = read_error(&log, &out.stderr);
        let _ = fs::remove_file(&log);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(classify_cli(op, id, err))
        }
    }

    fn ensure_root(&self) -> Result<(), RuntimeError> {
        fs::create_dir_all(&self.root)
            .map_err(|e| RuntimeError::io(format!("create {}", self.root.display()), e))
    }

    /// Run a command that hands `io` to the container process; returns the pid it wrote.
    fn run_with_io(
        &self,
        op: &'static str,
        id: &str,
        pid_file: &Path,
        io: ProcessIo,
        verb_args: Vec<std::ffi::OsString>,
    ) -> Result<i32, RuntimeError> {
        self.ensure_root()?;
        let log = self.log_path(id, op);
        let _ = fs::remove_file(pid_file);
        let mut cmd = self.command(&log);
        cmd.args(verb_args);
        let stdio = |fd: Option<OwnedFd>| fd.map(Stdio::from).unwrap_or_else(Stdio::null);
        cmd.stdin(stdio(io.stdin))
            .stdout(stdio(io.stdout))
            .stderr(stdio(io.stderr));
        let status = cmd
            .status()
            .map_err(|e| RuntimeError::io(format!("run {}", self.binary.display()), e))?;
        let err = read_error(&log, b"");
        let _ = fs::remove_file(&log);
        if !status.success() {
            let _ = fs::remove_file(pid_file);
            return Err(classify_cli(op, id, err));
        }
        let pid = fs::read_to_string(pid_file)
            .map_err(|e| RuntimeError::io(format!("read {}", pid_file.display()), e))?;
        let _ = fs::remove_file(pid_file);
        pid.trim().parse().map_err(|_| RuntimeError::Runtime {
            op,
            message: format!("bad pid file content {pid:?}"),
        })
    }
}

/// The last error-level message in runc's JSON log, else stderr.
fn read_error(log: &Path, stderr: &[u8]) -> String {
    let mut msg = None;
    if let Ok(text) = fs::read_to_string(log) {
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                if matches!(v["level"].as_str(), Some("error") | Some("fatal")) {
                    if let Some(m) = v["msg"].as_str() {
                        msg = Some(m.to_string());
                    }
                }
            }
        }
    }
    msg.unwrap_or_else(|| String::from_utf8_lossy(stderr).trim().to_string())
}

fn classify_cli(op: &'static str, id: &str, message: String) -> RuntimeError {
    let m = message.to_ascii_lowercase();
    match RuntimeError::classify(op, message) {
        RuntimeError::Runtime { op, message } => {
            if m.contains("does not exist") || m.contains("container not found") {
                RuntimeError::NotFound(id.to_string())
            } else if m.contains("not running")
                || m.contains("cannot start")
                || m.contains("not paused")
                || m.contains("is paused")
                || m.contains("already exists")
                || m.contains("cannot exec in a stopped")
            {
                RuntimeError::Conflict(message)
            } else {
                RuntimeError::Runtime { op, message }
            }
        }
        classified => classified,
    }
}

impl Runtime for External {
    fn create(&self, id: &str, bundle: &Path, io: ProcessIo) -> Result<i32, RuntimeError> {
        let pid_file = bundle.join(".berth-init.pid");
        let mut args: Vec<std::ffi::OsString> = vec![
            "create".into(),
            "--bundle".into(),
            bundle.into(),
            "--pid-file".into(),
        ];
        args.push(pid_file.clone().into());
        if let Some(sock) = &io.console_socket {
            args.push("--console-socket".into());
            args.push(sock.into());
        }
        args.push(id.into());
        self.run_with_io("create", id, &pid_file, io, args)
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("start", id, &["start", id]).map(|_| ())
    }

    fn state(&self, id: &str) -> Result<RuntimeState, RuntimeError> {
        let out = self.run("state", id, &["state", id])?;
        let v: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| RuntimeError::Runtime {
                op: "state",
                message: format!("unparsable state output: {e}"),
            })?;
        let status = match v["status"].as_str() {
            Some("creating") => Status::Creating,
            Some("created") => Status::Created,
            Some("running") => Status::Running,
            Some("paused") => Status::Paused,
            _ => Status::Stopped,
        };
        let pid = v["pid"].as_i64().filter(|p| *p > 0).map(|p| p as i32);
        Ok(RuntimeState { status, pid })
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let sig = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.push(id);
        args.push(&sig);
        self.run("kill", id, &args).map(|_| ())
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("pause", id, &["pause", id]).map(|_| ())
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("resume", id, &["resume", id]).map(|_| ())
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let args: &[&str] = if force {
            &["delete", "--force", id]
        } else {
            &["delete", id]
        };
        match self.run("delete", id, args) {
            Err(RuntimeError::NotFound(_)) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        io: ProcessIo,
    ) -> Result<i32, RuntimeError> {
        self.ensure_root()?;
        let json = serde_json::to_vec(process)
            .map_err(|e| RuntimeError::InvalidSpec(format!("exec process: {e}")))?;
        let mut pfile = tempfile::Builder::new()
            .prefix(&format!(".berth-{id}-exec-"))
            .suffix(".json")
            .tempfile_in(&self.root)
            .map_err(|e| RuntimeError::io("create exec process file", e))?;
        std::io::Write::write_all(&mut pfile, &json)
            .map_err(|e| RuntimeError::io("write exec process file", e))?;
        let pid_file = pfile.path().with_extension("pid");
        let mut args: Vec<std::ffi::OsString> = vec![
            "exec".into(),
            "--process".into(),
            pfile.path().into(),
            "--detach".into(),
            "--pid-file".into(),
            pid_file.clone().into(),
        ];
        if let Some(sock) = &io.console_socket {
            args.push("--console-socket".into());
            args.push(sock.into());
        }
        args.push(id.into());
        self.run_with_io("exec", id, &pid_file, io, args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_messages_are_classified() {
        let e = classify_cli(
            "create",
            "x",
            "runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH".into(),
        );
        assert!(matches!(e, RuntimeError::CommandNotFound(_)), "{e:?}");
        let e = classify_cli("kill", "x", "container \"x\" does not exist".into());
        assert!(matches!(e, RuntimeError::NotFound(_)), "{e:?}");
        let e = classify_cli(
            "start",
            "x",
            "cannot start a container that has stopped".into(),
        );
        assert!(matches!(e, RuntimeError::Conflict(_)), "{e:?}");
    }
}
