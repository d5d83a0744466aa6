//! The commands of protocol V2, with nsqd's validation order and exact error texts.
//! Commands that carry a body are handled in two steps: the line checks that nsqd makes
//! before reading the body ([`Conn::exec_line`] returns [`Step::NeedBody`]), then the rest
//! once the body is read ([`Conn::exec_body`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nsq_wire::command::{Body, BodyKind, Line};
use nsq_wire::error::ErrorCode;
use nsq_wire::message::MessageId;
use nsq_wire::names::is_valid_name;
use nsq_wire::{CLOSE_WAIT, OK};

use super::channel::SubError;
use super::client::ClientState;
use super::connection::Conn;
use super::errors::{go_quote, parse_base10, raw, with_raw, BodyCommand, ProtocolError};
use super::identify::identify;
use super::inflight::InFlightError;
use super::topic::{PublishError, Topic};

/// The outcome of a command line.
pub(super) enum Step {
    /// Done; with a response frame's data, or nothing to send.
    Done(Option<Bytes>),
    /// The line passed its checks; read this body next.
    NeedBody(Pending),
}

/// A command waiting for its body.
pub(super) struct Pending {
    pub cmd: BodyCommand,
    pub kind: BodyKind,
    action: Action,
}

enum Action {
    Identify,
    Auth,
    Pub { topic: Bytes },
    Dpub { topic: Bytes, defer: Duration },
    Mpub { topic: Arc<Topic> },
}

type CmdResult = Result<Option<Bytes>, ProtocolError>;

fn ok() -> CmdResult {
    Ok(Some(Bytes::from_static(OK)))
}

impl Conn {
    /// Runs a command line (or its pre-body checks).
    pub(super) async fn exec_line(&mut self, line: Line) -> Result<Step, ProtocolError> {
        let name = &line.name[..];
        if name == b"IDENTIFY" {
            self.require_state(ClientState::Init, "IDENTIFY")?;
            return Ok(self.need_body(&line, BodyCommand::Identify, Action::Identify));
        }
        if self.security.tls_required && self.stream.tls().is_none() {
            return Err(ProtocolError::invalid(with_raw(
                "cannot ",
                name,
                " in current state (TLS required)",
            )));
        }
        let done = |result: CmdResult| result.map(Step::Done);
        match name {
            b"FIN" => done(self.fin(&line)),
            b"RDY" => done(self.rdy(&line)),
            b"REQ" => done(self.req(&line)),
            b"PUB" => self.pub_line(&line),
            b"MPUB" => {
                // nsqd checks MPUB's authorization before reading its body.
                if let Some(topic) = line.params.first().filter(|t| is_valid_name(t)) {
                    self.check_auth("MPUB", topic, b"").await?;
                }
                self.mpub_line(&line)
            }
            b"DPUB" => self.dpub_line(&line),
            b"NOP" => Ok(Step::Done(None)),
            b"TOUCH" => done(self.touch(&line)),
            b"SUB" => done(self.sub(&line).await),
            b"CLS" => done(self.cls()),
            b"AUTH" => self.auth_line(&line),
            _ => Err(ProtocolError::invalid(with_raw(
                "invalid command ",
                name,
                "",
            ))),
        }
    }

    /// Finishes a command whose body has been read.
    pub(super) async fn exec_body(&mut self, pending: Pending, body: Body) -> CmdResult {
        let single = match &body {
            Body::Single(data) => data.clone(),
            Body::Multi(_) => Bytes::new(),
        };
        match pending.action {
            Action::Identify => identify(self, &single),
            Action::Auth => self.auth_command(&single).await,
            Action::Pub { topic } => {
                self.check_auth("PUB", &topic, b"").await?;
                self.publish(&topic, single, Duration::ZERO, "PUB").await
            }
            Action::Dpub { topic, defer } => {
                self.check_auth("DPUB", &topic, b"").await?;
                self.publish(&topic, single, defer, "DPUB").await
            }
            Action::Mpub { topic } => {
                let Body::Multi(bodies) = body else {
                    return Err(ProtocolError::new(
                        ErrorCode::BadBody,
                        "MPUB failed to read body",
                    ));
                };
                let count = bodies.len() as u64;
                let failed = |err: PublishError| {
                    ProtocolError::new(ErrorCode::MpubFailed, format!("MPUB failed {err}"))
                };
                topic.publish_multi(bodies).map_err(failed)?;
                topic.sync_ack().await.map_err(failed)?;
                self.client.count_publish(topic.name(), count);
                ok()
            }
        }
    }

    fn need_body(&self, line: &Line, cmd: BodyCommand, action: Action) -> Step {
        let limits = self.decoder_limits();
        let kind = line.body_kind(&limits).unwrap_or(BodyKind::Single {
            max: limits.max_body_size,
        });
        Step::NeedBody(Pending { cmd, kind, action })
    }

    fn decoder_limits(&self) -> nsq_wire::command::BodyLimits {
        let opts = self.ctx.options();
        nsq_wire::command::BodyLimits {
            max_msg_size: usize::try_from(opts.max_msg_size).unwrap_or(0),
            max_body_size: usize::try_from(opts.max_body_size).unwrap_or(0),
        }
    }

    fn require_state(&self, state: ClientState, cmd: &str) -> Result<(), ProtocolError> {
        if self.client.state() != state {
            return Err(ProtocolError::invalid(format!(
                "cannot {cmd} in current state"
            )));
        }
        Ok(())
    }

    fn require_consuming(&self, cmd: &str) -> Result<(), ProtocolError> {
        match self.client.state() {
            ClientState::Subscribed | ClientState::Closing => Ok(()),
            ClientState::Init => Err(ProtocolError::invalid(format!(
                "cannot {cmd} in current state"
            ))),
        }
    }

    fn auth_line(&mut self, line: &Line) -> Result<Step, ProtocolError> {
        self.require_state(ClientState::Init, "AUTH")?;
        if !line.params.is_empty() {
            return Err(ProtocolError::invalid("AUTH invalid number of parameters"));
        }
        Ok(self.need_body(line, BodyCommand::Auth, Action::Auth))
    }

    async fn sub(&mut self, line: &Line) -> CmdResult {
        self.require_state(ClientState::Init, "SUB")?;
        if self.settings.heartbeat_interval.is_none() {
            return Err(ProtocolError::invalid(
                "cannot SUB with heartbeats disabled",
            ));
        }
        let [topic_name, channel_name, ..] = &line.params[..] else {
            return Err(ProtocolError::invalid(
                "SUB insufficient number of parameters",
            ));
        };
        if !is_valid_name(topic_name) {
            return Err(ProtocolError::new(
                ErrorCode::BadTopic,
                format!("SUB topic name {} is not valid", go_quote(topic_name)),
            ));
        }
        if !is_valid_name(channel_name) {
            return Err(ProtocolError::new(
                ErrorCode::BadChannel,
                format!("SUB channel name {} is not valid", go_quote(channel_name)),
            ));
        }
        self.check_auth("SUB", topic_name, channel_name).await?;
        let topic_name = raw(topic_name);
        let channel_name = raw(channel_name);
        let sub_failed = |text: String| ProtocolError::new(ErrorCode::SubFailed, text);
        for attempt in 1..=2 {
            let topic = match self.ctx.get_or_create_topic(&topic_name) {
                Ok(topic) => topic,
                Err(err) => return Err(sub_failed(format!("SUB failed {err}"))),
            };
            match topic.subscribe(&channel_name, self.client.clone()) {
                Ok(channel) => {
                    self.client.set_state(ClientState::Subscribed);
                    self.sub = Some((topic, channel));
                    return ok();
                }
                Err(SubError::Exiting) if attempt == 1 => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(SubError::Exiting) => {
                    return Err(sub_failed("SUB failed to deleted topic/channel".into()));
                }
                Err(err) => return Err(sub_failed(format!("SUB failed {err}"))),
            }
        }
        Err(sub_failed("SUB failed to deleted topic/channel".into()))
    }

    fn rdy(&mut self, line: &Line) -> CmdResult {
        match self.client.state() {
            ClientState::Closing => return Ok(None),
            ClientState::Init => return Err(ProtocolError::invalid("cannot RDY in current state")),
            ClientState::Subscribed => {}
        }
        let count = match line.params.first() {
            None => 1,
            Some(param) => parse_base10(param).ok_or_else(|| {
                ProtocolError::invalid(with_raw("RDY could not parse count ", param, ""))
            })?,
        };
        let max = self.ctx.options().max_rdy_count;
        if count < 0 || count > max {
            return Err(ProtocolError::invalid(format!(
                "RDY count {count} out of range 0-{max}"
            )));
        }
        let previous = self.client.ready_count.swap(count, Ordering::AcqRel);
        if count < previous {
            if let Some((_, channel)) = &self.sub {
                channel.kick();
            }
        }
        Ok(None)
    }

    fn message_id(
        &self,
        line: &Line,
        cmd: &str,
        min_params: usize,
    ) -> Result<MessageId, ProtocolError> {
        self.require_consuming(cmd)?;
        if line.params.len() < min_params {
            return Err(ProtocolError::invalid(format!(
                "{cmd} insufficient number of params"
            )));
        }
        MessageId::from_slice(&line.params[0])
            .ok_or_else(|| ProtocolError::invalid("invalid message ID"))
    }

    fn fin(&mut self, line: &Line) -> CmdResult {
        let id = self.message_id(line, "FIN", 1)?;
        let channel = self.consuming_channel()?;
        channel
            .finish(&self.client, &id)
            .map_err(|err| ProtocolError::new(ErrorCode::FinFailed, id_failure("FIN", &id, err)))?;
        Ok(None)
    }

    fn req(&mut self, line: &Line) -> CmdResult {
        let id = self.message_id(line, "REQ", 2)?;
        let param = &line.params[1];
        let ms = parse_base10(param).ok_or_else(|| {
            ProtocolError::invalid(with_raw("REQ could not parse timeout ", param, ""))
        })?;
        let max = self.ctx.options().max_req_timeout;
        let delay = Duration::from_millis(ms.max(0) as u64).min(max);
        let channel = self.consuming_channel()?;
        channel
            .requeue(&self.client, &id, delay)
            .map_err(|err| ProtocolError::new(ErrorCode::ReqFailed, id_failure("REQ", &id, err)))?;
        Ok(None)
    }

    fn touch(&mut self, line: &Line) -> CmdResult {
        let id = self.message_id(line, "TOUCH", 1)?;
        let channel = self.consuming_channel()?;
        channel
            .touch(&self.client, &id, self.settings.msg_timeout)
            .map_err(|err| {
                ProtocolError::new(ErrorCode::TouchFailed, id_failure("TOUCH", &id, err))
            })?;
        Ok(None)
    }

    fn cls(&mut self) -> CmdResult {
        self.require_state(ClientState::Subscribed, "CLS")?;
        self.client.ready_count.store(0, Ordering::Release);
        self.client.set_state(ClientState::Closing);
        if let Some((_, channel)) = &self.sub {
            channel.kick();
        }
        Ok(Some(Bytes::from_static(CLOSE_WAIT)))
    }

    fn consuming_channel(&self) -> Result<Arc<super::channel::Channel>, ProtocolError> {
        self.sub
            .as_ref()
            .map(|(_, channel)| channel.clone())
            .ok_or_else(|| ProtocolError::invalid("cannot FIN in current state"))
    }

    fn pub_line(&mut self, line: &Line) -> Result<Step, ProtocolError> {
        let Some(topic) = line.params.first() else {
            return Err(ProtocolError::invalid(
                "PUB insufficient number of parameters",
            ));
        };
        check_topic(topic, "PUB topic name")?;
        let action = Action::Pub {
            topic: topic.clone(),
        };
        Ok(self.need_body(line, BodyCommand::Pub, action))
    }

    fn dpub_line(&mut self, line: &Line) -> Result<Step, ProtocolError> {
        let [topic, defer, ..] = &line.params[..] else {
            return Err(ProtocolError::invalid(
                "DPUB insufficient number of parameters",
            ));
        };
        check_topic(topic, "DPUB topic name")?;
        let ms = parse_base10(defer).ok_or_else(|| {
            ProtocolError::invalid(with_raw("DPUB could not parse timeout ", defer, ""))
        })?;
        let max_ms = self.ctx.options().max_req_timeout.as_millis() as i64;
        if ms < 0 || ms > max_ms {
            return Err(ProtocolError::invalid(format!(
                "DPUB timeout {ms} out of range 0-{max_ms}"
            )));
        }
        let action = Action::Dpub {
            topic: topic.clone(),
            defer: Duration::from_millis(ms as u64),
        };
        Ok(self.need_body(line, BodyCommand::Dpub, action))
    }

    fn mpub_line(&mut self, line: &Line) -> Result<Step, ProtocolError> {
        let Some(topic_name) = line.params.first() else {
            return Err(ProtocolError::invalid(
                "MPUB insufficient number of parameters",
            ));
        };
        check_topic(topic_name, "E_BAD_TOPIC MPUB topic name")?;
        let topic = self.publish_topic(topic_name).map_err(|err| {
            ProtocolError::new(ErrorCode::MpubFailed, format!("MPUB failed {err}"))
        })?;
        Ok(self.need_body(line, BodyCommand::Mpub, Action::Mpub { topic }))
    }

    async fn publish(
        &mut self,
        topic: &Bytes,
        body: Bytes,
        defer: Duration,
        cmd: &str,
    ) -> CmdResult {
        let code = if cmd == "DPUB" {
            ErrorCode::DpubFailed
        } else {
            ErrorCode::PubFailed
        };
        let failed = |err: String| ProtocolError::new(code, format!("{cmd} failed {err}"));
        let topic = self.publish_topic(topic).map_err(failed)?;
        topic
            .publish(body, defer)
            .map_err(|err| failed(err.to_string()))?;
        topic
            .sync_ack()
            .await
            .map_err(|err| failed(err.to_string()))?;
        self.client.count_publish(topic.name(), 1);
        ok()
    }
}

fn check_topic(name: &[u8], what: &str) -> Result<(), ProtocolError> {
    if is_valid_name(name) {
        return Ok(());
    }
    Err(ProtocolError::new(
        ErrorCode::BadTopic,
        format!("{what} {} is not valid", go_quote(name)),
    ))
}

/// `<CMD> <id> failed <reason>` with the id's raw bytes.
fn id_failure(cmd: &str, id: &MessageId, err: InFlightError) -> Vec<u8> {
    with_raw(&format!("{cmd} "), id.as_bytes(), &format!(" failed {err}"))
}
