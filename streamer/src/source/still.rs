//! A still image sent over and over: a JPEG goes out byte for byte as it is, a PNG is decoded
//! once and encoded like any other frame.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use shared::cli::check_picture_size;
use shared::media::sniff::Kind;
use shared::DEFAULT_MAX_FRAME_BYTES;

use crate::source::{PixelFormat, RawFrame, Source};

/// A decoded or passed-through still image.
pub struct StillImage {
    path: PathBuf,
    pixels: Vec<u8>,
    width: usize,
    height: usize,
    format: PixelFormat,
    next_index: u64,
}

impl StillImage {
    /// Reads and checks the image at `path` (`.jpg`/`.jpeg` or `.png`).
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let mut bytes = Vec::new();
        File::open(path)
            .with_context(|| format!("{name}: cannot open"))?
            .take(DEFAULT_MAX_FRAME_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("{name}: cannot read"))?;
        if bytes.len() > DEFAULT_MAX_FRAME_BYTES {
            bail!("{name}: larger than {DEFAULT_MAX_FRAME_BYTES} bytes");
        }
        let (pixels, width, height, format) = match Kind::of(&bytes) {
            Some(Kind::Jpeg) => {
                let header = turbojpeg::read_header(&bytes)
                    .with_context(|| format!("{name}: not a valid JPEG"))?;
                (bytes, header.width, header.height, PixelFormat::Jpeg)
            }
            Some(Kind::Png) => {
                decode_png(&bytes).with_context(|| format!("{name}: not a valid PNG"))?
            }
            None => bail!("{name}: neither a JPEG nor a PNG file"),
        };
        Ok(StillImage {
            path: path.to_path_buf(),
            pixels,
            width,
            height,
            format,
            next_index: 0,
        })
    }
}

/// Decodes a PNG to 8-bit RGB or grey, dropping alpha.
fn decode_png(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize, PixelFormat)> {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    decoder.set_limits(png::Limits { bytes: 256 << 20 });
    let mut reader = decoder.read_info()?;
    // The header's size before its buffer is allocated: the limits above do not cover it, and
    // a hundred bytes saying 60000x60000 would ask for 14 GB.
    let (w, h) = (reader.info().width as usize, reader.info().height as usize);
    check_picture_size(w, h).map_err(|e| anyhow!(e))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    let (channels, format) = match info.color_type {
        png::ColorType::Rgb => (3, PixelFormat::Rgb),
        png::ColorType::Rgba => (4, PixelFormat::Rgb),
        png::ColorType::Grayscale => (1, PixelFormat::Gray),
        png::ColorType::GrayscaleAlpha => (2, PixelFormat::Gray),
        png::ColorType::Indexed => bail!("indexed colour was not expanded"),
    };
    let keep = if format == PixelFormat::Rgb { 3 } else { 1 };
    let pixels = if channels == keep {
        buf
    } else {
        buf.chunks_exact(channels)
            .flat_map(|px| px[..keep].iter().copied())
            .collect()
    };
    Ok((pixels, w, h, format))
}

impl Source for StillImage {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<bool> {
        frame.captured_at = Instant::now();
        frame.reshape(self.width, self.height, self.format, self.pixels.len());
        frame.data.copy_from_slice(&self.pixels);
        frame.index = self.next_index;
        self.next_index += 1;
        Ok(true)
    }

    fn encodes(&self) -> bool {
        self.format != PixelFormat::Jpeg
    }

    fn describe(&self) -> String {
        let how = match self.format {
            PixelFormat::Jpeg => "JPEG, sent as it is",
            _ => "PNG, encoded each frame",
        };
        format!(
            "{}: {}x{} {how}",
            self.path.display(),
            self.width,
            self.height
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_whose_header_claims_a_huge_picture_is_refused_before_its_buffer() {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, 60_000, 60_000);
        encoder.set_color(png::ColorType::Rgba);
        let mut writer = encoder.write_header().unwrap();
        // The header and the start of its data only (dropping the writer would try to end
        // the file): about a hundred bytes.
        writer.write_chunk(png::chunk::IDAT, &[0x78, 0x9c]).unwrap();
        std::mem::forget(writer);
        assert!(bytes.len() < 100);
        let err = decode_png(&bytes).unwrap_err().to_string();
        assert!(
            err.contains("a 60000x60000 picture, over the limit"),
            "{err}"
        );
    }
}
