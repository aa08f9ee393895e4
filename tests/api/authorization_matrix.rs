//! The authorization matrix: one table of (relationship to a user `owner` and to a group) ×
//! (every route and frame that reads or changes a message, a reaction, a read marker, typing,
//! presence or a membership) → the expected outcome, driven against a real server.
//!
//! Every route of the server's own OpenAPI document must appear here, either in the table or in
//! [`NOT_RELATIONAL`] with the reason it needs no row, so a route added without its row fails
//! [`every_route_has_a_row`].

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    attachments::files::png,
    helpers::{spawn_app, TestApp, TestUser, WsClient},
};

/// How the acting user stands to `owner` (private relationships) and to the group (the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relationship {
    /// Never had `owner` as a contact, nor the other way.
    Stranger,
    /// Has `owner` as a contact.
    Contact,
    /// A contact whom `owner` has blocked.
    Blocked,
    /// A contact who has blocked `owner`.
    Blocker,
    /// Was a member of the group, and left.
    ExMember,
    /// A plain member of the group.
    Member,
    /// The group's admin (who has `owner` as a contact, to have added them).
    Admin,
}

use Relationship::*;

/// The columns of the table, in order.
const RELATIONSHIPS: [Relationship; 7] =
    [Stranger, Contact, Blocked, Blocker, ExMember, Member, Admin];

/// What a row does: a REST request or a WebSocket frame. In paths and frames, `{owner}` is the
/// owner's id, `{group}` the group's, `{theirs}` a message of `owner` the actor is tested against
/// (in their private conversation, or in the group; for a stranger, one sent to someone else),
/// `{own}` a message the actor sent there. `{their_file}` is a picture `owner` sent in that same
/// conversation (for a stranger, to someone else), `{own_file}` one the actor sent there (a
/// stranger's was never sent), `{unsent_file}` one `owner` uploaded and never sent, and
/// `{bystander}` a plain member of the group whom no other row concerns.
enum Call {
    Rest {
        method: Method,
        path: &'static str,
        body: Option<&'static str>,
    },
    /// A `GET` whose success is a file, not JSON: only its status counts.
    Fetch(&'static str),
    /// `POST /api/v1/attachments` of a small picture, as a multipart form.
    Upload,
    /// A frame answered by a reply (`send`, `sync`, `presence`): 200, or the error's status.
    Frame(&'static str),
    /// A frame with no reply on success (`typing`, `read`): 200, or the error's status.
    QuietFrame(&'static str),
}

/// One row: the route (as the OpenAPI document names it, or `WS <type>`), what is sent, and the
/// expected status per relationship, in [`RELATIONSHIPS`] order.
struct Row {
    route: &'static str,
    call: Call,
    expect: [u16; 7],
}

fn rest(
    route: &'static str,
    method: Method,
    path: &'static str,
    body: Option<&'static str>,
    expect: [u16; 7],
) -> Row {
    Row {
        route,
        call: Call::Rest { method, path, body },
        expect,
    }
}

/// The private channels to `owner`: open to contacts, closed to strangers and either side of a
/// block. The admin has `owner` as a contact; the other group members do not.
const PRIVATE_CHANNEL: [u16; 7] = [403, 200, 403, 403, 403, 403, 200];
/// Group reading and writing: current members only; anyone else is told there is no such group.
const MEMBERS_ONLY: [u16; 7] = [404, 404, 404, 404, 404, 200, 200];
const EVERYONE: [u16; 7] = [200; 7];
/// Reading what `owner` sent: whoever may read the conversation now. A block leaves the private
/// history readable; a former member reads nothing of the group.
const READERS: [u16; 7] = [404, 200, 200, 200, 404, 200, 200];

/// The table. Rows that destroy what later rows use (deleting messages, removing `owner`) come
/// last.
fn table() -> Vec<Row> {
    let created = |codes: [u16; 7]| codes.map(|code| if code == 200 { 201 } else { code });
    let no_content = |codes: [u16; 7]| codes.map(|code| if code == 200 { 204 } else { code });
    vec![
        // Private messages with `owner`.
        rest(
            "POST /api/v1/messages/private/{user_id}",
            Method::POST,
            "/api/v1/messages/private/{owner}",
            Some(r#"{"content":"hi","client_msg_id":"{fresh}"}"#),
            created(PRIVATE_CHANNEL),
        ),
        rest(
            "GET /api/v1/messages/private/{user_id}",
            Method::GET,
            "/api/v1/messages/private/{owner}",
            None,
            EVERYONE,
        ),
        // The group.
        rest(
            "GET /api/v1/groups/{group_id}/messages",
            Method::GET,
            "/api/v1/groups/{group}/messages",
            None,
            MEMBERS_ONLY,
        ),
        rest(
            "POST /api/v1/groups/{group_id}/messages",
            Method::POST,
            "/api/v1/groups/{group}/messages",
            Some(r#"{"content":"hi","client_msg_id":"{fresh}"}"#),
            created(MEMBERS_ONLY),
        ),
        rest(
            "GET /api/v1/groups/{group_id}",
            Method::GET,
            "/api/v1/groups/{group}",
            None,
            MEMBERS_ONLY,
        ),
        rest(
            "PATCH /api/v1/groups/{group_id}",
            Method::PATCH,
            "/api/v1/groups/{group}",
            Some(r#"{"name":"renamed"}"#),
            [404, 404, 404, 404, 404, 403, 200],
        ),
        rest(
            "POST /api/v1/groups/{group_id}/members",
            Method::POST,
            "/api/v1/groups/{group}/members",
            Some(r#"{"user_id":"{owner}"}"#),
            // The admin may add, but `owner` is a member already.
            [404, 404, 404, 404, 404, 403, 409],
        ),
        rest(
            "POST /api/v1/groups/{group_id}/join",
            Method::POST,
            "/api/v1/groups/{group}/join",
            None,
            // The group is not public: as if it did not exist, for everyone.
            [404; 7],
        ),
        // Changing `owner`'s message.
        rest(
            "PATCH /api/v1/messages/{message_id}",
            Method::PATCH,
            "/api/v1/messages/{theirs}",
            Some(r#"{"content":"changed"}"#),
            [404, 403, 403, 403, 404, 403, 403],
        ),
        // Changing one's own message: a block closes the private channel both ways.
        rest(
            "PATCH /api/v1/messages/{message_id}",
            Method::PATCH,
            "/api/v1/messages/{own}",
            Some(r#"{"content":"changed"}"#),
            [404, 200, 403, 403, 404, 200, 200],
        ),
        rest(
            "PUT /api/v1/messages/{message_id}/reactions/{emoji}",
            Method::PUT,
            "/api/v1/messages/{theirs}/reactions/%F0%9F%91%8D",
            None,
            [404, 200, 403, 403, 404, 200, 200],
        ),
        rest(
            "DELETE /api/v1/messages/{message_id}/reactions/{emoji}",
            Method::DELETE,
            "/api/v1/messages/{theirs}/reactions/%F0%9F%91%8D",
            None,
            [404, 200, 403, 403, 404, 200, 200],
        ),
        rest(
            "GET /api/v1/messages/search",
            Method::GET,
            "/api/v1/messages/search?q=hello&with={owner}",
            None,
            EVERYONE,
        ),
        rest(
            "GET /api/v1/users/{user_id}",
            Method::GET,
            "/api/v1/users/{owner}",
            None,
            EVERYONE,
        ),
        rest(
            "PUT /api/v1/users/{user_id}/mute",
            Method::PUT,
            "/api/v1/users/{owner}/mute",
            Some("{}"),
            [204; 7],
        ),
        rest(
            "DELETE /api/v1/users/{user_id}/mute",
            Method::DELETE,
            "/api/v1/users/{owner}/mute",
            None,
            [204; 7],
        ),
        rest(
            "PUT /api/v1/groups/{group_id}/mute",
            Method::PUT,
            "/api/v1/groups/{group}/mute",
            Some("{}"),
            no_content(MEMBERS_ONLY),
        ),
        rest(
            "DELETE /api/v1/groups/{group_id}/mute",
            Method::DELETE,
            "/api/v1/groups/{group}/mute",
            None,
            no_content(MEMBERS_ONLY),
        ),
        // Attachments: the uploader alone until sent; then whoever may read the conversation
        // it was sent in now (a block leaves the private history readable; someone who left a
        // group no longer reads its files, their own included). Anyone else: 404, as if missing.
        Row {
            route: "POST /api/v1/attachments",
            call: Call::Upload,
            expect: [201; 7],
        },
        fetch(
            "GET /api/v1/attachments/{attachment_id}",
            "/api/v1/attachments/{their_file}",
            READERS,
        ),
        fetch(
            "GET /api/v1/attachments/{attachment_id}/thumbnail",
            "/api/v1/attachments/{their_file}/thumbnail",
            READERS,
        ),
        fetch(
            "GET /api/v1/attachments/{attachment_id}",
            "/api/v1/attachments/{own_file}",
            [200, 200, 200, 200, 404, 200, 200],
        ),
        fetch(
            "GET /api/v1/attachments/{attachment_id}/thumbnail",
            "/api/v1/attachments/{own_file}/thumbnail",
            [200, 200, 200, 200, 404, 200, 200],
        ),
        fetch(
            "GET /api/v1/attachments/{attachment_id}",
            "/api/v1/attachments/{unsent_file}",
            [404; 7],
        ),
        fetch(
            "GET /api/v1/attachments/{attachment_id}/thumbnail",
            "/api/v1/attachments/{unsent_file}/thumbnail",
            [404; 7],
        ),
        // Frames.
        frame(
            "WS send",
            r#"{"type":"send","to":{"user_id":"{owner}"},"content":"hi","client_msg_id":"{fresh}"}"#,
            PRIVATE_CHANNEL,
        ),
        frame(
            "WS send",
            r#"{"type":"send","to":{"group_id":"{group}"},"content":"hi","client_msg_id":"{fresh}"}"#,
            MEMBERS_ONLY,
        ),
        frame(
            "WS sync",
            r#"{"type":"sync","conversation":{"user_id":"{owner}"},"after_seq":0}"#,
            EVERYONE,
        ),
        frame(
            "WS sync",
            r#"{"type":"sync","conversation":{"group_id":"{group}"},"after_seq":0}"#,
            MEMBERS_ONLY,
        ),
        quiet(
            "WS typing",
            r#"{"type":"typing","to":{"user_id":"{owner}"}}"#,
            PRIVATE_CHANNEL,
        ),
        quiet(
            "WS typing",
            r#"{"type":"typing","to":{"group_id":"{group}"}}"#,
            MEMBERS_ONLY,
        ),
        // A read marker is stored for any party (a block only stops it being pushed); without
        // a private conversation with `owner` there is no message 1 to have read (the admin's
        // began with the sends above).
        quiet(
            "WS read",
            r#"{"type":"read","conversation":{"user_id":"{owner}"},"seq":1}"#,
            [400, 200, 200, 200, 400, 400, 200],
        ),
        quiet(
            "WS read",
            r#"{"type":"read","conversation":{"group_id":"{group}"},"seq":1}"#,
            MEMBERS_ONLY,
        ),
        frame(
            "WS presence",
            r#"{"type":"presence","user_ids":["{owner}"]}"#,
            EVERYONE,
        ),
        // Destructive rows last.
        rest(
            "DELETE /api/v1/messages/{message_id}",
            Method::DELETE,
            "/api/v1/messages/{theirs}",
            None,
            // Only the group's admin may delete another's message.
            [404, 403, 403, 403, 404, 403, 204],
        ),
        rest(
            "DELETE /api/v1/messages/{message_id}",
            Method::DELETE,
            "/api/v1/messages/{own}",
            None,
            // Deleting one's own message reaches nobody: a block does not stop it.
            [404, 204, 204, 204, 404, 204, 204],
        ),
        // Bans: admins only; anyone outside the group is told there is no such group. The
        // admin's ban removes the bystander, whom no other row needs.
        rest(
            "PUT /api/v1/groups/{group_id}/bans/{user_id}",
            Method::PUT,
            "/api/v1/groups/{group}/bans/{bystander}",
            None,
            [404, 404, 404, 404, 404, 403, 204],
        ),
        rest(
            "DELETE /api/v1/groups/{group_id}/bans/{user_id}",
            Method::DELETE,
            "/api/v1/groups/{group}/bans/{bystander}",
            None,
            [404, 404, 404, 404, 404, 403, 204],
        ),
        rest(
            "DELETE /api/v1/groups/{group_id}/members/{user_id}",
            Method::DELETE,
            "/api/v1/groups/{group}/members/{owner}",
            None,
            [404, 404, 404, 404, 404, 403, 204],
        ),
    ]
}

fn frame(route: &'static str, template: &'static str, expect: [u16; 7]) -> Row {
    Row {
        route,
        call: Call::Frame(template),
        expect,
    }
}

fn fetch(route: &'static str, path: &'static str, expect: [u16; 7]) -> Row {
    Row {
        route,
        call: Call::Fetch(path),
        expect,
    }
}

fn quiet(route: &'static str, template: &'static str, expect: [u16; 7]) -> Row {
    Row {
        route,
        call: Call::QuietFrame(template),
        expect,
    }
}

/// Routes that touch no one else's messages, reactions, read markers, typing, presence or
/// memberships — only the caller's own account, lists or settings, or nothing at all.
const NOT_RELATIONAL: &[(&str, &str)] = &[
    ("GET /healthz", "operations"),
    ("GET /metrics", "operations"),
    ("GET /readyz", "operations"),
    ("POST /api/v1/auth/register", "no caller yet"),
    ("POST /api/v1/auth/login", "no caller yet"),
    ("POST /api/v1/auth/refresh", "the caller's own session"),
    ("POST /api/v1/auth/logout", "the caller's own session"),
    ("POST /api/v1/auth/ws-ticket", "the caller's own session"),
    ("GET /api/v1/users/me", "the caller's own profile"),
    ("GET /api/v1/users", "directory of public profiles"),
    ("GET /api/v1/users/blocked", "the caller's own list"),
    ("PUT /api/v1/users/{user_id}/block", "the caller's own list"),
    (
        "DELETE /api/v1/users/{user_id}/block",
        "the caller's own list",
    ),
    ("GET /api/v1/contacts", "the caller's own list"),
    ("POST /api/v1/contacts", "the caller's own list"),
    ("DELETE /api/v1/contacts/{user_id}", "the caller's own list"),
    ("POST /api/v1/groups", "a new group of the caller's"),
    ("GET /api/v1/groups", "the caller's own groups"),
    ("GET /api/v1/groups/public", "public groups, for anyone"),
    ("GET /api/v1/messages/private", "the caller's own messages"),
    (
        "GET /api/v1/conversations",
        "the caller's own conversations",
    ),
    ("GET /api/v1/push/vapid-public-key", "public"),
    (
        "POST /api/v1/push/subscriptions",
        "the caller's own session",
    ),
    ("GET /api/v1/push/subscriptions", "the caller's own session"),
    (
        "DELETE /api/v1/push/subscriptions/{subscription_id}",
        "the caller's own session",
    ),
    ("GET /api/v1/sessions", "the caller's own sessions"),
    (
        "DELETE /api/v1/sessions/{session_id}",
        "the caller's own sessions (another's id is 404: sessions::)",
    ),
    ("POST /api/v1/auth/password", "the caller's own account"),
    ("GET /api/v1/users/me/export", "the caller's own data"),
    ("DELETE /api/v1/users/me", "the caller's own account"),
];

/// The acting user of one column, with the messages and files its rows refer to.
struct Actor {
    user: TestUser,
    theirs: String,
    own: String,
    their_file: String,
    own_file: String,
    socket: WsClient,
}

/// The people, the group and the messages of the table, made through the API.
struct World {
    owner: TestUser,
    group: String,
    bystander: TestUser,
    unsent_file: String,
    actors: Vec<(Relationship, Actor)>,
}

fn id_of(message: &Value) -> String {
    message["id"].as_str().expect("a message id").to_owned()
}

/// `user` uploads a small picture (it gets a thumbnail); the answer.
async fn upload(app: &TestApp, user: &TestUser) -> crate::helpers::Reply {
    let file = reqwest::multipart::Part::bytes(png(64, 48)).file_name("matrix.png");
    app.upload(user, file).await
}

/// `user` uploads a picture; its id.
async fn uploaded(app: &TestApp, user: &TestUser) -> String {
    let reply = upload(app, user).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    id_of(&reply.body)
}

/// `from` sends a picture to `path` (a private or a group messages route); the picture's id.
async fn send_file(app: &TestApp, from: &TestUser, path: &str) -> String {
    let file = uploaded(app, from).await;
    let body = json!({
        "content": "a picture",
        "client_msg_id": uuid::Uuid::new_v4().to_string(),
        "attachments": [file],
    });
    let sent = app.post(path, Some(&from.access_token), body).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    file
}

async fn world(app: &TestApp) -> World {
    let [owner, third, stranger, contact, blocked, blocker, ex_member, member, admin, bystander] =
        app.new_users().await;
    // The stranger's "theirs" is a message they cannot read: the owner's to someone else; the
    // same for files. The stranger's own file is one they never sent.
    app.add_contact(&owner, &third).await;
    let elsewhere = id_of(&app.send_private(&owner, &third, "hello elsewhere").await);
    let to_third = format!("/api/v1/messages/private/{}", third.id);
    let file_elsewhere = send_file(app, &owner, &to_third).await;
    let stranger_file = uploaded(app, &stranger).await;
    let unsent_file = uploaded(app, &owner).await;

    let mut private = Vec::new();
    for (relationship, user) in [(Contact, contact), (Blocked, blocked), (Blocker, blocker)] {
        app.add_contact(&user, &owner).await;
        let theirs = id_of(&app.send_private(&owner, &user, "hello from owner").await);
        let own = id_of(&app.send_private(&user, &owner, "hello to owner").await);
        let their_file = send_file(
            app,
            &owner,
            &format!("/api/v1/messages/private/{}", user.id),
        )
        .await;
        let own_file = send_file(
            app,
            &user,
            &format!("/api/v1/messages/private/{}", owner.id),
        )
        .await;
        private.push((relationship, user, theirs, own, their_file, own_file));
    }
    app.block(&owner, &private[1].1).await;
    app.block(&private[2].1, &owner).await;

    for user in [&owner, &ex_member, &member, &bystander] {
        app.add_contact(&admin, user).await;
    }
    let group = app
        .create_group(&admin, &[&owner, &ex_member, &member, &bystander], false)
        .await;
    let group_messages = format!("/api/v1/groups/{group}/messages");
    let theirs = id_of(&app.send_group(&owner, &group, "hello group").await);
    let their_file = send_file(app, &owner, &group_messages).await;
    let mut in_group = Vec::new();
    for (relationship, user) in [(ExMember, ex_member), (Member, member), (Admin, admin)] {
        let own = id_of(&app.send_group(&user, &group, "hello group").await);
        let own_file = send_file(app, &user, &group_messages).await;
        in_group.push((
            relationship,
            user,
            theirs.clone(),
            own,
            their_file.clone(),
            own_file,
        ));
    }
    let leave = format!("/api/v1/groups/{group}/members/{}", in_group[0].1.id);
    let left = app.delete(&leave, Some(&in_group[0].1.access_token)).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.body);

    let mut actors = Vec::new();
    let stranger_row = (
        Stranger,
        stranger,
        elsewhere.clone(),
        elsewhere,
        file_elsewhere,
        stranger_file,
    );
    let everyone = std::iter::once(stranger_row).chain(private).chain(in_group);
    for (relationship, user, theirs, own, their_file, own_file) in everyone {
        let socket = app.connect(&user).await;
        actors.push((
            relationship,
            Actor {
                user,
                theirs,
                own,
                their_file,
                own_file,
                socket,
            },
        ));
    }
    World {
        owner,
        group,
        bystander,
        unsent_file,
        actors,
    }
}

/// A row's template with the world's ids in place.
fn fill(template: &str, world: &World, actor: &Actor) -> String {
    template
        .replace("{owner}", &world.owner.id)
        .replace("{group}", &world.group)
        .replace("{theirs}", &actor.theirs)
        .replace("{own}", &actor.own)
        .replace("{their_file}", &actor.their_file)
        .replace("{own_file}", &actor.own_file)
        .replace("{unsent_file}", &world.unsent_file)
        .replace("{bystander}", &world.bystander.id)
        .replace("{fresh}", &uuid::Uuid::new_v4().to_string())
}

/// A frame's outcome as a status: 200 for its reply (or silence), else its error's status.
fn frame_status(reply: Option<&Value>) -> u16 {
    let Some(reply) = reply else { return 200 };
    if reply["type"] != "error" {
        return 200;
    }
    match reply["error"]["code"].as_str() {
        Some("bad_request") => 400,
        Some("forbidden") => 403,
        Some("not_found") => 404,
        Some("conflict") => 409,
        other => panic!("unexpected error {other:?}: {reply}"),
    }
}

async fn run(app: &TestApp, row: &Row, world: &World, actor: &mut Actor) -> (u16, String) {
    match &row.call {
        Call::Rest { method, path, body } => {
            let path = fill(path, world, actor);
            let body = body
                .map(|body| serde_json::from_str(&fill(body, world, actor)).expect("a JSON body"));
            let reply = app
                .request(method.clone(), &path, Some(&actor.user.access_token), body)
                .await;
            (reply.status.as_u16(), reply.body.to_string())
        }
        Call::Fetch(path) => {
            let response = app
                .http
                .get(format!("{}{}", app.address, fill(path, world, actor)))
                .bearer_auth(&actor.user.access_token)
                .send()
                .await
                .expect("the server answers");
            let status = response.status().as_u16();
            let bytes = response.bytes().await.expect("a readable body");
            let body = if status == 200 {
                format!("{} bytes", bytes.len())
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            };
            (status, body)
        }
        Call::Upload => {
            let reply = upload(app, &actor.user).await;
            (reply.status.as_u16(), reply.body.to_string())
        }
        Call::Frame(template) => {
            let frame: Value = serde_json::from_str(&fill(template, world, actor)).unwrap();
            let reply = actor.socket.request(frame).await;
            (frame_status(Some(&reply)), reply.to_string())
        }
        Call::QuietFrame(template) => {
            let frame: Value = serde_json::from_str(&fill(template, world, actor)).unwrap();
            let reply = actor.socket.request_quiet(frame).await;
            (frame_status(reply.as_ref()), format!("{reply:?}"))
        }
    }
}

#[tokio::test]
async fn every_relationship_gets_the_expected_outcome_on_every_route() {
    let app = spawn_app().await;
    let mut world = world(&app).await;
    let mut actors = std::mem::take(&mut world.actors);
    let mut wrong = Vec::new();
    for row in table() {
        for (column, (relationship, actor)) in actors.iter_mut().enumerate() {
            assert_eq!(*relationship, RELATIONSHIPS[column]);
            let (status, body) = run(&app, &row, &world, actor).await;
            if status != row.expect[column] {
                wrong.push(format!(
                    "{} as {relationship:?}: expected {}, got {status} {body}",
                    row.route, row.expect[column]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn every_route_has_a_row() {
    let app = spawn_app().await;
    let spec = app.get("/openapi.json", None).await;
    assert_eq!(spec.status, StatusCode::OK);
    let mut served = BTreeSet::new();
    for (path, operations) in spec.body["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            served.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let table = table();
    let listed: BTreeSet<String> = table
        .iter()
        .map(|row| row.route)
        .filter(|route| !route.starts_with("WS "))
        .chain(NOT_RELATIONAL.iter().map(|(route, _)| *route))
        .map(str::to_owned)
        .collect();
    let missing: Vec<_> = served.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization matrix (add one, or list the route in \
         NOT_RELATIONAL with its reason): {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "rows for routes the server does not have: {stale:?}"
    );
    // Every frame a client may send that concerns others has rows too.
    let frames: BTreeSet<&str> = table
        .iter()
        .filter_map(|row| row.route.strip_prefix("WS "))
        .collect();
    assert_eq!(
        frames,
        BTreeSet::from(["presence", "read", "send", "sync", "typing"])
    );
}
