//! The client against a scripted Engine API server on a unix socket: version negotiation,
//! error mapping, the wait protocol, hijacked streams with half-close, and JSON streams.

use std::path::PathBuf;

use berth_client::{AttachOptions, Client, Demuxer, Error, Host, StreamType};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Reads one request head; returns its request line and the stream positioned after it.
async fn read_head(stream: UnixStream) -> (String, BufReader<UnixStream>) {
    let mut r = BufReader::new(stream);
    let mut first = String::new();
    r.read_line(&mut first).await.unwrap();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap();
        }
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = vec![0u8; content_length];
    r.read_exact(&mut body).await.unwrap();
    (first.trim().to_string(), r)
}

fn response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nApi-Version: 1.41\r\n\r\n{body}",
        body.len()
    )
}

fn socket(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

/// Serves connections one by one with `handle(request_line, stream)`.
fn serve<F, Fut>(listener: UnixListener, handle: F)
where
    F: Fn(String, BufReader<UnixStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let (line, r) = read_head(s).await;
            tokio::spawn(handle(line, r));
        }
    });
}

#[tokio::test]
async fn negotiates_the_lower_version_and_maps_errors() {
    let (_d, path) = socket("a.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    serve(listener, move |line, mut r| {
        let tx = tx.clone();
        async move {
            tx.send(line.clone()).unwrap();
            let resp = if line.starts_with("GET /_ping") {
                response("200 OK", "OK")
            } else {
                response("404 Not Found", r#"{"message":"No such container: nope"}"#)
            };
            r.get_mut().write_all(resp.as_bytes()).await.unwrap();
        }
    });
    let client = Client::new(Host::Unix(path));
    let err = client.container_inspect("nope", false).await.unwrap_err();
    assert!(
        matches!(&err, Error::Api { status: 404, message } if message == "No such container: nope"),
        "{err:?}"
    );
    assert_eq!(rx.recv().await.unwrap(), "GET /_ping HTTP/1.1");
    assert_eq!(
        rx.recv().await.unwrap(),
        "GET /v1.41/containers/nope/json HTTP/1.1"
    );
}

#[tokio::test]
async fn hijacked_attach_carries_stdin_until_half_close() {
    let (_d, path) = socket("b.sock");
    let listener = UnixListener::bind(&path).unwrap();
    serve(listener, |line, mut r| async move {
        if line.starts_with("GET /_ping") {
            r.get_mut()
                .write_all(response("200 OK", "OK").as_bytes())
                .await
                .unwrap();
            return;
        }
        assert!(
            line.starts_with("POST /v1.41/containers/c1/attach?stream=1&stdin=1"),
            "{line}"
        );
        r.get_mut()
            .write_all(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
            .await
            .unwrap();
        // Echo stdin back as stdout frames until the client half-closes, then say goodbye on
        // stderr: output must keep flowing after the end of stdin.
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).await.unwrap();
        let s = r.get_mut();
        s.write_all(&berth_client::stdcopy::encode_frame(
            StreamType::Stdout,
            &buf,
        ))
        .await
        .unwrap();
        s.write_all(&berth_client::stdcopy::encode_frame(
            StreamType::Stderr,
            b"bye",
        ))
        .await
        .unwrap();
        s.shutdown().await.unwrap();
    });
    let client = Client::new(Host::Unix(path));
    let opts = AttachOptions {
        stdin: true,
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let mut conn = client.container_attach("c1", &opts).await.unwrap();
    conn.write_all(b"hello").await.unwrap();
    conn.shutdown().await.unwrap();
    let mut out = Vec::new();
    conn.read_to_end(&mut out).await.unwrap();
    let mut d = Demuxer::new();
    d.push(&out);
    assert_eq!(
        d.next_frame().unwrap().unwrap(),
        (StreamType::Stdout, bytes::Bytes::from_static(b"hello"))
    );
    assert_eq!(
        d.next_frame().unwrap().unwrap(),
        (StreamType::Stderr, bytes::Bytes::from_static(b"bye"))
    );
}

#[tokio::test]
async fn wait_returns_after_the_head_and_streams_json() {
    let (_d, path) = socket("c.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    serve(listener, move |line, mut r| {
        let mut go = go_rx.clone();
        async move {
            let s = r.get_mut();
            if line.starts_with("GET /_ping") {
                s.write_all(response("200 OK", "OK").as_bytes())
                    .await
                    .unwrap();
            } else if line.contains("/wait") {
                // Head now, body only when told: the waiter is registered before the exit.
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .await
                    .unwrap();
                s.flush().await.unwrap();
                while !*go.borrow() {
                    go.changed().await.unwrap();
                }
                let body = r#"{"StatusCode":7}"#;
                s.write_all(format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()).as_bytes())
                    .await
                    .unwrap();
            } else if line.contains("/events") {
                let body = "{\"Type\":\"container\",\"Action\":\"start\"}\r\n{\"Type\":\"container\",\"Action\":\"die\"}\n";
                s.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await
                .unwrap();
            }
        }
    });
    let client = Client::new(Host::Unix(path));
    let waiter = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        client.container_wait("c", Some("next-exit")),
    )
    .await
    .expect("the wait head arrives before the exit")
    .unwrap();
    go_tx.send(true).unwrap();
    assert_eq!(waiter.wait().await.unwrap(), 7);
    let mut events = client
        .events::<serde_json::Value>(None, None, None)
        .await
        .unwrap();
    assert_eq!(events.next().await.unwrap().unwrap()["Action"], "start");
    assert_eq!(events.next().await.unwrap().unwrap()["Action"], "die");
    assert!(events.next().await.unwrap().is_none());
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let (_d, path) = socket("none.sock");
    let err = Client::new(Host::Unix(path)).ping().await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("Is the berth daemon running?"));
}
