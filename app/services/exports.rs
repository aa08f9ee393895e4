//! Exporting an account's data (`GET /users/me/export`) as one JSON document that is streamed:
//! the small parts (profile, contacts, blocks, groups, sessions) are read first, then the messages
//! the user sent follow a page at a time, each page read with a pool connection that is given
//! back before the page is written. However long the history, the server holds one page.

use futures_util::{stream, Stream, StreamExt};
use poem_openapi::types::ToJSON;

use crate::{
    app::{
        models::{
            auth::Caller,
            exports::{Export, ExportedGroup, ExportedMessage},
            sessions::Session,
            users::User,
        },
        queries,
        services::rate_limits,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// Messages read per page.
const PAGE: i64 = 500;

/// The caller's export, as a stream of JSON text. At most `RATE_LIMIT_EXPORT_PER_MIN` per user
/// (429 beyond it, with `Retry-After`). Errors before the first byte are answers; a failure while messages
/// stream ends the body early, so the document does not parse (and it is logged).
pub async fn export(
    state: &AppState,
    caller: Caller,
) -> Result<impl Stream<Item = std::io::Result<String>> + Send + 'static, AppError> {
    rate_limits::admit_export(state, caller.user_id).await?;
    let head = head(state, caller).await?;
    let pages = message_pages(state.clone(), caller);
    let tail = stream::once(async { Ok(String::from("]}")) });
    Ok(stream::once(async move { Ok(head) })
        .chain(pages)
        .chain(tail))
}

/// The document up to the opening bracket of `messages`, which comes last.
async fn head(state: &AppState, caller: Caller) -> Result<String, AppError> {
    let me = caller.user_id;
    let mut conn = state.db.get().await?;
    let profile = queries::users::find_by_id(&mut conn, me)
        .await?
        .ok_or_else(|| AppError::Unauthorized("user no longer exists".into()))?;
    let contacts = queries::contacts::list(&mut conn, me).await?;
    let blocks = queries::blocks::blocked_by(&mut conn, me).await?;
    let groups = queries::accounts::groups_with_roles(&mut conn, me).await?;
    let sessions = queries::auth::live_sessions_of(&mut conn, me).await?;
    let document = Export {
        exported_at: chrono::Utc::now(),
        profile: profile.into(),
        contacts: contacts.into_iter().map(|(_, user)| user.into()).collect(),
        blocks: blocks.into_iter().map(User::from).collect(),
        groups: groups
            .into_iter()
            .map(|(group, role)| ExportedGroup {
                group: group.into_group(),
                role,
            })
            .collect(),
        sessions: sessions
            .into_iter()
            .map(|record| Session::of(record, caller.session_id))
            .collect(),
        messages: Vec::new(),
    };
    let mut value = document.to_json().unwrap_or_default();
    if let Some(fields) = value.as_object_mut() {
        fields.remove("messages");
    }
    let mut text = value.to_string();
    // `{…}` becomes `{…,"messages":[`; the pages and `]}` follow.
    text.pop();
    text.push_str(",\"messages\":[");
    Ok(text)
}

/// Where the stream of messages is.
struct Cursor {
    state: AppState,
    caller: Caller,
    after: i64,
    first: bool,
    done: bool,
}

/// The messages the user sent, a page of JSON text at a time, comma-separated.
fn message_pages(
    state: AppState,
    caller: Caller,
) -> impl Stream<Item = std::io::Result<String>> + Send + 'static {
    let cursor = Cursor {
        state,
        caller,
        after: 0,
        first: true,
        done: false,
    };
    stream::unfold(cursor, |mut cursor| async move {
        if cursor.done {
            return None;
        }
        match next_page(&mut cursor).await {
            Ok(Some(text)) => Some((Ok(text), cursor)),
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(error = %err, user_id = %cursor.caller.user_id, "export failed while streaming");
                cursor.done = true;
                Some((Err(std::io::Error::other(err.to_string())), cursor))
            }
        }
    })
}

/// The next page as JSON text (with a leading comma after the first), or none at the end.
async fn next_page(cursor: &mut Cursor) -> Result<Option<String>, AppError> {
    let me = cursor.caller.user_id;
    let rows = {
        let mut conn = cursor.state.db.get().await?;
        queries::accounts::sent_page(&mut conn, me, cursor.after, PAGE).await?
    };
    let Some((last, _)) = rows.last() else {
        return Ok(None);
    };
    cursor.after = last.id;
    cursor.done = (rows.len() as i64) < PAGE;
    let mut text = String::new();
    for (record, conversation) in rows {
        if !cursor.first {
            text.push(',');
        }
        cursor.first = false;
        let message = ExportedMessage::of(record, conversation.seen_by(me));
        text.push_str(&message.to_json().unwrap_or_default().to_string());
    }
    Ok(Some(text))
}
