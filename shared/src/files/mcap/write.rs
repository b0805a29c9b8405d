//! An MCAP recording of one stream: profile `ros2`, `/NAME/image/compressed`
//! (`sensor_msgs/msg/CompressedImage`, CDR, the JPEG as received) and `/NAME/latency`
//! (`FrameLatency`), in uncompressed chunks of about a second, each written whole and flushed,
//! so a file cut by `kill -9` keeps all but its last second; a clean finish adds the summary.

use std::collections::BTreeMap;
use std::io::{self, Seek, Write};

use crate::media::ros_image::{self, Latency};

/// A chunk is written out once it spans this long (what a `kill -9` may lose at most).
pub const CHUNK_NS: u64 = 1_000_000_000;
/// ... or holds this many bytes (the writer's chunk buffer, allocated once).
const CHUNK_BYTES: u64 = 8 << 20;

fn io_error(e: mcap::McapError) -> io::Error {
    io::Error::other(e.to_string())
}

/// One frame as recorded: times in ns since the Unix epoch on the viewer's clock.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub jpeg: &'a [u8],
    /// Capture time (header stamp and publish time); the arrival when it is unknown.
    pub capture_ns: u64,
    /// Arrival (log time).
    pub arrival_ns: u64,
    pub latency: &'a Latency,
}

/// An MCAP file being written.
pub struct McapWriter<W: Write + Seek> {
    mcap: mcap::Writer<W>,
    image: u16,
    latency: u16,
    frame_id: String,
    sequence: u32,
    chunk_from: Option<u64>,
    /// The image message being built (reused: one copy of each JPEG).
    message: Vec<u8>,
}

impl<W: Write + Seek> McapWriter<W> {
    /// Writes the header, the two schemas and the stream `name`'s two channels.
    pub fn new(out: W, name: &str) -> io::Result<Self> {
        let options = mcap::WriteOptions::new()
            .profile("ros2")
            .library(concat!("streamer/viewer ", env!("CARGO_PKG_VERSION")))
            .compression(None)
            .chunk_size(Some(CHUNK_BYTES))
            // Chunks built in memory and written whole: a killed recording ends at a chunk.
            .disable_seeking(true);
        let mut mcap = mcap::Writer::with_options(out, options).map_err(io_error)?;
        let token = super::topic_token(name);
        let none = BTreeMap::new();
        let channel = |mcap: &mut mcap::Writer<W>, ty: &str, schema: &str, topic: String| {
            let schema = mcap.add_schema(ty, "ros2msg", schema.as_bytes())?;
            mcap.add_channel(schema, &topic, "cdr", &none)
        };
        let image = channel(
            &mut mcap,
            ros_image::IMAGE_TYPE,
            ros_image::IMAGE_SCHEMA,
            format!("/{token}/image/compressed"),
        )
        .map_err(io_error)?;
        let latency = channel(
            &mut mcap,
            ros_image::LATENCY_TYPE,
            ros_image::LATENCY_SCHEMA,
            format!("/{token}/latency"),
        )
        .map_err(io_error)?;
        Ok(McapWriter {
            mcap,
            image,
            latency,
            frame_id: token,
            sequence: 0,
            chunk_from: None,
            message: Vec::new(),
        })
    }

    /// Adds one frame and its latency; writes the chunk out once it spans a second.
    pub fn frame(&mut self, f: &Frame<'_>) -> io::Result<()> {
        let len = u32::try_from(f.jpeg.len())
            .map_err(|_| io::Error::other("a frame over 4 GiB cannot be a CDR message"))?;
        let from = *self.chunk_from.get_or_insert(f.arrival_ns);
        if f.arrival_ns.saturating_sub(from) >= CHUNK_NS {
            self.mcap.flush().map_err(io_error)?;
            self.chunk_from = Some(f.arrival_ns);
        }
        self.sequence = self.sequence.wrapping_add(1);
        let frame_id = &self.frame_id;
        ros_image::image_prefix(&mut self.message, f.capture_ns, frame_id, "jpeg", len);
        self.message.extend_from_slice(f.jpeg);
        let header = |channel_id| mcap::records::MessageHeader {
            channel_id,
            sequence: self.sequence,
            log_time: f.arrival_ns,
            publish_time: f.capture_ns,
        };
        self.mcap
            .write_to_known_channel(&header(self.image), &self.message)
            .map_err(io_error)?;
        let latency = ros_image::latency(f.capture_ns, frame_id, f.latency);
        self.mcap
            .write_to_known_channel(&header(self.latency), &latency)
            .map_err(io_error)
    }

    /// Writes out the open chunk if it began [`CHUNK_NS`] or more before `now_ns` (the
    /// recorder's idle tick: a stalled stream's last frames reach the disk all the same).
    pub fn flush_if_due(&mut self, now_ns: u64) -> io::Result<()> {
        if self
            .chunk_from
            .is_some_and(|from| now_ns.saturating_sub(from) >= CHUNK_NS)
        {
            self.mcap.flush().map_err(io_error)?;
            self.chunk_from = None;
        }
        Ok(())
    }

    /// Writes the last chunk, the summary (schemas, channels, statistics, indexes) and the
    /// footer; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.mcap.finish().map_err(io_error)?;
        Ok(self.mcap.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_stream_s_chunk_goes_out_after_a_second_not_before() {
        let path = std::env::temp_dir().join(format!("mcap-stall-{}.mcap", std::process::id()));
        let mut w = McapWriter::new(std::fs::File::create(&path).unwrap(), "a").unwrap();
        let t0 = 1_700_000_000_000_000_000;
        let jpeg = [0x5Au8; 1000];
        w.frame(&Frame {
            jpeg: &jpeg,
            capture_ns: t0,
            arrival_ns: t0,
            latency: &Latency::UNKNOWN,
        })
        .unwrap();
        let on_disk = || {
            let bytes = std::fs::read(&path).unwrap();
            bytes.windows(jpeg.len()).any(|b| b == jpeg)
        };
        w.flush_if_due(t0 + CHUNK_NS / 2).unwrap();
        assert!(!on_disk(), "flushed before its second");
        w.flush_if_due(t0 + CHUNK_NS).unwrap();
        assert!(on_disk(), "a stalled stream's frame stayed in memory");
        drop(w);
        std::fs::remove_file(&path).unwrap();
    }
}
