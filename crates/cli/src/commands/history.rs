//! `berth history` / `berth image history`.

use clap::{ArgAction, Args};
use serde_json::{json, Map, Value};

use crate::error::{CliError, Result};
use crate::format::{self, duration, size};
use crate::Ctx;

/// `berth history [OPTIONS] IMAGE`
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

const TABLE: &str = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

fn headers() -> Value {
    json!({
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
    })
}

pub async fn run(ctx: &Ctx, a: HistoryArgs) -> Result {
    let items = ctx.client.image_history(&a.image).await?;
    let now = duration::now_unix();
    let trunc = !a.no_trunc;
    let rows: Vec<Value> = items
        .iter()
        .map(|h| {
            let id = h["Id"].as_str().unwrap_or("");
            let created = h["Created"].as_i64().unwrap_or(0);
            let size_b = h["Size"].as_i64().unwrap_or(0);
            let by = h["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
            let created_at = rfc3339(created);
            let mut m = Map::new();
            let short = if trunc && id.starts_with("sha256:") {
                berth_types::id::short_id(id).to_string()
            } else {
                id.to_string()
            };
            m.insert("ID".into(), short.into());
            m.insert(
                "CreatedSince".into(),
                if a.human {
                    duration::ago(created, now)
                } else {
                    created_at.clone()
                }
                .into(),
            );
            m.insert("CreatedAt".into(), created_at.into());
            m.insert(
                "CreatedBy".into(),
                if trunc { format::ellipsis(&by, 45) } else { by }.into(),
            );
            m.insert(
                "Size".into(),
                if a.human {
                    size::human_size_with_precision(size_b as f64, 3)
                } else {
                    size_b.to_string()
                }
                .into(),
            );
            m.insert("Comment".into(), h["Comment"].as_str().unwrap_or("").into());
            format::sorted_object(m)
        })
        .collect();
    let fmt = match a.format.as_deref() {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ if a.quiet => "{{.ID}}".to_string(),
        _ => TABLE.to_string(),
    };
    let out = format::render_rows(&fmt, &headers(), &rows).map_err(CliError::local)?;
    out!("{out}");
    Ok(0)
}

/// Go's RFC 3339 rendering of a Unix time in UTC.
fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
