//! Seccomp profiles in Docker's format (`--security-opt seccomp=profile.json`, and Docker's
//! default profile in [`crate::seccomp_default`]) rendered into the OCI `linux.seccomp` of one
//! container: rules whose `includes`/`excludes` conditions do not hold for the container's
//! capabilities, the host architecture or the running kernel are left out, as moby does.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::RuntimeError;

/// A Docker seccomp profile.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub arch_map: Vec<ArchMap>,
    /// The older form: a flat list of architectures.
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

/// One `archMap` entry: a native architecture and the ones its processes may also use.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// One rule: an action for some system calls, maybe only for some arguments and only under
/// some conditions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub names: Vec<String>,
    /// The legacy single-name form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub includes: Condition,
    #[serde(default)]
    pub excludes: Condition,
}

/// An argument comparison. For `SCMP_CMP_MASKED_EQ`, `value` is the mask and `value_two` the
/// expected result, as in the OCI spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// `includes` / `excludes`: capabilities, architectures (Go's names: `amd64`, `arm64`...) and
/// a minimal kernel version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default)]
    pub caps: Vec<String>,
    #[serde(default)]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// Docker's `archMap`: each native architecture with the compatibility ones.
pub fn docker_arch_map() -> Vec<ArchMap> {
    let m = |a: &str, subs: &[&str]| ArchMap {
        architecture: a.into(),
        sub_architectures: (!subs.is_empty()).then(|| subs.iter().map(|s| s.to_string()).collect()),
    };
    vec![
        m("SCMP_ARCH_X86_64", &["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        m("SCMP_ARCH_AARCH64", &["SCMP_ARCH_ARM"]),
        m(
            "SCMP_ARCH_MIPS64",
            &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
        ),
        m(
            "SCMP_ARCH_MIPS64N32",
            &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"],
        ),
        m(
            "SCMP_ARCH_MIPSEL64",
            &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
        ),
        m(
            "SCMP_ARCH_MIPSEL64N32",
            &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"],
        ),
        m("SCMP_ARCH_S390X", &["SCMP_ARCH_S390"]),
        m("SCMP_ARCH_RISCV64", &[]),
    ]
}

/// Parses a profile given by a user (the JSON text of `--security-opt seccomp=<file>`, which
/// the client reads and sends).
pub fn parse_profile(text: &str) -> Result<Profile, RuntimeError> {
    let p: Profile = serde_json::from_str(text)
        .map_err(|e| RuntimeError::InvalidSpec(format!("decoding seccomp profile failed: {e}")))?;
    if p.default_action.is_empty() {
        return Err(RuntimeError::InvalidSpec(
            "decoding seccomp profile failed: defaultAction is required".into(),
        ));
    }
    if !p.arch_map.is_empty() && !p.architectures.is_empty() {
        return Err(RuntimeError::InvalidSpec(
            "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'".into(),
        ));
    }
    for r in &p.syscalls {
        if r.name.is_some() && !r.names.is_empty() {
            return Err(RuntimeError::InvalidSpec(
                "use either 'name' or 'names'".into(),
            ));
        }
    }
    Ok(p)
}

/// The host architecture in seccomp's and Go's spelling.
fn native_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("SCMP_ARCH_X86_64", "amd64"),
        "x86" => ("SCMP_ARCH_X86", "386"),
        "aarch64" => ("SCMP_ARCH_AARCH64", "arm64"),
        "arm" => ("SCMP_ARCH_ARM", "arm"),
        "s390x" => ("SCMP_ARCH_S390X", "s390x"),
        "riscv64" => ("SCMP_ARCH_RISCV64", "riscv64"),
        "powerpc64" => ("SCMP_ARCH_PPC64LE", "ppc64le"),
        "mips64" => ("SCMP_ARCH_MIPS64", "mips64"),
        other => (other, other),
    }
}

/// The running kernel's `(major, minor)`.
pub fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_kernel_version(&release).unwrap_or((0, 0))
}

fn parse_kernel_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Renders `profile` into the OCI `linux.seccomp` for a process holding `caps` (bounding set,
/// `CAP_` names) on a kernel `kernel`.
pub fn render(
    profile: &Profile,
    caps: &[String],
    kernel: (u32, u32),
) -> Result<Value, RuntimeError> {
    let (scmp_arch, go_arch) = native_arch();
    let architectures: Vec<String> = if !profile.architectures.is_empty() {
        profile.architectures.clone()
    } else {
        profile
            .arch_map
            .iter()
            .filter(|a| a.architecture == scmp_arch)
            .flat_map(|a| {
                std::iter::once(a.architecture.clone())
                    .chain(a.sub_architectures.clone().unwrap_or_default())
            })
            .collect()
    };
    let has_cap = |c: &String| caps.iter().any(|have| have.eq_ignore_ascii_case(c));
    let mut syscalls = Vec::new();
    for r in &profile.syscalls {
        let inc = &r.includes;
        let exc = &r.excludes;
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == go_arch) {
            continue;
        }
        if !inc.caps.iter().all(has_cap) {
            continue;
        }
        if let Some(min) = &inc.min_kernel {
            let want = parse_kernel_version(min).ok_or_else(|| {
                RuntimeError::InvalidSpec(format!("invalid kernel version {min:?}"))
            })?;
            if kernel < want {
                continue;
            }
        }
        if exc.arches.iter().any(|a| a == go_arch) || exc.caps.iter().any(has_cap) {
            continue;
        }
        let names: Vec<&String> = if r.names.is_empty() {
            r.name.iter().collect()
        } else {
            r.names.iter().collect()
        };
        if names.is_empty() {
            continue;
        }
        let mut s = json!({"names": names, "action": r.action});
        if let Some(e) = r.errno_ret {
            s["errnoRet"] = json!(e);
        }
        if !r.args.is_empty() {
            s["args"] = json!(r
                .args
                .iter()
                .map(|a| json!({"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}))
                .collect::<Vec<_>>());
        }
        syscalls.push(s);
    }
    let mut out = json!({
        "defaultAction": profile.default_action,
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if let Some(e) = profile.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    Ok(out)
}

/// libcontainer 0.7 reads a `SCMP_CMP_MASKED_EQ` comparison the other way round from the OCI
/// spec (and runc): it takes `valueTwo` as the mask and `value` as the expected result. Swap
/// them in a spec handed to it, so that e.g. Docker's `clone` rule (`flags & NS_FLAGS == 0`)
/// means the same under both runtimes.
pub(crate) fn swap_masked_eq_for_libcontainer(spec: &mut Value) -> bool {
    // Marked, so that a second create from the same bundle does not swap them back.
    const MARK: &str = "org.berth.seccomp.masked-eq";
    if spec.pointer(&format!("/annotations/{MARK}")).is_some() {
        return false;
    }
    let mut changed = false;
    if let Some(syscalls) = spec
        .pointer_mut("/linux/seccomp/syscalls")
        .and_then(Value::as_array_mut)
    {
        for s in syscalls {
            for a in s
                .get_mut("args")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if a["op"] == "SCMP_CMP_MASKED_EQ" {
                    let v = a["value"].take();
                    let v2 = a.get_mut("valueTwo").map(Value::take).unwrap_or(json!(0));
                    a["value"] = v2;
                    a["valueTwo"] = v;
                    changed = true;
                }
            }
        }
    }
    if changed {
        if !spec["annotations"].is_object() {
            spec["annotations"] = json!({});
        }
        spec["annotations"][MARK] = json!("libcontainer");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_of(v: &Value) -> Vec<String> {
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["action"] == "SCMP_ACT_ALLOW" && s.get("args").is_none())
            .flat_map(|s| s["names"].as_array().unwrap().clone())
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn default_profile_follows_capabilities() {
        let p = crate::seccomp_default::profile();
        let caps: Vec<String> = crate::spec::DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect();
        let v = render(&p, &caps, (6, 1)).unwrap();
        let allowed = names_of(&v);
        assert!(allowed.contains(&"read".to_string()));
        assert!(
            allowed.contains(&"chroot".to_string()),
            "CAP_SYS_CHROOT is default"
        );
        for blocked in ["mount", "unshare", "setns", "reboot", "bpf", "clone3"] {
            assert!(!allowed.contains(&blocked.to_string()), "{blocked} allowed");
        }
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(
                v["architectures"],
                json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
            );
            assert!(allowed.contains(&"arch_prctl".to_string()));
        }
        // clone is allowed only without namespace flags; clone3 answers ENOSYS.
        let sc = v["syscalls"].as_array().unwrap();
        assert!(sc.iter().any(|s| s["names"] == json!(["clone"])
            && s["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"
            && s["args"][0]["value"] == 0x7E02_0000u64));
        assert!(sc
            .iter()
            .any(|s| s["names"] == json!(["clone3"]) && s["errnoRet"] == 38));

        let mut admin = caps.clone();
        admin.push("CAP_SYS_ADMIN".into());
        let v = render(&p, &admin, (6, 1)).unwrap();
        let allowed = names_of(&v);
        assert!(allowed.contains(&"mount".to_string()));
        assert!(allowed.contains(&"clone".to_string()));
        assert!(!v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["names"] == json!(["clone3"])));
    }

    #[test]
    fn min_kernel_is_honoured() {
        let p = crate::seccomp_default::profile();
        let old = names_of(&render(&p, &[], (4, 4)).unwrap());
        let new = names_of(&render(&p, &[], (4, 8)).unwrap());
        assert!(!old.contains(&"ptrace".to_string()));
        assert!(new.contains(&"ptrace".to_string()));
    }

    #[test]
    fn user_profiles_parse_and_bad_ones_are_refused() {
        let p = parse_profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"chmod","action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        let v = render(&p, &[], (6, 1)).unwrap();
        assert_eq!(v["syscalls"][0]["names"], json!(["chmod"]));
        assert!(parse_profile("{").is_err());
        assert!(parse_profile(r#"{"syscalls":[]}"#).is_err());
    }

    #[test]
    fn masked_eq_is_swapped_for_libcontainer() {
        let mut spec = json!({"linux": {"seccomp": {"syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 5, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}}});
        assert!(swap_masked_eq_for_libcontainer(&mut spec));
        let a = &spec["linux"]["seccomp"]["syscalls"][0]["args"][0];
        assert_eq!(
            (a["value"].as_u64(), a["valueTwo"].as_u64()),
            (Some(0), Some(5))
        );
        assert!(!swap_masked_eq_for_libcontainer(&mut spec), "swapped twice");
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_kernel_version("4.8"), Some((4, 8)));
    }
}
