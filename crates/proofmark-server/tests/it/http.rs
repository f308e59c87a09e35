//! Slow, idle and oversized clients over real TCP on 127.0.0.1, and the graceful stop.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proofmark_server::{serve_on, AppState, Clock, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::config;

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start(adjust: impl FnOnce(&mut Config)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    adjust(&mut c);
    let state = AppState::new(c, Clock::system()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(serve_on(listener, state, async move {
        let _ = stopped.await;
    }));
    Running { addr, stop: Some(stop), done, _dir: dir }
}

/// Read one HTTP/1.1 response: (status, body). `None` when the server closed the connection first.
async fn response(s: &mut TcpStream) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((status, String::from_utf8_lossy(&buf[head_end..]).into_owned()))
}

/// Waits for the server to close the connection; returns how long that took.
async fn closed_after(s: &mut TcpStream, within: Duration) -> Duration {
    let t = Instant::now();
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout(within.saturating_sub(t.elapsed()), s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return t.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept the connection open for {within:?}"),
        }
    }
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n";

#[tokio::test]
async fn silent_and_slow_headers_are_cut_off() {
    let s = start(|c| {
        c.http.header_read_timeout_secs = 1;
        c.http.idle_timeout_secs = 30;
    })
    .await;
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n").await.unwrap();
    let took = closed_after(&mut silent, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(800), "{took:?}");
    let took = closed_after(&mut slow, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let s = start(|c| {
        c.http.header_read_timeout_secs = 30;
        c.http.idle_timeout_secs = 1;
    })
    .await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    // Let the watchdog arm the (long) header deadline first: its end of the idle phase must still be seen.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..2 {
        conn.write_all(HEALTH).await.unwrap();
        assert_eq!(response(&mut conn).await.unwrap().0, 200, "keep-alive serves several requests");
    }
    let took = closed_after(&mut conn, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(800) && took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn the_connection_cap_holds_and_idle_connections_make_room() {
    let s = start(|c| {
        c.http.max_connections = 3;
        c.http.header_read_timeout_secs = 2;
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(s.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(HEALTH).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(700), response(&mut conn)).await;
    assert!(early.is_err(), "a fourth connection was served while three held every slot");
    let (status, _) = tokio::time::timeout(Duration::from_secs(5), response(&mut conn)).await.unwrap().unwrap();
    assert_eq!(status, 200);
    assert!(t.elapsed() >= Duration::from_millis(1500), "{:?}", t.elapsed());
}

#[tokio::test]
async fn an_announced_oversized_body_gets_413_before_it_is_sent() {
    let s = start(|c| c.max_upload_bytes = 1024 * 1024).await;
    for (path, length) in [("/capture/trust", "99999999999"), ("/devices", "65537"), ("/validate", "1048577")] {
        let mut conn = TcpStream::connect(s.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        let (status, body) = tokio::time::timeout(Duration::from_secs(2), response(&mut conn)).await.unwrap().unwrap();
        assert_eq!(status, 413, "{path}: {body}");
        assert!(body.contains(&format!("{length} bytes announced")), "{body}");
    }
    // Just under the /validate limit the server waits for the body (it is not refused by the JSON limit).
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(b"POST /validate HTTP/1.1\r\nhost: t\r\ncontent-type: multipart/form-data; boundary=b\r\ncontent-length: 1048576\r\n\r\n")
        .await
        .unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(500), response(&mut conn)).await.is_err());
}

#[tokio::test]
async fn a_stalled_body_gets_408() {
    let s = start(|c| c.http.body_read_timeout_secs = 1).await;
    // Routes that read their body before anything else can fail (a device's token is checked first).
    for (path, kind) in [("/devices", "application/json"), ("/validate", "multipart/form-data; boundary=b")] {
        let mut conn = TcpStream::connect(s.addr).await.unwrap();
        let head = format!("POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: {kind}\r\ncontent-length: 500\r\n\r\n");
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(b"--b\r\ncontent-disposition: form-data; name=\"media\"\r\n\r\nabc").await.unwrap();
        let t = Instant::now();
        let (status, body) = tokio::time::timeout(Duration::from_secs(4), response(&mut conn)).await.unwrap().unwrap();
        assert_eq!(status, 408, "{path}: {body}");
        assert!(body.contains("body read timeout"), "{body}");
        assert!(t.elapsed() >= Duration::from_millis(800), "{:?}", t.elapsed());
    }
}

#[tokio::test]
async fn a_trickled_request_meets_the_request_deadline() {
    let s = start(|c| {
        c.http.request_timeout_secs = 1;
        c.http.body_read_timeout_secs = 10;
    })
    .await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(b"POST /validate HTTP/1.1\r\nhost: t\r\ncontent-type: multipart/form-data; boundary=b\r\ncontent-length: 100000\r\n\r\n--b\r\ncontent-disposition: form-data; name=\"media\"\r\n\r\n")
        .await
        .unwrap();
    let t = Instant::now();
    let trickle = async {
        loop {
            if conn.write_all(b"x").await.is_err() {
                return None;
            }
            if let Ok(r) = tokio::time::timeout(Duration::from_millis(200), response(&mut conn)).await {
                return r;
            }
        }
    };
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), trickle).await.unwrap().unwrap();
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("longer than 1 s"), "{body}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn stop_finishes_requests_in_flight_and_closes_idle_connections() {
    let mut s = start(|c| c.http.shutdown_timeout_secs = 5).await;
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(HEALTH).await.unwrap();
    assert_eq!(response(&mut idle).await.unwrap().0, 200);
    // A request whose body is half sent when the stop comes.
    let mut busy = TcpStream::connect(s.addr).await.unwrap();
    let body = br#"{"external_id": "phone", "public_key": "AAAA"}"#;
    let head = format!(
        "POST /devices HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\nx-publisher-id: nobody\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    busy.write_all(head.as_bytes()).await.unwrap();
    busy.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    s.stop.take().unwrap().send(()).unwrap();
    let took = closed_after(&mut idle, Duration::from_secs(2)).await;
    assert!(took < Duration::from_secs(1), "the idle keep-alive connection was closed at once: {took:?}");
    assert!(!s.done.is_finished(), "the server waits for the request in flight");
    busy.write_all(&body[10..]).await.unwrap();
    let (status, reply) = response(&mut busy).await.expect("the request in flight is answered");
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("Invalid publisher ID format"), "{reply}");
    tokio::time::timeout(Duration::from_secs(2), &mut s.done)
        .await
        .expect("stopped once it was answered")
        .unwrap()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Nothing listens any more.
    assert!(TcpStream::connect(s.addr).await.is_err());
}

#[tokio::test]
async fn stop_gives_up_on_a_stuck_request_at_the_deadline() {
    let mut s = start(|c| {
        c.http.shutdown_timeout_secs = 1;
        c.http.body_read_timeout_secs = 60;
    })
    .await;
    let mut stuck = TcpStream::connect(s.addr).await.unwrap();
    stuck
        .write_all(
            b"POST /devices HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    s.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(4), &mut s.done).await.expect("stopped at the deadline").unwrap().unwrap();
    assert!(t.elapsed() >= Duration::from_millis(900) && t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // The stuck connection was cut off, not left running in the background.
    let took = closed_after(&mut stuck, Duration::from_secs(1)).await;
    assert!(took < Duration::from_millis(500), "{took:?}");
}
