//! `berth top`.

use clap::Args;

use crate::error::Result;
use crate::format::table::tabwrite;
use crate::Ctx;

/// `berth top CONTAINER [ps OPTIONS]`
#[derive(Args, Debug)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options handed to ps
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ps OPTIONS"
    )]
    pub ps_args: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: TopArgs) -> Result {
    let ps_args = (!a.ps_args.is_empty()).then(|| a.ps_args.join(" "));
    let r = ctx
        .client
        .container_top(&a.container, ps_args.as_deref())
        .await?;
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut text = strs(&r["Titles"]).join("\t");
    text.push('\n');
    for p in r["Processes"].as_array().into_iter().flatten() {
        text.push_str(&strs(p).join("\t"));
        text.push('\n');
    }
    // docker's top uses a wider minimum column than its tables.
    out!("{}", tabwrite(&text, 20, 3));
    Ok(0)
}
