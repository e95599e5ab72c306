//! Networking through the real interfaces: published ports fetched with curl on loopback,
//! user-defined networks whose containers find each other by name (and not across networks),
//! `--network none`, refusals, and clean teardown after a SIGKILLed daemon. Each test's daemon
//! has its own bridge and subnets (see `common::TestDaemon`); traffic goes only to loopback and
//! to the test's own containers.

mod common;

use common::*;
use std::time::Duration;

fn ok(d: &TestDaemon, args: &[&str]) -> String {
    let o = d.berth(args);
    assert_eq!(
        code(&o),
        0,
        "berth {args:?}\nstdout: {}\nstderr: {}\nlog tail: {}",
        stdout(&o),
        stderr(&o),
        tail(&d.log_text())
    );
    stdout(&o)
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn curl(url: &str) -> Option<String> {
    let o = std::process::Command::new("curl")
        .args(["-sS", "-m", "5", url])
        .output()
        .expect("curl is installed (scripts/deps.sh)");
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Fetches `url` until it answers (the server in the container may still be starting).
fn fetch(url: &str) -> String {
    let mut got = None;
    eventually(Duration::from_secs(10), || {
        got = curl(url);
        got.is_some()
    });
    got.unwrap_or_else(|| panic!("{url} never answered"))
}

#[test]
fn published_port_serves_httpd_on_loopback() {
    let d = TestDaemon::start("net-publish");
    d.load_busybox();
    let port = free_port();
    let publish = format!("{port}:80");
    // busybox httpd serves /etc, whose `hostname` is the container's.
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "--hostname",
            "webhost",
            "-p",
            &publish,
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ],
    );
    let body = fetch(&format!("http://127.0.0.1:{port}/hostname"));
    assert_eq!(body, "webhost\n");
    // As Docker: published on IPv4 and, where the host has IPv6, on [::] too.
    let v6 = std::path::Path::new("/proc/net/if_inet6").exists();
    let (lines, one, json) = if v6 {
        (
            format!("80/tcp -> 0.0.0.0:{port}\n80/tcp -> [::]:{port}\n"),
            format!("0.0.0.0:{port}\n[::]:{port}\n"),
            format!(
                r#"{{"80/tcp":[{{"HostIp":"0.0.0.0","HostPort":"{port}"}},{{"HostIp":"::","HostPort":"{port}"}}]}}"#
            ),
        )
    } else {
        (
            format!("80/tcp -> 0.0.0.0:{port}\n"),
            format!("0.0.0.0:{port}\n"),
            format!(r#"{{"80/tcp":[{{"HostIp":"0.0.0.0","HostPort":"{port}"}}]}}"#),
        )
    };
    assert_eq!(ok(&d, &["port", "web"]), lines);
    assert_eq!(ok(&d, &["port", "web", "80"]), one);
    let ports = ok(
        &d,
        &["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"],
    );
    assert_eq!(ports.trim(), json);
    if v6 {
        assert_eq!(fetch(&format!("http://[::1]:{port}/hostname")), "webhost\n");
    }
    // The legacy fields docker-py and CLI 28 read, and the bridge network's entry.
    let ip = ok(
        &d,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"],
    );
    let ip2 = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.bridge.IPAddress}}",
            "web",
        ],
    );
    assert_eq!(ip, ip2);
    assert!(ip.trim().parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    // Another container reaches it through the host's address (hairpin via the gateway).
    let gw = ok(
        &d,
        &["inspect", "-f", "{{.NetworkSettings.Gateway}}", "web"],
    );
    let script = format!(
        "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {} {port}",
        gw.trim()
    );
    let out = ok(&d, &["run", "--rm", "busybox", "sh", "-c", &script]);
    assert!(out.ends_with("\r\n\r\nwebhost\n"), "{out:?}");
    // The real docker CLI reads the same bindings.
    let o = d.docker(&["port", "web"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), lines);

    // Stopping the container takes the rule away: the port no longer answers.
    ok(&d, &["stop", "-t", "1", "web"]);
    assert!(curl(&format!("http://127.0.0.1:{port}/hostname")).is_none());
}

#[test]
fn publish_all_uses_a_free_high_port() {
    let d = TestDaemon::start("net-publish-all");
    d.load_busybox();
    ok(
        &d,
        &[
            "run", "-d", "--name", "pub", "--expose", "80", "-P", "busybox", "httpd", "-f", "-p",
            "80", "-h", "/etc",
        ],
    );
    let mapping = ok(&d, &["port", "pub", "80/tcp"]);
    let port: u16 = mapping
        .lines()
        .next()
        .unwrap_or("")
        .strip_prefix("0.0.0.0:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected mapping {mapping:?}"));
    assert!(port >= 1024, "{port}");
    let body = fetch(&format!("http://127.0.0.1:{port}/hostname"));
    assert_eq!(body.len(), 13, "a 12-hex hostname: {body:?}");
}

#[test]
fn a_taken_port_is_refused_at_start() {
    let d = TestDaemon::start("net-port-taken");
    d.load_busybox();
    let hold = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = hold.local_addr().unwrap().port();
    let o = d.berth(&[
        "run",
        "-d",
        "--name",
        "clash",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sleep",
        "30",
    ]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{}",
        stderr(&o)
    );
    let state = ok(&d, &["inspect", "-f", "{{.State.Status}}", "clash"]);
    assert_ne!(state.trim(), "running");
    drop(hold);
    // Once the port is free the same container starts.
    ok(&d, &["start", "clash"]);
}

#[test]
fn user_network_resolves_names_and_isolates_networks() {
    let d = TestDaemon::start("net-dns");
    d.load_busybox();
    ok(&d, &["network", "create", "front"]);
    ok(&d, &["network", "create", "back"]);
    let id = ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "srv",
            "--network",
            "front",
            "--network-alias",
            "api",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let short = &id.trim()[..12];
    for name in ["srv", "api", "srv.front", short] {
        ok(
            &d,
            &[
                "run",
                "--rm",
                "--network",
                "front",
                "busybox",
                "ping",
                "-c1",
                "-W3",
                name,
            ],
        );
    }
    let resolv = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "front",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ],
    );
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");

    // The same name over DNS-over-TCP (what resolvers fall back to on a truncated answer):
    // a length-prefixed A query for "srv", the answer's last four bytes are its address.
    let srv_ip = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.front.IPAddress}}",
            "srv",
        ],
    );
    let query =
        r"\000\025\022\064\001\000\000\001\000\000\000\000\000\000\003srv\000\000\001\000\001";
    let bytes = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "front",
            "busybox",
            "sh",
            "-c",
            &format!("(printf '{query}'; sleep 2) | nc 127.0.0.11 53 | od -An -tu1"),
        ],
    );
    let octets: Vec<&str> = bytes.split_whitespace().collect();
    assert!(octets.len() > 6, "no TCP answer: {bytes:?}");
    let answered = octets[octets.len() - 4..].join(".");
    assert_eq!(answered, srv_ip.trim(), "TCP answer {bytes:?}");

    // From another network the name does not resolve and the address is unreachable.
    let o = d.berth(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "ping",
        "-c1",
        "-W2",
        "srv",
    ]);
    assert_ne!(code(&o), 0, "resolved across networks: {}", stdout(&o));
    let ip = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.front.IPAddress}}",
            "srv",
        ],
    );
    let o = d.berth(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "ping",
        "-c1",
        "-W2",
        ip.trim(),
    ]);
    assert_ne!(code(&o), 0, "reached across networks: {}", stdout(&o));
    // Nor from the default bridge.
    let o = d.berth(&["run", "--rm", "busybox", "ping", "-c1", "-W2", ip.trim()]);
    assert_ne!(
        code(&o),
        0,
        "reached from the default bridge: {}",
        stdout(&o)
    );

    // --ip and --mac-address on a user network; container: shares srv's interfaces.
    let sub = ok(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
            "front",
        ],
    );
    let fixed = sub.trim().replace(".0/24", ".77");
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "front",
            "--ip",
            &fixed,
            "--mac-address",
            "02:42:0a:bb:cc:dd",
            "busybox",
            "ip",
            "-o",
            "addr",
            "show",
            "eth0",
        ],
    );
    assert!(out.contains(&format!("inet {fixed}/24")), "{out}");
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "front",
            "--mac-address",
            "02:42:0a:bb:cc:dd",
            "busybox",
            "cat",
            "/sys/class/net/eth0/address",
        ],
    );
    assert_eq!(out, "02:42:0a:bb:cc:dd\n");
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "container:srv",
            "busybox",
            "ip",
            "-o",
            "-4",
            "addr",
            "show",
            "eth0",
        ],
    );
    assert!(out.contains(&format!("inet {}/", ip.trim())), "{out}");
    // An --internal network: names resolve, but there is no way out (no default route).
    ok(&d, &["network", "create", "--internal", "sealed"]);
    ok(&d, &["network", "connect", "sealed", "srv"]);
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "sealed",
            "busybox",
            "sh",
            "-c",
            "ping -c1 -W3 srv >/dev/null && ip route",
        ],
    );
    assert!(!out.contains("default"), "{out}");
    ok(&d, &["network", "disconnect", "sealed", "srv"]);

    // connect puts srv on back too: now it is found from there.
    ok(&d, &["network", "connect", "back", "srv"]);
    ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "back",
            "busybox",
            "ping",
            "-c1",
            "-W3",
            "srv",
        ],
    );
    ok(&d, &["network", "disconnect", "back", "srv"]);
    let o = d.berth(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "ping",
        "-c1",
        "-W2",
        "srv",
    ]);
    assert_ne!(code(&o), 0);

    // The network lists its container; ls and the docker CLI agree.
    let inspect = ok(
        &d,
        &["network", "inspect", "-f", "{{json .Containers}}", "front"],
    );
    assert!(inspect.contains(id.trim()), "{inspect}");
    let ls = ok(&d, &["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls, "back\nbridge\nfront\nhost\nnone\nsealed\n");
    let o = d.docker(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("front bridge"), "{}", stdout(&o));
}

#[test]
fn network_none_has_only_loopback_and_host_shares_the_host() {
    let d = TestDaemon::start("net-none");
    d.load_busybox();
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ls",
            "/sys/class/net",
        ],
    );
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), vec!["lo"]);
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "ls",
            "/sys/class/net",
        ],
    );
    assert!(out.split_whitespace().any(|i| i == d.bridge), "{out}");
    // --dns, --dns-search, --add-host with host-gateway, --hostname/--domainname.
    let hosts = ok(
        &d,
        &[
            "run",
            "--rm",
            "--hostname",
            "h1",
            "--domainname",
            "example.test",
            "--add-host",
            "gw:host-gateway",
            "--add-host",
            "db:10.9.9.9",
            "--dns",
            "10.1.1.1",
            "--dns-search",
            "s.test",
            "--dns-option",
            "ndots:2",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hosts /etc/resolv.conf",
        ],
    );
    let gw = ok(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            "bridge",
        ],
    );
    assert!(hosts.contains(&format!("{}\tgw\n", gw.trim())), "{hosts}");
    assert!(hosts.contains("10.9.9.9\tdb\n"), "{hosts}");
    assert!(hosts.contains("h1.example.test h1\n"), "{hosts}");
    assert!(
        hosts.contains("nameserver 10.1.1.1\nsearch s.test\noptions ndots:2\n"),
        "{hosts}"
    );
}

#[test]
fn refusals_are_clear() {
    let d = TestDaemon::start("net-refuse");
    d.load_busybox();
    ok(&d, &["network", "create", "one"]);
    let subnet = ok(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
            "one",
        ],
    );
    let o = d.berth(&["network", "create", "--subnet", subnet.trim(), "two"]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("Pool overlaps"), "{}", stderr(&o));
    let o = d.berth(&["network", "create", "one"]);
    assert!(
        stderr(&o).contains("network with name one already exists"),
        "{}",
        stderr(&o)
    );

    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "member",
            "--network",
            "one",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let o = d.berth(&["network", "rm", "one"]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("has active endpoints"),
        "{}",
        stderr(&o)
    );
    let o = d.berth(&["network", "rm", "bridge"]);
    assert!(stderr(&o).contains("pre-defined network"), "{}", stderr(&o));
    let o = d.berth(&["run", "--rm", "--ip", "10.0.0.5", "busybox", "true"]);
    assert!(
        stderr(&o).contains("user defined networks only"),
        "{}",
        stderr(&o)
    );

    // Like Docker, a user network's bridge is `br-` and the ID's first 12 digits.
    let nid = ok(&d, &["network", "inspect", "-f", "{{.Id}}", "one"]);
    let bridge = format!("br-{}", &nid.trim()[..12]);
    assert!(std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists());
    ok(&d, &["rm", "-f", "member"]);
    ok(&d, &["network", "rm", "one"]);
    assert!(!std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists());
    // Docker's network events.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let events = ok(
        &d,
        &[
            "events",
            "--since",
            "1",
            "--until",
            &now.to_string(),
            "--filter",
            "type=network",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ],
    );
    // A container's start and removal connect and disconnect it, as in Docker.
    assert_eq!(
        events,
        "create one\nconnect one\ndisconnect one\ndestroy one\n"
    );
}

#[test]
fn teardown_after_a_sigkilled_daemon_leaks_nothing() {
    let mut d = TestDaemon::start("net-kill9");
    d.load_busybox();
    ok(&d, &["network", "create", "app"]);
    let port = free_port();
    let id = ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "svc",
            "--network",
            "app",
            "-p",
            &format!("127.0.0.1:{port}:80"),
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ],
    )
    .trim()
    .to_owned();
    let veth = format!("veth{}0", &id[..9]);
    let netns = d.exec_root.join("netns").join(&id);
    assert!(std::path::Path::new("/sys/class/net").join(&veth).exists());
    assert!(netns.exists());
    fetch(&format!("http://127.0.0.1:{port}/hostname"));

    d.kill9();
    // The container keeps its network while the daemon is dead...
    fetch(&format!("http://127.0.0.1:{port}/hostname"));
    d.spawn();
    // ...and after the restart: ports, DNS, one rule (not two).
    fetch(&format!("http://127.0.0.1:{port}/hostname"));
    ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "app",
            "busybox",
            "ping",
            "-c1",
            "-W3",
            "svc",
        ],
    );
    let table = format!("berth_{}", d.bridge);
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "ip", &table])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout).into_owned();
    assert_eq!(
        rules.matches(&format!("dport {port} dnat")).count(),
        1,
        "{rules}"
    );

    ok(&d, &["rm", "-f", "svc"]);
    assert!(!std::path::Path::new("/sys/class/net").join(&veth).exists());
    assert!(!netns.exists());
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "ip", &table])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&rules.stdout).contains(&format!("dport {port} ")));
    // The address went back to the pool: the next container gets the same one.
    let ip1 = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "app",
            "busybox",
            "sh",
            "-c",
            "ip -o -4 addr show eth0",
        ],
    );
    let ip2 = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "app",
            "busybox",
            "sh",
            "-c",
            "ip -o -4 addr show eth0",
        ],
    );
    assert_eq!(ip1, ip2);

    // A container killed while the daemon is dead is cleaned up at the next start.
    let id = ok(
        &d,
        &["run", "-d", "--network", "app", "busybox", "sleep", "300"],
    )
    .trim()
    .to_owned();
    let pid: i32 = ok(&d, &["inspect", "-f", "{{.State.Pid}}", &id])
        .trim()
        .parse()
        .unwrap();
    d.kill9();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    d.spawn();
    let veth = format!("veth{}0", &id[..9]);
    let netns = d.exec_root.join("netns").join(&id);
    assert!(eventually(Duration::from_secs(10), || {
        !std::path::Path::new("/sys/class/net").join(&veth).exists() && !netns.exists()
    }));
    let state = ok(&d, &["inspect", "-f", "{{.State.Status}}", &id]);
    assert_eq!(state.trim(), "exited");
}

const DOCKER_PY: &str = r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1], version="1.41")
net = c.networks.create("pynet", driver="bridge", labels={"k": "v"})
assert net.attrs["Driver"] == "bridge", net.attrs
assert [n.name for n in c.networks.list(filters={"label": "k=v"})] == ["pynet"]
ct = c.containers.run("busybox", ["sleep", "60"], detach=True, name="pyweb",
                      ports={"80/tcp": None})
ct.reload()
ip = ct.attrs["NetworkSettings"]["IPAddress"]
assert ip.count(".") == 3, ct.attrs["NetworkSettings"]
assert ct.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == ip
binding = ct.ports["80/tcp"][0]
assert binding["HostIp"] == "0.0.0.0" and int(binding["HostPort"]) > 0, ct.ports
net.connect(ct, aliases=["pyalias"])
net.reload()
assert ct.id in net.attrs["Containers"], net.attrs
net.disconnect(ct)
ct.remove(force=True)
net.remove()
print("docker-py network ok")
"#;

#[test]
fn docker_py_sees_networks_and_ports() {
    let d = TestDaemon::start("net-dockerpy");
    d.load_busybox();
    d.docker_py(DOCKER_PY);
}

#[test]
fn iptables_fallback_publishes_and_cleans_up() {
    // The backend used where nft is missing, exercised on a host that has both.
    let mut d = TestDaemon::start("net-ipt");
    d.kill9();
    d.env.push(("BERTH_FIREWALL".into(), "iptables".into()));
    d.spawn();
    d.load_busybox();
    let port = free_port();
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            &format!("{port}:80"),
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ],
    );
    let body = fetch(&format!("http://127.0.0.1:{port}/hostname"));
    assert_eq!(body.len(), 13, "{body:?}");
    let chain = format!("BERTH_{}_PORTS", d.bridge.to_ascii_uppercase());
    let rules = std::process::Command::new("iptables")
        .args(["-w", "-t", "nat", "-S", &chain])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout).into_owned();
    assert_eq!(
        rules.matches(&format!("--dport {port} ")).count(),
        1,
        "{rules}"
    );
    ok(&d, &["rm", "-f", "web"]);
    assert!(curl(&format!("http://127.0.0.1:{port}/hostname")).is_none());
    let rules = std::process::Command::new("iptables")
        .args(["-w", "-t", "nat", "-S", &chain])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&rules.stdout).contains(&format!("--dport {port} ")));
}

#[test]
fn embedded_dns_forwards_other_names() {
    // A stand-in resolver on the host's loopback: the daemon forwards names it does not know
    // to the container's --dns servers from the host's namespace.
    let upstream = std::net::UdpSocket::bind("127.0.0.2:53").expect("127.0.0.2:53 is free");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = done.clone();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        upstream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut answered = 0;
        loop {
            let (n, peer) = match upstream.recv_from(&mut buf) {
                Ok(x) => x,
                Err(_) if stop.load(std::sync::atomic::Ordering::Relaxed) => break,
                Err(_) => continue,
            };
            let q = &buf[..n];
            // Question end: labels until 0, then type and class.
            let mut end = 12;
            while q[end] != 0 {
                end += q[end] as usize + 1;
            }
            end += 5;
            let qtype = u16::from_be_bytes([q[end - 4], q[end - 3]]);
            let mut r = q[..2].to_vec();
            r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, (qtype == 1) as u8, 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..end]);
            if qtype == 1 {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 99, 99, 99]);
            }
            upstream.send_to(&r, peer).unwrap();
            answered += 1;
        }
        answered
    });
    let d = TestDaemon::start("net-dns-fwd");
    d.load_busybox();
    ok(&d, &["network", "create", "fwd"]);
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "fwd",
            "--dns",
            "127.0.0.2",
            "busybox",
            "nslookup",
            "outside.test",
        ],
    );
    assert!(out.contains("10.99.99.99"), "{out}");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(d);
    assert!(server.join().unwrap() > 0);
}

#[test]
fn legacy_links_on_the_default_bridge_and_on_user_networks() {
    let d = TestDaemon::start("net-links");
    d.load_busybox();
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "db",
            "-e",
            "SECRET=s3",
            "--expose",
            "6379",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let db_ip = ok(
        &d,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"],
    );
    let db_ip = db_ip.trim();
    assert!(!db_ip.is_empty());

    // Default bridge: an /etc/hosts line and Docker's variables, taken at start.
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--name",
            "web",
            "--link",
            "db:database",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hosts; env; ping -c1 -W3 database >/dev/null && echo PING-OK",
        ],
    );
    let hosts_line = out
        .lines()
        .find(|l| l.starts_with(db_ip))
        .unwrap_or_else(|| panic!("no hosts line for {db_ip}: {out}"));
    let names: Vec<&str> = hosts_line.split_whitespace().skip(1).collect();
    assert_eq!(names.first(), Some(&"database"), "{hosts_line}");
    assert!(names.contains(&"db"), "{hosts_line}");
    for var in [
        format!("DATABASE_PORT=tcp://{db_ip}:6379"),
        format!("DATABASE_PORT_6379_TCP_ADDR={db_ip}"),
        "DATABASE_PORT_6379_TCP_PROTO=tcp".to_string(),
        "DATABASE_NAME=/web/database".to_string(),
        "DATABASE_ENV_SECRET=s3".to_string(),
    ] {
        assert!(out.lines().any(|l| l == var), "missing {var}: {out}");
    }
    assert!(out.contains("PING-OK"), "{out}");

    // Recorded as Docker shows it.
    ok(
        &d,
        &[
            "create",
            "--name",
            "web2",
            "--link",
            "db:database",
            "busybox",
            "true",
        ],
    );
    let links = ok(&d, &["inspect", "-f", "{{json .HostConfig.Links}}", "web2"]);
    assert_eq!(links.trim(), r#"["/db:/web2/database"]"#);

    // A link to a missing container is refused at create, one to a stopped container at start.
    let o = d.berth(&["create", "--link", "nosuch:x", "busybox", "true"]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("could not get container for nosuch"),
        "{}",
        stderr(&o)
    );
    ok(&d, &["create", "--name", "idle", "busybox", "true"]);
    let o = d.berth(&["run", "--rm", "--link", "idle", "busybox", "true"]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("Cannot link to a non running container"),
        "{}",
        stderr(&o)
    );

    // User-defined network: the alias is a DNS name for the linking container only.
    ok(&d, &["network", "create", "linknet"]);
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "store",
            "--network",
            "linknet",
            "busybox",
            "sleep",
            "300",
        ],
    );
    ok(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "linknet",
            "--link",
            "store:cache",
            "busybox",
            "ping",
            "-c1",
            "-W3",
            "cache",
        ],
    );
    let o = d.berth(&[
        "run",
        "--rm",
        "--network",
        "linknet",
        "busybox",
        "ping",
        "-c1",
        "-W3",
        "cache",
    ]);
    assert_ne!(code(&o), 0, "an unlinked container resolved the alias");
}

#[test]
fn enable_icc_false_cuts_containers_off_from_each_other() {
    let d = TestDaemon::start("net-icc");
    d.load_busybox();
    ok(
        &d,
        &[
            "network",
            "create",
            "-o",
            "com.docker.network.bridge.enable_icc=false",
            "closed",
        ],
    );
    ok(&d, &["network", "create", "open"]);
    for (name, net) in [
        ("c1", "closed"),
        ("c2", "closed"),
        ("o1", "open"),
        ("o2", "open"),
    ] {
        ok(
            &d,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                net,
                "busybox",
                "sleep",
                "300",
            ],
        );
    }
    let ip = |c: &str, net: &str| {
        ok(
            &d,
            &[
                "inspect",
                "-f",
                &format!("{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}"),
                c,
            ],
        )
        .trim()
        .to_owned()
    };
    let gw = ok(
        &d,
        &[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            "closed",
        ],
    );
    // The gateway (the host) answers; the neighbour on the same bridge does not.
    ok(&d, &["exec", "c1", "ping", "-c1", "-W2", gw.trim()]);
    let o = d.berth(&["exec", "c1", "ping", "-c1", "-W2", &ip("c2", "closed")]);
    assert_ne!(code(&o), 0, "c1 reached c2 on an enable_icc=false network");
    // On an ordinary network they do.
    ok(&d, &["exec", "o1", "ping", "-c1", "-W2", &ip("o2", "open")]);
}
