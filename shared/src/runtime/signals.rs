//! Ctrl-C, SIGTERM and SIGHUP (the terminal or SSH session gone), alike for both programs:
//! the first asks for a clean stop, a second ends the process at once.

use tokio::sync::watch;

/// Resolves on Ctrl-C, SIGTERM or SIGHUP. From then on a second one exits with status 130
/// without waiting for anything (the first lets the frame in flight finish, bounded by its
/// timeout). Call it inside a tokio runtime.
pub async fn shutdown() {
    match Signals::catch() {
        Ok(mut signals) => {
            signals.next().await;
            tokio::spawn(async move {
                signals.next().await;
                std::process::exit(130);
            });
        }
        // Signals that cannot be caught here: Ctrl-C alone.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            tokio::spawn(async {
                let _ = tokio::signal::ctrl_c().await;
                std::process::exit(130);
            });
        }
    }
}

/// For the life of the process, on a thread of its own (the viewer's: its runtimes end before
/// its files are finished): the first Ctrl-C, SIGTERM or SIGHUP (the terminal or SSH session
/// gone) sets `stop`; one that comes once `stop` is set exits at once with status 130 — a
/// second signal, or the first while the program already winds down after its window closed
/// (a recording being finished on a slow card would otherwise not answer Ctrl-C at all).
/// The signals are caught from the return on.
pub fn watch_for_life(stop: watch::Sender<bool>) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut signals = {
        let _inside = runtime.enter();
        Signals::catch()?
    };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                loop {
                    signals.next().await;
                    if stop.send_replace(true) {
                        std::process::exit(130);
                    }
                }
            })
        })?;
    Ok(())
}

/// Ctrl-C, SIGTERM and SIGHUP, caught from [`Signals::catch`] on.
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// Inside a runtime.
    fn catch() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            _ = self.hangup.recv() => {}
        }
    }
}

/// Ctrl-C (and the console closing) where there are no Unix signals.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn catch() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
