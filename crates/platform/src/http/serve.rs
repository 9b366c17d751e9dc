//! The accept loop: HTTP/1.1 (with upgrades, for WebSockets) and HTTP/2 with prior knowledge
//! (h2c, what Caddy speaks to an upstream configured with `versions h2c`), each connection on its
//! own task, drained on shutdown.
//!
//! Why not `axum::serve`: it serves every connection through hyper-util's `auto` builder, whose
//! connection future holds the HTTP/1 and the HTTP/2 state machines side by side. For services
//! that keep thousands of connections open (SSE, WebSockets) that doubles the memory per
//! connection (`cargo xtask bench feed` measures it). Peeking at the first bytes and spawning only
//! the protocol the client speaks keeps each task as small as hyper makes it.

use std::{net::SocketAddr, pin::Pin, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::Service as _;

/// A new connection that has sent nothing after this long is dropped. (No timeout for request
/// heads after that: hyper's would also close idle keep-alive connections, racing the proxy's next
/// request on them; slow clients are Caddy's to cut.)
const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(30);
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Accepts until `stop` fires, then asks every open connection to finish its current requests
/// and waits for them. Dropping the future stops the waiting; connections still open then end
/// with the process.
pub(super) async fn serve(listener: TcpListener, router: Router, stop: CancellationToken) {
    let connections = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning; the
                    // connections already open are unaffected.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        connections.spawn(connection(tcp, peer, router.clone(), stop.clone()));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

async fn connection(tcp: TcpStream, peer: SocketAddr, router: Router, stop: CancellationToken) {
    // No Nagle: small responses and SSE events must leave at once, not wait for the peer's
    // delayed ACK (up to 40 ms on Linux).
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "setting TCP_NODELAY failed");
    }
    let Ok(Ok(h2)) = tokio::time::timeout(FIRST_BYTES_TIMEOUT, speaks_h2(&tcp)).await else {
        return;
    };
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        // Router is always ready; `call` on a clone is what axum's own server does.
        router.clone().call(request)
    });
    let io = TokioIo::new(tcp);
    let result = if h2 {
        // hyper's defaults: 200 streams per connection (Caddy opens another connection beyond).
        let connection = conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(super::coalesce::Coalesce::new(io), service);
        until_drained(
            connection,
            &stop,
            hyper::server::conn::http2::Connection::graceful_shutdown,
        )
        .await
    } else {
        let connection = conn::http1::Builder::new()
            .serve_connection(io, service)
            .with_upgrades();
        until_drained(
            connection,
            &stop,
            hyper::server::conn::http1::UpgradeableConnection::graceful_shutdown,
        )
        .await
    };
    if let Err(e) = result {
        // Clients hanging up mid-response are routine; nothing to act on.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Runs a connection; once `stop` fires, asks it to finish its open requests and waits for that.
/// (hyper's HTTP/1 and HTTP/2 connections share no trait for `graceful_shutdown`.)
async fn until_drained<C: Future>(
    connection: C,
    stop: &CancellationToken,
    graceful_shutdown: fn(Pin<&mut C>),
) -> C::Output {
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        output = connection.as_mut() => output,
        () = stop.cancelled() => {
            graceful_shutdown(connection.as_mut());
            connection.await
        }
    }
}

/// Whether the client opens with the HTTP/2 preface. Peeking leaves the bytes for hyper.
async fn speaks_h2(tcp: &TcpStream) -> std::io::Result<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = tcp.peek(&mut buf).await?;
        let seen = buf.get(..n).unwrap_or_default();
        if n == 0 || !H2_PREFACE.starts_with(seen) {
            return Ok(false);
        }
        if n == H2_PREFACE.len() {
            return Ok(true);
        }
        // A prefix of the preface so far: the rest is on its way, and a peek would see the same
        // bytes again at once.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
