//! `nsq to-http` (Go's `nsq_to_http`): consumes a topic/channel and sends every message to
//! HTTP endpoint(s): `--post` URLs get the body, `--get` URLs get it in place of `%s`
//! (URL-escaped). A 2xx reply FINishes the message, anything else requeues it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use transport_nsq::{HandlerError, Message};

use crate::source::{shutdown_signal, Source};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  nsq to-http --topic orders --lookupd-http-address 127.0.0.1:4161 --post http://127.0.0.1:8080/orders\n  \
                        nsq to-http -topic=orders -nsqd-tcp-address=127.0.0.1:4150 -get='http://127.0.0.1:8080/hook?data=%s'"
)]
pub struct ToHttpArgs {
    /// NSQ topic.
    #[arg(long)]
    topic: String,
    /// NSQ channel.
    #[arg(long, default_value = "nsq_to_http")]
    channel: String,
    /// nsqd TCP address (may be given multiple times).
    #[arg(long = "nsqd-tcp-address")]
    nsqd_tcp_address: Vec<String>,
    /// lookupd HTTP address (may be given multiple times).
    #[arg(long = "lookupd-http-address")]
    lookupd_http_address: Vec<String>,
    /// HTTP address to make a POST request to; the message is the body (may be given multiple times).
    #[arg(long)]
    post: Vec<String>,
    /// HTTP address to make a GET request to; '%s' is replaced with the escaped message (may be given multiple times).
    #[arg(long)]
    get: Vec<String>,
    /// Message Content-Type for POST.
    #[arg(long = "content-type", default_value = "application/octet-stream")]
    content_type: String,
    /// Where to send each message: round-robin or hostpool (both pick the next endpoint per message).
    #[arg(long, default_value = "hostpool", value_parser = ["round-robin", "hostpool", "epsilon-greedy"])]
    mode: String,
    /// Timeout for HTTP connect.
    #[arg(long = "http-client-connect-timeout", default_value = "2s", value_parser = broker::nsqd::cli::parse_go_duration)]
    http_client_connect_timeout: Duration,
    /// Timeout for HTTP request.
    #[arg(long = "http-client-request-timeout", default_value = "20s", value_parser = broker::nsqd::cli::parse_go_duration)]
    http_client_request_timeout: Duration,
    /// Max number of messages to allow in flight.
    #[arg(long = "max-in-flight", default_value_t = 200)]
    max_in_flight: usize,
    /// Option to pass through to the consumer (key=value, go-nsq names; may be given multiple times).
    #[arg(long = "consumer-opt")]
    consumer_opt: Vec<String>,
}

#[derive(Debug, Clone)]
enum Endpoint {
    Post(String),
    Get(String),
}

pub async fn run(args: ToHttpArgs) -> anyhow::Result<()> {
    if args.post.is_empty() == args.get.is_empty() {
        bail!("--get or --post required (not both)");
    }
    let source = Source::new(
        args.nsqd_tcp_address.clone(),
        args.lookupd_http_address.clone(),
        args.max_in_flight,
        &args.consumer_opt,
    )?;
    let endpoints: Arc<Vec<Endpoint>> = Arc::new(
        args.post
            .iter()
            .cloned()
            .map(Endpoint::Post)
            .chain(args.get.iter().cloned().map(Endpoint::Get))
            .collect(),
    );
    let client = reqwest::Client::builder()
        .connect_timeout(args.http_client_connect_timeout)
        .timeout(args.http_client_request_timeout)
        .user_agent(concat!("nsq_to_http/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let next = Arc::new(AtomicUsize::new(0));
    let content_type = args.content_type.clone();
    let consumer = source
        .consume(&args.topic, &args.channel, move |message: Message| {
            let endpoint =
                endpoints[next.fetch_add(1, Ordering::Relaxed) % endpoints.len()].clone();
            let client = client.clone();
            let content_type = content_type.clone();
            let body = message.body().clone();
            async move {
                let request = match &endpoint {
                    Endpoint::Post(url) => client
                        .post(url)
                        .header("Content-Type", content_type)
                        .body(body),
                    Endpoint::Get(url) => client.get(url.replace("%s", &escape(&body))),
                };
                let response = request
                    .send()
                    .await
                    .map_err(|e| HandlerError::msg(format!("{endpoint:?}: {e}")))?;
                if !response.status().is_success() {
                    return Err(HandlerError::msg(format!(
                        "{endpoint:?}: status {}",
                        response.status()
                    )));
                }
                Ok(())
            }
        })
        .await?;
    shutdown_signal().await?;
    consumer.drain(Duration::from_secs(5)).await;
    Ok(())
}

/// Go's `url.QueryEscape`.
fn escape(body: &[u8]) -> String {
    let mut out = String::with_capacity(body.len());
    for &byte in body {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_like_go_query_escape() {
        assert_eq!(super::escape(b"a b&c=d/\xff"), "a+b%26c%3Dd%2F%FF");
    }
}
