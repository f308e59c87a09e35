//! Serving connections with bounds (docs/operations.md, "Slow and idle clients"): a connection cap fitted
//! to the open-file limit, a header-read timeout from the moment a connection is accepted (or a later request
//! starts), an idle timeout between keep-alive requests, and a graceful stop with a deadline. Request and
//! body timeouts and the announced-length check are middleware in `routes`.
//!
//! hyper's own header timer cannot tell an idle keep-alive connection from a slow header, so each connection
//! has a watchdog that reads three facts kept by the connection's I/O and its service: when the connection
//! last became idle, when the first byte of the next request arrived, and whether a request is in flight.
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::config::HttpConfig;

/// Serve `router` on `listener` until `shutdown` resolves; then stop accepting, let requests in flight
/// finish, close idle connections, and return once every connection is closed or
/// `shutdown_timeout_secs` has passed (whichever is first).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let max = fit_to_open_file_limit(config.max_connections, open_file_limit());
    if max < config.max_connections {
        tracing::warn!(
            "serving at most {max} connections at once (http.max_connections is {}, but the open-file limit is {}); raise `ulimit -n` to serve more",
            config.max_connections,
            open_file_limit().unwrap_or(0)
        );
    }
    let timers = Timers {
        header: Duration::from_secs(config.header_read_timeout_secs),
        idle: Duration::from_secs(config.idle_timeout_secs),
    };
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Reap finished connection tasks so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted: wait a little
                    // rather than spin, and keep serving the connections already open.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stop = stop_rx.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, router, timers, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let open = max - slots.available_permits();
    tracing::info!("stopping: no new connections; {open} open, waiting up to {} s", config.shutdown_timeout_secs);
    let _ = stop_tx.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => tracing::info!("every connection is closed"),
        () = tokio::time::sleep(Duration::from_secs(config.shutdown_timeout_secs)) => {
            tracing::warn!(
                "{} connections still open after {} s; closing them",
                max - slots.available_permits(),
                config.shutdown_timeout_secs
            );
        }
    }
    // Whatever is still open is cut off here: dropping a connection's task closes its socket.
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Timers {
    header: Duration,
    idle: Duration,
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    timers: Timers,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked { inner: stream, activity: activity.clone() });
    let act = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = InFlight::start(act.clone());
        let response = router.clone().oneshot(req.map(Body::new));
        async move {
            let response = response.await;
            drop(in_flight);
            response
        }
    });
    let conn = http1::Builder::new().keep_alive(true).serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow_and_update();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection from {peer}: {e}");
                }
                return;
            }
            () = activity.expired(timers) => {
                tracing::debug!("connection from {peer}: closed by the header-read or idle timeout");
                return;
            }
            _ = stop.changed(), if !stopping => {
                // Idle connections close now; a request in flight is answered, then the connection closes.
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What the watchdog of one connection needs to know, in milliseconds since the connection was accepted.
#[derive(Debug)]
struct Activity {
    epoch: Instant,
    /// Requests being served (0 or 1 over HTTP/1.1).
    in_flight: AtomicUsize,
    /// Requests completed on this connection.
    served: AtomicUsize,
    /// When the connection last became idle (accepted, or a response completed).
    idle_since: AtomicU64,
    /// 1 + when the first byte of the next request arrived; 0 while none has.
    header_started: AtomicU64,
    /// Wakes the watchdog when its deadline may have moved (a request started or ended, a header began).
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            header_started: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0 && self.header_started.load(Ordering::SeqCst) == 0 {
            self.header_started.store(self.now() + 1, Ordering::SeqCst);
            self.changed.notify_one();
        }
    }

    /// Resolves when the connection has been idle, or has been sending a request header, for too long.
    async fn expired(&self, timers: Timers) {
        loop {
            let now = self.now();
            let deadline = if self.in_flight.load(Ordering::SeqCst) > 0 {
                // Request and body timeouts govern a request in flight; its end wakes us.
                now + 3_600_000
            } else {
                match self.header_started.load(Ordering::SeqCst) {
                    0 => {
                        let since = self.idle_since.load(Ordering::SeqCst);
                        let wait = if self.served.load(Ordering::SeqCst) == 0 { timers.header } else { timers.idle };
                        since + ms(wait)
                    }
                    started => started - 1 + ms(timers.header),
                }
            };
            if deadline <= now && self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            let wait = Duration::from_millis(deadline.saturating_sub(now).max(10));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.changed.notified() => {}
            }
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2)
}

/// Marks a request in flight for as long as it lives (also when the client goes away mid-request).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        activity.header_started.store(0, Ordering::SeqCst);
        activity.changed.notify_one();
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.served.fetch_add(1, Ordering::SeqCst);
        a.header_started.store(0, Ordering::SeqCst);
        a.idle_since.store(a.now(), Ordering::SeqCst);
        a.in_flight.fetch_sub(1, Ordering::SeqCst);
        a.changed.notify_one();
    }
}

/// The TCP stream, noting when bytes of a new request arrive.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The soft limit on open files of this process (Linux: /proc/self/limits), if known.
pub fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Leave room for the database pool, the log and the files a request opens: 64 descriptors, or half of a
/// very small limit.
pub fn fit_to_open_file_limit(wanted: usize, limit: Option<u64>) -> usize {
    match limit {
        Some(limit) => {
            let room = limit.saturating_sub(64).max(limit / 2).max(1);
            wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
        }
        None => wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_cap_fits_the_open_file_limit() {
        assert_eq!(fit_to_open_file_limit(1024, Some(1_048_576)), 1024);
        assert_eq!(fit_to_open_file_limit(1024, Some(1024)), 960);
        assert_eq!(fit_to_open_file_limit(1024, Some(64)), 32);
        assert_eq!(fit_to_open_file_limit(1024, Some(1)), 1);
        assert_eq!(fit_to_open_file_limit(7, None), 7);
        assert!(open_file_limit().is_some_and(|n| n > 0), "Linux reports the open-file limit");
    }
}
