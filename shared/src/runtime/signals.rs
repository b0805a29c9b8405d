//! Ctrl-C and SIGTERM, alike for both programs: the first asks for a clean stop, a second
//! Ctrl-C ends the process at once.

/// Resolves on Ctrl-C or SIGTERM. From then on a second Ctrl-C exits with status 130 without
/// waiting for anything (the first lets the frame in flight finish, bounded by its timeout).
/// Call it inside a tokio runtime.
pub async fn shutdown() {
    first_signal().await;
    tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(130);
    });
}

async fn first_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
