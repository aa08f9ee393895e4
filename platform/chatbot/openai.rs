//! Any OpenAI-compatible chat-completions endpoint (OpenAI itself, or a local model server).

use serde_json::json;

use super::{post_json, ChatProvider, Generation, ProviderError, Speaker, Turn};

/// A chat-completions client.
pub struct OpenAiCompatible {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    model: String,
    generation: Generation,
}

impl OpenAiCompatible {
    pub fn new(base_url: &str, api_key: Option<&str>, model: &str, generation: Generation) -> Self {
        Self {
            client: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.map(str::to_owned),
            model: model.to_owned(),
            generation,
        }
    }
}

#[async_trait::async_trait]
impl ChatProvider for OpenAiCompatible {
    async fn reply(&self, turns: &[Turn]) -> Result<String, ProviderError> {
        let messages: Vec<_> = turns
            .iter()
            .map(|turn| {
                let role = match turn.speaker {
                    Speaker::User => "user",
                    Speaker::Assistant => "assistant",
                };
                json!({ "role": role, "content": turn.text })
            })
            .collect();
        let mut request = self
            .client
            .post(format!("{}/chat/completions", self.base_url))
            .json(&json!({
                "model": self.model,
                "messages": messages,
                "temperature": self.generation.temperature,
                "max_tokens": self.generation.max_tokens,
            }));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let body = post_json(request, self.generation.timeout).await?;
        body.pointer("/choices/0/message/content")
            .and_then(|content| content.as_str())
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                ProviderError::Malformed("no choices[0].message.content in the answer".into())
            })
    }
}
