//! Rotating `JWT_SECRET` logs nobody out: an instance signing with the new secret and holding
//! the old one in `JWT_PREVIOUS_SECRETS` accepts the tokens the old key signed, while the old
//! key's tokens are refused once it is dropped. Secrets may be given as files (`<NAME>_FILE`).

use reqwest::StatusCode;

use crate::helpers::{spawn_app, PASSWORD, TEST_JWT_SECRET};

const ME: &str = "/api/v1/users/me";
const NEW_SECRET: &str = "the-next-jwt-secret-of-the-test-deployment";

#[tokio::test]
async fn tokens_of_the_previous_secret_stay_valid_until_it_is_dropped() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let dir = std::env::temp_dir().join(format!("simplechat-rotation-{}", alice.id));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_file = dir.join("jwt_secret");
    std::fs::write(&secret_file, format!("{NEW_SECRET}\n")).unwrap();

    // The new secret from a file, the old one kept for checking.
    let rotated = app
        .spawn_sibling_with(|settings| {
            settings.remove("JWT_SECRET");
            settings.insert(
                "JWT_SECRET_FILE".into(),
                secret_file.to_str().unwrap().into(),
            );
            settings.insert("JWT_PREVIOUS_SECRETS".into(), TEST_JWT_SECRET.into());
        })
        .await;
    let me = rotated.get(ME, Some(&alice.access_token)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    // A login there gets a token of the new key, which the rotated instance accepts.
    let login = rotated.login(&alice.username, PASSWORD).await;
    let fresh = login.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(rotated.get(ME, Some(&fresh)).await.status, StatusCode::OK);

    // With the old key dropped, its tokens are refused; the new key's still work.
    let retired = rotated
        .spawn_sibling_with(|settings| {
            settings.remove("JWT_SECRET_FILE");
            settings.remove("JWT_PREVIOUS_SECRETS");
            settings.insert("JWT_SECRET".into(), NEW_SECRET.into());
        })
        .await;
    retired
        .get(ME, Some(&alice.access_token))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(retired.get(ME, Some(&fresh)).await.status, StatusCode::OK);
    std::fs::remove_dir_all(&dir).ok();
}
