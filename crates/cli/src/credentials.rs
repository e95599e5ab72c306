//! Registry credentials in the docker CLI's `config.json` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): `auths.<registry>.auth` = base64 `user:password`, or a credential
//! helper (`credsStore` for all registries, `credHelpers.<registry>` for one) run as
//! `docker-credential-<name> get|store|erase`. The file is rewritten atomically with mode 0600
//! and keys Berth does not know are kept.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::error::{CliError, Result};

/// The key Docker Hub's credentials are stored under.
pub const HUB_KEY: &str = "https://index.docker.io/v1/";

/// One registry's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub username: String,
    pub password: String,
    pub server: String,
}

impl Auth {
    /// The `X-Registry-Auth` header value: URL-safe base64 of the JSON auth config.
    pub fn header(&self) -> String {
        URL_SAFE.encode(
            json!({
                "username": self.username,
                "password": self.password,
                "serveraddress": self.server,
            })
            .to_string(),
        )
    }
}

/// The directory of `config.json`.
pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

/// The `config.json` key of a registry domain (`docker.io` → Docker Hub's legacy URL).
pub fn server_key(domain: &str) -> String {
    match domain {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => HUB_KEY.to_string(),
        d => d.to_string(),
    }
}

/// The registry domain of an image reference, as the docker CLI splits it.
pub fn domain_of(image: &str) -> String {
    let name = image.split('@').next().unwrap_or(image);
    match name.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.to_string(),
        _ => "docker.io".to_string(),
    }
}

fn load() -> Result<Map<String, Value>> {
    let path = config_dir().join("config.json");
    match std::fs::read(&path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => match serde_json::from_slice::<Value>(&b) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(CliError::local(format!(
                "loading config file: {}: invalid JSON",
                path.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(CliError::local(format!("loading config file: {e}"))),
    }
}

/// Writes config.json to a temporary name (0600), syncs, renames over the old one.
fn save(cfg: &Map<String, Value>) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = config_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::local(format!("creating {}: {e}", dir.display())))?;
    let path = dir.join("config.json");
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let data = serde_json::to_vec_pretty(cfg).map_err(|e| CliError::local(e.to_string()))?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::local(format!("saving {}: {e}", path.display()))
    })
}

/// The credential helper configured for `key`, if any.
fn helper_for(cfg: &Map<String, Value>, key: &str) -> Option<String> {
    cfg.get("credHelpers")
        .and_then(|h| h.get(key))
        .or_else(|| cfg.get("credsStore"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Runs `docker-credential-<helper> <action>` with `input` on stdin.
fn run_helper(helper: &str, action: &str, input: &str) -> Result<String> {
    let prog = format!("docker-credential-{helper}");
    let mut child = Command::new(&prog)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            CliError::local(format!(
                "error getting credentials - err: exec: \"{prog}\": {e}"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| CliError::local(format!("{prog}: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(CliError::local(format!(
            "{prog} {action}: {}",
            if stdout.is_empty() {
                String::from_utf8_lossy(&out.stderr).trim().to_string()
            } else {
                stdout
            }
        )));
    }
    Ok(stdout)
}

/// The stored credentials for registry `domain`, if any.
pub fn get(domain: &str) -> Result<Option<Auth>> {
    let cfg = load()?;
    let key = server_key(domain);
    if let Some(helper) = helper_for(&cfg, &key) {
        return match run_helper(&helper, "get", &key) {
            Ok(out) => {
                let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
                let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
                if s("Secret").is_empty() {
                    return Ok(None);
                }
                Ok(Some(Auth {
                    username: s("Username"),
                    password: s("Secret"),
                    server: key,
                }))
            }
            // Helpers answer "credentials not found" with a failure.
            Err(_) => Ok(None),
        };
    }
    let Some(entry) = cfg.get("auths").and_then(|a| a.get(&key)) else {
        return Ok(None);
    };
    let Some(encoded) = entry.get("auth").and_then(|a| a.as_str()) else {
        return Ok(None);
    };
    let decoded = STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| CliError::local(format!("invalid auth for {key} in config.json")))?;
    let (u, p) = decoded
        .split_once(':')
        .ok_or_else(|| CliError::local(format!("invalid auth for {key} in config.json")))?;
    Ok(Some(Auth {
        username: u.to_string(),
        password: p.to_string(),
        server: key,
    }))
}

/// The `X-Registry-Auth` header for pulling or pushing `image`, if credentials are stored.
pub fn header_for_image(image: &str) -> Result<Option<String>> {
    Ok(get(&domain_of(image))?.map(|a| a.header()))
}

/// Stores credentials (in the helper if one is configured, else in `auths`).
pub fn store(auth: &Auth) -> Result<()> {
    let mut cfg = load()?;
    if let Some(helper) = helper_for(&cfg, &auth.server) {
        let input = json!({
            "ServerURL": auth.server,
            "Username": auth.username,
            "Secret": auth.password,
        })
        .to_string();
        run_helper(&helper, "store", &input)?;
        // The helper holds the secret; the entry just records the login.
        let auths = cfg
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(a) = auths.as_object_mut() {
            a.insert(auth.server.clone(), json!({}));
        }
        return save(&cfg);
    }
    let auths = cfg
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    let a = auths
        .as_object_mut()
        .ok_or_else(|| CliError::local("config.json: auths is not an object"))?;
    a.insert(
        auth.server.clone(),
        json!({ "auth": STANDARD.encode(format!("{}:{}", auth.username, auth.password)) }),
    );
    save(&cfg)
}

/// Removes the credentials of `key`; returns whether there were any.
pub fn erase(key: &str) -> Result<bool> {
    let mut cfg = load()?;
    let mut found = false;
    if let Some(helper) = helper_for(&cfg, key) {
        found |= run_helper(&helper, "erase", key).is_ok();
    }
    if let Some(a) = cfg.get_mut("auths").and_then(|a| a.as_object_mut()) {
        found |= a.remove(key).is_some();
    }
    if found {
        save(&cfg)?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_keys_follow_the_docker_cli() {
        assert_eq!(domain_of("busybox"), "docker.io");
        assert_eq!(domain_of("user/app:1"), "docker.io");
        assert_eq!(domain_of("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000");
        assert_eq!(domain_of("localhost/a"), "localhost");
        assert_eq!(server_key("docker.io"), HUB_KEY);
        let h = Auth {
            username: "u".into(),
            password: "p".into(),
            server: "r".into(),
        }
        .header();
        let v: Value = serde_json::from_slice(&URL_SAFE.decode(h).unwrap()).unwrap();
        assert_eq!(v["username"], "u");
    }
}
