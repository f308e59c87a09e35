//! Key fetching in a network namespace made by the test itself (`unshare -mn`): its loopback gets the private
//! address 10.55.0.1 and `/etc/hosts` (bind-mounted inside the namespace only) names it `internal.test`. A
//! listener there counts connections. No traffic leaves the namespace; no real private address is used.
//!
//! Needs root (CI runs as root) and util-linux `unshare`, iproute2 `ip` and python3: the test fails, never
//! skips, without them.
use std::path::Path;
use std::process::{Command, Output};

use crate::support::*;

const ADDR: &str = "10.55.0.1";

/// Run `proofmark ARGS` inside a fresh network and mount namespace with a listener on ADDR:port; returns
/// the command's output and how many connections the listener accepted.
fn in_namespace(dir: &Path, port: u16, args: &[&str]) -> (Output, usize) {
    let jwks = Capturer::new("http://unused").jwks();
    let python = std::env::var("PROOFMARK_PYTHON").unwrap_or_else(|_| "python3".into());
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1 localhost\n{ADDR} internal.test\n")).unwrap();
    let log = dir.join("connections.log");
    let _ = std::fs::remove_file(&log);
    let jwks_file = dir.join("served-jwks.json");
    std::fs::write(&jwks_file, jwks).unwrap();
    let ready = dir.join("ready");
    let _ = std::fs::remove_file(&ready);
    let listener = format!(
        "import socket\n\
         s = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{ADDR}', {port}))\n\
         s.listen(64)\n\
         open('{ready}', 'w').write('1')\n\
         body = open('{jwks_file}', 'rb').read()\n\
         while True:\n\
         \x20   c, _ = s.accept()\n\
         \x20   open('{log}', 'a').write('connection\\n')\n\
         \x20   c.settimeout(2)\n\
         \x20   seen = b''\n\
         \x20   try:\n\
         \x20       while b'\\r\\n\\r\\n' not in seen:\n\
         \x20           chunk = c.recv(4096)\n\
         \x20           if not chunk: break\n\
         \x20           seen += chunk\n\
         \x20       head = b'HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: %d\\r\\nconnection: close\\r\\n\\r\\n' % len(body)\n\
         \x20       c.sendall(head + body)\n\
         \x20   except Exception:\n\
         \x20       pass\n\
         \x20   c.close()\n",
        jwks_file = jwks_file.display(),
        ready = ready.display(),
        log = log.display(),
    );
    let script = format!(
        "set -e\n\
         ip link set lo up\n\
         ip addr add {ADDR}/32 dev lo\n\
         mount --bind '{hosts}' /etc/hosts\n\
         '{python}' -c \"$LISTENER\" &\n\
         for i in $(seq 100); do [ -e '{ready}' ] && break; sleep 0.05; done\n\
         [ -e '{ready}' ] || {{ echo 'listener did not start' >&2; exit 97; }}\n\
         set +e\n\
         \"$@\"\n\
         rc=$?\n\
         kill $! 2>/dev/null\n\
         exit $rc\n",
        hosts = hosts.display(),
        ready = ready.display(),
    );
    let out = Command::new("unshare")
        .args(["-mn", "sh", "-c", &script, "sh", env!("CARGO_BIN_EXE_proofmark")])
        .args(args)
        .env("LISTENER", listener)
        .output()
        .expect("unshare (util-linux) must be installed: this test never skips");
    assert_ne!(out.status.code(), Some(97), "the listener did not start: {}", stderr(&out));
    assert!(
        !stderr(&out).contains("unshare failed") && !stderr(&out).contains("Operation not permitted"),
        "cannot make a network namespace (this test needs root): {}",
        stderr(&out)
    );
    let connections = std::fs::read_to_string(&log).map(|t| t.lines().count()).unwrap_or(0);
    (out, connections)
}

#[test]
fn sidecar_issuers_are_vetted_on_the_address_really_dialled() {
    let dir = tempfile::tempdir().unwrap();
    let media_dir = dir.path().join("media");
    std::fs::create_dir(&media_dir).unwrap();
    let port = 8443;
    // 10.55.0.1 = 0x0a370001 = 171376641; every spelling of it, and a name that resolves to it.
    let issuers = [
        format!("https://internal.test:{port}"),
        format!("https://INTERNAL.test.:{port}"),
        format!("https://012.067.0.1:{port}"),
        format!("https://0xa.0x37.0.1:{port}"),
        format!("https://171376641:{port}"),
        format!("https://10.55.1:{port}"),
        format!("https://10.55.0.1.:{port}"),
        format!("https://[::ffff:10.55.0.1]:{port}"),
        format!("http://internal.test:{port}"),
    ];
    for (i, iss) in issuers.iter().enumerate() {
        Capturer::new(iss).capture(&media_dir, &format!("photo{i}.jpg"), format!("pixels {i}").as_bytes());
    }
    let (out, connections) =
        in_namespace(dir.path(), port, &["verify", "--json", "--max-issuers", "20", media_dir.to_str().unwrap()]);
    assert_eq!(connections, 0, "a sidecar made proofmark connect to an internal address: {}", stdout(&out));
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), issuers.len());
    for r in results {
        // Reported by the jwt_key check, status unavailable, verdict unverified.
        assert_eq!(r["report"]["verdict"], "unverified", "{r}");
        let key = r["report"]["checks"].as_array().unwrap().iter().find(|c| c["code"] == "jwt_key").unwrap();
        assert_eq!(key["status"], "unavailable", "{r}");
        assert_eq!(key["reason"], "issuer_keys_unavailable", "{r}");
        let error = key["message"].as_str().unwrap_or_default();
        // IP spellings are refused before any connection, saying why; a name that resolves to an internal
        // address gets the one text every network failure gets, so a sidecar learns nothing about the name.
        let spelled = error.contains("are not fetched: its address ")
            && error.contains("10.55.0.1 is in 10.0.0.0/8 (private)")
            || error.contains("are not fetched: it is plain http to a host other than this machine's loopback");
        let uniform = issuers.iter().any(|i| error == format!("could not fetch keys for issuer {i}"));
        assert!(spelled || uniform, "{r}");
        assert!(!error.contains("internal.test") || !error.contains("10.55"), "the resolved address is not shown: {r}");
    }

    // The control: the same setup does see a connection when the user allows private addresses, so a zero
    // above means nothing was dialled, not that the listener was unreachable.
    let one = media_dir.join("photo0.jpg");
    let (out, connections) =
        in_namespace(dir.path(), port, &["verify", "--allow-insecure-issuer", "--timeout", "5", one.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(connections, 1, "{}{}", stdout(&out), stderr(&out));
    // What failed on the network (here: the listener answers plain HTTP to a TLS handshake) is not revealed.
    assert!(
        stdout(&out)
            .contains(&format!(": could not verify: could not fetch keys for issuer https://internal.test:{port}\n")),
        "{}",
        stdout(&out)
    );
    // End to end with the flag: the http issuer on the private address is fetched and the capture verifies
    // (valid, not trusted: the user has not said to trust that issuer).
    let http = media_dir.join("photo8.jpg");
    let (out, connections) = in_namespace(
        dir.path(),
        port,
        &["verify", "--allow-insecure-issuer", "--timeout", "5", http.to_str().unwrap()],
    );
    assert_eq!(connections, 1, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("photo8.jpg: VALID (issuer not trusted)"), "{}", stdout(&out));
    // Without it the same file is refused before any connection.
    let (out, connections) = in_namespace(dir.path(), port, &["verify", "--timeout", "5", http.to_str().unwrap()]);
    assert_eq!((connections, out.status.code()), (0, Some(2)), "{}", stdout(&out));
}
