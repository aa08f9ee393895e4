//! Message search: what the caller may search (the conversations they are in now) and how their
//! words become a Postgres text query.

use crate::{
    app::{
        models::{
            ids::{MessageId, UserId},
            message_changes::SearchText,
            messages::Message,
        },
        queries::{self, search::TextQuery},
        services::message_views,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The longest search text, in characters.
pub const MAX_QUERY_CHARS: usize = 256;

/// One search request.
pub struct Search {
    pub text: SearchText,
    /// Only the private conversation with this user, or this group.
    pub with: Option<uuid::Uuid>,
    pub before: Option<MessageId>,
    pub limit: i64,
}

/// The caller's readable messages that match, newest first, and whether more match.
pub async fn search(
    state: &AppState,
    reader: UserId,
    search: Search,
) -> Result<(Vec<Message>, bool), AppError> {
    let text = text_query(search.text.as_str())?;
    let mut conn = state.db.get().await?;
    let conversations = queries::search::conversations_of(&mut conn, reader, search.with).await?;
    let ids: Vec<i64> = conversations
        .iter()
        .map(|conversation| conversation.id)
        .collect();
    let (rows, has_more) = queries::search::matching(
        &mut conn,
        &ids,
        &text,
        search.before.map(|id| id.0),
        search.limit,
    )
    .await?;
    let rows = rows
        .into_iter()
        .filter_map(|row| {
            let conversation = conversations
                .iter()
                .find(|conversation| conversation.id == row.conversation_id)?;
            Some((row, conversation.seen_by(reader)))
        })
        .collect();
    Ok((message_views::complete(&mut conn, rows).await?, has_more))
}

/// Plain words search as prefixes of words (`hel wor` finds "Hello, world", as people type);
/// text using the web-search syntax — a `"phrase"`, `or`, a `-word` — is read with that syntax.
pub fn text_query(raw: &str) -> Result<TextQuery, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(AppError::BadRequest("q must not be empty".into()));
    }
    if raw.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::BadRequest(format!(
            "q must be at most {MAX_QUERY_CHARS} characters long"
        )));
    }
    if raw.contains('\0') {
        return Err(AppError::BadRequest(
            "q must not contain NUL characters".into(),
        ));
    }
    let web_syntax = raw.contains('"')
        || raw
            .split_whitespace()
            .any(|word| word.starts_with('-') || word.eq_ignore_ascii_case("or"));
    if web_syntax {
        return Ok(TextQuery::WebSearch(raw.to_owned()));
    }
    // Letters and digits only: nothing in a word can be read as tsquery syntax.
    let prefixes: Vec<String> = raw
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| format!("{}:*", word.to_lowercase()))
        .collect();
    if prefixes.is_empty() {
        // Only punctuation: the web-search reading finds nothing, as it should.
        return Ok(TextQuery::WebSearch(raw.to_owned()));
    }
    Ok(TextQuery::Prefixes(prefixes.join(" & ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(raw: &str) -> String {
        match text_query(raw).expect("a valid query") {
            TextQuery::Prefixes(query) => query,
            TextQuery::WebSearch(query) => panic!("read as web search: {query}"),
        }
    }

    #[test]
    fn plain_words_become_safe_prefixes() {
        assert_eq!(prefixes("Hel wor"), "hel:* & wor:*");
        assert_eq!(prefixes("don't & (x)"), "don:* & t:* & x:*");
        assert_eq!(prefixes("Grüße"), "grüße:*");
    }

    #[test]
    fn web_syntax_is_kept() {
        for raw in ["\"exact phrase\"", "cats or dogs", "cats -dogs"] {
            assert!(
                matches!(text_query(raw), Ok(TextQuery::WebSearch(_))),
                "{raw}"
            );
        }
        assert!(text_query("   ").is_err());
    }
}
