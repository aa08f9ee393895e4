//! WebSocket close codes for frames the protocol refuses (API.md "Abuse"): a text frame that is
//! not valid UTF-8 closes with 1007; a frame, or a message of several fragments, over the limit
//! stated in docs/websocket.md closes with 1009. (The policy closes keep their own codes: 4000,
//! 4001 and 4008 are proved in `presence.rs`, `tokens.rs` and `messaging.rs`.)
//!
//! The frames are written byte by byte: a WebSocket library would refuse to send them.

use simplechat::app::controllers::ws::MAX_WS_MESSAGE_BYTES;

use crate::helpers::spawn_app;

const FIN: u8 = 0x80;
const TEXT: u8 = 0x1;
const CONTINUATION: u8 = 0x0;

/// A client frame (masked, as RFC 6455 requires) whose header announces `declared_len` bytes,
/// followed by `payload` (which may be shorter: the rest is never sent).
fn frame(first_byte: u8, payload: &[u8], declared_len: usize) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut bytes = vec![first_byte];
    match declared_len {
        len if len < 126 => bytes.push(0x80 | len as u8),
        len if len <= usize::from(u16::MAX) => {
            bytes.push(0x80 | 126);
            bytes.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            bytes.push(0x80 | 127);
            bytes.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    bytes.extend_from_slice(&mask);
    bytes.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    bytes
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut socket = app.connect(&user).await;
    let not_utf8 = [b'{', 0xff, 0xfe, b'}'];

    socket
        .send_raw(&frame(FIN | TEXT, &not_utf8, not_utf8.len()))
        .await;

    assert_eq!(socket.closed().await, Some(1007));
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_with_1009() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut socket = app.connect(&user).await;

    // The header alone is enough: the server refuses before reading the payload.
    socket
        .send_raw(&frame(FIN | TEXT, &[], MAX_WS_MESSAGE_BYTES + 1))
        .await;

    assert_eq!(socket.closed().await, Some(1009));
}

#[tokio::test]
async fn a_message_over_the_limit_in_fragments_within_it_closes_with_1009() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut socket = app.connect(&user).await;
    let fragment = vec![b' '; MAX_WS_MESSAGE_BYTES / 2];

    // Three fragments, each within the frame limit, together over the message limit.
    for first_byte in [TEXT, CONTINUATION, FIN | CONTINUATION] {
        socket
            .send_raw(&frame(first_byte, &fragment, fragment.len()))
            .await;
    }

    assert_eq!(socket.closed().await, Some(1009));
}
