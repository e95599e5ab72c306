//! Which stages a build runs: the target (by name or, by default, the last stage) and every
//! stage it needs through `FROM <stage>`, `COPY --from` and `RUN --mount=from=`.

use std::collections::{BTreeSet, HashMap};

use berth_dockerfile::{Dockerfile, InstructionKind};

use crate::error::{Error, Result};

/// A stage named by `name`: its index if `name` is a stage name or an earlier index.
pub fn stage_ref(df: &Dockerfile, name: &str, before: usize) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    if let Some(i) = df.stages[..before]
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Some(i);
    }
    match name.parse::<usize>() {
        Ok(i) if i < before => Some(i),
        _ => None,
    }
}

/// The stages a build runs.
pub struct StagePlan {
    /// The stage whose image is the result.
    pub target: usize,
    /// Every stage the target needs (itself included), in Dockerfile order.
    pub needed: Vec<usize>,
}

/// The stages to build, in order, for `target`. `base_of(i)` is stage `i`'s expanded `FROM`.
pub fn needed_stages(
    df: &Dockerfile,
    target: Option<&str>,
    base_of: &dyn Fn(usize) -> String,
) -> Result<StagePlan> {
    if df.stages.is_empty() {
        return Err(Error::Dockerfile(
            "the Dockerfile has no FROM instruction: a build needs at least one stage".into(),
        ));
    }
    let last = df.stages.len() - 1;
    let target = match target.filter(|t| !t.is_empty()) {
        None => last,
        Some(t) => stage_ref(df, t, df.stages.len())
            .filter(|_| t.parse::<usize>().is_err())
            .ok_or_else(|| {
                Error::Invalid(format!("failed to reach build target {t} in Dockerfile"))
            })?,
    };
    let mut deps: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, st) in df.stages.iter().enumerate() {
        let mut d = BTreeSet::new();
        if let Some(j) = stage_ref(df, &base_of(i), i) {
            d.insert(j);
        }
        for inst in &st.instructions {
            let froms: Vec<&String> = match &inst.kind {
                InstructionKind::Copy(c) | InstructionKind::Add(c) => c.from.iter().collect(),
                InstructionKind::Run(r) => {
                    r.mounts.iter().filter_map(|m| m.from.as_ref()).collect()
                }
                _ => Vec::new(),
            };
            for f in froms {
                if let Some(j) = stage_ref(df, f, i) {
                    d.insert(j);
                }
            }
        }
        deps.insert(i, d.into_iter().collect());
    }
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if needed.insert(i) {
            todo.extend(deps[&i].iter().copied());
        }
    }
    Ok(StagePlan {
        target,
        needed: needed.into_iter().collect(),
    })
}
