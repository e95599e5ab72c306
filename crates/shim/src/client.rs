//! The daemon's side of the protocol: [`spawn`] a shim, then talk to it with [`ShimClient`].

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::error::{ClientError, SpawnError};
use crate::protocol::*;

/// Run `berth_exe shim <state_dir>` and return once the container is created (its init waits
/// for `start`) and the shim's socket is listening, or with the shim's classified error.
///
/// The daemon writes `shim.json` ([`ShimOptions`]) into `state_dir` first. Blocking: call it
/// from a blocking context (`spawn_blocking`) in async code.
pub fn spawn(berth_exe: &Path, state_dir: &Path) -> Result<(), SpawnError> {
    let out = std::process::Command::new(berth_exe)
        .arg("shim")
        .arg(state_dir)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|source| SpawnError::Exec {
            path: berth_exe.to_path_buf(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    match serde_json::from_str::<Response>(line) {
        Ok(Response::Ok) => Ok(()),
        Ok(Response::Error(e)) => Err(SpawnError::Shim(e)),
        Ok(other) => Err(SpawnError::Protocol(format!("unexpected answer {other:?}"))),
        Err(_) => Err(SpawnError::Protocol(format!(
            "shim exited with {} and printed {:?}",
            out.status,
            stdout.trim()
        ))),
    }
}

/// The exit status a shim recorded in `exit.json`, if the init has exited.
pub fn read_exit_status(state_dir: &Path) -> Option<ExitStatus> {
    let bytes = std::fs::read(state_dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The shim's pid from `shim.pid`, if the file is there.
pub fn read_shim_pid(state_dir: &Path) -> Option<i32> {
    std::fs::read_to_string(state_dir.join(SHIM_PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Clean up after a shim that died without finishing (killed, crashed): when `shim.pid` names
/// no living process, kill what is left of the container (its init from `init.pid`) and delete
/// it from the runtime (cgroups, runtime state), then remove the stale socket. Returns whether
/// anything had to be cleaned. A living shim is left alone (`Ok(false)`).
///
/// Blocking; safe from a multi-threaded daemon (neither runtime forks to delete).
pub fn cleanup_dead_shim(state_dir: &Path) -> Result<bool, ClientError> {
    use berth_runtime::Runtime;
    if let Some(pid) = read_shim_pid(state_dir) {
        if pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() {
            // Alive, unless it is a zombie of ours or a recycled pid of another program.
            let comm = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if comm.contains("shim") {
                return Ok(false);
            }
        }
    }
    let opts: ShimOptions = match std::fs::read(state_dir.join(OPTIONS_FILE)) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| ClientError::Protocol(e.to_string()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(ClientError::Io(e)),
    };
    let runtime: Box<dyn Runtime> =
        match &opts.runtime {
            RuntimeChoice::Builtin => {
                Box::new(berth_runtime::builtin::Builtin::new(&opts.runtime_root))
            }
            RuntimeChoice::External { path, args } => Box::new(
                berth_runtime::external::External::new(path, args.clone(), &opts.runtime_root),
            ),
        };
    let mut cleaned = false;
    if opts.runtime_root.join(&opts.id).exists() {
        runtime
            .delete(&opts.id, true)
            .map_err(|e| ClientError::Protocol(format!("runtime delete: {e}")))?;
        cleaned = true;
    }
    if std::fs::remove_file(state_dir.join(SOCKET_FILE)).is_ok() {
        cleaned = true;
    }
    Ok(cleaned)
}

/// A handle on one container's shim. Cheap: every call opens its own connection.
#[derive(Debug, Clone)]
pub struct ShimClient {
    state_dir: PathBuf,
}

impl ShimClient {
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        ShimClient {
            state_dir: state_dir.into(),
        }
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    async fn connect(&self) -> Result<UnixStream, ClientError> {
        let addr = crate::sockpath::short_path(&self.state_dir.join(SOCKET_FILE))
            .map_err(ClientError::NotRunning)?;
        UnixStream::connect(&addr.path)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    ClientError::NotRunning(e)
                }
                _ => ClientError::Io(e),
            })
    }

    /// Send `req`, read the response line; the stream is positioned right after it.
    async fn call(&self, req: &Request) -> Result<(Response, UnixStream), ClientError> {
        let mut stream = self.connect().await?;
        let mut line = serde_json::to_vec(req).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        stream.write_all(&line).await?;
        let mut resp = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            // Byte by byte: a stream may follow the line and must stay unread.
            if stream.read(&mut byte).await? == 0 {
                return Err(ClientError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "shim closed the connection without answering",
                )));
            }
            if byte[0] == b'\n' {
                break;
            }
            resp.push(byte[0]);
            if resp.len() > 1024 * 1024 {
                return Err(ClientError::Protocol("response line too long".into()));
            }
        }
        let resp: Response = serde_json::from_slice(&resp)
            .map_err(|e| ClientError::Protocol(format!("bad response: {e}")))?;
        match resp {
            Response::Error(e) => Err(ClientError::Shim(e)),
            r => Ok((r, stream)),
        }
    }

    async fn call_ok(&self, req: &Request) -> Result<(), ClientError> {
        match self.call(req).await?.0 {
            Response::Ok => Ok(()),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// Start the created container; returns the init's host pid.
    pub async fn start(&self) -> Result<i32, ClientError> {
        match self.call(&Request::Start).await?.0 {
            Response::Started { pid } => Ok(pid),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// The container's state. When the shim is gone but left `exit.json`, a `Stopped` state
    /// built from it.
    pub async fn state(&self) -> Result<ShimState, ClientError> {
        match self.call(&Request::State).await {
            Ok((Response::State(s), _)) => Ok(s),
            Ok((other, _)) => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
            Err(ClientError::NotRunning(e)) => match read_exit_status(&self.state_dir) {
                Some(exit) => Ok(ShimState {
                    status: ContainerStatus::Stopped,
                    pid: None,
                    exit: Some(exit),
                }),
                None => Err(ClientError::NotRunning(e)),
            },
            Err(e) => Err(e),
        }
    }

    pub async fn kill(&self, signal: i32, all: bool) -> Result<(), ClientError> {
        self.call_ok(&Request::Kill { signal, all }).await
    }

    pub async fn pause(&self) -> Result<(), ClientError> {
        self.call_ok(&Request::Pause).await
    }

    pub async fn resume(&self) -> Result<(), ClientError> {
        self.call_ok(&Request::Resume).await
    }

    pub async fn resize(&self, height: u16, width: u16) -> Result<(), ClientError> {
        self.call_ok(&Request::Resize { height, width }).await
    }

    /// Attach to the init's stdio; the returned stream carries output (stdcopy-framed without a
    /// TTY) and takes stdin (see the protocol docs).
    pub async fn attach(
        &self,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<UnixStream, ClientError> {
        match self
            .call(&Request::Attach {
                stdin,
                stdout,
                stderr,
            })
            .await?
        {
            (Response::Ok, s) => Ok(s),
            (other, _) => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// Wait for the init to exit. Works after the shim has gone too (reads `exit.json`).
    pub async fn wait(&self) -> Result<ExitStatus, ClientError> {
        match self.call(&Request::Wait).await {
            Ok((Response::Exited(e), _)) => Ok(e),
            Ok((other, _)) => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
            Err(e @ (ClientError::NotRunning(_) | ClientError::Io(_))) => {
                // The shim exits right after the init; its record is the exit file. Give a
                // shim in the middle of finishing a moment to write it.
                for _ in 0..50 {
                    if let Some(s) = read_exit_status(&self.state_dir) {
                        return Ok(s);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Register an exec process (`process` is an OCI Process).
    pub async fn exec_create(
        &self,
        exec_id: &str,
        process: &oci_spec::runtime::Process,
    ) -> Result<(), ClientError> {
        let process =
            serde_json::to_value(process).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.call_ok(&Request::ExecCreate {
            exec_id: exec_id.to_string(),
            process,
        })
        .await
    }

    /// Start a registered exec. Without `detach`, returns its stream (closed by the shim when the
    /// process has exited and its output is drained).
    pub async fn exec_start(
        &self,
        exec_id: &str,
        detach: bool,
        stdin: bool,
    ) -> Result<Option<UnixStream>, ClientError> {
        self.exec_start_request(exec_id, detach, stdin, None).await
    }

    /// [`Self::exec_create`] and [`Self::exec_start`] in one round trip.
    pub async fn exec_run(
        &self,
        exec_id: &str,
        process: &oci_spec::runtime::Process,
        detach: bool,
        stdin: bool,
    ) -> Result<Option<UnixStream>, ClientError> {
        let process =
            serde_json::to_value(process).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.exec_start_request(exec_id, detach, stdin, Some(process))
            .await
    }

    async fn exec_start_request(
        &self,
        exec_id: &str,
        detach: bool,
        stdin: bool,
        process: Option<serde_json::Value>,
    ) -> Result<Option<UnixStream>, ClientError> {
        let (resp, stream) = self
            .call(&Request::ExecStart {
                exec_id: exec_id.to_string(),
                detach,
                stdin,
                process,
            })
            .await?;
        match resp {
            Response::Ok if detach => Ok(None),
            Response::Ok => Ok(Some(stream)),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    pub async fn exec_resize(
        &self,
        exec_id: &str,
        height: u16,
        width: u16,
    ) -> Result<(), ClientError> {
        self.call_ok(&Request::ExecResize {
            exec_id: exec_id.to_string(),
            height,
            width,
        })
        .await
    }

    pub async fn exec_state(&self, exec_id: &str) -> Result<ExecState, ClientError> {
        match self
            .call(&Request::ExecState {
                exec_id: exec_id.to_string(),
            })
            .await?
            .0
        {
            Response::Exec(s) => Ok(s),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// Forget an exec, SIGKILLing it first if it still runs.
    pub async fn exec_delete(&self, exec_id: &str) -> Result<(), ClientError> {
        self.call_ok(&Request::ExecDelete {
            exec_id: exec_id.to_string(),
        })
        .await
    }

    /// Kill the container if it runs, delete it from the runtime, and stop the shim.
    pub async fn shutdown(&self) -> Result<(), ClientError> {
        match self.call_ok(&Request::Shutdown).await {
            Err(ClientError::NotRunning(_)) => Ok(()),
            other => other,
        }
    }
}
