//! The message writer on its own, against a real database: what several drafts stored as one
//! batch become. The drafts are queued together before the writer task runs (the test runtime
//! has one thread), so they form one batch.

use std::{str::FromStr, sync::Arc};

use futures_util::future::join_all;
use simplechat::{
    app::{
        models::{
            frames::Target,
            ids::{GroupId, UserId},
            messages::ClientMsgId,
            outgoing::Outgoing,
        },
        services::{
            message_writer::{Draft, MessageWriter, Written},
            permissions::Authority,
        },
    },
    pkg::utils::{errors::AppError, message_ids::MessageIds},
    platform::{cache::lease::Lease, database},
};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, TestUser};

fn user_id(user: &TestUser) -> UserId {
    UserId(Uuid::from_str(&user.id).unwrap())
}

fn draft(sender: &TestUser, target: Target, client_msg_id: &str) -> Draft {
    draft_saying(
        sender,
        target,
        client_msg_id,
        &format!("content of {client_msg_id}"),
    )
}

/// A draft with any content: made here, not read from a client, so nothing checks it.
fn draft_saying(sender: &TestUser, target: Target, client_msg_id: &str, content: &str) -> Draft {
    let outgoing = Outgoing::from_server(
        target,
        content.to_owned(),
        ClientMsgId::server_chosen(client_msg_id.to_owned()),
    );
    Draft::new(user_id(sender), outgoing, Authority::Rules)
}

/// A writer of its own on the app's database (the app itself stores no message in these tests).
fn writer(app: &TestApp) -> MessageWriter {
    let pool = database::pool(&app.settings()["DATABASE_URL"], 2).unwrap();
    MessageWriter::spawn(pool, Arc::new(MessageIds::new(Lease::fixed(1))), 1)
}

/// Writes the drafts as one batch: all are queued before the writer task runs, since the test
/// runtime has one thread and this task yields only once every draft is queued.
async fn one_batch(writer: &MessageWriter, drafts: Vec<Draft>) -> Vec<Result<Written, AppError>> {
    join_all(drafts.into_iter().map(|draft| writer.write(draft))).await
}

/// The stored message's (conversation's last seq, seq, content), or the error's code.
fn outcome(result: &Result<Written, AppError>) -> Result<(&'static str, i64, String), String> {
    match result {
        Ok(Written::Stored { record, .. }) => Ok(("stored", record.seq, record.content.clone())),
        Ok(Written::Original { record, .. }) => {
            Ok(("original", record.seq, record.content.clone()))
        }
        Err(err) => Err(err.code().to_owned()),
    }
}

#[tokio::test]
async fn one_batch_gives_each_conversation_consecutive_seqs_and_refuses_only_the_refused() {
    let app = spawn_app().await;
    let [alice, bob, stranger, outsider] = app.new_users().await;
    app.add_contact(&alice, &bob).await;
    let group = GroupId(Uuid::from_str(&app.create_group(&alice, &[&bob], false).await).unwrap());
    let writer = writer(&app);
    let to_bob = Target::User(user_id(&bob));
    let to_alice = Target::User(user_id(&alice));

    let results = one_batch(
        &writer,
        vec![
            draft(&alice, to_bob, "a1"),
            draft(&stranger, to_alice, "s1"),
            draft(&alice, Target::Group(group), "g1"),
            draft(&bob, to_alice, "b1"),
            draft(&outsider, Target::Group(group), "o1"),
            draft(&alice, to_bob, "a2"),
            draft(&bob, Target::Group(group), "g2"),
        ],
    )
    .await;

    let outcomes: Vec<_> = results.iter().map(outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Ok(("stored", 1, "content of a1".into())),
            Err("forbidden".into()),
            Ok(("stored", 1, "content of g1".into())),
            Ok(("stored", 2, "content of b1".into())),
            Err("not_found".into()),
            Ok(("stored", 3, "content of a2".into())),
            Ok(("stored", 2, "content of g2".into())),
        ]
    );
    let Ok(Written::Stored { members, .. }) = &results[2] else {
        unreachable!("checked above")
    };
    let mut read = members.clone();
    read.sort();
    let mut members = vec![user_id(&alice), user_id(&bob)];
    members.sort();
    assert_eq!(
        read, members,
        "a group message carries its members, read as it is stored"
    );
}

#[tokio::test]
async fn a_retry_in_a_batch_gets_its_original_and_the_others_are_stored() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    let writer = writer(&app);
    let to_bob = Target::User(user_id(&bob));
    let first = writer.write(draft(&alice, to_bob, "m1")).await;
    assert_eq!(outcome(&first), Ok(("stored", 1, "content of m1".into())));

    // The retry fails the batch's insert; its drafts are then stored one by one.
    let retry = draft_saying(
        &alice,
        to_bob,
        "m1",
        "a retry carries the same id, whatever it says",
    );
    let results = one_batch(
        &writer,
        vec![
            draft(&alice, to_bob, "m2"),
            retry,
            draft(&bob, Target::User(user_id(&alice)), "m3"),
        ],
    )
    .await;

    let outcomes: Vec<_> = results.iter().map(outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Ok(("stored", 2, "content of m2".into())),
            Ok(("original", 1, "content of m1".into())),
            Ok(("stored", 3, "content of m3".into())),
        ],
        "no seq is lost to the failed batch"
    );
}

#[tokio::test]
async fn two_drafts_with_one_client_msg_id_in_one_batch_store_one_message() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    let writer = writer(&app);
    let to_bob = Target::User(user_id(&bob));

    let results = one_batch(
        &writer,
        vec![
            draft(&alice, to_bob, "twice"),
            draft(&alice, to_bob, "twice"),
        ],
    )
    .await;

    let outcomes: Vec<_> = results.iter().map(outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Ok(("stored", 1, "content of twice".into())),
            Ok(("original", 1, "content of twice".into())),
        ]
    );
}

#[tokio::test]
async fn a_message_the_database_refuses_fails_alone_and_its_batch_is_stored_around_it() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    let writer = writer(&app);
    let to_bob = Target::User(user_id(&bob));
    // Postgres text cannot hold NUL. The API refuses it up front; a draft made here does not.
    let unstorable = draft_saying(&alice, to_bob, "nul", "a\0b");

    let results = one_batch(
        &writer,
        vec![
            draft(&alice, to_bob, "before"),
            unstorable,
            draft(&alice, to_bob, "after"),
        ],
    )
    .await;

    let outcomes: Vec<_> = results.iter().map(outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Ok(("stored", 1, "content of before".into())),
            Err("internal".into()),
            Ok(("stored", 2, "content of after".into())),
        ],
        "the failed batch is stored again one by one, with no seq lost"
    );
}
