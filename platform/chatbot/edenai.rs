//! EdenAI's text generation API, as the original project used it.
//!
//! `POST {base}/v2/text/generation` with the conversation flattened into `text`; the answer,
//! with `response_as_dict: true`, is keyed by provider name, and the reply is that entry's
//! `generated_text` (never the raw body).

use serde_json::json;

use super::{post_json, ChatProvider, Generation, ProviderError, Speaker, Turn};

/// An EdenAI client.
pub struct EdenAi {
    client: reqwest::Client,
    base_url: String,
    api_key: String,
    /// Comma-separated EdenAI provider names, e.g. `openai`.
    providers: String,
    generation: Generation,
}

impl EdenAi {
    pub fn new(base_url: &str, api_key: &str, providers: &str, generation: Generation) -> Self {
        Self {
            client: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            providers: providers.to_owned(),
            generation,
        }
    }
}

/// EdenAI takes one text: the context as a transcript, ending with the question.
fn transcript(turns: &[Turn]) -> String {
    turns
        .iter()
        .map(|turn| match turn.speaker {
            Speaker::User => format!("User: {}", turn.text),
            Speaker::Assistant => format!("Assistant: {}", turn.text),
        })
        .chain(std::iter::once("Assistant:".to_owned()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[async_trait::async_trait]
impl ChatProvider for EdenAi {
    async fn reply(&self, turns: &[Turn]) -> Result<String, ProviderError> {
        let request = self
            .client
            .post(format!("{}/v2/text/generation", self.base_url))
            .bearer_auth(&self.api_key)
            .json(&json!({
                "providers": self.providers,
                "text": transcript(turns),
                "temperature": self.generation.temperature,
                "max_tokens": self.generation.max_tokens,
                "response_as_dict": true,
            }));
        let body = post_json(request, self.generation.timeout).await?;
        // The first provider that produced text wins.
        self.providers
            .split(',')
            .map(str::trim)
            .filter_map(|provider| body.get(provider)?.get("generated_text")?.as_str())
            .map(str::trim)
            .find(|text| !text.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ProviderError::Malformed("no generated_text in the answer".into()))
    }
}
