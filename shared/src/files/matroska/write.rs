//! A Matroska writer for one MJPEG video track (`V_MJPEG`), as ffmpeg and VLC open it: the
//! Segment starts with an unknown size and frames go out in whole clusters of at most half a
//! second, each in one write, so a killed recording plays up to its last half second.

use std::io::{self, Seek, SeekFrom, Write};

use super::ids as id;

/// A cluster is written out once it spans this long (what a `kill -9` may lose at most).
pub const CLUSTER_MS: u64 = 500;
/// ... or holds this many bytes.
const CLUSTER_BYTES: usize = 8 << 20;

/// An element ID as written: its bytes with the length marker included.
fn put_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.extend_from_slice(&bytes[skip..]);
}

/// An element data size as a variable-length integer, as short as it can be.
fn put_size(out: &mut Vec<u8>, size: u64) {
    let len = (1..=8).find(|&l| size < (1u64 << (7 * l)) - 1).unwrap_or(8);
    let marked = size | (1u64 << (7 * len));
    out.extend_from_slice(&marked.to_be_bytes()[8 - len..]);
}

/// A size in exactly eight bytes, so it can be filled in later in place.
fn size8(size: u64) -> [u8; 8] {
    (size | (1u64 << 56)).to_be_bytes()
}

/// "Size unknown": a live Segment, ended by the end of the file.
const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

fn put_element(out: &mut Vec<u8>, id: u32, data: &[u8]) {
    put_id(out, id);
    put_size(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn put_uint(out: &mut Vec<u8>, id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    put_element(out, id, &bytes[skip..]);
}

/// The Duration element in Info: the ID (2 bytes), its size (1) and a 64-bit float.
const DURATION_LEN: usize = 11;

/// A Matroska file with one MJPEG video track being written.
pub struct Mkv<W: Write + Seek> {
    out: W,
    /// Where the Segment's size and the Duration's placeholder are, and where the Segment's
    /// data starts.
    segment_size_at: u64,
    duration_at: u64,
    segment_start: u64,
    /// The open cluster: room for its ID and size, then its Timestamp and blocks.
    cluster: Vec<u8>,
    cluster_ms: u64,
    /// The previous frame's time.
    last_ms: Option<u64>,
    end: u64,
}

/// Room left at the front of a cluster buffer for its ID (4 bytes) and size (8).
const CLUSTER_HEAD: usize = 12;

impl<W: Write + Seek> Mkv<W> {
    /// Writes the headers of a `width`x`height` MJPEG track with millisecond timestamps.
    pub fn new(mut out: W, width: usize, height: usize) -> io::Result<Self> {
        let mut head = Vec::new();
        let mut ebml = Vec::new();
        put_uint(&mut ebml, id::EBML_VERSION, 1);
        put_uint(&mut ebml, id::EBML_READ_VERSION, 1);
        put_uint(&mut ebml, id::EBML_MAX_ID_LENGTH, 4);
        put_uint(&mut ebml, id::EBML_MAX_SIZE_LENGTH, 8);
        put_element(&mut ebml, id::DOC_TYPE, b"matroska");
        put_uint(&mut ebml, id::DOC_TYPE_VERSION, 4);
        put_uint(&mut ebml, id::DOC_TYPE_READ_VERSION, 2);
        put_element(&mut head, id::EBML, &ebml);

        put_id(&mut head, id::SEGMENT);
        let segment_size_at = head.len() as u64;
        head.extend_from_slice(&UNKNOWN_SIZE);
        let segment_start = head.len() as u64;

        let mut info = Vec::new();
        put_uint(&mut info, id::TIMESTAMP_SCALE, 1_000_000);
        // Both programs write through here (viewer recordings, streamer black box).
        let app = concat!("streamer/viewer ", env!("CARGO_PKG_VERSION"));
        put_element(&mut info, id::MUXING_APP, app.as_bytes());
        put_element(&mut info, id::WRITING_APP, app.as_bytes());
        // A Void the Duration's size, overwritten by the Duration on a clean stop.
        let void_at = info.len();
        put_element(&mut info, id::VOID, &[0; DURATION_LEN - 2]);
        put_id(&mut head, id::INFO);
        put_size(&mut head, info.len() as u64);
        let duration_at = (head.len() + void_at) as u64;
        head.extend_from_slice(&info);

        let mut video = Vec::new();
        put_uint(&mut video, id::PIXEL_WIDTH, width as u64);
        put_uint(&mut video, id::PIXEL_HEIGHT, height as u64);
        let mut track = Vec::new();
        put_uint(&mut track, id::TRACK_NUMBER, 1);
        put_uint(&mut track, id::TRACK_UID, 1);
        put_uint(&mut track, id::TRACK_TYPE, 1);
        put_uint(&mut track, id::FLAG_LACING, 0);
        put_element(&mut track, id::CODEC_ID, b"V_MJPEG");
        put_element(&mut track, id::VIDEO, &video);
        let mut tracks = Vec::new();
        put_element(&mut tracks, id::TRACK_ENTRY, &track);
        put_element(&mut head, id::TRACKS, &tracks);

        out.write_all(&head)?;
        Ok(Mkv {
            out,
            segment_size_at,
            duration_at,
            segment_start,
            cluster: Vec::new(),
            cluster_ms: 0,
            last_ms: None,
            end: head.len() as u64,
        })
    }

    /// Adds one frame at `ms` milliseconds. Times only go forward: a frame in the same
    /// millisecond as the previous one (or earlier) is put 1 ms after it, since players and
    /// ffmpeg refuse two frames at one time.
    pub fn frame(&mut self, ms: u64, jpeg: &[u8]) -> io::Result<()> {
        let ms = match self.last_ms {
            Some(last) => ms.max(last + 1),
            None => ms,
        };
        self.last_ms = Some(ms);
        if !self.cluster.is_empty()
            && (ms - self.cluster_ms >= CLUSTER_MS
                || self.cluster.len() + jpeg.len() > CLUSTER_BYTES)
        {
            self.flush_cluster()?;
        }
        if self.cluster.is_empty() {
            self.cluster.resize(CLUSTER_HEAD, 0);
            self.cluster_ms = ms;
            put_uint(&mut self.cluster, id::TIMESTAMP, ms);
        }
        put_id(&mut self.cluster, id::SIMPLE_BLOCK);
        put_size(&mut self.cluster, jpeg.len() as u64 + 4);
        // Track 1, the time relative to the cluster (under CLUSTER_MS, so it fits), keyframe.
        let relative = (ms - self.cluster_ms) as i16;
        self.cluster.push(0x81);
        self.cluster.extend_from_slice(&relative.to_be_bytes());
        self.cluster.push(0x80);
        self.cluster.extend_from_slice(jpeg);
        Ok(())
    }

    /// Writes out the open cluster once it is [`CLUSTER_MS`] old at `now_ms` (the frames'
    /// clock), so a stalled or slow stream's last frames reach the disk without waiting for
    /// the next frame.
    pub fn flush_if_due(&mut self, now_ms: u64) -> io::Result<()> {
        if !self.cluster.is_empty() && now_ms.saturating_sub(self.cluster_ms) >= CLUSTER_MS {
            return self.flush_cluster();
        }
        Ok(())
    }

    /// Writes the open cluster in one piece. A write that fails (a full disk) leaves the
    /// cluster to write again and the file positioned after the last whole one, so that a
    /// later try (at [`Mkv::finish`]) writes over the partial bytes instead of after them.
    fn flush_cluster(&mut self) -> io::Result<()> {
        if self.cluster.is_empty() {
            return Ok(());
        }
        let body = (self.cluster.len() - CLUSTER_HEAD) as u64;
        self.cluster[..4].copy_from_slice(&id::CLUSTER.to_be_bytes());
        self.cluster[4..CLUSTER_HEAD].copy_from_slice(&size8(body));
        if let Err(e) = self
            .out
            .write_all(&self.cluster)
            .and_then(|()| self.out.flush())
        {
            let _ = self.out.seek(SeekFrom::Start(self.end));
            return Err(e);
        }
        self.end += self.cluster.len() as u64;
        self.cluster.clear();
        Ok(())
    }

    /// Writes what is left, then the Segment's size and the duration; returns the output.
    /// When the last cluster cannot be written, the file is still closed over the clusters
    /// that are whole (a player reads those), and the error is returned.
    pub fn finish(mut self, duration_ms: f64) -> io::Result<W> {
        let flushed = self.flush_cluster();
        let mut duration = Vec::new();
        put_element(&mut duration, id::DURATION, &duration_ms.to_be_bytes());
        debug_assert_eq!(duration.len(), DURATION_LEN);
        self.out.seek(SeekFrom::Start(self.duration_at))?;
        self.out.write_all(&duration)?;
        self.out.seek(SeekFrom::Start(self.segment_size_at))?;
        self.out.write_all(&size8(self.end - self.segment_start))?;
        self.out.seek(SeekFrom::Start(self.end))?;
        self.out.flush()?;
        flushed.map(|()| self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::matroska::walk::{blocks, child, elements};
    use std::io::Cursor;

    #[test]
    fn sizes_are_variable_length_integers() {
        let enc = |v| {
            let mut out = Vec::new();
            put_size(&mut out, v);
            out
        };
        assert_eq!(enc(0), [0x80]);
        assert_eq!(enc(126), [0xFE]);
        // 127 would be all ones, which means "unknown": two bytes.
        assert_eq!(enc(127), [0x40, 0x7F]);
        assert_eq!(enc(70_000), [0x21, 0x11, 0x70]);
        assert_eq!(size8(5), [0x01, 0, 0, 0, 0, 0, 0, 5]);
        let mut id = Vec::new();
        put_id(&mut id, id::SEGMENT);
        put_id(&mut id, id::SIMPLE_BLOCK);
        assert_eq!(id, [0x18, 0x53, 0x80, 0x67, 0xA3]);
    }

    #[test]
    fn an_idle_cluster_is_written_once_due_and_the_next_frame_starts_another() {
        let mut mkv = Mkv::new(Cursor::new(Vec::new()), 640, 480).unwrap();
        let head = mkv.out.get_ref().len();
        mkv.frame(100, &[0xAB; 50]).unwrap();
        mkv.flush_if_due(100 + CLUSTER_MS - 1).unwrap();
        assert_eq!(mkv.out.get_ref().len(), head, "written before it was due");
        mkv.flush_if_due(100 + CLUSTER_MS).unwrap();
        assert!(mkv.out.get_ref().len() > head + 50, "not written when due");
        mkv.frame(2000, &[0xCD; 50]).unwrap();
        let bytes = mkv.finish(2100.0).unwrap().into_inner();
        let top = elements(&bytes);
        let got = blocks(&bytes, top[1].1.clone());
        assert_eq!(got, [(100, vec![0xAB; 50]), (2000, vec![0xCD; 50])]);
    }

    #[test]
    fn frames_come_back_byte_for_byte_with_their_times() {
        let frames: Vec<(u64, Vec<u8>)> = (0..40u64)
            .map(|i| (i * 33 + i % 3, vec![i as u8; 100 + i as usize * 7]))
            .collect();
        let mut mkv = Mkv::new(Cursor::new(Vec::new()), 640, 480).unwrap();
        for (ms, data) in &frames {
            mkv.frame(*ms, data).unwrap();
        }
        let bytes = mkv.finish(1320.0).unwrap().into_inner();
        let top = elements(&bytes);
        assert_eq!(top.len(), 2, "EBML header and one Segment");
        assert_eq!(top[0].0, id::EBML);
        let doc = child(&bytes, top[0].1.clone(), id::DOC_TYPE);
        assert_eq!(&bytes[doc], b"matroska");
        let segment = top[1].1.clone();
        assert_eq!(segment.end, bytes.len(), "the Segment's size was filled in");
        let info = child(&bytes, segment.clone(), id::INFO);
        let duration = child(&bytes, info, id::DURATION);
        assert_eq!(
            f64::from_be_bytes(bytes[duration].try_into().unwrap()),
            1320.0
        );
        let tracks = child(&bytes, segment.clone(), id::TRACKS);
        let track = child(&bytes, tracks, id::TRACK_ENTRY);
        assert_eq!(
            &bytes[child(&bytes, track.clone(), id::CODEC_ID)],
            b"V_MJPEG"
        );
        let video = child(&bytes, track, id::VIDEO);
        assert_eq!(&bytes[child(&bytes, video, id::PIXEL_WIDTH)], &[0x02, 0x80]);
        // 1.3 s of frames in clusters of at most half a second.
        let clusters = elements(&bytes[segment.clone()])
            .iter()
            .filter(|(i, _)| *i == id::CLUSTER)
            .count();
        assert_eq!(clusters, 3);
        assert_eq!(blocks(&bytes, segment), frames);
    }

    #[test]
    fn frames_in_one_millisecond_get_distinct_times() {
        let mut mkv = Mkv::new(Cursor::new(Vec::new()), 16, 16).unwrap();
        for ms in [0, 30, 30, 30, 29, 100] {
            mkv.frame(ms, &[1]).unwrap();
        }
        let bytes = mkv.finish(100.0).unwrap().into_inner();
        let segment = elements(&bytes)[1].1.clone();
        let times: Vec<u64> = blocks(&bytes, segment).iter().map(|(t, _)| *t).collect();
        assert_eq!(times, [0, 30, 31, 32, 33, 100]);
    }

    #[test]
    fn a_killed_recording_ends_at_a_whole_cluster() {
        let mut mkv = Mkv::new(Cursor::new(Vec::new()), 16, 16).unwrap();
        for i in 0..50u64 {
            mkv.frame(i * 40, &[i as u8; 64]).unwrap();
        }
        // Not finished: what is on "disk" is what was written so far.
        let bytes = mkv.out.get_ref().clone();
        let top = elements(&bytes);
        assert_eq!(
            top[1].1.end,
            bytes.len(),
            "unknown-size Segment runs to the end"
        );
        let got = blocks(&bytes, top[1].1.clone());
        // Every whole cluster is there; only the open one (under half a second) is missing.
        assert!(
            got.len() >= 50 - 13 && got.len() < 50,
            "{} frames",
            got.len()
        );
        assert_eq!(got[10], (400, vec![10; 64]));
    }

    /// A disk that fills during one write (part of it taken, then ENOSPC) and has room again
    /// later.
    struct FullOnce {
        inner: Cursor<Vec<u8>>,
        writes: usize,
        fail_at: usize,
    }

    impl Write for FullOnce {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            if self.writes == self.fail_at {
                self.inner.write_all(&buf[..buf.len() / 2])?;
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            self.inner.write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for FullOnce {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.inner.seek(to)
        }
    }

    /// A cluster half written when the disk filled is written again over its partial bytes
    /// at the finish, not after them: every frame comes back, in a file whose sizes add up
    /// (the Segment's size once counted the half cluster's start and lost the last one).
    #[test]
    fn a_cluster_cut_by_a_full_disk_is_written_again_at_the_finish() {
        let out = FullOnce {
            inner: Cursor::new(Vec::new()),
            writes: 0,
            fail_at: 0,
        };
        let mut mkv = Mkv::new(out, 16, 16).unwrap();
        mkv.out.fail_at = mkv.out.writes + 2;
        let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
        // As the recorder does: frames until one is refused (that one was not taken).
        for i in 0..40u64 {
            let frame = (i * 40, vec![i as u8; 64]);
            if mkv.frame(frame.0, &frame.1).is_err() {
                break;
            }
            frames.push(frame);
        }
        assert_eq!(frames.len(), 26, "the second cluster's write fails");
        let bytes = mkv.finish(1040.0).unwrap().inner.into_inner();
        let segment = elements(&bytes)[1].1.clone();
        assert_eq!(segment.end, bytes.len());
        assert_eq!(blocks(&bytes, segment), frames);
    }
}
