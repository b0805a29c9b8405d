//! Helpers: locating and running the binaries with deadlines, reading their output, images.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

/// Tests that run a whole pipeline take this lock, so that two of them never compete for the
/// machine's two cores and distort each other.
pub fn heavy() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Path of a workspace binary (`streamer`, `viewer`, `link-relay`) next to this test binary,
/// never older than its sources: a partial run (one module, one test, after an edit without
/// `cargo build`) must not test a program built before the last change. A stale or missing
/// binary is built once (`cargo build --workspace --all-targets`; cargo's own lock on the target
/// directory keeps concurrent test processes from building at once).
pub fn bin(name: &str) -> PathBuf {
    static FRESH: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    let mut fresh = FRESH.lock().unwrap_or_else(|e| e.into_inner());
    if !fresh.iter().any(|f| f == name) {
        if let Some(why) = stale(&path) {
            eprintln!("{name}: {why}: building it");
            build_binaries();
            if let Some(why) = stale(&path) {
                panic!(
                    "{name} is still stale after `cargo build --workspace --all-targets`: {why}"
                );
            }
        }
        fresh.push(name.to_string());
    }
    path
}

/// Why the binary at `path` is older than what it is built from (every file in cargo's
/// dep-info list beside it, `NAME.d`), or `None` when it is up to date.
fn stale(path: &Path) -> Option<String> {
    let built = match std::fs::metadata(path).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(_) => return Some("missing".into()),
    };
    let Ok(deps) = std::fs::read_to_string(path.with_extension("d")) else {
        return Some("no dep-info file".into());
    };
    // "TARGET: SOURCE SOURCE ...", spaces in paths escaped with a backslash.
    let sources = deps
        .split_once(": ")
        .map_or("", |(_, s)| s)
        .replace("\\ ", "\0");
    sources
        .split_whitespace()
        .map(|s| PathBuf::from(s.replace('\0', " ")))
        .find(|source| {
            std::fs::metadata(source)
                .and_then(|m| m.modified())
                .map_or(true, |t| t > built)
        })
        .map(|source| format!("{} is newer", source.display()))
}

/// `cargo build --workspace --all-targets` in the workspace, within 20 minutes.
fn build_binaries() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut child = Command::new(cargo)
        .args(["build", "--workspace", "--all-targets"])
        .current_dir(root)
        .stdin(Stdio::null())
        .spawn()
        .expect("cannot run cargo to build the binaries");
    let status = wait_deadline(&mut child, Duration::from_secs(1200), "cargo build");
    assert!(
        status.success(),
        "cargo build --workspace --all-targets failed"
    );
}

/// A scratch directory for one test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("preview-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running viewer, with the address it reported and its stderr collected as it comes.
pub struct Viewer {
    pub child: Child,
    pub addr: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Viewer {
    /// Starts `viewer --listen 127.0.0.1:0 ARGS` and waits for its "listening on" line.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Viewer {
        Viewer::start_on("127.0.0.1:0", args, env)
    }

    /// Starts `viewer --listen LISTEN ARGS` and waits for its "listening on" line.
    pub fn start_on(listen: &str, args: &[&str], env: &[(&str, &str)]) -> Viewer {
        let mut command = Command::new(bin("viewer"));
        command
            .args(["--listen", listen])
            .args(args)
            .envs(env.iter().copied());
        Viewer::spawn(&mut command)
    }

    /// Starts `command` (a viewer told where to listen) and waits for its "listening on" line.
    pub fn spawn(command: &mut Command) -> Viewer {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start viewer");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let stderr = stderr.clone();
            let pipe = child.stderr.take().unwrap();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Some(addr) = line.strip_prefix("viewer: listening on ") {
                        let _ = tx.send(addr.to_string());
                    }
                    stderr.lock().unwrap().push(line);
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "viewer did not report its address: {:?}",
                    stderr.lock().unwrap()
                );
            }
        };
        Viewer {
            child,
            addr,
            stderr,
        }
    }

    /// Waits for the viewer to exit by itself within `limit`; returns its stdout.
    pub fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let status = wait_deadline(&mut self.child, limit, "viewer");
        let mut out = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut pipe, &mut out).unwrap();
        }
        (status, out)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(self, limit: Duration) -> (std::process::ExitStatus, String) {
        signal(&self.child, "TERM");
        self.wait(limit)
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal by name (`TERM`, `INT`) to a child.
pub fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status_within(TOOL_LIMIT)
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{name} failed");
}

/// Waits for `child` to exit within `limit`; kills it and fails the test, naming `what`, after.
pub fn wait_deadline(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// How long an external tool (ffmpeg, ffprobe, xdotool, a Python peer, a one-shot run of our
/// own binaries) may take before the test fails naming it.
pub const TOOL_LIMIT: Duration = Duration::from_secs(120);

/// `Command::output` and `Command::status` with a deadline: past `limit` the child is killed
/// and the test fails, naming the program, instead of waiting for ever. Starting it may fail
/// as before (a tool that is not installed).
pub trait Within {
    fn output_within(&mut self, limit: Duration) -> std::io::Result<Output>;
    fn status_within(&mut self, limit: Duration) -> std::io::Result<std::process::ExitStatus>;
}

impl Within for Command {
    fn output_within(&mut self, limit: Duration) -> std::io::Result<Output> {
        let what = format!("{:?}", self.get_program());
        let mut child = self
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let (out, err) = (
            thread::spawn(move || read_all(out)),
            thread::spawn(move || read_all(err)),
        );
        let status = wait_deadline(&mut child, limit, &what);
        Ok(Output {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        })
    }

    fn status_within(&mut self, limit: Duration) -> std::io::Result<std::process::ExitStatus> {
        let what = format!("{:?}", self.get_program());
        let mut child = self.spawn()?;
        Ok(wait_deadline(&mut child, limit, &what))
    }
}

/// `Child::wait_with_output` with a deadline: past `limit` the child is killed and the test
/// fails naming `what`.
pub fn output_of(mut child: Child, limit: Duration, what: &str) -> Output {
    let out = child
        .stdout
        .take()
        .map(|p| thread::spawn(move || read_all(p)));
    let err = child
        .stderr
        .take()
        .map(|p| thread::spawn(move || read_all(p)));
    let status = wait_deadline(&mut child, limit, what);
    let collect =
        |t: Option<thread::JoinHandle<Vec<u8>>>| t.map_or(Vec::new(), |t| t.join().unwrap());
    Output {
        status,
        stdout: collect(out),
        stderr: collect(err),
    }
}

/// The first line `pipe` gives within `limit` (e.g. the port a child announces); fails the
/// test naming `what` when none comes.
pub fn first_line(pipe: impl Read + Send + 'static, limit: Duration, what: &str) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(pipe).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("no line from {what} within {limit:?}"))
}

/// Reads until the peer closes (EOF, or a reset after it closed with bytes unread); a read
/// timeout fails the test: the peer was meant to close, and did not.
pub fn read_to_close(from: &mut impl Read, buf: &mut Vec<u8>) {
    loop {
        match from.read_to_end(buf) {
            Ok(_) => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) => panic!("the peer did not close ({e}) after {} bytes", buf.len()),
        }
    }
}

/// One `read`, retried when a signal interrupts it. A socket with a read timeout is never
/// restarted by the kernel (signal(7)), so a signal to this process surfaces as `Interrupted`
/// and would fail a test for nothing.
pub fn read_some(from: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match from.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// A port nobody listens on right now (for tests that start the streamer first).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A background process whose stdout and stderr are collected as they come.
pub struct Background {
    pub child: Child,
    stdout: Option<thread::JoinHandle<Vec<u8>>>,
    stderr: Option<thread::JoinHandle<Vec<u8>>>,
}

impl Background {
    /// Starts a workspace binary with `args`.
    pub fn start(name: &str, args: &[&str]) -> Background {
        Background::start_command(Command::new(bin(name)).args(args), Stdio::null())
    }

    /// Starts any command with `stdin` (e.g. a pipe the test writes to or another child's
    /// stdout), collecting its stdout and stderr.
    pub fn start_command(command: &mut Command, stdin: impl Into<Stdio>) -> Background {
        let mut child = command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        Background {
            child,
            stdout: Some(thread::spawn(move || read_all(out))),
            stderr: Some(thread::spawn(move || read_all(err))),
        }
    }

    /// Sends `signal_name` (e.g. `TERM`), waits within `limit`; returns status, stdout, stderr.
    pub fn stop(
        self,
        signal_name: &str,
        limit: Duration,
    ) -> (std::process::ExitStatus, String, String) {
        signal(&self.child, signal_name);
        self.finish(limit)
    }

    /// Waits for the process to exit by itself within `limit`.
    pub fn finish(mut self, limit: Duration) -> (std::process::ExitStatus, String, String) {
        let status = wait_deadline(&mut self.child, limit, "process");
        let out = self.stdout.take().unwrap().join().unwrap();
        let err = self.stderr.take().unwrap().join().unwrap();
        (
            status,
            String::from_utf8_lossy(&out).to_string(),
            String::from_utf8_lossy(&err).to_string(),
        )
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a binary to completion within `limit`, capturing its output.
pub fn run(name: &str, args: &[&str], limit: Duration) -> Output {
    let (status, stdout, stderr) = Background::start(name, args).finish(limit);
    Output {
        status,
        stdout: stdout.into_bytes(),
        stderr: stderr.into_bytes(),
    }
}

fn read_all(mut r: impl std::io::Read) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = r.read_to_end(&mut v);
    v
}

/// The `key=value` pairs of the line starting with `summary:`.
pub fn summary(stdout: &str) -> HashMap<String, String> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    key_values(line)
}

/// The `key=value` pairs of one line.
pub fn key_values(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An 8-bit RGB image.
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Rgb {
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// Reads a binary PPM (P6, maxval 255).
pub fn read_ppm(path: &Path) -> Rgb {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i] == b'#' {
            while bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..i]).to_string());
    }
    assert_eq!(fields[0], "P6", "{} is not a binary PPM", path.display());
    let (width, height): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    assert_eq!(fields[3], "255");
    let data = bytes[i + 1..i + 1 + width * height * 3].to_vec();
    Rgb {
        width,
        height,
        data,
    }
}

/// Converts a full-range I420 frame to RGB the way a JFIF decoder does.
pub fn i420_to_rgb(data: &[u8], width: usize, height: usize) -> Rgb {
    yuv_to_rgb(data, width, height, 2)
}

/// Converts full-range planar YUV with half-width chroma, `rows_per_chroma` rows sharing a
/// chroma row (2 for 4:2:0, 1 for 4:2:2), to RGB the way a JFIF decoder does.
pub fn yuv_to_rgb(data: &[u8], width: usize, height: usize, rows_per_chroma: usize) -> Rgb {
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(rows_per_chroma));
    let (y_plane, rest) = data.split_at(width * height);
    let (u_plane, v_plane) = rest.split_at(cw * ch);
    let mut out = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let luma = f64::from(y_plane[y * width + x]);
            let c = (y / rows_per_chroma) * cw + x / 2;
            let (cb, cr) = (f64::from(u_plane[c]) - 128.0, f64::from(v_plane[c]) - 128.0);
            for v in [
                luma + 1.402 * cr,
                luma - 0.344_136 * cb - 0.714_136 * cr,
                luma + 1.772 * cb,
            ] {
                out.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    Rgb {
        width,
        height,
        data: out,
    }
}

/// Peak signal-to-noise ratio of two images of the same size, in dB.
pub fn psnr(a: &Rgb, b: &Rgb) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let mse = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.data.len() as f64;
    10.0 * (255.0 * 255.0 / mse.max(1e-12)).log10()
}

/// A child's output lines, collected by a thread as they come, so a test can wait for one.
pub struct Lines(Arc<(Mutex<Vec<String>>, std::sync::Condvar)>);

impl Lines {
    /// Collects `pipe` (a child's stdout or stderr) line by line until it closes.
    pub fn collect(pipe: impl std::io::Read + Send + 'static) -> Lines {
        let shared = Arc::new((Mutex::new(Vec::new()), std::sync::Condvar::new()));
        let me = shared.clone();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                me.0.lock().unwrap().push(line);
                me.1.notify_all();
            }
        });
        Lines(shared)
    }

    /// Waits until `count` lines start with `prefix`; returns them (panics after `limit`).
    pub fn wait_for(&self, prefix: &str, count: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut lines = self.0 .0.lock().unwrap();
        loop {
            let found: Vec<String> = lines
                .iter()
                .filter(|l| l.starts_with(prefix))
                .cloned()
                .collect();
            if found.len() >= count {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {count} {prefix:?} lines in {limit:?}: {lines:?}"
            );
            lines = self.0 .1.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.0 .0.lock().unwrap().clone()
    }
}

/// The presentation times (seconds) of every video packet of a media file, by ffprobe;
/// a file ffprobe cannot read fails the test.
pub fn packet_times(path: &Path) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output_within(TOOL_LIMIT)
        .unwrap_or_else(|e| panic!("ffprobe is not installed ({e}): run scripts/setup.sh"));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(',').parse().unwrap())
        .collect()
}
/// Waits until `done()` holds, checking every 50 ms; fails naming `what` after `limit`. Tests
/// wait on such events (a line, a file, a count) rather than sleep for a time a busy machine
/// may overrun.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The payloads a viewer's `--save-dir` holds, in arrival order. Files still being written
/// (`.NAME.part`, renamed when whole) are skipped, and so is one renamed between listing and
/// reading: the viewer is usually still running.
pub fn saved(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.retain(|p| {
        !p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    });
    names.sort();
    names.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Connects to `addr` from the loopback address `from`.
pub fn connect_from(from: &str, addr: &str) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    let remote: SocketAddr = addr.parse().unwrap();
    socket
        .connect_timeout(&remote.into(), Duration::from_secs(10))
        .unwrap();
    socket.into()
}

/// The peak resident memory of process `pid`, in kB.
pub fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("no VmHWM")
}

/// The one file in `dir`, named `PREFIX...SUFFIX` (a recording the viewer named itself).
pub fn only_file(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(prefix) && name.ends_with(suffix), "{name}");
    files[0].clone()
}

/// Fails, with its stderr, unless the program exited 0.
#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
