//! Reconnect storms: many sockets opening or closing at once. Subscriptions go to Redis in batches
//! (`platform/cache/broker/subscriptions.rs`); these tests check that batching keeps every promise
//! of one-at-a-time subscribing — a socket is `ready` only once its channel is subscribed, and a
//! user who closes and reconnects at once stays subscribed — and that the handshakes in progress
//! are bounded (`WS_HANDSHAKE_LIMIT`), with a wait in line before a refusal (`WS_HANDSHAKE_WAIT`).

use diesel::sql_query;
use diesel_async::RunQueryDsl;
use futures_util::{future::join_all, StreamExt};
use simplechat::platform::database::{self, DbConn};
use tokio::{net::TcpStream, task::JoinHandle};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{
    helpers::{locks, spawn_app, spawn_app_with, TestApp},
    own_redis::OwnRedis,
};

/// A socket the test opened itself.
type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[tokio::test]
async fn sockets_opening_at_once_are_each_subscribed_when_ready() {
    let app = spawn_app().await;
    // Sent from another instance, so every message travels through Redis.
    let other = app.spawn_sibling().await;
    let admin = app.new_user().await;
    let (group, members) = app.group_with(&admin, 24).await;

    let mut sockets = join_all(members.iter().map(|member| app.connect(member))).await;
    other.send_group(&admin, &group, "right after ready").await;
    for socket in &mut sockets {
        let pushed = socket.next_of_type("message").await;
        assert_eq!(
            pushed["message"]["content"], "right after ready",
            "{pushed}"
        );
    }
}

#[tokio::test]
async fn a_user_who_closes_and_reconnects_at_once_stays_subscribed() {
    // Redis of this test's own: it is paused for a moment, which the shared one must not be.
    let redis = OwnRedis::start().await;
    let app = spawn_app_with(|settings| {
        settings.insert("REDIS_URL".into(), redis.url());
    })
    .await;
    let other = app.spawn_sibling().await;
    let (sender, user) = app.friends().await;
    let (bystander, late) = (app.new_user().await, app.new_user().await);
    let mut bystanders_socket = app.connect(&bystander).await;
    let mut first = app.connect(&user).await;

    // Redis holds every command for a while: the bystander's unsubscribe goes out and waits, so
    // the user's, marked next, waits for the following round — and the user's new socket
    // arrives while it does (with a Bearer token: nothing on that way needs Redis).
    let mut pausing = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .query_async(&mut pausing)
        .await
        .unwrap();
    bystanders_socket.close().await;
    first.close().await;
    let mut second = app.connect_with_token(&user).await;

    // After the pause (this PING waits for it), a socket that gets `ready` was subscribed in a
    // later round than the user's leave: whatever that round did is done.
    let patient = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(std::time::Duration::from_secs(10)));
    let mut after = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection_with_config(&patient)
        .await
        .unwrap();
    let _: String = redis::cmd("PING").query_async(&mut after).await.unwrap();
    let _late = app.connect(&late).await;

    other.send_private(&sender, &user, "still here").await;
    let pushed = second.next_of_type("message").await;
    assert_eq!(pushed["message"]["content"], "still here", "{pushed}");
}

#[tokio::test]
async fn handshakes_beyond_the_limit_are_refused_with_a_jittered_retry_after() {
    // Refused at once, not after a wait in line.
    let taken = the_only_slot_taken("0s").await;
    let (status, retry_after, body) = taken.app.refused_ws(&taken.next_ticket).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "unavailable", "{body}");
    let retry_after = retry_after.expect("a Retry-After");
    assert!((1..=3).contains(&retry_after), "{retry_after}");

    let (app, next_ticket, _first_socket) = taken.release().await;
    // Refused before the ticket was looked at: it still opens a socket now the slot is free.
    let socket = app.connect_ws(&next_ticket).await;
    assert!(socket.is_ok(), "the unused ticket is accepted");
}

#[tokio::test]
async fn a_handshake_beyond_the_limit_waits_in_line_for_a_free_slot() {
    let taken = the_only_slot_taken("60s").await;
    // The next one gets in line rather than a 503.
    let in_line = open_until_ready(&taken.app, taken.next_ticket.clone());
    until_handshakes_waiting(&taken.app, 1).await;

    let (app, _, _first_socket) = taken.release().await;
    let _next_socket = in_line.await.unwrap();
    until_handshakes_waiting(&app, 0).await;
}

/// An instance that takes one handshake at a time (others wait in line for up to `wait`), with
/// that slot taken: a first handshake is held up on the sessions table, where each checks its
/// session, for as long as the test holds the lock. `next_ticket` is another user's, unused.
async fn the_only_slot_taken(wait: &str) -> SlotTaken {
    let app = spawn_app_with(|settings| {
        settings.insert("WS_HANDSHAKE_LIMIT".into(), "1".into());
        settings.insert("WS_HANDSHAKE_WAIT".into(), wait.into());
        settings.insert("DATABASE_STATEMENT_TIMEOUT".into(), "0".into());
    })
    .await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 2).unwrap();
    let (first, next) = (app.new_user().await, app.new_user().await);
    let (first_ticket, next_ticket) = (
        app.ws_ticket(&first.access_token).await,
        app.ws_ticket(&next.access_token).await,
    );
    let holder = locks::begin_holding(
        &pool,
        &["LOCK TABLE chat.sessions IN ACCESS EXCLUSIVE MODE"],
    )
    .await;
    let held = open_until_ready(&app, first_ticket);
    locks::until_a_statement_waits_for_a_lock(&pool, "the first handshake waits for the lock")
        .await;
    SlotTaken {
        app,
        next_ticket,
        holder,
        held,
    }
}

/// What [`the_only_slot_taken`] sets up.
struct SlotTaken {
    app: TestApp,
    next_ticket: String,
    holder: DbConn,
    held: JoinHandle<WsStream>,
}

impl SlotTaken {
    /// Lets the held handshake finish; gives back the instance, the unused ticket and the first
    /// socket, `ready`.
    async fn release(mut self) -> (TestApp, String, WsStream) {
        sql_query("ROLLBACK")
            .execute(&mut self.holder)
            .await
            .unwrap();
        let first_socket = self.held.await.unwrap();
        (self.app, self.next_ticket, first_socket)
    }
}

/// Opens a socket with `ticket` in a task of its own, which fails unless the upgrade succeeds
/// and the first frame is `ready` (the handshake's slot is free again by then).
fn open_until_ready(app: &TestApp, ticket: String) -> JoinHandle<WsStream> {
    let url = format!(
        "{}/ws?ticket={ticket}",
        app.address.replacen("http", "ws", 1)
    );
    tokio::spawn(async move {
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the handshake completes, not refused");
        let ready = socket.next().await.expect("a frame").expect("a frame");
        assert!(ready.to_text().unwrap().contains("\"ready\""), "{ready}");
        socket
    })
}

/// Returns once the instance's `/metrics` shows `count` upgrades waiting for a handshake slot;
/// panics if it does not within 10 s.
async fn until_handshakes_waiting(app: &TestApp, count: u32) {
    for _ in 0..400 {
        let text = app.metrics_text().await;
        let waiting = text
            .lines()
            .find_map(|line| line.strip_prefix("simplechat_ws_handshakes_waiting "))
            .and_then(|value| value.trim().parse::<f64>().ok());
        if waiting == Some(f64::from(count)) {
            return;
        }
        // /metrics has no notification to await; it is read again shortly.
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("never {count} handshakes waiting in line");
}
