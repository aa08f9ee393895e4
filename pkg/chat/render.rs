//! How the terminal client shows what arrives: one line per frame worth telling a person about.

use serde_json::Value;

use super::Directory;

/// One line of output, or nothing.
pub enum Line {
    /// Something said, in or out.
    Said(String),
    /// Something that happened (presence, typing, a reconnect).
    Note(String),
    /// Something that went wrong.
    Problem(String),
    /// Nothing worth a line (pongs, acks: the message itself comes back as a push).
    Silent,
}

impl Line {
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Said(text) => Some(text.clone()),
            Self::Note(text) => Some(format!("* {text}")),
            Self::Problem(text) => Some(format!("! {text}")),
            Self::Silent => None,
        }
    }
}

/// The line for a server frame.
pub fn frame(frame: &Value, directory: &Directory) -> Line {
    let name = |key: &str| {
        directory
            .name_of(frame[key].as_str().unwrap_or("?"))
            .to_owned()
    };
    match frame["type"].as_str().unwrap_or_default() {
        "ready" => Line::Note(format!(
            "connected as {}; type a message, or /to <username>, /contacts, /quit",
            frame["user"]["username"].as_str().unwrap_or("?")
        )),
        "message" => said(&frame["message"], directory),
        "messages" => {
            let lines: Vec<String> = frame["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|message| said(message, directory).text())
                .collect();
            if lines.is_empty() {
                Line::Silent
            } else {
                Line::Said(lines.join("\n"))
            }
        }
        "presence" => {
            let state = if frame["online"] == true {
                "online"
            } else {
                "offline"
            };
            Line::Note(format!("{} is {state}", name("user_id")))
        }
        "typing" => Line::Note(format!("{} is typing…", name("from"))),
        "resync" => Line::Note("live events were interrupted; catching up".into()),
        "session_revoked" => Line::Problem("this session was logged out".into()),
        "error" => Line::Problem(format!(
            "{}: {}",
            frame["error"]["code"].as_str().unwrap_or("error"),
            frame["error"]["message"].as_str().unwrap_or_default()
        )),
        _ => Line::Silent,
    }
}

/// `[seq] sender: content`
fn said(message: &Value, directory: &Directory) -> Line {
    let sender = directory.name_of(message["sender_id"].as_str().unwrap_or("?"));
    Line::Said(format!(
        "[{}] {sender}: {}",
        message["seq"],
        message["content"].as_str().unwrap_or_default()
    ))
}

/// The contact list, one per line.
pub fn contacts(contacts: &[Value]) -> Line {
    if contacts.is_empty() {
        return Line::Note("no contacts yet: /to <username> adds one".into());
    }
    let lines: Vec<String> = contacts
        .iter()
        .map(|contact| {
            let state = if contact["online"] == true {
                "online"
            } else {
                "offline"
            };
            format!(
                "* {} ({state})",
                contact["user"]["username"].as_str().unwrap_or("?")
            )
        })
        .collect();
    Line::Said(lines.join("\n"))
}
