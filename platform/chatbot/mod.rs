//! Clients for the language-model services the chatbot can use, behind one trait. Nothing here
//! knows about chats: a provider turns a list of turns into one reply text.

mod edenai;
mod openai;

use std::time::Duration;

pub use edenai::EdenAi;
pub use openai::OpenAiCompatible;

/// Who said a turn of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// The people in the chat.
    User,
    /// The bot itself.
    Assistant,
}

/// One line of context.
#[derive(Debug, Clone)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
}

/// Why a provider gave no reply.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("provider did not answer within {0:?}")]
    Timeout(Duration),
    #[error("provider request failed: {0}")]
    Transport(String),
    #[error("provider answered with status {0}")]
    Status(u16),
    #[error("provider answer was not understood: {0}")]
    Malformed(String),
}

impl From<reqwest::Error> for ProviderError {
    fn from(err: reqwest::Error) -> Self {
        if err.is_decode() {
            ProviderError::Malformed(err.to_string())
        } else {
            ProviderError::Transport(err.to_string())
        }
    }
}

/// A service that writes the bot's replies.
#[async_trait::async_trait]
pub trait ChatProvider: Send + Sync {
    /// The reply to the last turn, given the ones before it (oldest first).
    async fn reply(&self, turns: &[Turn]) -> Result<String, ProviderError>;
}

/// Settings shared by every provider.
#[derive(Debug, Clone)]
pub struct Generation {
    pub timeout: Duration,
    pub max_tokens: u32,
    pub temperature: f32,
}

/// Runs one request, sending and reading the answer within `timeout` in all.
async fn post_json(
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<serde_json::Value, ProviderError> {
    let exchange = async {
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::Status(status.as_u16()));
        }
        response
            .json::<serde_json::Value>()
            .await
            .map_err(|err| ProviderError::Malformed(err.to_string()))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ProviderError::Timeout(timeout))?
}
