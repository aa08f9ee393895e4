//! `simplechat chat`, the terminal client of the README's "Try it", scripted: two users chat.

use std::time::Duration;

use simplechat::pkg::chat::{chat, ChatArgs};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};

use crate::helpers::{spawn_app, unique_username};

/// One running terminal client: what we type, and the lines it prints.
struct Terminal {
    keyboard: DuplexStream,
    screen: Lines<BufReader<DuplexStream>>,
}

impl Terminal {
    fn start(url: &str, user: &str, to: Option<&str>) -> Self {
        let (keyboard, typed) = tokio::io::duplex(4096);
        let (printed, screen) = tokio::io::duplex(64 * 1024);
        let args = ChatArgs {
            url: url.to_owned(),
            user: user.to_owned(),
            password: "correct horse battery".into(),
            to: to.map(str::to_owned),
        };
        tokio::spawn(async move {
            if let Err(err) = chat(args, BufReader::new(typed), printed).await {
                panic!("the client failed: {err:#}");
            }
        });
        Self {
            keyboard,
            screen: BufReader::new(screen).lines(),
        }
    }

    async fn type_line(&mut self, line: &str) {
        self.keyboard
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("the client reads its input");
    }

    /// Reads printed lines until one contains `text`; fails the test if none does in time.
    async fn shows(&mut self, text: &str) -> String {
        let wait = async {
            loop {
                let line = self.screen.next_line().await.unwrap().expect("a line");
                if line.contains(text) {
                    return line;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("no line with {text:?}"))
    }
}

#[tokio::test]
async fn two_terminal_clients_chat() {
    let app = spawn_app().await;
    let (alice, bob) = (unique_username(), unique_username());

    let mut alice_terminal = Terminal::start(&app.address, &alice, None);
    alice_terminal.shows(&format!("connected as {alice}")).await;
    let mut bob_terminal = Terminal::start(&app.address, &bob, Some(&alice));
    bob_terminal.shows(&format!("connected as {bob}")).await;
    alice_terminal.type_line(&format!("/to {bob}")).await;
    alice_terminal.shows(&format!("talking to {bob}")).await;

    alice_terminal.type_line("hello bob").await;
    let received = bob_terminal.shows("hello bob").await;
    assert_eq!(received, format!("[1] {alice}: hello bob"));
    bob_terminal.type_line("hi alice").await;
    let answered = alice_terminal.shows("hi alice").await;
    assert_eq!(answered, format!("[2] {bob}: hi alice"));

    bob_terminal.type_line("/quit").await;
    alice_terminal.shows(&format!("{bob} is offline")).await;
}

#[tokio::test]
async fn a_wrong_password_for_an_existing_user_is_reported() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let args = ChatArgs {
        url: app.address.clone(),
        user: user.username.clone(),
        password: "not the password".into(),
        to: None,
    };
    let (_keyboard, typed) = tokio::io::duplex(64);
    let err = chat(args, BufReader::new(typed), tokio::io::sink())
        .await
        .expect_err("a wrong password is refused");
    assert!(format!("{err:#}").contains("password is wrong"), "{err:#}");
}
