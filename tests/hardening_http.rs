//! Issue 10, item 4: unauthenticated clients cannot spend the server's memory and sockets.
//!
//! The whole service on a loopback port, spoken to over raw TCP: a half-sent request is closed
//! after the header timeout, connections beyond the cap wait unserved while a normal request
//! still works once they go, an unauthenticated 15 MB POST to the OneBot HTTP receiver is
//! refused before its body is read, and an authenticated body over the route's limit gets 413.

mod onebot_common;

use onebot_common::{Service, TOKEN, data_dir, within};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the peer closes (EOF or reset): everything it sent before.
async fn read_until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response head (up to the blank line).
async fn read_head(tcp: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp.read(&mut buf).await.expect("read a response");
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A served connection: it answered a keep-alive GET /healthz.
async fn served(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: bangban\r\n\r\n")
        .await
        .unwrap();
    let head = within(read_head(&mut tcp)).await;
    assert!(head.starts_with("HTTP/1.1 "), "{head}");
    tcp
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_timeout() {
    let (_dir, data) = data_dir();
    let mut config = onebot_common::config();
    config.service.server.header_timeout_secs = 1;
    let service = Service::start(config, &data).await;
    let mut tcp = TcpStream::connect(service.addr).await.unwrap();
    // The request line and one header, never the blank line that ends the headers.
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: bangban\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // hyper's own default, without the configured timeout, is 30 s.
    let closed = tokio::time::timeout(Duration::from_secs(8), read_until_closed(&mut tcp)).await;
    let got = closed.expect("the half-sent request was still open after 8 s");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    assert!(
        !String::from_utf8_lossy(&got).contains(" 200 "),
        "a half-sent request is never answered as if complete"
    );
    service.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_unserved_until_others_close() {
    let (_dir, data) = data_dir();
    let mut config = onebot_common::config();
    config.service.server.max_connections = 16;
    // Long enough that the held connections are not closed as idle while the test runs.
    config.service.server.header_timeout_secs = 60;
    let service = Service::start(config, &data).await;
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(served(service.addr).await);
    }
    // The kernel completes the handshake (the accept queue), but the server does not serve it.
    let mut extra = TcpStream::connect(service.addr).await.unwrap();
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: bangban\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_secs(1), extra.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a 17th connection was served while 16 were open: {early:?}"
    );
    // Held connections are still served.
    held[0]
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: bangban\r\n\r\n")
        .await
        .unwrap();
    let again = within(read_head(&mut held[0])).await;
    assert!(again.starts_with("HTTP/1.1 "), "{again}");
    drop(held);
    // Once they go, the waiting request is answered.
    let head = within(read_head(&mut extra)).await;
    assert!(head.starts_with("HTTP/1.1 "), "{head}");
    // And new clients are too.
    drop(served(service.addr).await);
    service.stop().await;
}

/// Writes `total` bytes of body in 64 KiB pieces until done or the server closes; counts what
/// was written.
fn send_body(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    total: usize,
    sent: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let chunk = vec![b'x'; 64 << 10];
        while sent.load(Ordering::SeqCst) < total {
            let n = chunk.len().min(total - sent.load(Ordering::SeqCst));
            if writer.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            sent.fetch_add(n, Ordering::SeqCst);
        }
        sent.load(Ordering::SeqCst)
    })
}

#[tokio::test]
async fn an_unauthenticated_15_mb_post_is_refused_before_its_body_is_read() {
    let (_dir, data) = data_dir();
    let service = Service::start(onebot_common::config(), &data).await;
    const TOTAL: usize = 15 << 20;
    for auth in ["", "Authorization: Bearer wrong-token\r\n"] {
        let tcp = TcpStream::connect(service.addr).await.unwrap();
        let (mut reader, mut writer) = tcp.into_split();
        let head = format!(
            "POST /onebot/v11/http HTTP/1.1\r\nHost: bangban\r\nContent-Type: application/json\r\n\
             {auth}Content-Length: {TOTAL}\r\n\r\n"
        );
        writer.write_all(head.as_bytes()).await.unwrap();
        let sent = Arc::new(AtomicUsize::new(0));
        let sending = send_body(writer, TOTAL, sent.clone());
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = within(reader.read(&mut buf)).await.expect("a response");
            assert!(n > 0, "closed without an answer");
            got.extend_from_slice(&buf[..n]);
        }
        let at_answer = sent.load(Ordering::SeqCst);
        let answer = String::from_utf8_lossy(&got);
        let expected = if auth.is_empty() { "401" } else { "403" };
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {expected} ")),
            "{auth:?}: {answer}"
        );
        assert!(
            at_answer < TOTAL,
            "{auth:?}: answered only after the whole body was sent"
        );
        // The server closes rather than read the rest: the sender never gets it all out.
        let mut rest = [0u8; 1024];
        while let Ok(n) = within(reader.read(&mut rest)).await
            && n > 0
        {}
        let writes_stopped = within(sending).await.unwrap();
        assert!(
            writes_stopped < TOTAL,
            "{auth:?}: the server took the whole 15 MB body"
        );
    }
    service.stop().await;
}

#[tokio::test]
async fn an_authenticated_body_over_the_limit_gets_413_and_a_small_event_is_taken() {
    let (_dir, data) = data_dir();
    let service = Service::start(onebot_common::config(), &data).await;
    let url = format!("http://{}/onebot/v11/http", service.addr);
    let client = reqwest::Client::new();
    let event = |pad: usize| {
        serde_json::json!({
            "time": 1_700_000_000u64,
            "self_id": 123456789u64,
            "post_type": "meta_event",
            "meta_event_type": "heartbeat",
            "status": {"online": true, "good": true},
            "interval": 5000,
            "pad": "x".repeat(pad),
        })
        .to_string()
    };
    // A small event is accepted (204), so the route and the token are right.
    let small = client
        .post(&url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(event(10))
        .send()
        .await
        .unwrap();
    assert_eq!(small.status().as_u16(), 204);
    // 1 MiB with its length declared: refused unread.
    let big = client
        .post(&url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(event(1 << 20))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status().as_u16(), 413);
    // 1 MiB chunked (no length): refused once the limit is passed.
    let tcp = TcpStream::connect(service.addr).await.unwrap();
    let (mut reader, mut writer) = tcp.into_split();
    let body = event(1 << 20).into_bytes();
    let head = format!(
        "POST /onebot/v11/http HTTP/1.1\r\nHost: bangban\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for piece in body.chunks(16 << 10) {
            writer
                .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .await?;
            writer.write_all(piece).await?;
            writer.write_all(b"\r\n").await?;
        }
        writer.write_all(b"0\r\n\r\n").await
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = within(reader.read(&mut buf)).await.expect("a response");
        assert!(n > 0, "closed without an answer");
        got.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&got);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    service.stop().await;
}
