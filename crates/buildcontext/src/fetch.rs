//! Downloads over http(s): `ADD <url>` and remote contexts.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The largest file `ADD <url>` downloads.
pub const MAX_DOWNLOAD: u64 = 16 << 30;

/// A file [`fetch_url`] downloaded.
#[derive(Debug, Clone)]
pub struct FetchedFile {
    /// Where it was written: `dest/<name>`.
    pub path: PathBuf,
    /// The file name BuildKit would give it: the `Content-Disposition` filename, else the URL
    /// path's last element, else `index`.
    pub name: String,
    /// `Last-Modified`, which `ADD` uses as the file's mtime.
    pub last_modified: Option<SystemTime>,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    pub size: u64,
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// A GET whose status is checked; the error names the URL as Docker does.
pub(crate) fn get(url: &str) -> Result<ureq::http::Response<ureq::Body>> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::InvalidArgument(format!(
            "unsupported URL {url:?}: only http:// and https:// are fetched"
        )));
    }
    let resp = agent()
        .get(url)
        .call()
        .map_err(|e| Error::Http(format!("failed to GET {url}: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Error::Http(format!(
            "failed to GET {url} with status {}",
            status
        )));
    }
    Ok(resp)
}

/// Downloads `url` into the directory `dest` (created if missing) under the name BuildKit
/// would use; the file is written under a temporary name, fsynced and renamed.
pub fn fetch_url(url: &str, dest: &Path) -> Result<FetchedFile> {
    let resp = get(url)?;
    let name = file_name(url, header(&resp, "content-disposition").as_deref());
    let last_modified =
        header(&resp, "last-modified").and_then(|v| httpdate::parse_http_date(&v).ok());
    std::fs::create_dir_all(dest).map_err(Error::io("create", dest))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempfile_in(dest)
        .map_err(Error::io("create a file in", dest))?;
    let mut body = resp.into_body().into_reader().take(MAX_DOWNLOAD + 1);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Http(format!("failed to read {url}: {e}"))),
        };
        size += n as u64;
        if size > MAX_DOWNLOAD {
            return Err(Error::TooLarge {
                what: url.to_string(),
                limit: MAX_DOWNLOAD,
            });
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(Error::io("write", tmp.path()))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(Error::io("fsync", tmp.path()))?;
    let path = dest.join(&name);
    tmp.persist(&path)
        .map_err(|e| Error::io("rename into", &path)(e.error))?;
    Ok(FetchedFile {
        path,
        name,
        last_modified,
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        size,
    })
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// BuildKit's `getFileName`: the Content-Disposition filename (its base name), else the last
/// element of the URL path, else `index`. Names that could climb (`..`) become `index`.
pub fn file_name(url: &str, content_disposition: Option<&str>) -> String {
    let ok = |n: &str| !n.is_empty() && n != "." && n != ".." && n != "/";
    if let Some(cd) = content_disposition {
        if let Some(f) = disposition_filename(cd) {
            if !f.ends_with('/') {
                let base = f.rsplit('/').next().unwrap_or("");
                if ok(base) {
                    return base.to_string();
                }
            }
        }
    }
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = after_scheme
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split_once('/')
        .map(|(_, p)| p)
        .unwrap_or("");
    let base = crate::dockerignore::clean(&format!("/{path}"));
    let base = base.rsplit('/').next().unwrap_or("");
    if ok(base) {
        return percent_decode(base);
    }
    "index".into()
}

fn disposition_filename(cd: &str) -> Option<String> {
    for part in cd.split(';').skip(1) {
        let (k, v) = part.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("filename") {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(v);
            return Some(v.to_string());
        }
    }
    None
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    let d = String::from_utf8_lossy(&out).into_owned();
    if d.contains('/') || d == ".." {
        "index".into()
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_buildkit() {
        assert_eq!(file_name("http://h/a/b.tar.gz", None), "b.tar.gz");
        assert_eq!(file_name("http://h/a/b.tar.gz?x=1#f", None), "b.tar.gz");
        assert_eq!(file_name("http://h/", None), "index");
        assert_eq!(file_name("http://h", None), "index");
        assert_eq!(file_name("http://h/a/..", None), "index");
        assert_eq!(
            file_name("http://h/x", Some("attachment; filename=\"r.txt\"")),
            "r.txt"
        );
        assert_eq!(
            file_name("http://h/x", Some("attachment; filename=\"../../r.txt\"")),
            "r.txt"
        );
        assert_eq!(
            file_name("http://h/x", Some("attachment; filename=\"d/\"")),
            "x"
        );
        assert_eq!(file_name("http://h/a%20b", None), "a b");
        assert_eq!(file_name("http://h/a%2fb", None), "index");
    }

    /// Serves `responses` in order, one connection each, on a loopback port.
    fn serve(responses: Vec<String>) -> u16 {
        use std::io::{BufRead, BufReader, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for r in responses {
                let (mut s, _) = l.accept().unwrap();
                let mut rd = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while rd.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                    line.clear();
                }
                s.write_all(r.as_bytes()).unwrap();
            }
        });
        port
    }

    #[test]
    fn fetches_with_name_mtime_and_digest() {
        let body = "hello over http\n";
        let ok = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Disposition: attachment; filename=\"given.txt\"\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let plain = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let missing =
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string();
        let port = serve(vec![ok, plain, missing]);
        let dest = tempfile::tempdir().unwrap();
        let f = fetch_url(&format!("http://127.0.0.1:{port}/path/x.bin"), dest.path()).unwrap();
        assert_eq!(f.name, "given.txt");
        assert_eq!(f.path, dest.path().join("given.txt"));
        assert_eq!(std::fs::read_to_string(&f.path).unwrap(), body);
        assert_eq!(f.size, body.len() as u64);
        assert_eq!(
            f.last_modified.unwrap(),
            std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
        );
        assert_eq!(
            f.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(body.as_bytes())))
        );
        let f = fetch_url(
            &format!("http://127.0.0.1:{port}/path/x.bin?q=1"),
            dest.path(),
        )
        .unwrap();
        assert_eq!(f.name, "x.bin");
        assert!(f.last_modified.is_none());
        let e = fetch_url(&format!("http://127.0.0.1:{port}/gone"), dest.path()).unwrap_err();
        assert!(e.to_string().contains("404"), "{e}");
        // No temporary files are left behind.
        let mut names: Vec<_> = std::fs::read_dir(dest.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec!["given.txt", "x.bin"]);
        assert!(matches!(
            fetch_url("ftp://h/x", dest.path()),
            Err(Error::InvalidArgument(_))
        ));
    }
}
