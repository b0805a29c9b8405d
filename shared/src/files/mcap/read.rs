//! Reads an MCAP file's `CompressedImage` channel frame by frame (any writer's: ours,
//! `ros2 bag`, Foxglove's), by one forward scan of its records, entering uncompressed chunks;
//! each frame is located as its JPEG's offset and length in the file, never loaded whole.
//! Every length is untrusted: checked against the file and a bound before anything is read.

use std::io::{Read, Seek};

use crate::files::replay::Entry;
use crate::files::scan_input::ScanInput;
use crate::media::ros_image;

const OP_FOOTER: u8 = 0x02;
const OP_SCHEMA: u8 = 0x03;
const OP_CHANNEL: u8 = 0x04;
const OP_MESSAGE: u8 = 0x05;
const OP_CHUNK: u8 = 0x06;
const OP_DATA_END: u8 = 0x0F;
/// Schema and channel records larger than this are not what any writer makes.
const MAX_RECORD: u64 = 1 << 20;
/// A message's fields before its data: header, frame id and format are read up to this.
const IMAGE_HEAD: u64 = 4 + 8 + 4 + 4096 + 4 + 256 + 8;

/// A channel the file declares.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Channel {
    id: u16,
    schema: u16,
    topic: String,
    encoding: String,
}

/// An MCAP file whose images are being read one by one.
pub struct McapReader<R> {
    input: ScanInput<R>,
    /// `--topic`, or `None` for the first image channel.
    topic: Option<String>,
    /// Schema ids whose name is `CompressedImage`.
    image_schemas: Vec<u16>,
    /// Every channel seen, to name them when the topic asked for is not there.
    channels: Vec<Channel>,
    chosen: Option<u16>,
    /// Where the chunk being read ends (the records inside it are read in place).
    chunk_end: Option<u64>,
    /// The first message's log time: frames' times count from it, as recorded (they may go
    /// back; the players make them fit to play: `replay::times`).
    first_log: Option<u64>,
    frames: u64,
    max_frame: usize,
    cut: bool,
}

/// The little-endian fields of a record's body, bounds-checked.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err("a record shorter than its fields".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().map_err(|_| "u16")?,
        ))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| "u32")?,
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| "u64")?,
        ))
    }
    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}

impl<R: Read + Seek> McapReader<R> {
    /// Checks the magic and finds the channel to play (`topic`, or the first
    /// `CompressedImage` one); frames over `max_frame` bytes are an error when reached.
    pub fn open(inner: R, max_frame: usize, topic: Option<&str>) -> Result<Self, String> {
        let mut reader = McapReader {
            input: ScanInput::new(inner).map_err(|e| e.to_string())?,
            topic: topic.map(str::to_string),
            image_schemas: Vec::new(),
            channels: Vec::new(),
            chosen: None,
            chunk_end: None,
            first_log: None,
            frames: 0,
            max_frame,
            cut: false,
        };
        reader.rewind()?;
        // Scan to the first frame, so a file without one is refused now, by name.
        if reader.next_frame()?.is_none() {
            return Err(reader.no_frames());
        }
        reader.rewind()?;
        Ok(reader)
    }

    fn no_frames(&self) -> String {
        let images: Vec<&str> = self
            .channels
            .iter()
            .filter(|c| self.image_schemas.contains(&c.schema) && c.encoding == "cdr")
            .map(|c| c.topic.as_str())
            .collect();
        match (&self.topic, self.chosen) {
            (_, Some(_)) => "its image channel holds no frames".into(),
            (Some(t), None) => format!(
                "no sensor_msgs/msg/CompressedImage channel {t} (image channels: {})",
                if images.is_empty() {
                    "none".into()
                } else {
                    images.join(" ")
                }
            ),
            (None, None) => "no sensor_msgs/msg/CompressedImage channel (CDR)".into(),
        }
    }

    /// True once the file was found to end inside a record (a recording cut by `kill -9`).
    pub fn cut_short(&self) -> bool {
        self.cut
    }

    /// Starts again at the first frame.
    pub fn rewind(&mut self) -> Result<(), String> {
        self.input.rewind().map_err(|e| e.to_string())?;
        let mut magic = [0; 8];
        if !self.input.fill(&mut magic).map_err(|e| e.to_string())? || magic != super::MAGIC {
            return Err("not an MCAP file (bad magic)".into());
        }
        self.chunk_end = None;
        self.first_log = None;
        self.frames = 0;
        self.cut = false;
        Ok(())
    }

    /// The next frame of the chosen channel, or `None` at the end (or where it was cut).
    pub fn next_frame(&mut self) -> Result<Option<Entry>, String> {
        loop {
            if self.chunk_end.is_some_and(|end| self.input.pos() >= end) {
                self.chunk_end = None;
            }
            let at = self.input.pos();
            let mut head = [0; 9];
            if !self.input.fill(&mut head).map_err(|e| e.to_string())? {
                self.cut = self.input.pos() > at;
                return Ok(None);
            }
            let op = head[0];
            let len = u64::from_le_bytes(head[1..].try_into().map_err(|_| "length")?);
            let end = self.chunk_end.unwrap_or(self.input.len());
            if len > end.saturating_sub(self.input.pos()) {
                if let Some(end) = self.chunk_end {
                    // Inside a chunk whose length was whole: damage, not the end of the file
                    // (the chunks after it would be dropped unsaid as "cut").
                    return Err(format!(
                        "record 0x{op:02X} at offset {at}: {len} bytes, past the end of its \
                         chunk at offset {end}"
                    ));
                }
                // The last record was cut off (a killed writer), or lies about its length.
                self.cut = true;
                return Ok(None);
            }
            let what = |e: String| format!("record 0x{op:02X} at offset {at}: {e}");
            match op {
                OP_DATA_END | OP_FOOTER => return Ok(None),
                OP_SCHEMA | OP_CHANNEL => self.declaration(op, len).map_err(what)?,
                OP_CHUNK if self.chunk_end.is_none() => self.enter_chunk(len).map_err(what)?,
                OP_MESSAGE => {
                    if let Some(entry) = self.message(len).map_err(what)? {
                        return Ok(Some(entry));
                    }
                }
                _ => self.input.skip(len).map_err(|e| what(e.to_string()))?,
            }
        }
    }

    /// A schema or channel record: noted, and a channel chosen if it is the one to play.
    fn declaration(&mut self, op: u8, len: u64) -> Result<(), String> {
        let body = self
            .input
            .take(len, MAX_RECORD)
            .map_err(|e| e.to_string())?;
        let body = body.ok_or("cut")?;
        let mut f = Fields(&body);
        let id = f.u16()?;
        if op == OP_SCHEMA {
            let name = f.string()?;
            let image = name == ros_image::IMAGE_TYPE || name == "sensor_msgs/CompressedImage";
            if image && !self.image_schemas.contains(&id) {
                self.image_schemas.push(id);
            }
            return Ok(());
        }
        let channel = Channel {
            id,
            schema: f.u16()?,
            topic: f.string()?,
            encoding: f.string()?,
        };
        let wanted = self.topic.as_ref().is_none_or(|t| *t == channel.topic);
        let image = self.image_schemas.contains(&channel.schema) && channel.encoding == "cdr";
        if self.chosen.is_none() && wanted && image {
            self.chosen = Some(id);
        }
        if !self.channels.iter().any(|c| c.id == id) {
            self.channels.push(channel);
        }
        Ok(())
    }

    /// A chunk: its records are read in place when it is not compressed.
    fn enter_chunk(&mut self, len: u64) -> Result<(), String> {
        let end = self.input.pos() + len;
        // Start and end times, uncompressed size and CRC, then the compression's name.
        let fixed = 8 + 8 + 8 + 4 + 4;
        let head = self.input.take(fixed, fixed).map_err(|e| e.to_string())?;
        let mut f = Fields(head.as_deref().ok_or("cut")?);
        f.take(8 + 8 + 8 + 4)?;
        let name_len = u64::from(f.u32()?);
        let name = self.input.take(name_len, 64).map_err(|e| e.to_string())?;
        let name = name.ok_or("cut")?;
        if !name.is_empty() {
            let name = String::from_utf8_lossy(&name);
            return Err(format!(
                "{name}-compressed chunks are not read (`mcap decompress` writes the file without)"
            ));
        }
        let records = self.input.take(8, 8).map_err(|e| e.to_string())?;
        let records = u64::from_le_bytes(
            records
                .as_deref()
                .and_then(|r| r.try_into().ok())
                .ok_or("cut")?,
        );
        if records > end.saturating_sub(self.input.pos()) {
            return Err("a chunk whose records overrun it".into());
        }
        self.chunk_end = Some(self.input.pos() + records);
        Ok(())
    }

    /// A message: an entry when it is on the chosen channel, else skipped.
    fn message(&mut self, len: u64) -> Result<Option<Entry>, String> {
        let start = self.input.pos();
        let fixed = 2 + 4 + 8 + 8;
        if len < fixed {
            return Err("a message shorter than its header".into());
        }
        let head = self.input.take(fixed, fixed).map_err(|e| e.to_string())?;
        let head = head.ok_or("cut")?;
        let mut f = Fields(&head);
        let channel = f.u16()?;
        f.u32()?;
        let log_time = f.u64()?;
        let data_len = len - fixed;
        if self.chosen != Some(channel) {
            self.input.skip(data_len).map_err(|e| e.to_string())?;
            return Ok(None);
        }
        let data_at = start + fixed;
        let mut cdr = vec![0; IMAGE_HEAD.min(data_len) as usize];
        self.input.fill(&mut cdr).map_err(|e| e.to_string())?;
        self.input
            .skip(data_len - cdr.len() as u64)
            .map_err(|e| e.to_string())?;
        let frame = self.frames + 1;
        let view = ros_image::read_image_head(&cdr, data_len as usize)
            .map_err(|e| format!("frame {frame}: {e}"))?;
        let jpeg_len = view.data.len();
        if jpeg_len > self.max_frame {
            return Err(format!(
                "frame {frame}: {jpeg_len} bytes (at most {})",
                self.max_frame
            ));
        }
        let first = *self.first_log.get_or_insert(log_time);
        self.frames += 1;
        Ok(Some(Entry {
            offset: data_at + view.data.start as u64,
            len: jpeg_len as u64,
            time_us: log_time.saturating_sub(first) / 1000,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::mcap::write::{Frame, McapWriter};
    use crate::media::ros_image::Latency;
    use std::io::Cursor;

    const T0: u64 = 1_700_000_000_000_000_000;

    /// 50 frames 40 ms apart (2 s: three chunks), each of its own bytes.
    fn recording(name: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut w = McapWriter::new(Cursor::new(Vec::new()), name).unwrap();
        let frames: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 100 + i as usize]).collect();
        for (i, jpeg) in frames.iter().enumerate() {
            let arrival_ns = T0 + i as u64 * 40_000_000;
            w.frame(&Frame {
                jpeg,
                capture_ns: arrival_ns - 5_000_000,
                arrival_ns,
                latency: &Latency::UNKNOWN,
            })
            .unwrap();
        }
        (w.finish().unwrap().into_inner(), frames)
    }

    /// Each frame's time and bytes.
    type Frames = Vec<(u64, Vec<u8>)>;

    /// Every frame found, and whether the file was cut short.
    fn read_all(bytes: &[u8], topic: Option<&str>) -> Result<(Frames, bool), String> {
        let mut r = McapReader::open(Cursor::new(bytes.to_vec()), 1 << 20, topic)?;
        let mut out = Vec::new();
        while let Some(e) = r.next_frame()? {
            let range = e.offset as usize..(e.offset + e.len) as usize;
            out.push((e.time_us, bytes[range].to_vec()));
        }
        Ok((out, r.cut_short()))
    }

    #[test]
    fn frames_come_back_byte_for_byte_at_their_arrival_times() {
        let (bytes, frames) = recording("front cam");
        let (got, cut) = read_all(&bytes, None).unwrap();
        assert!(!cut);
        assert_eq!(got.len(), frames.len());
        for (i, ((t, b), f)) in got.iter().zip(&frames).enumerate() {
            assert_eq!(*t, i as u64 * 40_000);
            assert_eq!(b, f);
        }
        let (named, _) = read_all(&bytes, Some("/front_cam/image/compressed")).unwrap();
        assert_eq!(named.len(), 50);
        let e = read_all(&bytes, Some("/other")).unwrap_err();
        assert!(e.contains("/front_cam/image/compressed"), "{e}");
        // The latency channel is not an image channel.
        assert!(read_all(&bytes, Some("/front_cam/latency")).is_err());
    }

    #[test]
    fn log_times_that_go_back_are_given_as_recorded() {
        let mut w = McapWriter::new(Cursor::new(Vec::new()), "a").unwrap();
        for ms in [0u64, 40, 20, 60] {
            let t = T0 + ms * 1_000_000;
            let frame = Frame {
                jpeg: &[1, 2, 3],
                capture_ns: t,
                arrival_ns: t,
                latency: &Latency::UNKNOWN,
            };
            w.frame(&frame).unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        let times: Vec<u64> = read_all(&bytes, None)
            .unwrap()
            .0
            .iter()
            .map(|f| f.0)
            .collect();
        // As recorded (the players make them fit to play: replay::times).
        assert_eq!(times, [0, 40_000, 20_000, 60_000]);
    }

    #[test]
    fn a_cut_file_yields_its_whole_chunks() {
        let (bytes, frames) = recording("a");
        // Cut halfway: before the summary and inside a chunk.
        let (got, cut) = read_all(&bytes[..bytes.len() / 2], None).unwrap();
        assert!(cut);
        assert!(!got.is_empty() && got.len() < 50, "{}", got.len());
        assert!(got.iter().zip(&frames).all(|((_, b), f)| b == f));
    }

    #[test]
    fn a_damaged_length_inside_a_chunk_is_an_error_not_the_end() {
        // Before, the file looked cut there: every later chunk's frames gone unsaid.
        let (mut bytes, _) = recording("a");
        // The first message record: op 0x05, its length, then channel 1 (u16).
        let at = (8..bytes.len() - 11)
            .find(|&i| {
                let len = u64::from_le_bytes(bytes[i + 1..i + 9].try_into().unwrap());
                bytes[i] == 0x05 && (100..1000).contains(&len) && bytes[i + 9..i + 11] == [1, 0]
            })
            .unwrap();
        bytes[at + 1..at + 9].copy_from_slice(&1_000_000u64.to_le_bytes());
        let e = read_all(&bytes, None).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "record 0x05 at offset {at}: 1000000 bytes, past the end of its chunk"
            )),
            "{e}"
        );
    }

    #[test]
    fn every_cut_or_mutated_file_is_an_error_or_frames_never_a_panic() {
        let (bytes, _) = recording("a");
        for n in (0..bytes.len()).step_by(97) {
            let _ = read_all(&bytes[..n], None);
        }
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..3000 {
            let mut m = bytes.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % m.len();
                m[i] = (seed >> 32) as u8;
            }
            if let Ok((frames, _)) = read_all(&m, None) {
                assert!(frames.len() <= 50 * 2);
            }
        }
    }
}
