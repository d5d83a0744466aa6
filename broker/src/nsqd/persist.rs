//! Disk persistence for the engine, enabled by a non-empty `--data-path`: the `--data-path`
//! lock, `nsqd.dat` restore at start (topics, channels, paused flags) and its atomic rewrite
//! on every lifecycle event and at shutdown ([`Persistence`]). The queues' disk backends are
//! in [`super::disk_backend`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nsq_wire::names::{is_valid_channel_name, is_valid_topic_name};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::backend::BackendFactory;
use super::context::NsqdContext;
use super::disk_backend::DiskBackends;
use super::health::Health;
use super::metadata::{self, ChannelMetadata, DataDirLock, Metadata, MetadataError, TopicMetadata};
use super::options::NsqdOptions;

/// The backend factory handed to the engine.
pub type SharedBackends = Arc<dyn BackendFactory>;

/// The persistence side of a running nsqd: holds the `--data-path` lock and keeps
/// `nsqd.dat` up to date.
#[derive(Debug)]
pub struct Persistence {
    data_path: PathBuf,
    _lock: DataDirLock,
    writer: Option<JoinHandle<()>>,
    /// Serializes `nsqd.dat` writes; `true` once the final one is done, so a rewrite still
    /// running on a blocking thread when the writer task is aborted cannot overwrite it with
    /// an older snapshot.
    final_written: Arc<parking_lot::Mutex<bool>>,
}

impl Persistence {
    /// Locks `opts.data_path` and returns the persistence state with the backend factory,
    /// or `None` when `data_path` is empty (an in-memory broker).
    /// Disk write outcomes go to `health`.
    pub fn open(
        opts: &NsqdOptions,
        health: Arc<Health>,
    ) -> Result<Option<(Persistence, SharedBackends)>, MetadataError> {
        if opts.data_path.as_os_str().is_empty() {
            return Ok(None);
        }
        let lock = DataDirLock::acquire(&opts.data_path)?;
        let persistence = Persistence {
            data_path: opts.data_path.clone(),
            _lock: lock,
            writer: None,
            final_written: Arc::default(),
        };
        Ok(Some((
            persistence,
            Arc::new(DiskBackends::new(opts, health)),
        )))
    }

    /// Recreates the topics and channels of `nsqd.dat` (pausing what was paused), rewrites
    /// it, and starts rewriting it on every topic/channel change.
    pub fn restore(&mut self, ctx: &NsqdContext) -> Result<(), MetadataError> {
        if let Some(saved) = metadata::load(&self.data_path)? {
            load_topics(ctx, saved);
        }
        save(ctx, &self.data_path)?;
        self.writer = Some(tokio::spawn(write_on_change(
            ctx.clone(),
            self.data_path.clone(),
            self.final_written.clone(),
        )));
        Ok(())
    }

    /// Final `nsqd.dat` write at shutdown.
    pub fn shutdown(&mut self, ctx: &NsqdContext) {
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
        let mut final_written = self.final_written.lock();
        if let Err(err) = save(ctx, &self.data_path) {
            tracing::error!(%err, "failed to persist metadata at shutdown");
        }
        *final_written = true;
    }
}

fn load_topics(ctx: &NsqdContext, saved: Metadata) {
    for saved_topic in saved.topics {
        if !is_valid_topic_name(&saved_topic.name) {
            tracing::warn!(topic = %saved_topic.name, "skipping creation of invalid topic");
            continue;
        }
        let topic = match ctx.get_or_create_topic(&saved_topic.name) {
            Ok(topic) => topic,
            Err(err) => {
                tracing::error!(topic = %saved_topic.name, %err, "failed to restore topic");
                continue;
            }
        };
        // Paused before its channels exist, so nothing is distributed in between.
        if saved_topic.paused {
            topic.pause();
        }
        for saved_channel in saved_topic.channels {
            if !is_valid_channel_name(&saved_channel.name) {
                tracing::warn!(channel = %saved_channel.name, "skipping creation of invalid channel");
                continue;
            }
            match topic.get_or_create_channel(&saved_channel.name) {
                Ok(channel) if saved_channel.paused => channel.pause(),
                Ok(_) => {}
                Err(err) => tracing::error!(topic = %saved_topic.name,
                    channel = %saved_channel.name, %err, "failed to restore channel"),
            }
        }
    }
}

/// The non-ephemeral topics and channels with their paused flags.
pub fn snapshot(ctx: &NsqdContext) -> Metadata {
    let topics = ctx
        .topics()
        .into_iter()
        .filter(|topic| !topic.is_ephemeral())
        .map(|topic| TopicMetadata {
            name: topic.name().to_owned(),
            paused: topic.is_paused(),
            channels: topic
                .channels()
                .into_iter()
                .filter(|channel| !channel.is_ephemeral())
                .map(|channel| ChannelMetadata {
                    name: channel.name().to_owned(),
                    paused: channel.is_paused(),
                })
                .collect(),
        })
        .collect();
    Metadata::new(topics)
}

fn save(ctx: &NsqdContext, data_path: &Path) -> Result<(), MetadataError> {
    metadata::save(data_path, &snapshot(ctx))
}

/// Rewrites `nsqd.dat` after lifecycle events; a burst of events costs one write.
async fn write_on_change(
    ctx: NsqdContext,
    data_path: PathBuf,
    final_written: Arc<parking_lot::Mutex<bool>>,
) {
    let mut events = ctx.events();
    let mut last_written = snapshot(&ctx);
    loop {
        tokio::select! {
            _ = ctx.shutdown_token().cancelled() => return,
            event = events.recv() => match event {
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
        while events.try_recv().is_ok() {}
        let current = snapshot(&ctx);
        if current == last_written {
            continue;
        }
        let path = data_path.clone();
        let to_write = current.clone();
        let gate = final_written.clone();
        let result = tokio::task::spawn_blocking(move || {
            let final_written = gate.lock();
            if *final_written {
                return Ok(());
            }
            metadata::save(&path, &to_write)
        })
        .await;
        match result {
            Ok(Ok(())) => {
                ctx.set_health(None);
                last_written = current;
            }
            Ok(Err(err)) => {
                tracing::error!(%err, "failed to persist metadata");
                ctx.set_health(Some(err.to_string()));
            }
            Err(err) => tracing::error!(%err, "metadata writer task failed"),
        }
    }
}
