//! `/metrics` counts and times HTTP requests by route template, never by raw path, and shows the
//! database pool's use.

use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn requests_are_counted_and_timed_by_route_template_and_never_by_raw_id() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let group_id = app.create_group(&alice, &[&bob], false).await;
    let path = format!("/api/v1/groups/{group_id}");
    assert_eq!(
        app.get(&path, Some(&alice.access_token)).await.status,
        StatusCode::OK
    );
    let missing = "/api/v1/groups/00000000-0000-4000-8000-000000000000";
    assert_eq!(
        app.get(missing, Some(&alice.access_token)).await.status,
        StatusCode::NOT_FOUND
    );
    app.get("/no/such/page/42", None).await;

    let text = app.metrics_text().await;

    let template = r#"route="/api/v1/groups/{group_id}""#;
    for wanted in [
        format!(r#"simplechat_http_requests_total{{method="GET",{template},status="200"}}"#),
        format!(r#"simplechat_http_requests_total{{method="GET",{template},status="404"}}"#),
        format!(r#"simplechat_http_request_duration_seconds_bucket{{method="GET",{template},le="#),
        format!(r#"simplechat_http_request_duration_seconds_count{{method="GET",{template}}}"#),
        r#"route="unmatched",status="404""#.to_owned(),
        r#"simplechat_db_pool_connections{state="idle"}"#.to_owned(),
        r#"simplechat_db_pool_connections{state="busy"}"#.to_owned(),
        "simplechat_db_pool_wait_seconds_count".to_owned(),
    ] {
        assert!(text.contains(&wanted), "{wanted} missing from:\n{text}");
    }
    assert!(
        !text.contains(&group_id),
        "a raw id became a label:\n{text}"
    );
    assert!(!text.contains("/no/such/page"), "a raw path became a label");
}
