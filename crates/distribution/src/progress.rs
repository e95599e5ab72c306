//! Docker's JSON progress messages (`jsonmessage.JSONMessage`), byte for byte as dockerd
//! writes them: `{"status","progressDetail","progress","id"}` with the 50-column bar that
//! `JSONProgress.String()` draws for a non-terminal width.

use serde_json::{json, Value};

/// Where a pull or push reports progress. Messages are JSON lines ready to stream.
pub type Sink = tokio::sync::mpsc::UnboundedSender<Value>;

/// `{"status": s}` or `{"status": s, "id": id}`.
pub fn status(id: Option<&str>, s: &str) -> Value {
    match id {
        Some(id) => json!({ "status": s, "id": id }),
        None => json!({ "status": s }),
    }
}

/// A per-layer status without numbers (`Pulling fs layer`, `Pull complete`).
pub fn layer(id: &str, s: &str) -> Value {
    json!({ "status": s, "progressDetail": {}, "id": id })
}

/// A per-layer status with a bar (`Downloading`, `Extracting`, `Pushing`).
pub fn bar(id: &str, s: &str, current: u64, total: u64) -> Value {
    json!({
        "status": s,
        "progressDetail": { "current": current, "total": total },
        "progress": bar_text(current, total),
        "id": id,
    })
}

/// `JSONProgress.String()` at dockerd's width (wider than 110, no start time).
pub fn bar_text(current: u64, total: u64) -> String {
    if total == 0 {
        return format!("{:>8}", human_size(current as f64));
    }
    let pct = ((current as f64 / total as f64 * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let bar = format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct));
    let numbers = if current > total {
        format!("{:>8}", human_size(current as f64))
    } else {
        format!(
            "{:>8}/{}",
            human_size(current as f64),
            human_size(total as f64)
        )
    };
    bar + &numbers
}

/// go-units `HumanSize`: decimal units, four significant digits (`1.984MB`, `527B`). The CLI
/// has the same function for its tables; this crate needs it for the daemon's bars.
pub fn human_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g4(size), UNITS[i])
}

/// Go's `%.4g` for values in [0, 1000).
fn go_g4(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let e = format!("{v:.3e}");
    let exp: i32 = e
        .split_once('e')
        .and_then(|(_, x)| x.parse().ok())
        .unwrap_or(0);
    if exp < -4 {
        return e;
    }
    let decimals = (3 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The short form of a digest that names a layer in progress output.
pub fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_match_dockerd() {
        // Captured from dockerd 20.10 pulling a 3001156-byte layer.
        assert_eq!(
            bar_text(36445, 3001156),
            "[>                                                  ]  36.45kB/3.001MB"
        );
        assert_eq!(
            bar_text(2064384, 3001156),
            "[==================================>                ]  2.064MB/3.001MB"
        );
        assert_eq!(
            bar_text(3001156, 3001156),
            "[==================================================>]  3.001MB/3.001MB"
        );
        // Pushing past the estimate drops the total, as dockerd does.
        assert_eq!(
            bar_text(2129920, 1984230),
            "[==================================================>]   2.13MB"
        );
        assert_eq!(human_size(527.0), "527B");
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(short("sha256:dcf8cb507f3b0123456789"), "dcf8cb507f3b");
    }
}
