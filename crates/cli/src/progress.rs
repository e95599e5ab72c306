//! Docker's `jsonmessage.DisplayJSONMessagesStream`: pull and push progress as the docker CLI
//! renders it. On a terminal each layer keeps its own line, redrawn in place (cursor up, clear
//! line, `\r`) with a bar when the terminal is wider than 110 columns; elsewhere only status
//! changes are printed, one per line, and bars are left out.

use std::collections::HashMap;
use std::io::Write;

use serde_json::Value;

use crate::error::{CliError, Result};
use crate::format::size::human_size;

/// Where progress goes: stdout for `pull`/`push`, stderr for the pull that `run` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Stdout,
    Stderr,
}

/// Renders the stream; an `error` message fails with its text. `aux` messages (push's digest)
/// are handed to `on_aux`.
pub async fn display(
    stream: &mut berth_client::JsonStream<Value>,
    target: Target,
    mut on_aux: impl FnMut(&Value),
) -> Result<()> {
    let fd = match target {
        Target::Stdout => libc::STDOUT_FILENO,
        Target::Stderr => libc::STDERR_FILENO,
    };
    // SAFETY: stdout/stderr stay open for the life of the process.
    let tty = crate::terminal::is_tty(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) });
    let width = if tty {
        crate::terminal::size().map_or(80, |(_, c)| c as usize)
    } else {
        200
    };
    let mut r = Renderer {
        ids: HashMap::new(),
        tty,
        width,
        out: Vec::new(),
    };
    while let Some(m) = stream.next().await? {
        if let Some(aux) = m.get("aux") {
            on_aux(aux);
            continue;
        }
        let err = m
            .get("errorDetail")
            .and_then(|e| e.get("message"))
            .or_else(|| m.get("error"))
            .and_then(|e| e.as_str())
            .map(str::to_string);
        if let Some(e) = err {
            r.flush(target);
            return Err(CliError::local(e));
        }
        r.message(&m);
        r.flush(target);
    }
    Ok(())
}

struct Renderer {
    ids: HashMap<String, usize>,
    tty: bool,
    width: usize,
    out: Vec<u8>,
}

impl Renderer {
    fn flush(&mut self, target: Target) {
        let data = std::mem::take(&mut self.out);
        let _ = match target {
            Target::Stdout => {
                let mut o = std::io::stdout();
                o.write_all(&data).and_then(|_| o.flush())
            }
            Target::Stderr => std::io::stderr().write_all(&data),
        };
    }

    fn message(&mut self, m: &Value) {
        let id = m.get("id").and_then(|v| v.as_str()).unwrap_or("");
        let progress = m.get("progressDetail").filter(|p| p.is_object());
        let mut diff = 0;
        if !id.is_empty() && progress.is_some() {
            let n = self.ids.len();
            let line = *self.ids.entry(id.to_string()).or_insert_with(|| {
                if self.tty {
                    self.out.push(b'\n');
                }
                n
            });
            diff = self.ids.len() - line;
            if self.tty && diff > 0 {
                let _ = write!(self.out, "\x1b[{diff}A");
            }
        } else {
            // Output that is not per-layer ends the layers' block (pull -a: the next tag).
            self.ids.clear();
        }
        self.display(m, id, progress);
        if !id.is_empty() && self.tty && diff > 0 {
            let _ = write!(self.out, "\x1b[{diff}B");
        }
    }

    /// `JSONMessage.Display`.
    fn display(&mut self, m: &Value, id: &str, progress: Option<&Value>) {
        let status = m.get("status").and_then(|v| v.as_str()).unwrap_or("");
        let stream = m.get("stream").and_then(|v| v.as_str()).unwrap_or("");
        let bar = progress.map(|p| {
            let n = |k: &str| p.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
            bar(n("current"), n("total"), self.width)
        });
        let mut endl = "";
        if self.tty && stream.is_empty() && progress.is_some() {
            self.out.extend_from_slice(b"\x1b[2K\r");
            endl = "\r";
        } else if bar.as_deref().is_some_and(|b| !b.is_empty()) {
            // Bars are for terminals only.
            return;
        }
        if !id.is_empty() {
            let _ = write!(self.out, "{id}: ");
        }
        match (&bar, self.tty) {
            (Some(b), true) => {
                let _ = write!(self.out, "{status} {b}{endl}");
            }
            _ if !stream.is_empty() => {
                let _ = write!(self.out, "{stream}{endl}");
            }
            _ => {
                let _ = writeln!(self.out, "{status}{endl}");
            }
        }
    }
}

/// `JSONProgress.String()` for a terminal `width` columns wide.
fn bar(current: i64, total: i64, width: usize) -> String {
    if current <= 0 && total <= 0 {
        return String::new();
    }
    if total <= 0 {
        return format!("{:>8}", human_size(current as f64));
    }
    let pct = ((current as f64 / total as f64 * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let mut s = String::new();
    if width > 110 {
        s = format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct));
    }
    if current > total {
        s += &format!("{:>8}", human_size(current as f64));
    } else {
        s += &format!(
            "{:>8}/{}",
            human_size(current as f64),
            human_size(total as f64)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(tty: bool, msgs: &[Value]) -> String {
        let mut r = Renderer {
            ids: HashMap::new(),
            tty,
            width: 120,
            out: Vec::new(),
        };
        for m in msgs {
            r.message(m);
        }
        String::from_utf8(r.out).unwrap()
    }

    fn pull_stream() -> Vec<Value> {
        vec![
            json!({"status":"Pulling from pullhelper/x","id":"1"}),
            json!({"status":"Pulling fs layer","progressDetail":{},"id":"dcf8cb507f3b"}),
            json!({"status":"Downloading","progressDetail":{"current":36445,"total":3001156},"id":"dcf8cb507f3b"}),
            json!({"status":"Download complete","progressDetail":{},"id":"dcf8cb507f3b"}),
            json!({"status":"Pull complete","progressDetail":{},"id":"dcf8cb507f3b"}),
            json!({"status":"Digest: sha256:66"}),
            json!({"status":"Status: Downloaded newer image for r/x:1"}),
        ]
    }

    #[test]
    fn plain_output_matches_docker_without_a_terminal() {
        assert_eq!(
            render(false, &pull_stream()),
            "1: Pulling from pullhelper/x\ndcf8cb507f3b: Pulling fs layer\n\
             dcf8cb507f3b: Download complete\ndcf8cb507f3b: Pull complete\n\
             Digest: sha256:66\nStatus: Downloaded newer image for r/x:1\n"
        );
    }

    #[test]
    fn terminal_output_redraws_each_layer_line() {
        let out = render(true, &pull_stream());
        assert!(out.starts_with("1: Pulling from pullhelper/x\n\n\x1b[1A\x1b[2K\rdcf8cb507f3b: Pulling fs layer \r\x1b[1B"));
        assert!(out.contains(
            "\x1b[1A\x1b[2K\rdcf8cb507f3b: Downloading [>                                                  ]  36.45kB/3.001MB\r\x1b[1B"
        ));
        assert!(out.ends_with("Status: Downloaded newer image for r/x:1\n"));
    }
}
