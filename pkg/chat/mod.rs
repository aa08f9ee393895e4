//! `simplechat chat`: a line-mode terminal client, the shortest way to see two users chat. It
//! speaks the protocol as any client would — log in (registering on first use), add the peer as a
//! contact, take a ticket, open the WebSocket, ping on the heartbeat, `sync` after a `resync` —
//! so it doubles as a readable example of a client.
//!
//! Input lines are messages to the current peer, or commands: `/to <username>`, `/contacts`,
//! `/quit`. Incoming frames are printed as one line each ([`render`]).

mod render;
mod rest;

use std::{collections::HashMap, time::Duration};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use self::{render::Line, rest::Rest};

/// The command line of `simplechat chat`.
#[derive(clap::Args, Debug, Clone)]
pub struct ChatArgs {
    /// The server (or nginx in front of several).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Your username; registered on first use.
    #[arg(long)]
    pub user: String,
    /// Your password (8–72 bytes).
    #[arg(
        long,
        env = "SIMPLECHAT_PASSWORD",
        default_value = "correct horse battery"
    )]
    pub password: String,
    /// Whom to talk to first (added as a contact).
    #[arg(long)]
    pub to: Option<String>,
}

/// Who is who: usernames by user id, for printing.
#[derive(Default)]
struct Directory {
    names: HashMap<String, String>,
}

impl Directory {
    fn learn(&mut self, user: &Value) {
        if let (Some(id), Some(name)) = (user["id"].as_str(), user["username"].as_str()) {
            self.names.insert(id.to_owned(), name.to_owned());
        }
    }

    fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map_or(id, String::as_str)
    }
}

/// A peer being talked to.
struct Peer {
    id: String,
    username: String,
}

/// Runs the client on stdin and stdout until `/quit`, end of input or a closed connection.
pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    chat(args, input, tokio::io::stdout()).await
}

/// The client over any input and output, so that tests can script it.
pub async fn chat(
    args: ChatArgs,
    input: impl AsyncBufRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    let rest = Rest::new(&args.url);
    let me = rest.log_in_or_register(&args.user, &args.password).await?;
    let mut directory = Directory::default();
    directory.learn(&me.user);
    for contact in rest.contacts(&me.token).await? {
        directory.learn(&contact["user"]);
    }
    let peer = match &args.to {
        Some(username) => Some(rest.befriend(&me.token, username, &mut directory).await?),
        None => None,
    };

    let ticket = rest.ws_ticket(&me.token).await?;
    let ws_url = format!("{}/ws?ticket={ticket}", args.url.replacen("http", "ws", 1));
    let (socket, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .context("opening the WebSocket")?;
    let (sink, mut stream) = socket.split();
    let mut terminal = Terminal {
        rest,
        token: me.token,
        directory,
        peer,
        sink,
    };
    let mut lines = input.lines();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(25));
    loop {
        let line = tokio::select! {
            frame = stream.next() => {
                let Some(Ok(message)) = frame else { break };
                let Message::Text(text) = message else { continue };
                let frame: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if let Some(every) = frame["heartbeat_interval_ms"].as_u64() {
                    heartbeat = tokio::time::interval(Duration::from_millis(every));
                }
                terminal.on_frame(&frame).await?
            }
            _ = heartbeat.tick() => {
                terminal.send(json!({"type": "ping"})).await?;
                continue;
            }
            typed = lines.next_line() => {
                let Some(typed) = typed? else { break };
                match terminal.on_typed(typed.trim()).await? {
                    Some(line) => line,
                    None => break,
                }
            }
        };
        if let Some(text) = line.text() {
            output.write_all(format!("{text}\n").as_bytes()).await?;
            output.flush().await?;
        }
    }
    let _ = terminal.sink.close().await;
    Ok(())
}

/// The sending half of the socket, the REST client, and whom we talk to.
struct Terminal<S> {
    rest: Rest,
    token: String,
    directory: Directory,
    peer: Option<Peer>,
    sink: S,
}

impl<S> Terminal<S>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    async fn send(&mut self, frame: Value) -> anyhow::Result<()> {
        Ok(self.sink.send(Message::Text(frame.to_string())).await?)
    }

    /// The line to print for a frame from the server.
    async fn on_frame(&mut self, frame: &Value) -> anyhow::Result<Line> {
        if frame["type"] == "resync" {
            // Live events were interrupted: catch up with the current peer.
            if let Some(peer) = &self.peer {
                let sync = sync_frame(peer);
                self.send(sync).await?;
            }
        }
        Ok(render::frame(frame, &self.directory))
    }

    /// What a typed line does; `None` to quit.
    async fn on_typed(&mut self, typed: &str) -> anyhow::Result<Option<Line>> {
        let line = match typed {
            "" => Line::Silent,
            "/quit" => return Ok(None),
            "/contacts" => render::contacts(&self.rest.contacts(&self.token).await?),
            command if command.starts_with("/to ") => {
                let username = command.trim_start_matches("/to ").trim();
                match self
                    .rest
                    .befriend(&self.token, username, &mut self.directory)
                    .await
                {
                    Ok(found) => {
                        let line = Line::Note(format!("talking to {}", found.username));
                        self.send(sync_frame(&found)).await?;
                        self.peer = Some(found);
                        line
                    }
                    Err(err) => Line::Problem(format!("{err:#}")),
                }
            }
            text => match &self.peer {
                Some(peer) => {
                    let frame = send_frame(peer, text);
                    self.send(frame).await?;
                    Line::Silent
                }
                None => Line::Problem("pick someone first: /to <username>".into()),
            },
        };
        Ok(Some(line))
    }
}

fn send_frame(peer: &Peer, content: &str) -> Value {
    json!({
        "type": "send",
        "to": { "user_id": peer.id },
        "content": content,
        "client_msg_id": uuid::Uuid::new_v4().to_string(),
    })
}

/// The last page of the conversation with `peer` (catching up; the reply is printed).
fn sync_frame(peer: &Peer) -> Value {
    json!({ "type": "sync", "conversation": { "user_id": peer.id }, "after_seq": 0, "limit": 20 })
}
