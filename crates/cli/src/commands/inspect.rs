//! `berth inspect`, `berth container inspect`, `berth image inspect`.

use clap::Args;

use crate::error::{CliError, Result};
use crate::format::json_indent::indent;
use crate::format::template::{Format, Value};
use crate::Ctx;

/// `berth inspect [OPTIONS] NAME|ID [NAME|ID...]`
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Return JSON for specified type
    #[arg(long = "type", value_name = "string")]
    pub kind: Option<String>,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// `berth container inspect [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Args, Debug)]
pub struct ContainerInspectArgs {
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

/// `berth image inspect [OPTIONS] IMAGE [IMAGE...]`
#[derive(Args, Debug)]
pub struct ImageInspectArgs {
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Show each layer's size and the bytes later layers delete or overwrite (Berth extension)
    #[arg(long)]
    pub layers: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub names: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Any,
    Container,
    Image,
    Volume,
    Network,
}

pub async fn run(ctx: &Ctx, a: InspectArgs) -> Result {
    let kind = match a.kind.as_deref() {
        None | Some("") => Kind::Any,
        Some("container") => Kind::Container,
        Some("image") => Kind::Image,
        Some("volume") => Kind::Volume,
        Some("network") => Kind::Network,
        Some(other) => {
            return Err(CliError::local(format!(
                "\"{other}\" is not a valid value for --type"
            )))
        }
    };
    inspect(ctx, kind, &a.names, a.format.as_deref(), a.size).await
}

pub async fn run_container(ctx: &Ctx, a: ContainerInspectArgs) -> Result {
    inspect(ctx, Kind::Container, &a.names, a.format.as_deref(), a.size).await
}

pub async fn run_image(ctx: &Ctx, a: ImageInspectArgs) -> Result {
    if a.layers {
        return super::layers::run(ctx, &a.names, a.format.as_deref()).await;
    }
    inspect(ctx, Kind::Image, &a.names, a.format.as_deref(), false).await
}

pub async fn run_volume(ctx: &Ctx, names: &[String], format: Option<&str>) -> Result {
    inspect(ctx, Kind::Volume, names, format, false).await
}

/// `network inspect`.
pub async fn run_network(ctx: &Ctx, names: &[String], format: Option<&str>) -> Result {
    inspect(ctx, Kind::Network, names, format, false).await
}

/// Fetches one object; the error is the line docker prints for it.
async fn fetch(
    ctx: &Ctx,
    kind: Kind,
    name: &str,
    size: bool,
) -> std::result::Result<bytes::Bytes, String> {
    let r = match kind {
        Kind::Container => ctx.client.container_inspect_raw(name, size).await,
        Kind::Image => ctx.client.image_inspect_raw(name).await,
        Kind::Volume => ctx.client.volume_inspect_raw(name).await,
        Kind::Network => ctx.client.network_inspect_raw(name).await,
        Kind::Any => match ctx.client.container_inspect_raw(name, size).await {
            Err(e) if e.is_not_found() => match ctx.client.image_inspect_raw(name).await {
                Err(e) if e.is_not_found() => match ctx.client.network_inspect_raw(name).await {
                    Err(e) if e.is_not_found() => match ctx.client.volume_inspect_raw(name).await {
                        Err(e) if e.is_not_found() => {
                            return Err(format!("Error: No such object: {name}"))
                        }
                        r => r,
                    },
                    r => r,
                },
                r => r,
            },
            r => r,
        },
    };
    r.map_err(|e| CliError::from(e).render())
}

async fn inspect(
    ctx: &Ctx,
    kind: Kind,
    names: &[String],
    format: Option<&str>,
    size: bool,
) -> Result {
    let tmpl = match format.filter(|f| !f.is_empty()) {
        // docker exits 64 (EX_USAGE) for a template that does not parse.
        Some(f) => Some(Format::parse(f).map_err(|e| CliError::Status {
            code: 64,
            message: Some(e),
        })?),
        None => None,
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    let mut out = String::new();
    for n in names {
        match fetch(ctx, kind, n, size).await {
            Ok(raw) => {
                if let Some(t) = &tmpl {
                    // Parsed from the raw bytes so that `{{json .Config}}` keeps the daemon's
                    // field order.
                    let v =
                        Value::from_json_bytes(&raw).map_err(|e| CliError::local(e.to_string()))?;
                    out.push_str(&t.render_value(&v).map_err(CliError::local)?);
                    out.push('\n');
                } else {
                    raws.push(raw);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if tmpl.is_none() {
        let mut joined = Vec::from(&b"["[..]);
        for (i, r) in raws.iter().enumerate() {
            if i > 0 {
                joined.push(b',');
            }
            joined.extend_from_slice(r.trim_ascii());
        }
        joined.push(b']');
        out = indent(&joined, "    ");
        out.push('\n');
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
