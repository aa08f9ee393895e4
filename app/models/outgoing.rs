//! A message on its way in: what a sender asks to send, validated, whichever wire form it came
//! in. A `send` frame and the REST send body both become an [`Outgoing`] (by `TryFrom`), which is
//! what `services::messaging::send` takes and the message writer's `Draft` is made of. A new
//! field of a send is added here, to the two wire forms, and to the draft.

use super::{
    fields::TextField,
    frames::{SendFrame, Target},
    messages::{ClientMsgId, MessageBody, MessageId, SendContent, SendMessageRequest},
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
            .map_err(|reason| format!("{} {reason}", SendContent::FIELD))?;
        Ok(Self {
            target,
            body: MessageBody::new(content, frame.attachments)?,
            client_msg_id: ClientMsgId::parse(frame.client_msg_id)
                .map_err(|reason| format!("{} {reason}", ClientMsgId::FIELD))?,
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
