//! Serving HTTP with limits an unauthenticated client cannot get around: at most
//! `max_connections` sockets at once (further clients wait in the kernel's accept queue), a
//! request's headers within `header_timeout` (which also closes a keep-alive connection idle that
//! long), and a whole request within `request_timeout` (a body trickled in a byte at a time).
//!
//! A connection holds its slot for as long as its socket is open, after a WebSocket upgrade too.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;
use tower_http::timeout::TimeoutLayer;
use tracing::{debug, error, warn};

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
}

impl Limits {
    /// From `bangban.toml`'s `[server]`.
    pub fn of(server: &crate::config::service::Server) -> Limits {
        Limits {
            max_connections: server.max_connections,
            header_timeout: Duration::from_secs(server.header_timeout_secs),
            request_timeout: Duration::from_secs(server.request_timeout_secs),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, lets each open
/// connection finish its request, and returns once every socket is closed. Peers' addresses
/// reach handlers as [`ConnectInfo<SocketAddr>`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let app = app.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut full = false;
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                full = false;
                permit
            }
            Err(_) => {
                if !full {
                    warn!(
                        max = limits.max_connections,
                        "connection limit reached; new connections wait"
                    );
                    full = true;
                }
                tokio::select! {
                    permit = slots.clone().acquire_owned() => permit.expect("never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Replies are small frames on long-lived WebSockets: without TCP_NODELAY, Nagle's
        // algorithm and the peer's delayed ACKs hold each one back by up to 40 ms.
        if let Err(e) = tcp.set_nodelay(true) {
            warn!(error = %e, "could not set TCP_NODELAY");
        }
        let io = TokioIo::new(Slotted { tcp, _slot: permit });
        let service =
            TowerToHyperService::new(app.clone().map_request(move |req: Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            }));
        let mut stopping = stopping.clone();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let mut http1 = hyper::server::conn::http1::Builder::new();
            http1
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let mut conn = pin!(http1.serve_connection(io, service).with_upgrades());
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = async { stopping.wait_for(|s| *s).await.map(drop) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every slot back: every socket closed (upgraded ones are closed by the runtime).
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// As hyper 0.14 did: errors of one connection are nothing; others (out of file descriptors)
/// are logged and accepting pauses a second, for some to close.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    error!(error = %e, "could not accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// A socket holding its connection slot until it is dropped.
struct Slotted {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Slotted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Slotted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}
