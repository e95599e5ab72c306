//! `berth search [--limit N] [-f FILTER] [--no-trunc] [--format T] REGISTRY/TERM`.

use clap::Args;

use crate::credentials;
use crate::error::Result;
use crate::format::table::docker_tabwrite;
use crate::Ctx;

/// `berth search [OPTIONS] TERM`
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long, value_name = "int")]
    pub limit: Option<usize>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// TERM
    pub term: String,
}

pub async fn run(ctx: &Ctx, a: SearchArgs) -> Result {
    let filters = crate::commands::filters_json(&a.filter).map_err(crate::CliError::local)?;
    let auth = credentials::header_for_image(&a.term)?;
    let results = ctx
        .client
        .image_search(&a.term, a.limit, filters.as_deref(), auth.as_deref())
        .await?;
    let rows = results.as_array().cloned().unwrap_or_default();
    if let Some(f) = &a.format {
        // The few fields of a search result, in docker's template names.
        for r in &rows {
            let s = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let b = |k: &str| {
                if r.get(k).and_then(|v| v.as_bool()).unwrap_or(false) {
                    "[OK]"
                } else {
                    ""
                }
            };
            let line = f
                .replace("{{.Name}}", &s("name"))
                .replace("{{.Description}}", &s("description"))
                .replace(
                    "{{.StarCount}}",
                    &r["star_count"].as_i64().unwrap_or(0).to_string(),
                )
                .replace("{{.IsOfficial}}", b("is_official"))
                .replace("{{.IsAutomated}}", b("is_automated"));
            outln!("{line}");
        }
        return Ok(0);
    }
    let mut text = String::from("NAME\tDESCRIPTION\tSTARS\tOFFICIAL\n");
    for r in &rows {
        let mut desc = r["description"].as_str().unwrap_or("").replace('\n', " ");
        if !a.no_trunc && desc.chars().count() > 45 {
            desc = desc.chars().take(44).collect::<String>() + "…";
        }
        let official = if r["is_official"].as_bool().unwrap_or(false) {
            "[OK]"
        } else {
            ""
        };
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            r["name"].as_str().unwrap_or(""),
            desc,
            r["star_count"].as_i64().unwrap_or(0),
            official
        ));
    }
    out!("{}", docker_tabwrite(&text));
    Ok(0)
}
