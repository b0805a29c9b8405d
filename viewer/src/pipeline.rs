//! The one place that knows the order of the stages: receive (network thread) -> decode (a
//! thread per stream) -> board -> window (this thread), with the hub and the recorder beside
//! them. [`run`] starts them, waits for the end and prints the summary line.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};
use shared::wire::connection::Extension;
use tokio::sync::watch;

use crate::board::{Board, Picture};
use crate::config::Config;
use crate::output::ppm::write_ppm;
use crate::output::recorder::create_numbered;
use crate::output::recorder::{is_dir_target, Recorder};
use crate::output::save::Saver;
use crate::stats::summary::print_summary;
use crate::stats::Counters;
use crate::{hub, optical, play, receive, window};

/// Runs the viewer until the window closes, the frame limit is reached or the user interrupts;
/// prints the summary line.
pub fn run(config: Config) -> Result<()> {
    if let Some(path) = &config.play {
        return run_play(&config, path);
    }
    // The credentials are read first: a file others may read stops the viewer before it
    // listens anywhere.
    let credentials = hub_credentials(&config)?;
    prepare_outputs(&config)?;
    let (recorder, recording) = start_recorder(&config)?;
    let (stop, _) = watch::channel(false);
    shared::runtime::signals::watch_for_life(stop.clone())
        .context("cannot start the signal thread")?;
    let (listener, local) = listen(config.listen)?;
    say_allowed(&config.allow);
    let board = new_board(&config);
    let counters = Arc::new(Counters::default());
    // `--optical`: the marker's codes, drawn by the window and read by the decoders.
    let optical = config.optical.then(|| Arc::new(optical::Loop::default()));
    let allow = Arc::new(config.allow.clone());
    let hub = start_hub(&config, credentials, &allow, &counters, &stop)?;
    let (saver, saving) = start_saver(&config, &counters)?.unzip();
    let shared = receive::Shared {
        limits: config.limits,
        ext: Arc::new(Extension {
            name: String::new(),
            window: shared::wire::ext::MAX_WINDOW,
            secret: config.secret.as_ref().map(|s| s.bytes()),
        }),
        // With a window, marks are always read (a few dozen pixels): the figures band shows
        // glass-to-glass times whenever the pictures carry them.
        measure: config.measure || !config.headless,
        // Headless, "on screen" is when the picture is decoded; with a window, the window
        // measures after handing the picture over.
        glass_at_decode: config.measure && config.headless,
        allow,
        saver,
        #[cfg(feature = "ros2")]
        ros2: start_ros2(&config)?,
        frames: config.frames,
        per_client: config.max_per_client,
        board: board.clone(),
        counters: counters.clone(),
        recorder: recorder.clone(),
        stop: stop.clone(),
        optical: optical.clone(),
    };
    let network = spawn_network(listener, shared)?;

    let shown = show(
        &config,
        &board,
        &stop,
        &counters,
        &recorder,
        (local, None, optical.as_deref()),
    );
    let threads = Threads {
        network,
        saving,
        hub,
        recording,
    };
    let network_result = threads.join(&stop, &recorder);
    let snapshot = write_snapshot(&config, &board, &shown);
    let recorded =
        (config.record.is_some() || recorder.written().0 > 0).then(|| recorder.written());
    // The summary whatever became of the snapshot (a full disk): scripts read it.
    print_summary(
        &counters,
        config.save_dir.is_some(),
        (config.measure, config.optical),
        recorded,
    );
    snapshot?;
    network_result?;
    shown?;
    Ok(())
}

/// `--http-auth` and `--http-cert`/`--http-key`, read and checked.
fn hub_credentials(config: &Config) -> Result<(Option<hub::auth::Auth>, Option<hub::tls::Tls>)> {
    let auth = config
        .http_auth
        .as_deref()
        .map(hub::auth::Auth::load)
        .transpose()?;
    let tls = config
        .http_tls
        .as_ref()
        .map(|(cert, key)| hub::tls::Tls::load(cert, key))
        .transpose()?;
    Ok((auth, tls))
}

/// The recorder (`--record`, `R`) and its thread.
fn start_recorder(config: &Config) -> Result<(Arc<Recorder>, JoinHandle<()>)> {
    let recorder = Recorder::with_format(
        config.record.clone(),
        config.limits.read_timeout,
        config.record_format,
    );
    let recording = recorder
        .spawn()
        .context("cannot start the recording thread")?;
    Ok((recorder, recording))
}

/// `--http`: the hub, listening and serving on its own thread.
fn start_hub(
    config: &Config,
    (auth, tls): (Option<hub::auth::Auth>, Option<hub::tls::Tls>),
    allow: &Arc<Vec<shared::cli::Cidr>>,
    counters: &Arc<Counters>,
    stop: &watch::Sender<bool>,
) -> Result<Option<JoinHandle<std::io::Result<()>>>> {
    let Some(addr) = config.http else {
        return Ok(None);
    };
    let listener = hub::bind(addr, tls.is_some())?;
    let access = hub::Access {
        allow: allow.clone(),
        per_client: config.http_max_per_client,
        auth,
        hosts: config.http_hosts.clone(),
        origins: config.http_origins.clone(),
        max_frame_bytes: config.limits.max_frame_bytes,
        tls,
    };
    Ok(Some(hub::spawn(listener, counters, access, stop)?))
}

/// The threads beside the window, joined at the end.
struct Threads {
    network: JoinHandle<Result<()>>,
    saving: Option<JoinHandle<()>>,
    hub: Option<JoinHandle<std::io::Result<()>>>,
    recording: JoinHandle<()>,
}

impl Threads {
    /// Waits for the network thread, then for what it fed (the last saved files, the hub,
    /// the recording); returns how the network thread ended, or that a thread panicked. A
    /// panic is reported after every other thread is joined and the recording finished:
    /// returning at once would leave the files unfinished and print no summary.
    fn join(self, stop: &watch::Sender<bool>, recorder: &Recorder) -> Result<()> {
        let mut result = self
            .network
            .join()
            .unwrap_or_else(|_| Err(anyhow!("network thread panicked")));
        if let Some(saving) = self.saving {
            // Every connection has ended (or unwound), so the queue is closed: this waits
            // for the last files.
            if saving.join().is_err() && result.is_ok() {
                result = Err(anyhow!("saving thread panicked"));
            }
        }
        if let Some(hub) = self.hub {
            // The network thread set the stop flag on its way out, which ends the hub too.
            stop.send_replace(true);
            hub::join(hub);
        }
        recorder.close();
        if self.recording.join().is_err() && result.is_ok() {
            result = Err(anyhow!("recording thread panicked"));
        }
        result
    }
}

/// The board, with the picture budget (`--max-pixels`). Headless, pictures are decoded as
/// if shown in a window of `--size` (no larger than that needs, by DCT scaling), unless
/// `--snapshot` wants the last one whole.
fn new_board(config: &Config) -> Arc<Board> {
    let board = Board::default();
    board.set_max_pixels(config.max_pixels);
    if config.headless && config.snapshot.is_none() {
        board.set_display_size(config.size.width, config.size.height);
    }
    Arc::new(board)
}

/// The window until it closes (nothing headless); returns the picture on screen at the end.
/// `listen`: the address streamers connect to, the playback with `--play`, the marker's
/// codes with `--optical`.
fn show(
    config: &Config,
    board: &Board,
    stop: &watch::Sender<bool>,
    counters: &Counters,
    recorder: &Recorder,
    (listen, play, optical): (
        SocketAddr,
        Option<&play::control::Control>,
        Option<&optical::Loop>,
    ),
) -> Result<Option<Picture>> {
    if config.headless {
        return Ok(None);
    }
    let options = window::Options {
        board,
        stop,
        listen,
        size: config.size,
        counters,
        measure: config.measure,
        hud: config.hud,
        snapshot_dir: &config.snapshot_dir,
        recorder,
        play,
        optical,
    };
    // A panic in the window (its message printed already) still winds the rest down: the
    // recording finished, the summary printed, rather than cut off mid-file.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| window::run(&options))).unwrap_or_else(
        |_| {
            stop.send_replace(true);
            Err(anyhow!("the window panicked"))
        },
    )
}

/// `--play FILE`: the recording played into the board instead of streamers received, shown
/// in the window (or, headless, played to the end); then the summary line.
fn run_play(config: &Config, path: &Path) -> Result<()> {
    let unused = [
        ("--record", config.record.is_some()),
        ("--save-dir", config.save_dir.is_some()),
        ("--http", config.http.is_some()),
        ("--allow", !config.allow.is_empty()),
        ("--frames", config.frames > 0),
    ];
    let unused: Vec<&str> = unused.iter().filter(|u| u.1).map(|u| u.0).collect();
    if !unused.is_empty() {
        eprintln!(
            "viewer: --play receives nothing: {} ignored",
            unused.join(", ")
        );
    }
    create_snapshot_dir(config)?;
    let (stop, _) = watch::channel(false);
    let board = new_board(config);
    let counters = Arc::new(Counters::default());
    let setup = play::Setup {
        board: board.clone(),
        counters: counters.clone(),
        stop: stop.clone(),
        print: config.measure,
        end_at_last: config.headless,
        topic: config.topic.clone(),
    };
    let player = play::Player::start(path, config.limits.max_frame_bytes, setup)?;
    shared::runtime::signals::watch_for_life(stop.clone())
        .context("cannot start the signal thread")?;
    // `R` has nothing live to record here: a closed recorder, so the key does nothing.
    let recorder = Recorder::new(None, config.limits.read_timeout);
    recorder.close();
    let playing = (config.listen, Some(player.control.as_ref()), None);
    let shown = show(config, &board, &stop, &counters, &recorder, playing);
    // Headless, the player ends at the last frame or on Ctrl-C; with a window, on closing it.
    let played = player.join();
    stop.send_replace(true);
    let snapshot = write_snapshot(config, &board, &shown);
    print_summary(&counters, false, (false, false), None);
    snapshot?;
    played?;
    shown.map(|_| ())
}

/// Creates the output directories and checks the `--record` file, so that a bad path fails
/// now rather than when the first streamer connects.
fn prepare_outputs(config: &Config) -> Result<()> {
    if let Some(dir) = &config.save_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the save directory", dir.display()))?;
    }
    create_snapshot_dir(config)?;
    if let Some(dir) = config.record.as_ref().filter(|p| is_dir_target(p)) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the record directory", dir.display()))?;
    } else if let Some(path) = &config.record {
        // The file the recording will take (`FILE-2` beside an existing one, which is left as
        // it is, read-only or not), made and removed: the place takes files.
        let (made, _) = create_numbered(path)
            .with_context(|| format!("{}: cannot record into this file", path.display()))?;
        std::fs::remove_file(&made)
            .with_context(|| format!("{}: cannot record into this file", made.display()))?;
    }
    Ok(())
}

/// Where `S` writes: created before the window opens.
fn create_snapshot_dir(config: &Config) -> Result<()> {
    std::fs::create_dir_all(&config.snapshot_dir).with_context(|| {
        format!(
            "{}: cannot create the snapshot directory",
            config.snapshot_dir.display()
        )
    })
}

/// `--save-dir`: starts the thread that writes every payload, and returns the handle the
/// connections queue payloads through.
fn start_saver(
    config: &Config,
    counters: &Arc<Counters>,
) -> Result<Option<(Saver, JoinHandle<()>)>> {
    let Some(dir) = &config.save_dir else {
        return Ok(None);
    };
    let started =
        Saver::spawn(dir.clone(), counters.clone()).context("cannot start the saving thread")?;
    Ok(Some(started))
}

/// With `--allow`, says once which streamers are accepted.
fn say_allowed(allow: &[shared::cli::Cidr]) {
    if !allow.is_empty() {
        let list: Vec<String> = allow.iter().map(|c| c.to_string()).collect();
        eprintln!("viewer: accepting streamers from {} only", list.join(", "));
    }
}

/// Binds the streamer port and says where it listens (a port of 0 picks a free one).
fn listen(addr: SocketAddr) -> Result<(std::net::TcpListener, SocketAddr)> {
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    eprintln!("viewer: listening on {local}");
    Ok((listener, local))
}

/// Starts the network thread: its own single-threaded runtime serving streamers until the
/// stop flag is set and every connection has wound down.
fn spawn_network(
    listener: std::net::TcpListener,
    shared: receive::Shared,
) -> Result<JoinHandle<Result<()>>> {
    async_thread("network", async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        receive::serve(listener, shared).await;
        Ok(())
    })
}

/// Runs `task` on a thread of its own, in a single-threaded async runtime.
fn async_thread(
    name: &str,
    task: impl std::future::Future<Output = Result<()>> + Send + 'static,
) -> Result<JoinHandle<Result<()>>> {
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(task)
        })?;
    Ok(thread)
}

/// `--snapshot PATH`: the last picture decoded (or, failing that, the one on screen) as PPM.
fn write_snapshot(config: &Config, board: &Board, shown: &Result<Option<Picture>>) -> Result<()> {
    let last = board.take_any().or(shown.as_ref().ok().cloned().flatten());
    if let (Some(path), Some(picture)) = (&config.snapshot, &last) {
        write_ppm(path, picture)
            .with_context(|| format!("{}: cannot write snapshot", path.display()))?;
    }
    Ok(())
}

/// `--ros2-publish`: DDS and its publishing thread, started before any streamer connects.
#[cfg(feature = "ros2")]
fn start_ros2(config: &Config) -> Result<Option<Arc<crate::output::ros2::Ros2Out>>> {
    let Some(prefix) = &config.ros2_publish else {
        return Ok(None);
    };
    Ok(Some(Arc::new(crate::output::ros2::Ros2Out::start(prefix)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A network thread that panicked: the recording is still finished (its frame on disk,
    /// counted) before the panic is reported, not left without its sizes and last cluster.
    #[test]
    fn a_panicked_network_thread_still_finishes_the_recording() {
        let dir = std::env::temp_dir().join(format!("threads-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let recorder = Recorder::new(Some(dir.join("a.mkv")), Duration::from_secs(60));
        let recording = recorder.spawn().unwrap();
        let rgb = [200u8; 32 * 16 * 3];
        let image = turbojpeg::Image {
            pixels: &rgb[..],
            width: 32,
            pitch: 96,
            height: 16,
            format: turbojpeg::PixelFormat::RGB,
        };
        let jpeg = turbojpeg::compress(image, 80, turbojpeg::Subsamp::Sub2x2).unwrap();
        let peer = "127.0.0.1:9".parse().unwrap();
        recorder.offer(1, (peer, None), &jpeg, Instant::now());
        let network = std::thread::spawn(|| -> Result<()> { panic!("a test's deliberate panic") });
        let threads = Threads {
            network,
            saving: None,
            hub: None,
            recording,
        };
        let (stop, _) = watch::channel(false);
        let err = threads.join(&stop, &recorder).unwrap_err();
        assert_eq!(err.to_string(), "network thread panicked");
        assert_eq!(recorder.written(), (1, 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
