//! The fields `ps --format` offers (docker's `ContainerContext`), computed from one entry of
//! `GET /containers/json`, and their table headers.

use serde_json::{json, Map, Value};

use super::{duration, ellipsis, go_quote, size};

/// `docker ps`'s default table.
pub const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// Column headers, keyed by field.
pub fn headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
        "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
        "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM",
    })
}

fn s<'a>(c: &'a Value, k: &str) -> &'a str {
    c.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The formatter fields of one container summary. `trunc` is the opposite of `--no-trunc`.
pub fn context(c: &Value, trunc: bool, now: i64) -> Value {
    let id = s(c, "Id");
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let mut m = Map::new();
    m.insert(
        "ID".into(),
        (if trunc {
            berth_types::id::short_id(id)
        } else {
            id
        })
        .into(),
    );
    m.insert("Image".into(), image(c, trunc).into());
    let cmd = s(c, "Command");
    m.insert(
        "Command".into(),
        go_quote(&if trunc {
            ellipsis(cmd, 20)
        } else {
            cmd.to_string()
        })
        .into(),
    );
    m.insert("CreatedAt".into(), duration::go_time_string(created).into());
    m.insert("RunningFor".into(), duration::ago(created, now).into());
    m.insert("Ports".into(), ports(c).into());
    m.insert("State".into(), s(c, "State").into());
    m.insert("Status".into(), s(c, "Status").into());
    m.insert("Size".into(), size_field(c).into());
    m.insert("Names".into(), names(c, trunc).into());
    m.insert("Labels".into(), labels(c).into());
    // For `{{.Label "k"}}` (hidden from printing and `{{json .}}`).
    m.insert(
        "\0Label".into(),
        c.get("Labels")
            .filter(|l| l.is_object())
            .cloned()
            .unwrap_or_else(|| json!({})),
    );
    let mounts: Vec<String> = c
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .map(|mt| {
                    let name = mt
                        .get("Name")
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty());
                    let n = name.unwrap_or_else(|| s(mt, "Source"));
                    if trunc {
                        ellipsis(n, 15)
                    } else {
                        n.to_string()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let local_volumes = c
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|ms| ms.iter().filter(|mt| s(mt, "Driver") == "local").count())
        .unwrap_or(0);
    m.insert("Mounts".into(), mounts.join(",").into());
    m.insert("LocalVolumes".into(), local_volumes.to_string().into());
    let mut nets: Vec<String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    nets.sort();
    m.insert("Networks".into(), nets.join(",").into());
    m.insert("Platform".into(), Value::Null);
    super::sorted_object(m)
}

fn image(c: &Value, trunc: bool) -> String {
    let img = s(c, "Image");
    if img.is_empty() {
        return "<no image>".into();
    }
    if !trunc {
        return img.to_string();
    }
    if img.starts_with("sha256:") {
        return berth_types::id::short_id(img).to_string();
    }
    // Drop a pinned digest: `busybox@sha256:…` shows as `busybox`.
    img.split('@').next().unwrap_or(img).to_string()
}

fn names(c: &Value, trunc: bool) -> String {
    let names: Vec<&str> = c
        .get("Names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| n.strip_prefix('/').unwrap_or(n))
                .collect()
        })
        .unwrap_or_default();
    if trunc {
        // Legacy link names contain a `/`; the container's own name does not.
        if let Some(n) = names.iter().find(|n| !n.contains('/')) {
            return n.to_string();
        }
    }
    names.join(",")
}

fn labels(c: &Value) -> String {
    let mut l: Vec<String> = c
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    l.sort();
    l.join(",")
}

fn size_field(c: &Value) -> String {
    let rw = c.get("SizeRw").and_then(Value::as_i64).unwrap_or(0);
    let root = c.get("SizeRootFs").and_then(Value::as_i64).unwrap_or(0);
    let srw = size::docker_size(rw);
    if root > 0 {
        format!("{srw} (virtual {})", size::docker_size(root))
    } else {
        srw
    }
}

/// Docker's `DisplayablePorts`: ports sorted by private port, IP, public port and protocol;
/// unpublished ports (and ports published on the same number) folded into ranges per
/// IP and protocol; host mappings listed after them, e.g.
/// `7000/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp`.
fn ports(c: &Value) -> String {
    struct Port {
        ip: Option<std::net::IpAddr>,
        private: u16,
        public: u16,
        proto: String,
    }
    let Some(list) = c.get("Ports").and_then(Value::as_array) else {
        return String::new();
    };
    let num = |p: &Value, k: &str| {
        p.get(k)
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(0)
    };
    let mut ports: Vec<Port> = list
        .iter()
        .map(|p| Port {
            ip: p
                .get("IP")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok()),
            private: num(p, "PrivatePort"),
            public: num(p, "PublicPort"),
            proto: p
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("tcp")
                .to_string(),
        })
        .collect();
    // No address sorts first, then IPv4 before IPv6, then by bytes (Go's netip.Addr.Less).
    let ip_key = |ip: &Option<std::net::IpAddr>| match ip {
        None => (0u8, Vec::new()),
        Some(std::net::IpAddr::V4(a)) => (1, a.octets().to_vec()),
        Some(std::net::IpAddr::V6(a)) => (2, a.octets().to_vec()),
    };
    ports.sort_by(|a, b| {
        (a.private, ip_key(&a.ip), a.public, &a.proto).cmp(&(
            b.private,
            ip_key(&b.ip),
            b.public,
            &b.proto,
        ))
    });
    let join = |ip: &std::net::IpAddr, port: &str| match ip {
        std::net::IpAddr::V6(_) => format!("[{ip}]:{port}"),
        std::net::IpAddr::V4(_) => format!("{ip}:{port}"),
    };
    // (ip, proto) -> (first, last); the keys in the order first seen.
    type GroupKey = (Option<std::net::IpAddr>, String);
    let mut groups: Vec<(GroupKey, (u16, u16))> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    let form = |key: &(Option<std::net::IpAddr>, String), first: u16, last: u16| {
        let range = if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        };
        match &key.0 {
            Some(ip) => format!("{}->{range}/{}", join(ip, &range), key.1),
            None => format!("{range}/{}", key.1),
        }
    };
    for p in &ports {
        if let Some(ip) = &p.ip {
            if p.public != p.private {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join(ip, &p.public.to_string()),
                    p.private,
                    p.proto
                ));
                continue;
            }
        }
        let key = (p.ip, p.proto.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            None => groups.push((key, (p.private, p.private))),
            Some((_, g)) if p.private == g.1.wrapping_add(1) => g.1 = p.private,
            Some((k, g)) => {
                result.push(form(k, g.0, g.1));
                *g = (p.private, p.private);
            }
        }
    }
    for (k, g) in &groups {
        result.push(form(k, g.0, g.1));
    }
    result.extend(host_mappings);
    result.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_fields_match_docker() {
        let c = json!({
            "Id": "fcfcaa31e41781265c4790f954c17b8eca189f4957fc9a7ac6f233c7f3683673",
            "Names": ["/t1"], "Image": "busybox", "Command": "sh -c 'echo hi \"x\"'",
            "Created": 100, "State": "exited", "Status": "Exited (0) 2 seconds ago",
            "Labels": {"b": "2", "a": "1"}, "Ports": [{"PrivatePort": 80, "Type": "tcp"},
            {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
            "SizeRw": 0, "SizeRootFs": 1978000,
            "NetworkSettings": {"Networks": {"bridge": {}}}
        });
        let ctx = context(&c, true, 102);
        assert_eq!(ctx["ID"], "fcfcaa31e417");
        assert_eq!(ctx["Command"], r#""sh -c 'echo hi \"x\"'""#);
        assert_eq!(ctx["RunningFor"], "2 seconds ago");
        assert_eq!(ctx["Names"], "t1");
        assert_eq!(ctx["Labels"], "a=1,b=2");
        let f =
            crate::format::template::Format::parse(r#"{{.Label "b"}}|{{.Label "zz"}}|{{json .}}"#)
                .unwrap()
                .strict();
        let out = f.render(&ctx).unwrap();
        assert!(out.starts_with("2||{\"Command\""), "{out}");
        assert!(!out.contains("Label\""), "{out}");
        assert_eq!(ctx["Size"], "0B (virtual 1.98MB)");
        assert_eq!(ctx["Networks"], "bridge");
        assert_eq!(ctx["Ports"], "80/tcp, 0.0.0.0:8080->80/tcp");
        let full = context(&c, false, 102);
        assert_eq!(full["ID"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn ports_fold_and_order_like_docker() {
        let p = |ip: &str, private: u16, public: u16, t: &str| json!({"IP": ip, "PrivatePort": private, "PublicPort": public, "Type": t});
        let c = json!({"Ports": [
            p("0.0.0.0", 80, 18080, "tcp"), p("::", 80, 18080, "tcp"), p("127.0.0.1", 53, 15353, "udp"),
            {"PrivatePort": 7000, "Type": "tcp"}, {"PrivatePort": 7001, "Type": "tcp"}, {"PrivatePort": 7003, "Type": "tcp"},
            p("0.0.0.0", 9000, 9000, "tcp"), p("0.0.0.0", 9001, 9001, "tcp"),
        ]});
        assert_eq!(
            ports(&c),
            "7000-7001/tcp, 7003/tcp, 0.0.0.0:9000-9001->9000-9001/tcp, 127.0.0.1:15353->53/udp, 0.0.0.0:18080->80/tcp, [::]:18080->80/tcp"
        );
    }

    #[test]
    fn long_commands_are_cut_when_truncating() {
        let c = json!({"Id": "x", "Command": "sleep 1000000000000000000000", "Image": "sha256:0123456789abcdef"});
        let ctx = context(&c, true, 0);
        assert_eq!(ctx["Command"], "\"sleep 1000000000000…\"");
        assert_eq!(ctx["Image"], "0123456789ab");
    }
}
