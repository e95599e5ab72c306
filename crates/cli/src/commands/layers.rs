//! `berth image inspect --layers IMAGE`: each layer's size, the instruction that made it and the
//! bytes of it that later layers delete or overwrite, then what to merge — and the short form
//! of the same report that `berth build` prints after a build ([`print_waste_report`]).

use std::io::Write;

use berth_client::Client;
use berth_types::waste::{LayerReport, Suggestion};
use serde_json::{json, Map, Value};

use crate::error::{CliError, Result};
use crate::format::{self, size};
use crate::Ctx;

const TABLE: &str = "table {{.Layer}}\t{{.Size}}\t{{.CreatedBy}}\t{{.Wasted}}";

/// Waste worth a word after a build: at least this many bytes…
const SIGNIFICANT_BYTES: u64 = 1 << 20;
/// …or at least this share of the image (in percent), if it is more than a few bytes.
const SIGNIFICANT_PERCENT: u64 = 10;
const SIGNIFICANT_FLOOR: u64 = 64 << 10;

fn headers() -> Value {
    json!({
        "Layer": "LAYER", "DiffID": "DIFF ID", "Size": "SIZE", "CreatedBy": "CREATED BY",
        "Instruction": "INSTRUCTION", "Wasted": "WASTED", "Removes": "REMOVES",
        "Entries": "ENTRIES",
    })
}

/// The rows `--format` templates see, one per layer.
fn rows(r: &LayerReport, human: bool) -> Vec<Value> {
    let sz = |n: u64| {
        if human {
            size::docker_size(n as i64)
        } else {
            n.to_string()
        }
    };
    r.layers
        .iter()
        .map(|l| {
            let mut m = Map::new();
            m.insert("Layer".into(), l.index.into());
            m.insert("DiffID".into(), l.diff_id.clone().into());
            m.insert("Size".into(), sz(l.size).into());
            let by = if l.instruction.is_empty() {
                "<missing>".to_string()
            } else {
                l.instruction.replace(['\t', '\n'], " ")
            };
            m.insert(
                "CreatedBy".into(),
                if human { format::ellipsis(&by, 60) } else { by }.into(),
            );
            m.insert("Instruction".into(), l.instruction.clone().into());
            m.insert("Wasted".into(), sz(l.wasted_size).into());
            m.insert("Removes".into(), sz(l.removed_size).into());
            m.insert("Entries".into(), l.entries.into());
            format::sorted_object(m)
        })
        .collect()
}

fn percent(part: u64, whole: u64) -> u64 {
    (part.saturating_mul(100)).checked_div(whole).unwrap_or(0)
}

fn summary(r: &LayerReport) -> String {
    format!(
        "{} in {} layer{}; {} ({}%) deleted or overwritten by later layers",
        size::docker_size(r.size as i64),
        r.layers.len(),
        if r.layers.len() == 1 { "" } else { "s" },
        size::docker_size(r.wasted_size as i64),
        percent(r.wasted_size, r.size),
    )
}

/// `berth image inspect --layers [--format F] IMAGE...`.
pub async fn run(ctx: &Ctx, names: &[String], fmt: Option<&str>) -> Result {
    let mut errors = Vec::new();
    let mut out = String::new();
    for (i, n) in names.iter().enumerate() {
        let r = match ctx.client.image_layers(n).await {
            Ok(r) => r,
            Err(e) => {
                errors.push(CliError::from(e).render());
                continue;
            }
        };
        match fmt.filter(|f| !f.is_empty() && *f != "table") {
            Some(f) => {
                let human = f.starts_with("table");
                out.push_str(
                    &format::render_rows(f, &headers(), &rows(&r, human))
                        .map_err(CliError::local)?,
                );
            }
            None => {
                if names.len() > 1 {
                    if i > 0 {
                        out.push('\n');
                    }
                    out.push_str(&format!("{n} ({})\n", berth_types::id::short_id(&r.id)));
                }
                out.push_str(
                    &format::render_rows(TABLE, &headers(), &rows(&r, true))
                        .map_err(CliError::local)?,
                );
                out.push('\n');
                out.push_str(&summary(&r));
                out.push('\n');
                for s in &r.suggestions {
                    out.push_str(&format!("  - {}\n", s.text));
                }
            }
        }
    }
    out!("{out}");
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(CliError::Status {
            code: 1,
            message: Some(errors.join("\n")),
        })
    }
}

/// The waste of `r` that layers above the first `base` made (a build cannot change its base
/// image's layers, so their waste is not its to fix): bytes, and the suggestions.
fn own_waste(r: &LayerReport, base: usize) -> (u64, Vec<&Suggestion>) {
    let bytes = r
        .waste
        .iter()
        .filter(|w| w.added_by > base)
        .map(|w| w.size)
        .sum();
    let suggestions = r.suggestions.iter().filter(|s| s.added_by > base).collect();
    (bytes, suggestions)
}

/// Whether `wasted` bytes of an image of `size` deserve a word after a build.
pub fn significant(wasted: u64, size: u64) -> bool {
    wasted >= SIGNIFICANT_BYTES
        || (wasted >= SIGNIFICANT_FLOOR && percent(wasted, size) >= SIGNIFICANT_PERCENT)
}

/// The number of layers of the build's `FROM` image: each build step's image names the
/// previous one as its parent, and the walk up stops at the first named ancestor (what `FROM`
/// named) or at the oldest one.
async fn base_layers(client: &Client, image_id: &str) -> usize {
    let mut id = image_id.to_string();
    let mut layers = 0;
    // Bounded: parents are local data, but a loop must not hang a build.
    for hop in 0..512 {
        let Ok(v) = client.image_inspect(&id).await else {
            break;
        };
        layers = v["RootFS"]["Layers"].as_array().map_or(0, Vec::len);
        let named = v["RepoTags"].as_array().is_some_and(|t| !t.is_empty());
        if hop > 0 && named {
            break;
        }
        match v["Parent"].as_str() {
            Some(p) if !p.is_empty() && p != id => id = p.to_string(),
            _ => break,
        }
    }
    layers
}

/// After a build: prints the suggestions for `image_id` to `out` when the waste its own layers
/// make is significant (≥ 1 MiB, or ≥ 10% of the image) and returns whether it printed. Waste
/// inside the base image is left out: the build cannot fix it. A daemon that cannot make the
/// report is an error for the caller to ignore: the build itself succeeded.
pub async fn print_waste_report(
    client: &Client,
    image_id: &str,
    out: &mut dyn Write,
) -> Result<bool> {
    let r = client.image_layers(image_id).await?;
    if r.wasted_size == 0 {
        return Ok(false);
    }
    let base = base_layers(client, image_id).await;
    // The image itself as its own root means no local ancestry is known: judge every layer.
    let base = if base >= r.layers.len() { 0 } else { base };
    let (wasted, suggestions) = own_waste(&r, base);
    if suggestions.is_empty() || !significant(wasted, r.size) {
        return Ok(false);
    }
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(
            out,
            "Layer waste: {} of {} ({}%) is deleted or overwritten by later layers but still \
             travels with the image:",
            size::docker_size(wasted as i64),
            size::docker_size(r.size as i64),
            percent(wasted, r.size),
        )?;
        for s in &suggestions {
            writeln!(out, "  - {}", s.text)?;
        }
        writeln!(
            out,
            "See `berth image inspect --layers {}` for every layer.",
            berth_types::id::short_id(&r.id)
        )
    };
    write(out).map_err(|e| CliError::local(e.to_string()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::waste::{LayerInfo, Waste, WasteKind};

    fn report(size: u64, wasted: u64) -> LayerReport {
        LayerReport {
            id: format!("sha256:{}", "a".repeat(64)),
            size,
            wasted_size: wasted,
            layers: vec![LayerInfo {
                index: 1,
                instruction: "RUN apt-get update".into(),
                size,
                wasted_size: wasted,
                ..Default::default()
            }],
            waste: vec![Waste {
                layer: 3,
                added_by: 2,
                kind: WasteKind::Deleted,
                size: wasted,
                files: 1,
                paths: vec![],
            }],
            suggestions: vec![Suggestion {
                layer: 3,
                added_by: 2,
                size: wasted,
                text: "layer 3 (RUN rm) removes …".into(),
            }],
        }
    }

    #[test]
    fn significance_thresholds() {
        assert!(significant(2 << 20, 100 << 20));
        assert!(significant(200 << 10, 1 << 20));
        assert!(!significant(200 << 10, 100 << 20));
        assert!(!significant(30 << 10, 100 << 10));
    }

    #[test]
    fn base_image_waste_is_not_the_builds() {
        let r = report(100 << 20, 50 << 20);
        assert_eq!(own_waste(&r, 1).0, 50 << 20);
        assert_eq!(own_waste(&r, 1).1.len(), 1);
        // Layers 1 and 2 came with the base: the build only deleted what the base carries.
        assert_eq!(own_waste(&r, 2).0, 0);
        assert!(own_waste(&r, 2).1.is_empty());
    }

    #[test]
    fn table_and_summary() {
        let r = report(5_000_000, 1_000_000);
        let t = format::render_rows(TABLE, &headers(), &rows(&r, true)).unwrap();
        assert_eq!(
            t,
            "LAYER     SIZE      CREATED BY           WASTED\n\
             1         5MB       RUN apt-get update   1MB\n"
        );
        assert_eq!(
            summary(&r),
            "5MB in 1 layer; 1MB (20%) deleted or overwritten by later layers"
        );
    }
}
