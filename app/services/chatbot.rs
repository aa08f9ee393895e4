//! The built-in chatbot. It answers every private message sent to it, and every group message
//! that starts with `@chatbot`, with an ordinary stored message, delivered like any other.
//!
//! Answers are written in the background: the asker's `ack` never waits for the provider. Each
//! answer's `client_msg_id` is `reply:<question id>`, so a question is answered at most once.
//! When the provider is missing, busy, slow or wrong, the asker alone gets an `error` frame with
//! code `chatbot_unavailable` and nothing is stored.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::{
    app::{
        models::{
            frames::{server, Target},
            ids::{GroupId, UserId},
            message::{ConversationRecord, MessageContent, MessageRecord},
        },
        queries,
        services::{
            events,
            message_writer::{Authority, Draft},
            messaging,
        },
    },
    pkg::{
        config::{ChatbotConfig, ChatbotProvider},
        state::AppState,
        utils::metrics as names,
    },
    platform::chatbot::{ChatProvider, EdenAi, Generation, OpenAiCompatible, Speaker, Turn},
};

/// The chatbot's user id, fixed by its migration.
pub const CHATBOT_ID: UserId = UserId(Uuid::from_u128(0xb0));
/// What a group message must start with to be answered.
pub const MENTION: &str = "@chatbot";

/// Those of `users` that pushes can reach: all but the chatbot, which has no connections.
pub fn reachable(users: impl IntoIterator<Item = UserId>) -> Vec<UserId> {
    users
        .into_iter()
        .filter(|user| *user != CHATBOT_ID)
        .collect()
}

/// The chatbot of one instance.
pub struct Chatbot {
    provider: Option<Arc<dyn ChatProvider>>,
    permits: Arc<Semaphore>,
    /// Questions one user may ask in any minute, counted across all instances in Redis.
    questions_per_minute: u64,
    context_messages: i64,
    /// Answers being written. Each stops when the server shuts down (the question stays stored
    /// and unanswered; the asker may ask again).
    pub tasks: TaskTracker,
}

impl Chatbot {
    pub fn new(config: &ChatbotConfig) -> Self {
        let generation = Generation {
            timeout: config.timeout,
            max_tokens: config.max_tokens,
            temperature: config.temperature,
        };
        let provider: Option<Arc<dyn ChatProvider>> = match &config.provider {
            ChatbotProvider::None => None,
            ChatbotProvider::EdenAi {
                base_url,
                api_key,
                providers,
            } => Some(Arc::new(EdenAi::new(
                base_url, api_key, providers, generation,
            ))),
            ChatbotProvider::OpenAi {
                base_url,
                api_key,
                model,
            } => Some(Arc::new(OpenAiCompatible::new(
                base_url,
                api_key.as_deref(),
                model,
                generation,
            ))),
        };
        Self {
            provider,
            permits: Arc::new(Semaphore::new(config.max_concurrency)),
            questions_per_minute: u64::from(config.rate_per_minute.max(1)),
            context_messages: config.context_messages,
            tasks: TaskTracker::new(),
        }
    }
}

/// Where the bot's answer goes.
#[derive(Debug, Clone, Copy)]
enum Destination {
    Private { asker: UserId },
    Group { group_id: GroupId, asker: UserId },
}

/// Called for every newly stored message: starts an answer when the message is for the bot.
pub fn consider(state: &AppState, record: &MessageRecord, conversation: &ConversationRecord) {
    let Some(destination) = destination(record, conversation) else {
        return;
    };
    let (state, record, conversation) = (state.clone(), record.clone(), conversation.clone());
    let shutdown = state.shutdown.clone();
    let tasks = state.chatbot.tasks.clone();
    tasks.spawn(async move {
        tokio::select! {
            _ = answer(&state, destination, &record, &conversation) => {}
            _ = shutdown.cancelled() => {}
        }
    });
}

fn destination(record: &MessageRecord, conversation: &ConversationRecord) -> Option<Destination> {
    let asker = record.sender_id;
    if asker == CHATBOT_ID {
        return None;
    }
    match (
        conversation.group_id,
        conversation.user_low,
        conversation.user_high,
    ) {
        (Some(group_id), _, _) if record.content.trim_start().starts_with(MENTION) => {
            Some(Destination::Group { group_id, asker })
        }
        (None, Some(low), Some(high)) if low == CHATBOT_ID || high == CHATBOT_ID => {
            Some(Destination::Private { asker })
        }
        _ => None,
    }
}

async fn answer(
    state: &AppState,
    destination: Destination,
    question: &MessageRecord,
    conversation: &ConversationRecord,
) {
    let asker = match destination {
        Destination::Private { asker } | Destination::Group { asker, .. } => asker,
    };
    let bot = &state.chatbot;
    let Some(provider) = bot.provider.clone() else {
        return tell_asker(
            state,
            asker,
            "chatbot_unavailable",
            "the chatbot is not configured on this server",
        )
        .await;
    };
    let asked = match queries::chatbot::count_question(&state.cache, asker, question.id).await {
        Ok(asked) => asked,
        Err(err) => {
            tracing::warn!(error = %err, "counting a chatbot question failed");
            return tell_asker(
                state,
                asker,
                "chatbot_unavailable",
                "the chatbot could not answer right now",
            )
            .await;
        }
    };
    if asked > bot.questions_per_minute {
        return tell_asker(
            state,
            asker,
            "rate_limited",
            "too many questions for the chatbot; wait a minute",
        )
        .await;
    }
    let Ok(_permit) = bot.permits.clone().try_acquire_owned() else {
        return tell_asker(
            state,
            asker,
            "chatbot_unavailable",
            "the chatbot is busy; try again shortly",
        )
        .await;
    };

    let turns = match context(state, conversation, question).await {
        Ok(turns) => turns,
        Err(err) => {
            tracing::warn!(error = %err, "chatbot context failed");
            return tell_asker(
                state,
                asker,
                "chatbot_unavailable",
                "the chatbot could not read the conversation",
            )
            .await;
        }
    };
    metrics::counter!(names::CHATBOT_CALLS).increment(1);
    let reply = match provider.reply(&turns).await {
        Ok(reply) => reply,
        Err(err) => {
            metrics::counter!(names::CHATBOT_FAILURES).increment(1);
            tracing::warn!(error = %err, "chatbot provider failed");
            return tell_asker(
                state,
                asker,
                "chatbot_unavailable",
                "the chatbot could not answer right now",
            )
            .await;
        }
    };

    let content = fit(&reply);
    let target = match destination {
        Destination::Private { asker } => Target::User(asker),
        Destination::Group { group_id, .. } => Target::Group(group_id),
    };
    let draft = Draft {
        sender: CHATBOT_ID,
        target,
        content,
        client_msg_id: format!("reply:{}", question.id),
        reply_to: None,
        authority: Authority::Trusted,
    };
    match state.writer.write(draft).await {
        Ok(written) => {
            if let Err(err) = messaging::deliver(state, CHATBOT_ID, written).await {
                tracing::warn!(error = %err, "delivering the chatbot's stored answer failed");
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "storing the chatbot's answer failed");
            tell_asker(
                state,
                asker,
                "chatbot_unavailable",
                "the chatbot's answer could not be stored",
            )
            .await;
        }
    }
}

/// The conversation's recent messages, oldest first, ending with the question.
async fn context(
    state: &AppState,
    conversation: &ConversationRecord,
    question: &MessageRecord,
) -> Result<Vec<Turn>, crate::pkg::utils::errors::AppError> {
    let mut conn = state.db.get().await?;
    let (records, _) = queries::messages::page(
        &mut conn,
        conversation.id,
        Some(question.seq + 1),
        None,
        state.chatbot.context_messages,
    )
    .await?;
    Ok(records
        .into_iter()
        // A message deleted for everyone is gone from the conversation, for the bot too.
        .filter(|record| !record.deleted)
        .map(|record| Turn {
            speaker: if record.sender_id == CHATBOT_ID {
                Speaker::Assistant
            } else {
                Speaker::User
            },
            text: record
                .content
                .trim_start()
                .strip_prefix(MENTION)
                .unwrap_or(&record.content)
                .trim()
                .to_owned(),
        })
        .collect())
}

/// Cuts a reply to the longest content a message may have.
fn fit(reply: &str) -> String {
    reply.chars().take(MessageContent::MAX_CHARS).collect()
}

async fn tell_asker(state: &AppState, asker: UserId, code: &str, message: &str) {
    events::to_users(state, [asker], &server::error(None, code, message)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sender: UserId, content: &str) -> MessageRecord {
        MessageRecord {
            id: 1,
            conversation_id: 1,
            seq: 1,
            sender_id: sender,
            content: content.into(),
            client_msg_id: "c".into(),
            created_at: chrono::Utc::now(),
            change_seq: 0,
            edited_at: None,
            deleted: false,
            reply_to_id: None,
        }
    }

    fn group() -> ConversationRecord {
        ConversationRecord {
            id: 1,
            user_low: None,
            user_high: None,
            group_id: Some(GroupId::new_random()),
            last_seq: 1,
            change_seq: 0,
        }
    }

    #[test]
    fn only_mentions_are_answered_in_groups() {
        let user = UserId::new_random();
        assert!(destination(&record(user, "@chatbot hi"), &group()).is_some());
        assert!(destination(&record(user, "  @chatbot hi"), &group()).is_some());
        assert!(destination(&record(user, "hi @chatbot"), &group()).is_none());
        assert!(destination(&record(CHATBOT_ID, "@chatbot loop"), &group()).is_none());
    }

    #[test]
    fn replies_are_cut_to_the_content_limit() {
        assert_eq!(
            fit(&"é".repeat(5000)).chars().count(),
            MessageContent::MAX_CHARS
        );
    }
}
