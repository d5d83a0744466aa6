//! OS signals that stop the App (default: SIGINT, SIGTERM, SIGQUIT).

use futures::future::{select_all, BoxFuture};

/// A signal the App can stop on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (what orchestrators send).
    Terminate,
    /// SIGQUIT.
    Quit,
    /// SIGHUP.
    Hangup,
}

impl Signal {
    /// The default set: SIGINT, SIGTERM, SIGQUIT.
    pub const DEFAULT: [Signal; 3] = [Signal::Interrupt, Signal::Terminate, Signal::Quit];
}

/// Registers handlers for `signals` now (so a signal arriving early is not missed) and
/// returns a future that resolves with the first one received. No signals: never resolves.
pub(crate) fn listen(signals: &[Signal]) -> std::io::Result<BoxFuture<'static, Signal>> {
    let mut waits: Vec<BoxFuture<'static, Signal>> = Vec::new();
    for &signal in signals {
        waits.push(wait_for(signal)?);
    }
    if waits.is_empty() {
        return Ok(Box::pin(std::future::pending()));
    }
    Ok(Box::pin(async move { select_all(waits).await.0 }))
}

#[cfg(unix)]
fn wait_for(signal: Signal) -> std::io::Result<BoxFuture<'static, Signal>> {
    use tokio::signal::unix::{signal as unix_signal, SignalKind};
    let kind = match signal {
        Signal::Interrupt => SignalKind::interrupt(),
        Signal::Terminate => SignalKind::terminate(),
        Signal::Quit => SignalKind::quit(),
        Signal::Hangup => SignalKind::hangup(),
    };
    let mut stream = unix_signal(kind)?;
    Ok(Box::pin(async move {
        stream.recv().await;
        signal
    }))
}

#[cfg(not(unix))]
fn wait_for(signal: Signal) -> std::io::Result<BoxFuture<'static, Signal>> {
    match signal {
        Signal::Interrupt => Ok(Box::pin(async move {
            let _ = tokio::signal::ctrl_c().await;
            signal
        })),
        _ => Ok(Box::pin(std::future::pending())),
    }
}
