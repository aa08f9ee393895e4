//! Ready-made users, contacts, groups and messages.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;

/// A registered, logged-in user.
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    /// Registers a user with a fresh name and logs them in.
    pub async fn new_user(&self) -> TestUser {
        let username = unique_username();
        let registered = self.register(&username).await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.body
        );
        let login = self.login(&username, PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        TestUser {
            id: registered.body["id"].as_str().expect("an id").to_owned(),
            username,
            access_token: login.body["access_token"].as_str().expect("a token").into(),
            refresh_token: login.body["refresh_token"]
                .as_str()
                .expect("a token")
                .into(),
        }
    }

    /// `owner` adds `other` to their contacts.
    pub async fn add_contact(&self, owner: &TestUser, other: &TestUser) {
        let reply = self
            .post(
                "/api/v1/contacts",
                Some(&owner.access_token),
                json!({ "username": other.username }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    /// `creator` creates a group with `members` (who must be their contacts); returns its id.
    pub async fn create_group(
        &self,
        creator: &TestUser,
        members: &[&TestUser],
        public: bool,
    ) -> String {
        let member_ids: Vec<&str> = members.iter().map(|user| user.id.as_str()).collect();
        let reply = self
            .post(
                "/api/v1/groups",
                Some(&creator.access_token),
                json!({ "name": "test group", "member_ids": member_ids, "public": public }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["id"].as_str().expect("a group id").to_owned()
    }

    /// `N` new users at once: `let [alice, bob, carol] = app.new_users().await;`.
    pub async fn new_users<const N: usize>(&self) -> [TestUser; N] {
        let mut users = Vec::with_capacity(N);
        for _ in 0..N {
            users.push(self.new_user().await);
        }
        match users.try_into() {
            Ok(users) => users,
            Err(_) => unreachable!("exactly N users were made"),
        }
    }

    /// Two users who have each other as contacts.
    pub async fn friends(&self) -> (TestUser, TestUser) {
        let (alice, bob) = (self.new_user().await, self.new_user().await);
        self.add_contact(&alice, &bob).await;
        (alice, bob)
    }

    /// A private group of `admin` and `count` new users (each made the admin's contact first):
    /// the group's id and its members, admin not included.
    pub async fn group_with(&self, admin: &TestUser, count: usize) -> (String, Vec<TestUser>) {
        let mut members = Vec::with_capacity(count);
        for _ in 0..count {
            let member = self.new_user().await;
            self.add_contact(admin, &member).await;
            members.push(member);
        }
        let refs: Vec<&TestUser> = members.iter().collect();
        let group_id = self.create_group(admin, &refs, false).await;
        (group_id, members)
    }

    /// Sends a message over REST and returns the stored message.
    pub async fn send_private(&self, from: &TestUser, to: &TestUser, content: &str) -> Value {
        let reply = self
            .post(
                &format!("/api/v1/messages/private/{}", to.id),
                Some(&from.access_token),
                json!({ "content": content, "client_msg_id": Uuid::new_v4().to_string() }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// Sends a group message over REST and returns the stored message.
    pub async fn send_group(&self, from: &TestUser, group_id: &str, content: &str) -> Value {
        let reply = self
            .post(
                &format!("/api/v1/groups/{group_id}/messages"),
                Some(&from.access_token),
                json!({ "content": content, "client_msg_id": Uuid::new_v4().to_string() }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// `blocker` blocks `blocked`.
    pub async fn block(&self, blocker: &TestUser, blocked: &TestUser) {
        let path = format!("/api/v1/users/{}/block", blocked.id);
        let reply = self
            .request(
                reqwest::Method::PUT,
                &path,
                Some(&blocker.access_token),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    }

    /// `user` uploads one file (`POST /api/v1/attachments`); the answer, whatever it is.
    pub async fn upload(&self, user: &TestUser, file: reqwest::multipart::Part) -> Reply {
        let form = reqwest::multipart::Form::new().part("file", file);
        let response = self
            .http
            .post(format!("{}/api/v1/attachments", self.address))
            .bearer_auth(&user.access_token)
            .multipart(form)
            .send()
            .await
            .expect("the server answers");
        Self::read(response).await
    }
}
