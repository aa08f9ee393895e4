//! The two stores the attachment tests run on: a fresh local folder, and a bucket on a real
//! S3-compatible server — `moto_server` (from PyPI: `pip install 'moto[server]'`), started on a
//! free loopback port for each test and stopped with it. moto was chosen because it installs
//! from the registries CI already uses (pip), speaks the S3 REST protocol including multipart
//! uploads and ranged reads, and needs no credentials or Docker.
//!
//! When `moto_server` is not installed the S3 variants are skipped with a message, unless
//! `SIMPLECHAT_S3_TESTS=required` (CI sets it; `.ci/attachments-s3.sh`), where they fail instead.
//! `MOTO_SERVER` names another binary.

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    time::Duration,
};

use simplechat::{pkg::config::Config, platform::storage::Storage};
use uuid::Uuid;

use crate::helpers::{spawn_app_with, TestApp};

/// How long a blob may take to disappear after it stops being wanted (deletes are queued and
/// done at once; the contract allows a minute).
const GONE_WITHIN: Duration = Duration::from_secs(20);

/// Where a test's server keeps its blobs.
pub enum Store {
    Folder,
    S3(Moto),
}

/// A running `moto_server`, killed when dropped.
pub struct Moto {
    child: Child,
    endpoint: String,
    bucket: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Store {
    pub fn folder() -> Self {
        Self::Folder
    }

    /// A fresh bucket on a moto server of this test's own; `None` (with a message) when moto is
    /// not installed and the S3 tests are not required.
    pub async fn s3() -> Option<Self> {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = free_port();
        let spawned = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) if std::env::var("SIMPLECHAT_S3_TESTS").as_deref() == Ok("required") => {
                panic!("{program} cannot be started ({err}); pip install 'moto[server]'")
            }
            Err(err) => {
                eprintln!(
                    "SKIPPED: the S3 variant of this test needs {program} ({err}); \
                     pip install 'moto[server]' to run it"
                );
                return None;
            }
        };
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: format!("test-{}", Uuid::new_v4().simple()),
        };
        moto.create_bucket().await;
        Some(Self::S3(moto))
    }

    /// A server whose `STORAGE_URL` is this store; `customise` adjusts other settings.
    pub async fn spawn_app(&self, customise: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
        spawn_app_with(|settings| {
            match self {
                // The harness gives every server a fresh folder already.
                Store::Folder => {}
                Store::S3(moto) => {
                    settings.insert("STORAGE_URL".into(), format!("s3://{}", moto.bucket));
                    settings.insert("S3_ENDPOINT".into(), moto.endpoint.clone());
                    settings.insert("S3_REGION".into(), "us-east-1".into());
                    settings.insert("AWS_ACCESS_KEY_ID".into(), "testing".into());
                    settings.insert("AWS_SECRET_ACCESS_KEY".into(), "testing".into());
                }
            }
            customise(settings);
        })
        .await
    }

    /// The store `app` writes to, opened as the server opens it, to look at blobs directly.
    pub fn storage(&self, app: &TestApp) -> Storage {
        let config = Config::from_map(&app.settings()).expect("the test settings are valid");
        Storage::connect(&config.attachments.storage).expect("the store opens")
    }
}

impl Moto {
    /// Waits for the server to answer, then creates the bucket.
    async fn create_bucket(&self) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let url = format!("{}/{}", self.endpoint, self.bucket);
        loop {
            match http.put(&url).send().await {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => panic!("creating the bucket: {}", response.status()),
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("moto_server did not start: {err}"),
            }
        }
    }
}

/// Waits until `key` is no longer in `storage`; fails the test after [`GONE_WITHIN`].
pub async fn until_gone(storage: &Storage, key: &str) {
    let deadline = tokio::time::Instant::now() + GONE_WITHIN;
    loop {
        if storage
            .size_of(key)
            .await
            .expect("the store answers")
            .is_none()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{key} is still stored after {GONE_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}
