//! `exec`: extra processes in a running container, run by its shim. The process spec is the
//! container's own (`config.json`), with the exec's command, environment, user, working
//! directory and terminal swapped in, so capabilities, rlimits and security settings match the
//! container's — unless `privileged` is asked for.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_api::backend::AttachedStream;
use berth_types::api::{ExecConfig, ExecStartConfig, IdResponse};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::Daemon;

/// An exec instance, kept in memory (Docker does the same: execs do not survive a daemon
/// restart's bookkeeping, though their processes keep running in the shim).
#[derive(Debug, Clone)]
pub struct ExecRecord {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub started: bool,
    /// Set when the process could not be started (Docker records 126).
    pub failed_exit_code: Option<i64>,
    /// Pid and exit code, once the daemon has seen the process end (spares asking the shim).
    pub exited: Option<(i32, i64)>,
}

/// Buffer between a hijacked exec connection and the shim's stream.
const EXEC_PIPE_BUFFER: usize = 64 * 1024;
/// How long, after its output ended, an exec may take to be reaped before its stream closes.
const EXEC_EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
const EXEC_EXIT_POLL: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Default)]
pub struct ExecTable {
    pub by_id: Mutex<HashMap<String, ExecRecord>>,
}

impl Daemon {
    pub async fn exec_create(&self, key: &str, config: ExecConfig) -> Result<IdResponse> {
        let entry = self.containers.lookup(key)?;
        let c = entry.snapshot();
        match c.state.status {
            super::Status::Running => {}
            super::Status::Paused => {
                return Err(Error::Conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    c.id
                )))
            }
            _ => {
                return Err(Error::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )))
            }
        }
        let id = berth_types::id::generate_id();
        let rec = ExecRecord {
            id: id.clone(),
            container_id: c.id.clone(),
            config,
            started: false,
            failed_exit_code: None,
            exited: None,
        };
        self.execs
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), rec);
        self.container_event(
            &c,
            &format!("exec_create: {}", exec_cmdline(&self.exec_get(&id)?)),
            &[("execID", id.clone())],
        );
        Ok(IdResponse { id })
    }

    fn exec_get(&self, exec_id: &str) -> Result<ExecRecord> {
        self.execs
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(exec_id)
            .cloned()
            .ok_or_else(|| Error::NoSuchExec(exec_id.to_owned()))
    }

    pub(crate) fn exec_records_remove_for(&self, container_id: &str) {
        self.execs
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, r| r.container_id != container_id);
    }

    pub async fn exec_start(
        &self,
        exec_id: &str,
        start: ExecStartConfig,
    ) -> Result<Option<AttachedStream>> {
        let rec = self.exec_get(exec_id)?;
        {
            let mut table = self.execs.by_id.lock().unwrap_or_else(|p| p.into_inner());
            let r = table
                .get_mut(exec_id)
                .ok_or_else(|| Error::NoSuchExec(exec_id.to_owned()))?;
            if r.started {
                return Err(Error::Conflict(format!(
                    "Error: Exec command {exec_id} has already run"
                )));
            }
            r.started = true;
        }
        let entry = self.containers.lookup(&rec.container_id)?;
        let c = entry.snapshot();
        if !c.state.status.is_running() {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let state_dir = self.state_dir(&c.id);
        let process: oci_spec::runtime::Process =
            serde_json::from_value(self.exec_process(&state_dir, &c, &rec.config)?)
                .map_err(|e| Error::Internal(format!("exec process spec: {e}")))?;
        let detach = start.detach.unwrap_or(false);
        let stdin = rec.config.attach_stdin.unwrap_or(false);
        let tty = rec.config.tty.unwrap_or(false);
        if detach {
            self.launch_exec(&c, &rec, &process, true, stdin).await?;
            return Ok(None);
        }
        // The process starts only once the client has the 101 head: a client that reads the
        // head through a buffer (docker-py) would otherwise swallow the first output with it.
        let (api_side, mut engine_side) = tokio::io::duplex(EXEC_PIPE_BUFFER);
        let (upgraded_tx, upgraded_rx) = tokio::sync::oneshot::channel();
        let daemon = self
            .me
            .upgrade()
            .ok_or_else(|| Error::Internal("daemon is shutting down".into()))?;
        tokio::spawn(async move {
            if upgraded_rx.await.is_err() {
                // The client left before the upgrade: nothing was started.
                return;
            }
            match daemon.launch_exec(&c, &rec, &process, false, stdin).await {
                Ok(Some(shim_stream)) => {
                    let shim = berth_shim::client::ShimClient::new(daemon.state_dir(&c.id));
                    let exited = splice_until_exit(engine_side, shim_stream, &shim, &rec.id).await;
                    if let Some(exited) = exited {
                        if let Some(r) = daemon
                            .execs
                            .by_id
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_mut(&rec.id)
                        {
                            r.exited = Some(exited);
                        }
                    }
                }
                Ok(None) => {}
                Err(err) => {
                    // As Docker does: the connection is taken over anyway and the error is the
                    // output; the client reads exit code 126 from the exec's inspect.
                    use tokio::io::AsyncWriteExt;
                    let text = format!("{err}\r\n");
                    let bytes = if tty {
                        bytes::Bytes::from(text)
                    } else {
                        berth_api::stdcopy::frame(
                            berth_api::stdcopy::StreamType::Stdout,
                            text.as_bytes(),
                        )
                    };
                    let _ = engine_side.write_all(&bytes).await;
                    let _ = engine_side.shutdown().await;
                }
            }
        });
        Ok(Some(AttachedStream {
            tty,
            stream: Box::pin(api_side),
            on_upgraded: Some(upgraded_tx),
        }))
    }

    /// Creates and starts the exec in the shim. A failure is recorded as exit code 126.
    async fn launch_exec(
        &self,
        c: &super::Container,
        rec: &ExecRecord,
        process: &oci_spec::runtime::Process,
        detach: bool,
        stdin: bool,
    ) -> Result<Option<tokio::net::UnixStream>> {
        let shim = berth_shim::client::ShimClient::new(self.state_dir(&c.id));
        let started = match shim.exec_run(&rec.id, process, detach, stdin).await {
            // A shim started by an older daemon takes the process only through ExecCreate.
            Err(e)
                if e.shim_error()
                    .is_some_and(|s| s.kind == berth_shim::protocol::ShimErrorKind::NotFound) =>
            {
                match shim.exec_create(&rec.id, process).await {
                    Ok(()) => shim.exec_start(&rec.id, detach, stdin).await,
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        match started {
            Ok(s) => {
                self.container_event(
                    c,
                    &format!("exec_start: {}", exec_cmdline(rec)),
                    &[("execID", rec.id.clone())],
                );
                Ok(s)
            }
            Err(e) => {
                if let Some(r) = self
                    .execs
                    .by_id
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(&rec.id)
                {
                    r.failed_exit_code = Some(126);
                }
                Err(exec_error(e.shim_error().map(|s| s.message.clone()), &e))
            }
        }
    }

    /// The OCI process for an exec: the container's process with the exec's settings.
    pub(crate) fn exec_process(
        &self,
        state_dir: &std::path::Path,
        c: &super::Container,
        cfg: &ExecConfig,
    ) -> Result<Value> {
        let spec_bytes = std::fs::read(state_dir.join("config.json"))
            .map_err(Error::io("reading the container's runtime spec"))?;
        let spec: Value = serde_json::from_slice(&spec_bytes)
            .map_err(|e| Error::Internal(format!("container spec: {e}")))?;
        let mut process = spec.get("process").cloned().unwrap_or_else(|| json!({}));
        let args = cfg.cmd.clone().unwrap_or_default();
        if args.is_empty() {
            return Err(Error::InvalidArgument("No exec command specified".into()));
        }
        process["args"] = json!(args);
        process["terminal"] = json!(cfg.tty.unwrap_or(false));
        if let Some(size) = cfg.console_size.as_ref().filter(|s| s.len() == 2) {
            process["consoleSize"] = json!({"height": size[0], "width": size[1]});
        } else if let Some(obj) = process.as_object_mut() {
            obj.remove("consoleSize");
        }
        // Environment: the container's, overridden by the exec's.
        let mut env: Vec<String> = process
            .get("env")
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or_default();
        for e in cfg.env.iter().flatten() {
            let key = e.split_once('=').map(|(k, _)| k).unwrap_or(e);
            env.retain(|x| x.split_once('=').map(|(k, _)| k).unwrap_or(x) != key);
            env.push(e.clone());
        }
        process["env"] = json!(env);
        if let Some(wd) = cfg.working_dir.as_deref().filter(|w| !w.is_empty()) {
            if !wd.starts_with('/') {
                return Err(Error::InvalidArgument(format!(
                    "the working directory '{wd}' is invalid, it needs to be an absolute path"
                )));
            }
            process["cwd"] = json!(wd);
        }
        if let Some(user) = cfg.user.as_deref().filter(|u| !u.is_empty()) {
            let rootfs = state_dir.join("rootfs");
            let u = berth_runtime::user::resolve_user(
                &rootfs,
                user,
                c.host_config.group_add.as_deref().unwrap_or(&[]),
            )?;
            process["user"] =
                json!({"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids});
        }
        if cfg.privileged.unwrap_or(false) {
            // Every capability this host has (asking for a withheld one fails the exec).
            let all = berth_runtime::spec::available_capabilities();
            process["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
        }
        Ok(process)
    }

    pub async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        let rec = self.exec_get(exec_id)?;
        let shim = berth_shim::client::ShimClient::new(self.state_dir(&rec.container_id));
        shim.exec_resize(exec_id, height, width)
            .await
            .map_err(|e| Error::Shim(format!("resizing exec: {e}")))
    }

    pub async fn exec_inspect(&self, exec_id: &str) -> Result<Value> {
        let rec = self.exec_get(exec_id)?;
        let (running, pid, exit_code) = if let Some(code) = rec.failed_exit_code {
            (false, 0, json!(code))
        } else if let Some((pid, code)) = rec.exited {
            (false, pid, json!(code))
        } else if rec.started {
            let shim = berth_shim::client::ShimClient::new(self.state_dir(&rec.container_id));
            match shim.exec_state(exec_id).await {
                Ok(s) => (
                    s.running,
                    s.pid.unwrap_or(0),
                    s.exit_code.map(|c| json!(c)).unwrap_or(Value::Null),
                ),
                // The shim is gone: so is the exec, and its code with it.
                Err(_) => (false, 0, Value::Null),
            }
        } else {
            (false, 0, Value::Null)
        };
        let cmd = rec.config.cmd.clone().unwrap_or_default();
        Ok(json!({
            "ID": rec.id,
            "Running": running,
            "ExitCode": exit_code,
            "ProcessConfig": {
                "tty": rec.config.tty.unwrap_or(false),
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "arguments": cmd.iter().skip(1).cloned().collect::<Vec<_>>(),
                "privileged": rec.config.privileged.unwrap_or(false),
                "user": rec.config.user.clone().unwrap_or_default(),
            },
            "OpenStdin": rec.config.attach_stdin.unwrap_or(false),
            "OpenStderr": rec.config.attach_stderr.unwrap_or(false),
            "OpenStdout": rec.config.attach_stdout.unwrap_or(false),
            "CanRemove": false,
            "ContainerID": rec.container_id,
            "DetachKeys": rec.config.detach_keys.clone().unwrap_or_default(),
            "Pid": pid,
        }))
    }
}

fn exec_cmdline(rec: &ExecRecord) -> String {
    rec.config.cmd.clone().unwrap_or_default().join(" ")
}

/// Copies the exec's output to the client and the client's input to the exec. The client's
/// stream is closed only once the exec's exit code is known: clients read it from the exec's
/// inspect as soon as the output ends, and the output can end a moment before the process is
/// reaped.
/// Returns the process's pid and exit code when its end was seen.
async fn splice_until_exit(
    client: tokio::io::DuplexStream,
    process: tokio::net::UnixStream,
    shim: &berth_shim::client::ShimClient,
    exec_id: &str,
) -> Option<(i32, i64)> {
    use tokio::io::AsyncWriteExt;
    let (mut from_client, mut to_client) = tokio::io::split(client);
    let (mut from_process, mut to_process) = process.into_split();
    let input = async {
        let _ = tokio::io::copy(&mut from_client, &mut to_process).await;
        // End of the client's input is the end of the process's stdin.
        let _ = to_process.shutdown().await;
        std::future::pending::<()>().await
    };
    let output = async {
        let _ = tokio::io::copy(&mut from_process, &mut to_client).await;
        let deadline = tokio::time::Instant::now() + EXEC_EXIT_GRACE;
        let mut code = None;
        // The shim closes the stream once the process is reaped, so the first answer is
        // final; polling remains for shims that close it earlier.
        while tokio::time::Instant::now() < deadline {
            match shim.exec_state(exec_id).await {
                Ok(state) if state.running => tokio::time::sleep(EXEC_EXIT_POLL).await,
                Ok(state) => {
                    code = state
                        .exit_code
                        .map(|c| (state.pid.unwrap_or(0), i64::from(c)));
                    break;
                }
                Err(_) => break,
            }
        }
        let _ = to_client.shutdown().await;
        code
    };
    tokio::select! {
        _ = input => None,
        code = output => code,
    }
}

/// Docker's wording for a failed exec; clients parse it for 126/127.
fn exec_error(shim_message: Option<String>, e: impl std::fmt::Display) -> Error {
    match shim_message {
        Some(m) => Error::StartFailed(format!(
            "OCI runtime exec failed: exec failed: unable to start container process: {m}: unknown"
        )),
        None => Error::Shim(format!("exec: {e}")),
    }
}
