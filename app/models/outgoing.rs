//! A message on its way in: what a sender asks to send, validated, whichever wire form it came
//! in. A `send` frame and the REST send body ([`SendMessageRequest`], here) both become an
//! [`Outgoing`] (by `TryFrom`), and that one value travels unchanged to the row: the message
//! writer's draft holds it and the batch's columns are read from it in one place
//! (`queries::batch_statements::MessageRows`, beside the statement that stores them). A new field
//! of a send is added here, to the `send` frame, to those columns and that statement, and to the
//! stored row (`messages::MessageRecord`, the schema and a migration).

use poem_openapi::{registry::MetaSchema, Object};

use super::{
    attachments::{AttachmentIds, AttachmentList},
    fields::{
        string_type, text_field_openapi, Named, Omittable, TextField, NOT_SPACE_OR_NUL, NO_NUL,
    },
    frames::{SendFrame, Target},
    ids::{AttachmentId, MessageId},
    messages::{ClientMsgId, MessageContent},
};

/// A validated send.
#[derive(Debug)]
pub struct Outgoing {
    pub target: Target,
    pub body: MessageBody,
    pub client_msg_id: ClientMsgId,
    /// The message this one answers.
    pub reply_to: Option<MessageId>,
}

impl Outgoing {
    /// A text message the server itself sends (the chatbot's answers): its content is the
    /// server's own, cut to fit already, so it is not read as a client's input would be.
    pub fn from_server(target: Target, content: String, client_msg_id: ClientMsgId) -> Self {
        Self {
            target,
            body: MessageBody {
                content,
                attachments: AttachmentIds::default(),
            },
            client_msg_id,
            reply_to: None,
        }
    }
}

/// A `send` frame: errors name the field at fault, as the `error` frame says them.
impl TryFrom<SendFrame> for Outgoing {
    type Error = String;

    fn try_from(frame: SendFrame) -> Result<Self, String> {
        let reply_to = match frame.reply_to {
            None => None,
            Some(raw) => Some(MessageId::parse(&raw).map_err(|_| {
                "reply_to must be a message id: a string of at most 19 digits".to_owned()
            })?),
        };
        let target = frame.to.target("to")?;
        let content = SendContent::parse(frame.content)
            .map_err(|reason| format!("{} {reason}", <SendContent as TextField>::FIELD))?;
        Ok(Self {
            target,
            body: MessageBody::new(content, frame.attachments)?,
            client_msg_id: ClientMsgId::parse(frame.client_msg_id)
                .map_err(|reason| format!("{} {reason}", <ClientMsgId as TextField>::FIELD))?,
            reply_to,
        })
    }
}

/// The REST body sent to `target` (named by the route's path). Its fields were checked as the
/// body was read; only the rule that joins two of them (content or attachments) is left.
impl TryFrom<(Target, SendMessageRequest)> for Outgoing {
    type Error = String;

    fn try_from((target, request): (Target, SendMessageRequest)) -> Result<Self, String> {
        let attachments = request.attachments.0.map(|list| list.0);
        Ok(Self {
            target,
            body: MessageBody::new(request.content, attachments)?,
            client_msg_id: request.client_msg_id,
            reply_to: request.reply_to.0.map(|quoted| quoted.0),
        })
    }
}

/// The text of a send: like [`MessageContent`], but it may be `""` when the message carries
/// attachments (see [`MessageBody`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendContent(String);

impl TextField for SendContent {
    const FIELD: &'static str = "content";

    fn describe(schema: &mut MetaSchema) {
        schema.max_length = Some(MessageContent::MAX_CHARS);
        schema.pattern = Some(format!("^({NO_NUL}*{NOT_SPACE_OR_NUL}{NO_NUL}*)?$"));
        schema.description = Some(
            "1–4096 characters, not only whitespace; may be \"\" when `attachments` are sent.",
        );
    }

    fn parse(raw: String) -> Result<Self, String> {
        if raw.is_empty() {
            return Ok(Self(raw));
        }
        MessageContent::parse(raw).map(|content| Self(content.into_string()))
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}
text_field_openapi!(SendContent);

/// What a send carries: text, attachments, or both; never neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody {
    content: String,
    attachments: AttachmentIds,
}

impl MessageBody {
    /// Combines a send's `content` and `attachments`; errors name the field at fault.
    pub fn new(
        content: SendContent,
        attachments: Option<Vec<AttachmentId>>,
    ) -> Result<Self, String> {
        let attachments = AttachmentIds::parse(attachments)?;
        if content.0.is_empty() && attachments.is_empty() {
            return Err(format!(
                "{} must not be empty or only whitespace (it may be empty only when attachments are sent)",
                <MessageContent as TextField>::FIELD
            ));
        }
        Ok(Self {
            content: content.0,
            attachments,
        })
    }

    pub fn content(&self) -> &str {
        &self.content
    }

    pub fn attachments(&self) -> &AttachmentIds {
        &self.attachments
    }
}

/// Body of the REST send routes.
#[derive(Debug, Object)]
pub struct SendMessageRequest {
    pub content: SendContent,
    pub client_msg_id: ClientMsgId,
    /// Ids of files uploaded by the sender (`POST /attachments`) and not sent yet: 1–10. Leave it
    /// out for none.
    pub attachments: Omittable<AttachmentList>,
    /// The id of a message of the same conversation that this one answers. Leave it out for a
    /// message that answers none (`null` is refused, as for every optional field).
    pub reply_to: Omittable<QuotedId>,
}

/// `reply_to` of a send: the message answered. A message id under the name errors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedId(pub MessageId);

impl Named for QuotedId {
    const FIELD: &'static str = "reply_to";
}

string_type!(QuotedId, "MessageId", MessageId::schema());

impl poem_openapi::types::ParseFromJSON for QuotedId {
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        MessageId::parse_from_json(value)
            .map(Self)
            .map_err(poem_openapi::types::ParseError::propagate)
    }
}

impl poem_openapi::types::ToJSON for QuotedId {
    fn to_json(&self) -> Option<serde_json::Value> {
        self.0.to_json()
    }
}
