//! The chatbot's handle in the shared state: its provider and its limits on this instance.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::{
    pkg::config::{ChatbotConfig, ChatbotProvider},
    platform::chatbot::{ChatProvider, EdenAi, Generation, OpenAiCompatible},
};

/// The chatbot of one instance.
pub struct Chatbot {
    pub(super) provider: Option<Arc<dyn ChatProvider>>,
    /// Answers written at once on this instance; a question beyond them is refused as busy.
    pub(super) permits: Arc<Semaphore>,
    /// Questions one user may ask in any minute, counted across all instances in Redis.
    pub(super) questions_per_minute: u64,
    /// How many recent messages the provider sees with a question.
    pub(super) context_messages: i64,
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
