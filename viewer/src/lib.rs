//! The viewer: listens for streamers, acknowledges every frame as soon as it has arrived,
//! decodes the newest one per stream and shows it.
//!
//! Layout, one module per stage; only [`run`] knows their order:
//! - [`receiver`]: accepts connections and runs the protocol, one task per streamer.
//! - [`decoder`]: one thread per streamer turning JPEG into window pixels.
//! - [`strips`]: a sliced JPEG's strips decoded at once on several cores.
//! - [`board`]: each stream's newest picture, between decoders and the window.
//! - [`window`]: the minifb window (absent with `--headless`).
//! - [`xshm`]: the window's pictures drawn through X11 shared memory.
//! - [`hub`]: `--http`, the payloads re-served to browsers, ffmpeg, OpenCV and Prometheus.
//! - [`save`]: `--save-dir`, every payload written as received.
//! - [`streams`]: each live stream's figures, for the hub and the window.
//! - [`hud`], [`view`], [`keys`]: the window's figures band and marks, zoom and pan, keys.
//! - [`snapshot`]: `S`, the frame on screen as received and as PNG.
//! - [`recorder`]: `R` and `--record`, received JPEGs into a Matroska file.

pub mod board;
pub mod decoder;
pub mod hub;
pub mod hud;
pub mod keys;
pub mod receiver;
pub mod recorder;
pub mod save;
pub mod snapshot;
pub mod streams;
pub mod strips;
pub mod view;
pub mod window;
#[cfg(target_os = "linux")]
pub mod xshm;
/// Elsewhere, the same API saying that shared memory is not available.
#[cfg(not(target_os = "linux"))]
#[path = "no_shm.rs"]
pub mod xshm;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{anyhow, Context, Result};
use shared::cli::{print_line, Cidr, Resolution};
use shared::mark;
use shared::stats::{Histogram, StreamStats};
use shared::Limits;
use tokio::sync::watch;

use crate::board::{Board, Picture};
use crate::recorder::Recorder;
use crate::streams::Streams;

/// Everything a run needs, parsed and checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Initial window size.
    pub size: Resolution,
    pub headless: bool,
    /// Exit after this many received frames (0: never).
    pub frames: u64,
    pub limits: Limits,
    /// Where to write the last picture as a PPM file on exit.
    pub snapshot: Option<PathBuf>,
    /// Networks allowed to connect (`--allow`); empty allows everyone.
    pub allow: Vec<Cidr>,
    /// Where to save every received payload.
    pub save_dir: Option<PathBuf>,
    /// Read the test pattern's timestamp marks and report glass-to-glass times.
    pub measure: bool,
    /// Where to serve HTTP (`--http`): the hub.
    pub http: Option<SocketAddr>,
    /// Start with the figures band shown (`--hud`).
    pub hud: bool,
    /// Where `S` writes snapshots and `R` recordings.
    pub snapshot_dir: PathBuf,
    /// Record the first stream to connect into this file (`--record`).
    pub record: Option<PathBuf>,
}

/// Counts over the whole run, all streams together.
#[derive(Default)]
pub struct Counters {
    /// Frames received in full and acknowledged.
    pub received: AtomicU64,
    /// Frames decoded into pictures.
    pub decoded: AtomicU64,
    /// Frames that could not be decoded, and connections closed for a protocol error.
    pub errors: AtomicU64,
    /// Connections that ended in the middle of a frame.
    pub truncated: AtomicU64,
    /// Received frames replaced by a newer one before the decoder got to them.
    pub dropped: AtomicU64,
    /// Payloads written to `--save-dir`.
    pub saved: AtomicU64,
    rate: Mutex<Option<StreamStats>>,
    glass: Mutex<Histogram>,
    /// Each live stream's own figures.
    pub streams: Streams,
}

impl Counters {
    /// Records and prints one glass-to-glass time: from the capture time in a picture's mark
    /// to now (the picture was just handed to the screen, or decoded when headless).
    pub fn record_glass(&self, peer: SocketAddr, stamp: u64) {
        let ms = mark::elapsed_ms(stamp, mark::now_micros());
        self.glass
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record_ms(ms);
        if let Some(stream) = self.streams.by_peer(peer) {
            stream.glass(ms);
        }
        print_line(format_args!("peer={peer} glass_ms={ms:.2}"));
    }

    /// The received-frame rate, started at the first frame.
    pub fn lock_rate(&self) -> MutexGuard<'_, Option<StreamStats>> {
        self.rate.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs the viewer until the window closes, the frame limit is reached or the user interrupts;
/// prints the summary line.
pub fn run(config: Config) -> Result<()> {
    if let Some(dir) = &config.save_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the save directory", dir.display()))?;
    }
    std::fs::create_dir_all(&config.snapshot_dir).with_context(|| {
        format!(
            "{}: cannot create the snapshot directory",
            config.snapshot_dir.display()
        )
    })?;
    if let Some(path) = &config.record {
        // Fail now, not when the first streamer connects; leave an existing file as it is
        // until then.
        let existed = path.exists();
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|_| match existed {
                true => Ok(()),
                false => std::fs::remove_file(path),
            })
            .with_context(|| format!("{}: cannot record into this file", path.display()))?;
    }
    let recorder = Recorder::new(config.record.clone());
    let recording = recorder
        .spawn()
        .context("cannot start the recording thread")?;
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    eprintln!("viewer: listening on {local}");

    let http = config.http.map(hub::bind).transpose()?;

    let (stop, _) = watch::channel(false);
    if !config.allow.is_empty() {
        let list: Vec<String> = config.allow.iter().map(|c| c.to_string()).collect();
        eprintln!("viewer: accepting streamers from {} only", list.join(", "));
    }
    let shared = receiver::Shared {
        limits: config.limits,
        // With a window, marks are always read (a few dozen pixels): the figures band shows
        // glass-to-glass times whenever the pictures carry them.
        measure: config.measure || !config.headless,
        // Headless, "on screen" is when the picture is decoded; with a window, the window
        // measures after handing the picture over.
        glass_at_decode: config.measure && config.headless,
        allow: Arc::new(config.allow.clone()),
        save_dir: config.save_dir.clone().map(Arc::new),
        frames: config.frames,
        board: Arc::new(Board::default()),
        counters: Arc::new(Counters::default()),
        recorder: recorder.clone(),
        stop,
    };
    let hub = match http {
        Some(listener) => Some(hub::spawn(
            listener,
            &shared.counters,
            &shared.allow,
            &shared.stop,
        )?),
        None => None,
    };
    let network = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("network".into())
            .spawn(move || -> Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the async runtime")?;
                runtime.block_on(async {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    receiver::serve(listener, shared).await;
                    Ok(())
                })
            })?
    };

    let shown = if config.headless {
        Ok(None)
    } else {
        window::run(&window::Options {
            board: &shared.board,
            stop: &shared.stop,
            listen: local,
            size: config.size,
            counters: &shared.counters,
            measure: config.measure,
            hud: config.hud,
            snapshot_dir: &config.snapshot_dir,
            recorder: &recorder,
        })
    };
    let network_result = network
        .join()
        .map_err(|_| anyhow!("network thread panicked"))?;
    if let Some(hub) = hub {
        // The network thread set the stop flag on its way out, which ends the hub too.
        shared.stop.send_replace(true);
        hub::join(hub);
    }
    recorder.close();
    recording
        .join()
        .map_err(|_| anyhow!("recording thread panicked"))?;

    let last = shared
        .board
        .take_any()
        .or(shown.as_ref().ok().cloned().flatten());
    if let (Some(path), Some(picture)) = (&config.snapshot, &last) {
        write_ppm(path, picture)
            .with_context(|| format!("{}: cannot write snapshot", path.display()))?;
    }
    print_summary(&shared.counters, config.save_dir.is_some(), config.measure);
    network_result?;
    shown?;
    Ok(())
}

fn print_summary(c: &Counters, saving: bool, measuring: bool) {
    let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
    let fps = c.lock_rate().as_ref().map_or(0.0, |s| s.fps());
    let mut saved = if saving {
        format!(" saved={}", load(&c.saved))
    } else {
        String::new()
    };
    if measuring {
        let glass = c.glass.lock().unwrap_or_else(|e| e.into_inner());
        saved.push_str(&format!(
            " glass_p50_ms={:.2} glass_p95_ms={:.2} glass_frames={}",
            glass.percentile_ms(50.0),
            glass.percentile_ms(95.0),
            glass.count()
        ));
    }
    print_line(format_args!(
        "summary: frames={} decoded={} errors={} truncated={} dropped={} fps={fps:.2}{saved}",
        load(&c.received),
        load(&c.decoded),
        load(&c.errors),
        load(&c.truncated),
        load(&c.dropped),
    ));
}

/// Writes a picture as a binary PPM (P6), the simplest lossless format there is.
pub fn write_ppm(path: &Path, picture: &Picture) -> Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    write!(out, "P6\n{} {}\n255\n", picture.width, picture.height)?;
    for &px in picture.pixels.iter() {
        out.write_all(&[(px >> 16) as u8, (px >> 8) as u8, px as u8])?;
    }
    out.flush()?;
    Ok(())
}
