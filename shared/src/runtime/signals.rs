//! Ctrl-C, SIGTERM and SIGHUP (the terminal or SSH session gone), alike for both programs:
//! the first asks for a clean stop, a second Ctrl-C or SIGTERM ends the process at once.
//! SIGHUP never ends it at once: a hang-up often comes twice (the shell passes it on, then
//! the kernel sends its own), and the second must not cut the recording the first is
//! finishing.

use tokio::sync::watch;

/// For the life of the process, on a thread of its own (the viewer's runtimes end before its
/// files are finished, the streamer's may be stuck writing to a stdout nobody reads, and a
/// second Ctrl-C must still work then): the first Ctrl-C,
/// SIGTERM or SIGHUP sets `stop`; a Ctrl-C or SIGTERM after one of them exits at once with
/// status 130. The signals are caught from the return on.
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
                signals.next().await;
                stop.send_replace(true);
                while signals.next().await == Kind::HangUp {}
                std::process::exit(130);
            })
        })?;
    Ok(())
}

/// Which signal came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Ctrl-C or SIGTERM.
    Stop,
    /// SIGHUP.
    #[cfg_attr(not(unix), allow(dead_code))]
    HangUp,
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

    async fn next(&mut self) -> Kind {
        tokio::select! {
            _ = self.interrupt.recv() => Kind::Stop,
            _ = self.terminate.recv() => Kind::Stop,
            _ = self.hangup.recv() => {
                away_from_the_terminal();
                Kind::HangUp
            }
        }
    }
}

/// After a hang-up, writes to the terminal fail (EIO), and `eprintln!` panics on a failed
/// write: the lines of the clean stop would panic the threads finishing it. Output that went
/// to a terminal (a character device) goes to /dev/null instead; a file or pipe is kept.
#[cfg(unix)]
fn away_from_the_terminal() {
    use std::os::fd::AsRawFd;
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: fstat fills a zeroed stat of this process's own descriptor; dup2 replaces
        // the descriptor atomically (a write racing it goes to one or the other).
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFCHR {
                libc::dup2(null.as_raw_fd(), fd);
            }
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

    async fn next(&mut self) -> Kind {
        let _ = tokio::signal::ctrl_c().await;
        Kind::Stop
    }
}
