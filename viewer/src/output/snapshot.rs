//! The `S` key: the frame on screen written twice, as the bytes exactly as received (JPEG, or
//! PNG from senders that send PNG) and as a PNG of the picture decoded at full size, named
//! with the peer and the UTC wall-clock time:
//! `snapshot-192.168.3.7_50012-20261130-014502.123.jpg` and `...png`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::SystemTime;

use anyhow::{Context, Result};
use shared::cli::print_line;
use shared::files::utc::utc_stamp;
use shared::media::sniff::{self, Kind};

use crate::board::Picture;
use crate::decode::Decoder;

/// Who a file comes from, as file names say it: the stream's name when its streamer told one,
/// then the peer: `front-192.168.3.7_50012`, `x3pi_video8-...`, or `192.168.3.7_50012`.
pub fn who(peer: SocketAddr, name: Option<&str>) -> String {
    // `:` is legal on Linux but not on the Windows shares people copy these to; a name from
    // the wire keeps only what every file system takes.
    let peer = peer.to_string().replace([':', '[', ']'], "_");
    match name {
        Some(name) => {
            let safe: String = name
                .chars()
                .map(|c| match c {
                    'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '#' => c,
                    _ => '_',
                })
                .collect();
            format!("{safe}-{peer}")
        }
        None => peer,
    }
}

/// A file name stem for `what` from `who` (see [`who`]) at `time`: `what-WHO-<utc>`.
pub fn stem(what: &str, who: &str, time: SystemTime) -> String {
    format!("{what}-{who}-{}", utc_stamp(time))
}

/// Opens `dir/stem.ext` for each of `exts` (`""`: no extension) for writing without replacing
/// anything: a second snapshot in the same millisecond, or a recording into a file that exists,
/// gets `-2`, `-3`, ... (the same number for every extension).
pub fn create_new(dir: &Path, stem: &str, exts: &[&str]) -> Result<(String, Vec<(PathBuf, File)>)> {
    for n in 1..100 {
        let name = if n == 1 {
            stem.to_string()
        } else {
            format!("{stem}-{n}")
        };
        let mut files = Vec::new();
        for ext in exts {
            let path = match ext.is_empty() {
                true => dir.join(&name),
                false => dir.join(format!("{name}.{ext}")),
            };
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => files.push((path, file)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => break,
                Err(e) => {
                    return Err(e).with_context(|| format!("{}: cannot create", path.display()))
                }
            }
        }
        if files.len() == exts.len() {
            return Ok((name, files));
        }
        for (path, _) in files {
            let _ = fs::remove_file(path);
        }
    }
    anyhow::bail!("{}: too many files named {stem}", dir.display())
}

/// Writes `payload` as received and its full-size decoding (at most `max_pixels`, as
/// `--max-pixels` says) as PNG into `dir`; returns both paths (received first).
pub fn write(
    dir: &Path,
    who: &str,
    (time, max_pixels): (SystemTime, usize),
    payload: &[u8],
) -> Result<(PathBuf, PathBuf)> {
    let mut picture = Picture::default();
    Decoder::new()?
        .with_max_pixels(max_pixels)
        .decode(payload, &mut picture, None)
        .context("the frame on screen does not decode")?;
    let received_ext = match Kind::of(payload) {
        // A PNG payload keeps its bytes under a name of its own beside the decoded PNG.
        Some(Kind::Png) => "received.png",
        _ => sniff::extension(payload),
    };
    let (_, mut files) = create_new(dir, &stem("snapshot", who, time), &[received_ext, "png"])?;
    let (png_path, png_file) = files.pop().context("no PNG file")?;
    let (raw_path, mut raw_file) = files.pop().context("no received file")?;
    let written = raw_file
        .write_all(payload)
        .with_context(|| format!("{}: cannot write", raw_path.display()))
        .and_then(|()| {
            write_png(png_file, &picture)
                .with_context(|| format!("{}: cannot write", png_path.display()))
        });
    if written.is_err() {
        // A full disk: no half files under names that look whole.
        let _ = std::fs::remove_file(&raw_path);
        let _ = std::fs::remove_file(&png_path);
    }
    written.map(|()| (raw_path, png_path))
}

/// Writes a snapshot of `payload` from `peer` into `dir` on a thread of its own (decoding at
/// full size and PNG encoding take longer than a frame); prints the paths. `None` when there
/// is nothing to write or no thread to be had (said on stderr).
pub fn spawn(
    dir: &Path,
    (peer, name): (SocketAddr, Option<&str>),
    payload: &[u8],
    max_pixels: usize,
) -> Option<JoinHandle<()>> {
    let who = who(peer, name);
    if payload.is_empty() {
        eprintln!("viewer: {peer}: no received frame to snapshot");
        return None;
    }
    let (dir, payload, time) = (dir.to_path_buf(), payload.to_vec(), SystemTime::now());
    let spawned = std::thread::Builder::new()
        .name("snapshot".into())
        .spawn(
            move || match write(&dir, &who, (time, max_pixels), &payload) {
                Ok((received, png)) => print_line(format_args!(
                    "snapshot peer={peer} received={} png={}",
                    received.display(),
                    png.display()
                )),
                Err(e) => eprintln!("viewer: {peer}: snapshot failed: {e:#}"),
            },
        );
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            eprintln!("viewer: cannot start a snapshot thread: {e}");
            None
        }
    }
}

/// Writes a picture as an 8-bit RGB PNG.
fn write_png(file: File, picture: &Picture) -> Result<()> {
    let mut encoder = png::Encoder::new(
        BufWriter::new(file),
        u32::try_from(picture.width)?,
        u32::try_from(picture.height)?,
    );
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Snapshots are taken by hand, a few at a time: a fast encoding beats a small file.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    let rgb: Vec<u8> = picture.pixels[..picture.width * picture.height]
        .iter()
        .flat_map(|&p| [(p >> 16) as u8, (p >> 8) as u8, p as u8])
        .collect();
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MAX: usize = shared::cli::DEFAULT_MAX_PIXELS;

    #[test]
    fn stems_name_the_peer_and_the_time() {
        let peer: SocketAddr = "[::1]:9".parse().unwrap();
        let at = std::time::UNIX_EPOCH + Duration::from_millis(7);
        assert_eq!(
            stem("x", &who(peer, None), at),
            "x-___1__9-19700101-000000.007"
        );
        assert_eq!(who(peer, Some("x3pi/video8")), "x3pi_video8-___1__9");
        assert_eq!(who(peer, Some("front#2")), "front#2-___1__9");
    }

    #[test]
    fn writes_the_bytes_as_received_and_a_decoded_png() {
        let dir = std::env::temp_dir().join(format!("snapshot-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (w, h) = (48, 32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| [(i % 256) as u8, 100, 200])
            .collect();
        let image = turbojpeg::Image {
            pixels: &rgb[..],
            width: w,
            pitch: w * 3,
            height: h,
            format: turbojpeg::PixelFormat::RGB,
        };
        let jpeg = turbojpeg::compress(image, 95, turbojpeg::Subsamp::None)
            .unwrap()
            .to_vec();
        let peer: SocketAddr = "192.168.3.7:50012".parse().unwrap();
        let time = SystemTime::now();
        let (raw, png_path) = write(&dir, &who(peer, None), (time, MAX), &jpeg).unwrap();
        assert_eq!(fs::read(&raw).unwrap(), jpeg);
        assert!(raw.to_string_lossy().ends_with(".jpg"));
        // The same millisecond again does not overwrite.
        let (raw2, _) = write(&dir, &who(peer, None), (time, MAX), &jpeg).unwrap();
        assert_ne!(raw, raw2);
        let decoder = png::Decoder::new(File::open(&png_path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (w as u32, h as u32));
        let worst = buf
            .iter()
            .zip(&rgb)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 12, "PNG differs from the source by up to {worst}");
        // Garbage is refused without leaving files behind.
        let before = fs::read_dir(&dir).unwrap().count();
        assert!(write(&dir, "x", (time, MAX), b"not a picture").is_err());
        // --max-pixels holds for snapshots too (they decoded with the default).
        let e = write(&dir, "small", (time, 16), &jpeg).unwrap_err();
        assert!(format!("{e:#}").contains("--max-pixels 16"), "{e:#}");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), before);
        fs::remove_dir_all(&dir).unwrap();
    }
}
