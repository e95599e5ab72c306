//! `berth image inspect --layers IMAGE`: each layer's size, the instruction that made it and the
//! bytes of it that later layers delete or overwrite, then what to merge — and the short form
//! of the same report that `berth build` prints after a build ([`print_waste_report`]).

use std::io::Write;

use berth_client::Client;
use berth_types::waste::LayerReport;
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
                    out.push_str(&format!("  - {s}\n"));
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

/// Whether `r`'s waste deserves a word after a build.
pub fn significant(r: &LayerReport) -> bool {
    !r.suggestions.is_empty()
        && (r.wasted_size >= SIGNIFICANT_BYTES
            || (r.wasted_size >= SIGNIFICANT_FLOOR
                && percent(r.wasted_size, r.size) >= SIGNIFICANT_PERCENT))
}

/// After a build: prints the suggestions for `image_id` to `out` when its waste is significant
/// (≥ 1 MiB, or ≥ 10% of the image) and returns whether it printed. A daemon that cannot make
/// the report is an error for the caller to ignore: the build itself succeeded.
pub async fn print_waste_report(
    client: &Client,
    image_id: &str,
    out: &mut dyn Write,
) -> Result<bool> {
    let r = client.image_layers(image_id).await?;
    if !significant(&r) {
        return Ok(false);
    }
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(
            out,
            "Layer waste: {} of {} ({}%) is deleted or overwritten by later layers but still \
             travels with the image:",
            size::docker_size(r.wasted_size as i64),
            size::docker_size(r.size as i64),
            percent(r.wasted_size, r.size),
        )?;
        for s in &r.suggestions {
            writeln!(out, "  - {s}")?;
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
    use berth_types::waste::LayerInfo;

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
            waste: Vec::new(),
            suggestions: vec!["layer 2 (RUN rm) removes …".into()],
        }
    }

    #[test]
    fn significance_thresholds() {
        assert!(significant(&report(100 << 20, 2 << 20)));
        assert!(significant(&report(1 << 20, 200 << 10)));
        assert!(!significant(&report(100 << 20, 200 << 10)));
        assert!(!significant(&report(100 << 10, 30 << 10)));
        let mut r = report(100 << 20, 50 << 20);
        r.suggestions.clear();
        assert!(!significant(&r));
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
