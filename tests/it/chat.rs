//! A browser's conversation through Caddy: a ticket, the WebSocket over TLS on the one origin, a
//! message sent by one person and received live by the other.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::stack;

#[tokio::test]
async fn a_conversation_through_caddy_over_a_websocket_with_a_ticket() {
    let stack = stack();
    assert!(
        stack.services.iter().any(|s| s == "chat"),
        "chat is not in the stack"
    );
    let ada = stack.new_account("ada").await;
    let bob = stack.new_account("bob").await;
    let id = |token: String| {
        let (http, url) = (stack.http.clone(), stack.url.clone());
        async move {
            let me: Value = http
                .get(format!("{url}/auth/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            me["id"].as_str().unwrap().to_owned()
        }
    };
    let bob_id = id(bob.clone()).await;
    let room: Value = stack
        .http
        .post(format!("{}/chat/conversations", stack.url))
        .bearer_auth(&ada)
        .json(&json!({"kind": "direct", "participants": [bob_id]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let room = room["id"].as_str().unwrap().to_owned();
    let ticket: Value = stack
        .http
        .post(format!("{}/chat/tickets", stack.url))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let mut ws = connect(&format!(
        "{}/chat/ws?ticket={}",
        stack.url,
        ticket["ticket"].as_str().unwrap()
    ))
    .await;
    ws.send(Message::text(
        json!({"type": "subscribe", "conversation_id": room}).to_string(),
    ))
    .await
    .unwrap();
    next_of(&mut ws, "subscribed").await;
    let sent = stack
        .http
        .post(format!("{}/chat/conversations/{room}/messages", stack.url))
        .bearer_auth(&ada)
        .json(&json!({"client_msg_id": uuid::Uuid::now_v7(), "body": "Hallo Bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let message = next_of(&mut ws, "message").await;
    assert_eq!(message["message"]["body"], "Hallo Bob");
    assert_eq!(message["message"]["seq"], 1);
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A WebSocket over TLS to Caddy (trusting its local CA), speaking HTTP/1.1 as browsers do for
/// WebSockets.
async fn connect(https_url: &str) -> tokio_tungstenite::WebSocketStream<Tls> {
    use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
    let ca = std::env::var("GEWEBE_STACK_CA").unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let rest = https_url.strip_prefix("https://").unwrap();
    let authority = rest.split('/').next().unwrap();
    let host = authority.split(':').next().unwrap().to_owned();
    let tcp = tokio::net::TcpStream::connect(authority.replace("localhost", "127.0.0.1"))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(host).unwrap(), tcp)
        .await
        .unwrap();
    let mut request = https_url
        .replacen("https://", "wss://", 1)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "gewebe.chat.v1".parse().unwrap());
    let (ws, _) = tokio_tungstenite::client_async(request, tls).await.unwrap();
    ws
}

/// The next frame of `kind` (presence and the like are skipped).
async fn next_of(ws: &mut tokio_tungstenite::WebSocketStream<Tls>, kind: &str) -> Value {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("no frame through Caddy within 10 s")
            .expect("closed")
            .unwrap();
        if let Message::Text(t) = frame {
            let frame: Value = serde_json::from_str(&t).unwrap();
            if frame["type"] == kind {
                return frame;
            }
        }
    }
}
