//! The chatbot, against fake providers on loopback (wiremock): nothing leaves this machine.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::{
    matchers::{header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::helpers::{spawn_app_with, TestApp, TestUser, WsClient};

const CHATBOT: &str = "00000000-0000-0000-0000-0000000000b0";

async fn with_openai(server: &MockServer, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![
        ("CHATBOT_PROVIDER", "openai".to_owned()),
        ("OPENAI_BASE_URL", server.uri()),
        ("OPENAI_API_KEY", "test-key".to_owned()),
        ("OPENAI_MODEL", "tiny-model".to_owned()),
    ];
    settings.extend(extra.iter().map(|(key, value)| (*key, value.to_string())));
    spawn_app_with(move |map| {
        for (key, value) in settings {
            map.insert(key.into(), value);
        }
    })
    .await
}

async fn with_edenai(server: &MockServer) -> TestApp {
    let uri = server.uri();
    spawn_app_with(move |settings| {
        settings.insert("CHATBOT_PROVIDER".into(), "edenai".into());
        settings.insert("EDENAI_URL".into(), uri);
        settings.insert("EDENAI_API_KEY".into(), "eden-key".into());
    })
    .await
}

fn openai_answer(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "cmpl-1",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text } }],
    }))
}

fn ask(to: Value, content: &str, client_msg_id: &str) -> Value {
    json!({ "type": "send", "to": to, "content": content, "client_msg_id": client_msg_id })
}

/// The chatbot's answer to one question (its `client_msg_id` is `reply:<question id>`), skipping
/// other pushes — another device of the same user also receives earlier answers.
async fn answer_to(socket: &mut WsClient, question_ack: &Value) -> Value {
    let reply_id = format!("reply:{}", question_ack["message"]["id"].as_str().unwrap());
    loop {
        let message = bot_message(socket).await;
        if message["client_msg_id"] == reply_id.as_str() {
            return message;
        }
    }
}

/// The next message the chatbot wrote.
async fn bot_message(socket: &mut WsClient) -> Value {
    loop {
        let frame = socket.next_of_type("message").await;
        if frame["message"]["sender_id"] == CHATBOT {
            return frame["message"].clone();
        }
    }
}

/// The next error frame (skipping pushes and acks).
/// Sends a question expected to be refused by the chatbot; returns its ack and the error pushed
/// for it. The chatbot's task may push the error before the ack goes out, so frames are taken in
/// whatever order they come.
async fn ask_refused(socket: &mut WsClient, mut question: Value) -> (Value, Value) {
    let id = uuid::Uuid::new_v4().to_string();
    question["id"] = Value::String(id.clone());
    socket.send_json(question).await;
    let (mut ack, mut error) = (None, None);
    while ack.is_none() || error.is_none() {
        let frame = socket.next_json().await;
        if frame["id"] == id.as_str() {
            ack = Some(frame);
        } else if frame["type"] == "error" {
            error = Some(frame["error"].clone());
        }
    }
    (ack.unwrap(), error.unwrap())
}

/// Proves nothing else was queued for the socket before this point.
async fn assert_nothing_more(socket: &mut WsClient) {
    let reply = socket.request(json!({ "type": "ping" })).await;
    assert_eq!(reply["type"], "pong");
}

async fn chat_with_bot(app: &TestApp, user: &TestUser) -> Value {
    app.get(
        &format!("/api/v1/messages/private/{CHATBOT}"),
        Some(&user.access_token),
    )
    .await
    .body
}

#[tokio::test]
async fn the_chatbot_answers_a_private_message_once_through_an_openai_compatible_api() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .and(header("authorization", "Bearer test-key"))
        .respond_with(openai_answer("Hello, human."))
        .expect(1)
        .mount(&provider)
        .await;
    let app = with_openai(&provider, &[]).await;
    let alice = app.new_user().await;
    let mut socket = app.connect(&alice).await;

    let ack = socket
        .request(ask(
            json!({ "user_id": CHATBOT }),
            "Hi bot, how are you?",
            "q-1",
        ))
        .await;
    let answer = bot_message(&mut socket).await;

    assert_eq!(
        ack["type"], "ack",
        "no contact is needed to talk to the chatbot: {ack}"
    );
    assert_eq!(answer["content"], "Hello, human.");
    assert_eq!(
        answer["conversation"],
        json!({ "kind": "private", "user_id": CHATBOT })
    );
    assert_eq!(answer["seq"], 2);
    // Exactly once: the next frame for this socket is our pong, not a second copy.
    let pong = socket.request(json!({ "type": "ping" })).await;
    assert_eq!(pong["type"], "pong");
    let sent: Value = provider.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(sent["model"], "tiny-model");
    let turns = sent["messages"].as_array().unwrap();
    assert_eq!(
        turns.last().unwrap(),
        &json!({ "role": "user", "content": "Hi bot, how are you?" })
    );
    assert_eq!(
        chat_with_bot(&app, &alice).await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_mention_in_a_group_gets_one_answer_for_every_member_through_edenai() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/text/generation"))
        .and(header("authorization", "Bearer eden-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "openai": { "status": "success", "generated_text": "  The answer is 42.  ", "cost": 0.0 }
        })))
        .expect(1)
        .mount(&provider)
        .await;
    let app = with_edenai(&provider).await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    let group_id = app.create_group(&alice, &[&bob], false).await;
    let mut alice_socket = app.connect(&alice).await;
    let mut bob_socket = app.connect(&bob).await;

    // A message without the mention is not for the bot.
    app.send_group(&alice, &group_id, "just chatting").await;
    alice_socket
        .request(ask(
            json!({ "group_id": group_id }),
            "@chatbot what is the answer?",
            "q-1",
        ))
        .await;

    for socket in [&mut alice_socket, &mut bob_socket] {
        let answer = bot_message(socket).await;
        assert_eq!(answer["content"], "The answer is 42.");
        assert_eq!(
            answer["conversation"],
            json!({ "kind": "group", "group_id": group_id })
        );
        assert_eq!(answer["seq"], 3);
        assert_nothing_more(socket).await;
    }
    let sent: Value = provider.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(sent["providers"], "openai");
    assert_eq!(sent["response_as_dict"], true);
    let text = sent["text"].as_str().unwrap();
    assert!(
        text.contains("what is the answer?") && text.contains("just chatting"),
        "{text}"
    );
}

async fn assert_unavailable(app: &TestApp) {
    let alice = app.new_user().await;
    let mut socket = app.connect(&alice).await;

    let (ack, error) = ask_refused(
        &mut socket,
        ask(json!({ "user_id": CHATBOT }), "hello?", "q-1"),
    )
    .await;

    assert_eq!(ack["type"], "ack", "the question itself is stored: {ack}");
    assert_eq!(error["code"], "chatbot_unavailable", "{error}");
    let history = chat_with_bot(app, &alice).await;
    assert_eq!(
        history["items"].as_array().unwrap().len(),
        1,
        "no answer is stored"
    );
    assert_nothing_more(&mut socket).await;
}

#[tokio::test]
async fn a_failing_provider_makes_the_chatbot_unavailable() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&provider)
        .await;
    assert_unavailable(&with_openai(&provider, &[]).await).await;
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(openai_answer("too late").set_delay(Duration::from_secs(10)))
        .mount(&provider)
        .await;
    assert_unavailable(&with_openai(&provider, &[("CHATBOT_TIMEOUT", "300ms")]).await).await;
}

#[tokio::test]
async fn a_malformed_answer_is_never_shown_to_users() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>not json</html>"))
        .mount(&provider)
        .await;
    assert_unavailable(&with_openai(&provider, &[]).await).await;
}

#[tokio::test]
async fn an_edenai_answer_without_generated_text_is_refused() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "openai": { "status": "fail" } })),
        )
        .mount(&provider)
        .await;
    let app = with_edenai(&provider).await;
    assert_unavailable(&app).await;
}

#[tokio::test]
async fn without_a_provider_the_chatbot_is_unavailable() {
    let app = spawn_app_with(|_| {}).await;
    assert_unavailable(&app).await;
}

#[tokio::test]
async fn asking_too_often_is_rate_limited() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(openai_answer("ok"))
        .expect(1)
        .mount(&provider)
        .await;
    let app = with_openai(&provider, &[("CHATBOT_RATE_PER_MINUTE", "1")]).await;
    let alice = app.new_user().await;
    let mut socket = app.connect(&alice).await;

    socket
        .request(ask(json!({ "user_id": CHATBOT }), "one", "q-1"))
        .await;
    bot_message(&mut socket).await;
    let (_, error) = ask_refused(
        &mut socket,
        ask(json!({ "user_id": CHATBOT }), "two", "q-2"),
    )
    .await;

    assert_eq!(error["code"], "rate_limited");
}

#[tokio::test]
async fn the_question_limit_counts_questions_asked_on_every_instance() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(openai_answer("ok"))
        .expect(2)
        .mount(&provider)
        .await;
    let here = with_openai(&provider, &[("CHATBOT_RATE_PER_MINUTE", "2")]).await;
    let there = here.spawn_sibling().await;
    let alice = here.new_user().await;
    let mut socket_here = here.connect(&alice).await;
    let mut socket_there = there.connect(&alice).await;

    // Two questions, one per instance: each instance alone is under its limit of two.
    let first = socket_here
        .request(ask(json!({ "user_id": CHATBOT }), "one", "q-1"))
        .await;
    answer_to(&mut socket_here, &first).await;
    let second = socket_there
        .request(ask(json!({ "user_id": CHATBOT }), "two", "q-2"))
        .await;
    answer_to(&mut socket_there, &second).await;
    let (_, error) = ask_refused(
        &mut socket_here,
        ask(json!({ "user_id": CHATBOT }), "three", "q-3"),
    )
    .await;

    assert_eq!(error["code"], "rate_limited");
}

#[tokio::test]
async fn nobody_can_log_in_as_the_chatbot() {
    let app = spawn_app_with(|_| {}).await;
    app.login("chatbot", "any password at all")
        .await
        .error(reqwest::StatusCode::UNAUTHORIZED, "unauthorized");
}
