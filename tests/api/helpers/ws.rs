//! A WebSocket client for tests: JSON frames in and out, with time limits.

use std::{collections::VecDeque, time::Duration};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::{tungstenite, MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use super::*;

impl TestApp {
    /// Asks for a WebSocket ticket.
    pub async fn ws_ticket(&self, access_token: &str) -> String {
        let reply = self
            .post("/api/v1/auth/ws-ticket", Some(access_token), json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["ticket"].as_str().expect("a ticket").to_owned()
    }

    /// Opens `/ws?ticket=`; an HTTP refusal before the upgrade comes back as `Err(status)`.
    pub async fn connect_ws(&self, ticket: &str) -> Result<WsClient, u16> {
        let url = format!(
            "{}/ws?ticket={ticket}",
            self.address.replacen("http", "ws", 1)
        );
        match tokio_tungstenite::connect_async(url).await {
            Ok((stream, _)) => Ok(WsClient {
                stream,
                pending: VecDeque::new(),
            }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(err) => panic!("WebSocket connect failed: {err}"),
        }
    }

    /// Opens a WebSocket for `user` and reads its `ready` frame.
    pub async fn connect(&self, user: &TestUser) -> WsClient {
        let ticket = self.ws_ticket(&user.access_token).await;
        let mut socket = self
            .connect_ws(&ticket)
            .await
            .expect("the ticket is accepted");
        let ready = socket.next_json().await;
        assert_eq!(ready["type"], "ready", "{ready}");
        socket
    }

    /// Opens `/ws` with the user's access token as a Bearer header (no ticket, so no Redis on
    /// the way) and reads its `ready` frame.
    pub async fn connect_with_token(&self, user: &TestUser) -> WsClient {
        use tungstenite::client::IntoClientRequest;
        let url = format!("{}/ws", self.address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", user.access_token).parse().unwrap(),
        );
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the upgrade succeeds");
        let mut socket = WsClient {
            stream,
            pending: VecDeque::new(),
        };
        let ready = socket.next_json().await;
        assert_eq!(ready["type"], "ready", "{ready}");
        socket
    }

    /// Opens `/ws?ticket=` expecting a refusal before the upgrade: its status, `Retry-After`
    /// (seconds) and JSON body.
    pub async fn refused_ws(&self, ticket: &str) -> (u16, Option<u64>, Value) {
        let url = format!(
            "{}/ws?ticket={ticket}",
            self.address.replacen("http", "ws", 1)
        );
        match tokio_tungstenite::connect_async(url).await {
            Ok(_) => panic!("the upgrade was expected to be refused"),
            Err(tungstenite::Error::Http(response)) => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.to_str().ok()?.parse().ok());
                let body = response.body().clone().unwrap_or_default();
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                (response.status().as_u16(), retry_after, body)
            }
            Err(err) => panic!("WebSocket connect failed: {err}"),
        }
    }

    /// Like [`TestApp::connect`], with a tiny receive buffer: a client that reads slowly.
    pub async fn connect_slow_reader(&self, user: &TestUser) -> WsClient {
        let ticket = self.ws_ticket(&user.access_token).await;
        let addr: std::net::SocketAddr =
            self.address.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let url = format!("ws://{addr}/ws?ticket={ticket}");
        let (stream, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
            .await
            .expect("the upgrade succeeds");
        let mut socket = WsClient {
            stream,
            pending: VecDeque::new(),
        };
        assert_eq!(socket.next_json().await["type"], "ready");
        socket
    }
}

/// A `send` frame.
pub fn send_frame(to: Value, content: &str, client_msg_id: &str) -> Value {
    json!({ "type": "send", "to": to, "content": content, "client_msg_id": client_msg_id })
}

/// One WebSocket connection, reading and writing JSON frames.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    /// Frames read while waiting for a reply that were not it (pushes): later reads get them
    /// first, so a push that races a reply is never lost to a test.
    pending: VecDeque<Value>,
}

/// How long a test waits for a frame that must come.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a waiting client pings (well inside the shortest heartbeat the tests use).
const KEEPALIVE: Duration = Duration::from_millis(50);

impl WsClient {
    pub async fn send_json(&mut self, frame: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tungstenite::Message::Text(frame.to_string()))
            .await
            .expect("the frame is sent");
    }

    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.stream
            .send(tungstenite::Message::Text(text.to_owned()))
            .await
            .expect("the frame is sent");
    }

    /// The next text frame as JSON; fails the test if none comes in time. While it waits it
    /// sends WebSocket pings, as a live client does, so short test heartbeats never close it.
    pub async fn next_json(&mut self) -> Value {
        use futures_util::{SinkExt, StreamExt};
        if let Some(frame) = self.pending.pop_front() {
            return frame;
        }
        let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a frame arrives in time"
            );
            let Ok(message) = tokio::time::timeout(KEEPALIVE, self.stream.next()).await else {
                let _ = self
                    .stream
                    .send(tungstenite::Message::Ping(Vec::new()))
                    .await;
                continue;
            };
            let message = message
                .expect("the connection is open")
                .expect("a valid frame");
            if let tungstenite::Message::Text(text) = message {
                return serde_json::from_str(&text).expect("frames are JSON");
            }
        }
    }

    /// The next frame of the given type, skipping others (e.g. pushes that race a reply).
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Sends a frame and returns the reply carrying the same `id`; pushes that come before it are
    /// kept for the next reads.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        let id = Uuid::new_v4().to_string();
        frame["id"] = Value::String(id.clone());
        self.send_json(frame).await;
        let mut skipped = Vec::new();
        loop {
            let frame = self.next_json().await;
            if frame["id"] == id.as_str() {
                // Pushes that came first are read next, in the order they came.
                for frame in skipped.into_iter().rev() {
                    self.pending.push_front(frame);
                }
                return frame;
            }
            skipped.push(frame);
        }
    }

    /// Sends a frame that has no reply when it succeeds (`typing`, `read`), then a `ping`: the
    /// connection answers its frames in order, so an `error` for the frame comes before the
    /// `pong` or not at all. Gives that error, if any.
    pub async fn request_quiet(&mut self, mut frame: Value) -> Option<Value> {
        let id = Uuid::new_v4().to_string();
        frame["id"] = Value::String(id.clone());
        self.send_json(frame).await;
        let pong = self.request(json!({ "type": "ping" })).await;
        assert_eq!(pong["type"], "pong", "{pong}");
        let position = self
            .pending
            .iter()
            .position(|frame| frame["id"] == id.as_str())?;
        self.pending.remove(position)
    }

    /// Sends raw bytes as a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        use futures_util::SinkExt;
        self.stream
            .send(tungstenite::Message::Binary(bytes))
            .await
            .expect("the frame is sent");
    }

    /// Writes bytes straight to the socket, bypassing the WebSocket library: for frames it would
    /// never send (invalid UTF-8, a header announcing more than the server accepts).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let socket = self.stream.get_mut();
        socket.write_all(bytes).await.expect("the bytes are sent");
        socket.flush().await.expect("the bytes are sent");
    }

    /// Closes the connection from the client side, as a client going away does.
    pub async fn close(&mut self) {
        let _ = self.stream.close(None).await;
        // Read until the server's answer, so the server has seen the close when this returns.
        let _ = self.closed().await;
    }

    /// Every JSON frame until the server closes the connection (those already read included).
    pub async fn frames_until_closed(&mut self) -> Vec<Value> {
        use futures_util::StreamExt;
        let mut frames: Vec<Value> = self.pending.drain(..).collect();
        loop {
            match tokio::time::timeout(FRAME_TIMEOUT, self.stream.next())
                .await
                .expect("the connection closes in time")
            {
                None | Some(Err(_)) | Some(Ok(tungstenite::Message::Close(_))) => return frames,
                Some(Ok(tungstenite::Message::Text(text))) => {
                    frames.push(serde_json::from_str(&text).expect("frames are JSON"))
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for the server to close the connection; returns the close code, if any.
    pub async fn closed(&mut self) -> Option<u16> {
        use futures_util::StreamExt;
        loop {
            match tokio::time::timeout(FRAME_TIMEOUT, self.stream.next())
                .await
                .expect("the connection closes in time")
            {
                None | Some(Err(_)) => return None,
                Some(Ok(tungstenite::Message::Close(frame))) => {
                    return frame.map(|frame| u16::from(frame.code))
                }
                Some(Ok(_)) => continue,
            }
        }
    }
}
