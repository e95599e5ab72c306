//! `berth login [-u USER] [-p PASS | --password-stdin] [SERVER]` and `berth logout [SERVER]`:
//! the daemon checks the credentials (`POST /auth`), the CLI stores them in `config.json`.

use std::io::{BufRead, Write};

use clap::Args;
use serde_json::json;

use crate::credentials::{self, Auth};
use crate::error::{CliError, Result};
use crate::Ctx;

/// `berth login [OPTIONS] [SERVER]`
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long, value_name = "string")]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long, value_name = "string")]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// SERVER
    pub server: Option<String>,
}

/// `berth logout [SERVER]`
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// SERVER
    pub server: Option<String>,
}

/// The `config.json` key for a SERVER argument (`https://host/…` → `host`; none → Docker Hub).
fn key_for(server: Option<&str>) -> String {
    match server {
        None => credentials::HUB_KEY.to_string(),
        Some(s) => {
            let host = s
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or("");
            credentials::server_key(host)
        }
    }
}

fn prompt(text: &str) -> Result<String> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{text}");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::local(e.to_string()))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads a password from the terminal without echo.
fn prompt_password() -> Result<String> {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(stdin.as_fd()).ok();
    if let Some(s) = &saved {
        let mut quiet = s.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &quiet);
    }
    let pw = prompt("Password: ");
    if let Some(s) = &saved {
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, s);
        errln!();
    }
    pw
}

pub async fn login(ctx: &Ctx, a: LoginArgs) -> Result {
    if a.password.is_some() && a.password_stdin {
        return Err(CliError::local(
            "--password and --password-stdin are mutually exclusive",
        ));
    }
    let mut password = a.password.clone();
    if a.password_stdin {
        if a.username.is_none() {
            return Err(CliError::local(
                "Must provide --username with --password-stdin",
            ));
        }
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut s)
            .map_err(|e| CliError::local(e.to_string()))?;
        password = Some(s.trim_end_matches(['\r', '\n']).to_string());
    } else if password.is_some() {
        errln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let key = key_for(a.server.as_deref());
    let username = match a.username {
        Some(u) => u,
        None => prompt("Username: ")?,
    };
    if username.is_empty() {
        return Err(CliError::local("Error: Non-null Username Required"));
    }
    let password = match password {
        Some(p) => p,
        None => prompt_password()?,
    };
    if password.is_empty() {
        return Err(CliError::local("Error: Non-null Password Required"));
    }
    let resp = ctx
        .client
        .registry_login(&json!({
            "username": username,
            "password": password,
            "serveraddress": key,
        }))
        .await?;
    credentials::store(&Auth {
        username,
        password,
        server: key,
    })?;
    let status = resp
        .get("Status")
        .and_then(|s| s.as_str())
        .unwrap_or("Login Succeeded");
    outln!("{status}");
    Ok(0)
}

pub async fn logout(_ctx: &Ctx, a: LogoutArgs) -> Result {
    let key = key_for(a.server.as_deref());
    if credentials::erase(&key)? {
        outln!("Removing login credentials for {key}");
    } else {
        outln!("Not logged in to {key}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_arguments_map_to_config_keys() {
        assert_eq!(key_for(None), credentials::HUB_KEY);
        assert_eq!(key_for(Some("docker.io")), credentials::HUB_KEY);
        assert_eq!(key_for(Some("https://r.lan:5000/v2/")), "r.lan:5000");
        assert_eq!(key_for(Some("127.0.0.1:5000")), "127.0.0.1:5000");
    }
}
