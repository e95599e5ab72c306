//! The Engine API on the wire: headers, versions, error bodies.

mod common;

use common::*;

#[test]
fn ping_version_and_errors_have_dockers_shape() {
    let d = TestDaemon::start("api");
    let (status, head, body) = d.api("GET", "/_ping", None);
    assert_eq!(status, 200);
    assert_eq!(body, "OK");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("api-version: 1.51"), "{head}");
    assert!(lower.contains("ostype: linux"), "{head}");
    assert!(lower.contains("docker-experimental: false"), "{head}");
    let (status, _, _) = d.api("HEAD", "/_ping", None);
    assert_eq!(status, 200);

    let (status, _, body) = d.api("GET", "/v1.24/version", None);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ApiVersion"], "1.51");
    assert_eq!(v["Os"], "linux");

    let (status, _, body) = d.api("GET", "/v1.12/version", None);
    assert_eq!(status, 400);
    assert!(body.contains("too old"), "{body}");

    let (status, head, body) = d.api("GET", "/v1.51/containers/nope/json", None);
    assert_eq!(status, 404);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json\r\n"),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["message"], "No such container: nope");

    let (status, _, body) = d.api("GET", "/info", None);
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(info["NCPU"].is_u64());
    assert!(info["MemTotal"].is_u64());
    assert!(info["Containers"].is_u64());
    assert!(info["Runtimes"].is_object());
    assert_eq!(info["OSType"], "linux");

    // Volumes exist now; swarm mode stays a clear 501.
    let (status, _, body) = d.api("GET", "/swarm", None);
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("not implemented"), "{body}");

    let (status, _, body) = d.api("POST", "/containers/create", Some("{not json"));
    assert_eq!(status, 400, "{body}");
}

#[test]
fn wait_answers_at_exit_and_inspect_has_every_section() {
    let d = TestDaemon::start("api-wait");
    d.load_busybox();
    let (status, _, body) = d.api(
        "POST",
        "/containers/create?name=waiter",
        Some(r#"{"Image":"busybox","Cmd":["sh","-c","echo out; echo err >&2; exit 9"]}"#),
    );
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = d.api("GET", "/containers/waiter/json", None);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    for key in ["Config", "HostConfig", "State", "NetworkSettings"] {
        assert!(v[key].is_object(), "{key} missing: {body}");
    }
    assert_eq!(v["Name"], "/waiter");
    assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "json-file");
    assert_eq!(v["State"]["Status"], "created");

    let (status, _, _) = d.api("POST", "/containers/waiter/start", None);
    assert_eq!(status, 204);
    let (status, _, body) = d.api("POST", "/containers/waiter/wait", None);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(v["StatusCode"], 9);
    let (status, _, _) = d.api("POST", "/containers/waiter/stop", None);
    assert_eq!(
        status, 304,
        "stopping a stopped container is 'not modified'"
    );
    // attach with logs=1 and no stream replays the output, multiplexed (no TTY).
    let (status, _, body) = d.api(
        "POST",
        "/containers/waiter/attach?logs=1&stream=0&stdout=1",
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(body, "\u{1}\0\0\0\0\0\0\u{4}out\n", "one stdout frame");
    let (status, _, _) = d.api("DELETE", "/containers/waiter", None);
    assert_eq!(status, 204);
}

#[test]
fn bad_daemon_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("daemon.json");
    std::fs::write(&cfg, r#"{"data-root": "/tmp/x", "bogus-key": true}"#).unwrap();
    let out = std::process::Command::new(BERTH)
        .args([
            "daemon",
            "--config-file",
            cfg.to_str().unwrap(),
            "-H",
            "unix:///run/bt/never.sock",
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("bogus-key"), "{}", stderr(&out));
}
