//! `nsq to-file` (Go's `nsq_to_file`): writes every message of the topic(s) as a line to a
//! file per topic, optionally gzipped, rotating by size, by time and when the formatted
//! datetime in the name changes. Files are written in `--work-dir` and moved to
//! `--output-dir` when closed. A message is FINished once written to its file; files are
//! fsynced every `--sync-interval` and on close.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use chrono::format::{Item, StrftimeItems};
use clap::Args;
use flate2::write::GzEncoder;
use flate2::Compression;
use tokio::sync::oneshot;
use transport_nsq::{HandlerError, Message};

use crate::source::{shutdown_signal, Source};

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  nsq to-file --topic orders --lookupd-http-address 127.0.0.1:4161 --output-dir /var/log/nsq\n  \
                        nsq to-file -topic=orders -nsqd-tcp-address=127.0.0.1:4150 -gzip -rotate-size=104857600 -rotate-interval=1h"
)]
pub struct ToFileArgs {
    /// NSQ topic (may be given multiple times).
    #[arg(long, required = true)]
    topic: Vec<String>,
    /// NSQ channel.
    #[arg(long, default_value = "nsq_to_file")]
    channel: String,
    /// nsqd TCP address (may be given multiple times).
    #[arg(long = "nsqd-tcp-address")]
    nsqd_tcp_address: Vec<String>,
    /// lookupd HTTP address (may be given multiple times).
    #[arg(long = "lookupd-http-address")]
    lookupd_http_address: Vec<String>,
    /// Directory to write output files to.
    #[arg(long = "output-dir", default_value = "/tmp")]
    output_dir: PathBuf,
    /// Directory for files being written (default: --output-dir).
    #[arg(long = "work-dir")]
    work_dir: Option<PathBuf>,
    /// Output filename format (<TOPIC>, <HOST>, <PID>, <DATETIME>, <REV> are replaced; <REV>
    /// is an increasing revision when a name is already taken).
    #[arg(
        long = "filename-format",
        default_value = "<TOPIC>.<HOST><REV>.<DATETIME>.log"
    )]
    filename_format: String,
    /// strftime-compatible format for <DATETIME> in the filename.
    #[arg(long = "datetime-format", default_value = "%Y-%m-%d_%H")]
    datetime_format: String,
    /// Value to output in the log filename in place of the hostname.
    #[arg(long = "host-identifier", default_value = "")]
    host_identifier: String,
    /// Gzip output files.
    #[arg(long)]
    gzip: bool,
    /// Gzip compression level (1-9, 1=BestSpeed, 9=BestCompression).
    #[arg(long = "gzip-level", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=9))]
    gzip_level: u32,
    /// Rotate the file when it exceeds this many bytes (0 = disabled).
    #[arg(long = "rotate-size", default_value_t = 0)]
    rotate_size: u64,
    /// Rotate the file every duration (0 = disabled).
    #[arg(long = "rotate-interval", default_value = "0s", value_parser = broker::nsqd::cli::parse_go_duration)]
    rotate_interval: Duration,
    /// Sync the file to disk every duration.
    #[arg(long = "sync-interval", default_value = "30s", value_parser = broker::nsqd::cli::parse_go_duration)]
    sync_interval: Duration,
    /// Max number of messages to allow in flight.
    #[arg(long = "max-in-flight", default_value_t = 200)]
    max_in_flight: usize,
    /// Option to pass through to the consumer (key=value, go-nsq names; may be given multiple times).
    #[arg(long = "consumer-opt")]
    consumer_opt: Vec<String>,
}

type Write1 = (Bytes, oneshot::Sender<Result<(), String>>);

pub async fn run(args: ToFileArgs) -> anyhow::Result<()> {
    if StrftimeItems::new(&args.datetime_format).any(|item| matches!(item, Item::Error)) {
        bail!("invalid --datetime-format {:?}", args.datetime_format);
    }
    let source = Source::new(
        args.nsqd_tcp_address.clone(),
        args.lookupd_http_address.clone(),
        args.max_in_flight,
        &args.consumer_opt,
    )?;
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| args.output_dir.clone());
    for dir in [&args.output_dir, &work_dir] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let host = if args.host_identifier.is_empty() {
        broker::nsqd::host_name()
    } else {
        args.host_identifier.clone()
    };
    let mut consumers = Vec::new();
    let mut writers = Vec::new();
    for topic in &args.topic {
        let (tx, rx) = std_mpsc::channel::<Write1>();
        let logger = FileLogger::new(&args, topic, &host, work_dir.clone());
        writers.push(tokio::task::spawn_blocking(move || logger.run(rx)));
        let consumer = source
            .consume(topic, &args.channel, move |message: Message| {
                let (ack, written) = oneshot::channel();
                let queued = tx.send((message.body().clone(), ack));
                async move {
                    queued.map_err(|_| HandlerError::msg("file writer stopped"))?;
                    match written.await {
                        Ok(Ok(())) => Ok::<_, HandlerError>(()),
                        Ok(Err(err)) => Err(HandlerError::msg(err)),
                        Err(_) => Err(HandlerError::msg("file writer stopped")),
                    }
                }
            })
            .await?;
        consumers.push(consumer);
    }
    shutdown_signal().await?;
    for consumer in &consumers {
        consumer.drain(Duration::from_secs(5)).await;
    }
    // Dropping the consumers drops the handlers' senders, which ends each writer.
    drop(consumers);
    for writer in writers {
        writer.await.context("file writer panicked")??;
    }
    Ok(())
}

/// Writes one topic's messages, rotating files.
struct FileLogger {
    topic: String,
    host: String,
    filename_format: String,
    datetime_format: String,
    work_dir: PathBuf,
    output_dir: PathBuf,
    gzip: Option<Compression>,
    rotate_size: u64,
    rotate_interval: Duration,
    sync_interval: Duration,
    rev: u32,
    current: Option<OpenFile>,
}

struct OpenFile {
    work_path: PathBuf,
    output_path: PathBuf,
    writer: Output,
    size: u64,
    opened_at: Instant,
    datetime: String,
}

enum Output {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

impl Output {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Plain(w) => w,
            Output::Gzip(w) => w,
        }
    }

    /// Flushes everything to the file (gzip: completes the stream) and fsyncs it.
    fn finish(self) -> io::Result<()> {
        let file = match self {
            Output::Plain(w) => w.into_inner().map_err(|e| e.into_error())?,
            Output::Gzip(w) => w.finish()?.into_inner().map_err(|e| e.into_error())?,
        };
        file.sync_all()
    }

    fn sync(&mut self) -> io::Result<()> {
        match self {
            Output::Plain(w) => {
                w.flush()?;
                w.get_ref().sync_data()
            }
            // A sync point keeps what was written so far readable from the .gz file.
            Output::Gzip(w) => {
                w.flush()?;
                w.get_ref().get_ref().sync_data()
            }
        }
    }
}

impl FileLogger {
    fn new(args: &ToFileArgs, topic: &str, host: &str, work_dir: PathBuf) -> Self {
        Self {
            topic: topic.to_owned(),
            host: host.to_owned(),
            filename_format: args.filename_format.clone(),
            datetime_format: args.datetime_format.clone(),
            work_dir,
            output_dir: args.output_dir.clone(),
            gzip: args.gzip.then(|| Compression::new(args.gzip_level)),
            rotate_size: args.rotate_size,
            rotate_interval: args.rotate_interval,
            sync_interval: args.sync_interval,
            rev: 0,
            current: None,
        }
    }

    fn run(mut self, rx: std_mpsc::Receiver<Write1>) -> anyhow::Result<()> {
        let mut last_sync = Instant::now();
        loop {
            let wait = self
                .sync_interval
                .saturating_sub(last_sync.elapsed())
                .max(Duration::from_millis(10));
            match rx.recv_timeout(wait) {
                Ok((body, ack)) => {
                    let result = self.write(&body).map_err(|e| e.to_string());
                    if let Err(err) = &result {
                        tracing::error!(topic = self.topic, %err, "write failed");
                    }
                    let _ = ack.send(result);
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if !self.sync_interval.is_zero() && last_sync.elapsed() >= self.sync_interval {
                if let Some(file) = self.current.as_mut() {
                    file.writer.sync().context("syncing output file")?;
                }
                last_sync = Instant::now();
            }
        }
        self.close_current().context("closing output file")
    }

    fn write(&mut self, body: &[u8]) -> io::Result<()> {
        let datetime = self.datetime();
        let rotate = match &self.current {
            None => false,
            Some(file) => {
                file.datetime != datetime
                    || (!self.rotate_interval.is_zero()
                        && file.opened_at.elapsed() >= self.rotate_interval)
            }
        };
        if rotate {
            self.close_current()?;
        }
        if self.current.is_none() {
            self.current = Some(self.open(datetime)?);
        }
        let Some(file) = self.current.as_mut() else {
            return Err(io::Error::other("no output file"));
        };
        let out = file.writer.writer();
        out.write_all(body)?;
        out.write_all(b"\n")?;
        out.flush()?;
        file.size += body.len() as u64 + 1;
        if self.rotate_size > 0 && file.size >= self.rotate_size {
            self.close_current()?;
        }
        Ok(())
    }

    fn datetime(&self) -> String {
        let mut text = String::new();
        use std::fmt::Write as _;
        if write!(
            text,
            "{}",
            chrono::Local::now().format(&self.datetime_format)
        )
        .is_err()
        {
            text.clear();
        }
        text
    }

    fn filename(&self, datetime: &str, rev: u32) -> String {
        let rev = if rev > 0 {
            format!("-{rev:06}")
        } else {
            String::new()
        };
        let mut name = self
            .filename_format
            .replace("<TOPIC>", &self.topic)
            .replace("<HOST>", &self.host)
            .replace("<PID>", &std::process::id().to_string())
            .replace("<DATETIME>", datetime)
            .replace("<REV>", &rev);
        if self.gzip.is_some() && !name.ends_with(".gz") {
            name.push_str(".gz");
        }
        name
    }

    /// Opens the next free name (bumping <REV> past existing files).
    fn open(&mut self, datetime: String) -> io::Result<OpenFile> {
        loop {
            let name = self.filename(&datetime, self.rev);
            let work_path = self.work_dir.join(&name);
            let output_path = self.output_dir.join(&name);
            if exists(&work_path) || exists(&output_path) {
                self.rev += 1;
                continue;
            }
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&work_path)?;
            tracing::info!(path = %work_path.display(), "opened output file");
            let writer = BufWriter::new(file);
            let writer = match self.gzip {
                Some(level) => Output::Gzip(GzEncoder::new(writer, level)),
                None => Output::Plain(writer),
            };
            return Ok(OpenFile {
                work_path,
                output_path,
                writer,
                size: 0,
                opened_at: Instant::now(),
                datetime,
            });
        }
    }

    fn close_current(&mut self) -> io::Result<()> {
        let Some(file) = self.current.take() else {
            return Ok(());
        };
        file.writer.finish()?;
        if file.work_path != file.output_path {
            fs::rename(&file.work_path, &file.output_path)?;
        }
        tracing::info!(path = %file.output_path.display(), bytes = file.size, "closed output file");
        Ok(())
    }
}

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ToFileArgs,
    }

    fn logger(extra: &[&str], dir: &Path) -> FileLogger {
        let mut argv = vec!["x", "--topic", "t", "--nsqd-tcp-address", "a:1"];
        argv.extend_from_slice(extra);
        let output = format!("--output-dir={}", dir.display());
        argv.push(&output);
        let args = Wrapper::parse_from(argv).args;
        FileLogger::new(&args, "t", "host", dir.to_path_buf())
    }

    #[test]
    fn names_follow_the_format() {
        let dir = tempfile::tempdir().unwrap();
        let plain = logger(&[], dir.path());
        assert_eq!(
            plain.filename("2026-01-01_10", 0),
            "t.host.2026-01-01_10.log"
        );
        assert_eq!(plain.filename("d", 2), "t.host-000002.d.log");
        let gz = logger(&["--gzip"], dir.path());
        assert_eq!(gz.filename("d", 0), "t.host.d.log.gz");
    }

    #[test]
    fn rotates_by_size_and_bumps_the_revision() {
        let dir = tempfile::tempdir().unwrap();
        let mut logger = logger(&["--rotate-size", "10"], dir.path());
        for body in ["hello", "world", "again"] {
            logger.write(body.as_bytes()).unwrap();
        }
        logger.close_current().unwrap();
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        let contents: Vec<String> = names
            .iter()
            .map(|n| fs::read_to_string(dir.path().join(n)).unwrap())
            .collect();
        assert!(
            contents.contains(&"hello\nworld\n".to_owned()),
            "{contents:?}"
        );
        assert!(contents.contains(&"again\n".to_owned()), "{contents:?}");
    }

    #[test]
    fn gzip_files_decode_to_the_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut logger = logger(&["--gzip"], dir.path());
        logger.write(b"one").unwrap();
        logger.write(b"two").unwrap();
        logger.close_current().unwrap();
        let entry = fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap();
        let mut text = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(File::open(entry.path()).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "one\ntwo\n");
    }
}
