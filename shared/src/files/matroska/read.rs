//! Reads a Matroska or WebM file's MJPEG video track block by block, front to back, without
//! loading it: headers and the Tracks are read (bounded), every frame is only located (offset,
//! length, time) and skipped, so the caller reads the payloads it wants. SimpleBlock and
//! BlockGroup/Block, known or unknown Segment and Cluster sizes; a file cut anywhere ends at
//! its last whole frame. Hand-written rather than `matroska-demuxer`: that crate copies every
//! frame into a buffer it sizes from the file, exposes no block offsets for a seek index and
//! cannot be told a maximum frame size.

use std::io::{self, ErrorKind, Read, Seek};

use crate::files::scan_input::ScanInput;

use super::ids as id;

/// The first four bytes of every EBML file (and so of every Matroska file).
pub const MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];

/// Header elements (EBML header, Info, Tracks) are read whole; none is this large.
const MAX_HEADER: u64 = 1 << 20;

/// The one codec replayed: JPEG pictures, one per block.
pub const MJPEG_CODEC: &str = "V_MJPEG";

/// A data size with every value bit set: "unknown" (a live Segment or Cluster).
const UNKNOWN: u64 = u64::MAX;

/// The video track found in the Tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub number: u64,
    pub codec: String,
    pub width: u64,
    pub height: u64,
}

/// One frame of the video track: where its bytes are and when it was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub offset: u64,
    pub len: u64,
    /// Microseconds after the first frame.
    pub time_us: u64,
}

/// A Matroska file being read block by block.
pub struct MkvReader<R> {
    input: ScanInput<R>,
    track: Track,
    /// Nanoseconds per timestamp unit (Info's TimestampScale).
    scale_ns: u64,
    cluster_time: i64,
    first_time: Option<i64>,
    max_frame: u64,
    /// The file ended inside a frame or an element.
    cut: bool,
}

/// What the next element turned out to be.
enum Item {
    Block(Block),
    Other,
}

impl<R: Read + Seek> MkvReader<R> {
    /// Reads the headers up to the Tracks; fails with one sentence when the file is not
    /// Matroska, holds no video track or a codec other than MJPEG.
    pub fn open(inner: R, max_frame: usize) -> Result<Self, String> {
        let mut input = ScanInput::new(inner).map_err(|e| e.to_string())?;
        check_header(&mut input)?;
        let mut scale_ns = 1_000_000;
        let track = loop {
            let Some((element, size)) = header(&mut input).map_err(|e| e.to_string())? else {
                return Err("the file ends before its Tracks (no video track description)".into());
            };
            match element {
                id::SEGMENT => {}
                id::INFO => {
                    let body = body(&mut input, size)?;
                    if let Some(scale) = first(&body, id::TIMESTAMP_SCALE)? {
                        scale_ns = uint(scale).filter(|&s| s > 0).unwrap_or(1_000_000);
                    }
                }
                id::TRACKS => break video_track(&body(&mut input, size)?)?,
                id::CLUSTER => return Err("a Cluster before the Tracks".into()),
                _ => skip(&mut input, size)?,
            }
        };
        if track.codec != MJPEG_CODEC {
            return Err(format!(
                "the video track is {}, not MJPEG ({MJPEG_CODEC}); only MJPEG can be replayed",
                track.codec
            ));
        }
        Ok(MkvReader {
            input,
            track,
            scale_ns,
            cluster_time: 0,
            first_time: None,
            max_frame: max_frame as u64,
            cut: false,
        })
    }

    /// The MJPEG video track.
    pub fn track(&self) -> &Track {
        &self.track
    }

    /// True once the file was found to end inside a frame (a recording cut by `kill -9`).
    pub fn cut_short(&self) -> bool {
        self.cut
    }

    /// Starts again at the first frame.
    pub fn rewind(&mut self) -> Result<(), String> {
        self.input.rewind().map_err(|e| e.to_string())?;
        // The headers were checked once; walking them again costs a few hundred bytes.
        loop {
            match header(&mut self.input).map_err(|e| e.to_string())? {
                Some((id::TRACKS, size)) => {
                    skip(&mut self.input, size)?;
                    break;
                }
                Some((id::SEGMENT, _)) => {}
                Some((_, size)) => skip(&mut self.input, size)?,
                None => return Err("the file changed: no Tracks any more".into()),
            }
        }
        // As `open` left it: a block before its Cluster's Timestamp counts from 0 both times.
        self.cluster_time = 0;
        self.cut = false;
        Ok(())
    }

    /// The next frame of the video track, or `None` at the end of the file (or where it was cut).
    pub fn next_block(&mut self) -> Result<Option<Block>, String> {
        loop {
            let Some((element, size)) = header(&mut self.input).map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            match self.item(element, size)? {
                Some(Item::Block(block)) => return Ok(Some(block)),
                Some(Item::Other) => {}
                None => {
                    self.cut = true;
                    return Ok(None);
                }
            }
        }
    }

    /// Handles one element; `None` when the file ends inside it.
    fn item(&mut self, element: u32, size: u64) -> Result<Option<Item>, String> {
        match element {
            // Masters whose children are read in turn: their sizes do not matter.
            id::SEGMENT | id::CLUSTER | id::BLOCK_GROUP => {}
            id::TIMESTAMP => {
                let Some(body) = take(&mut self.input, size, 8)? else {
                    return Ok(None);
                };
                self.cluster_time = uint(&body).map_or(0, |t| t.min(i64::MAX as u64) as i64);
            }
            id::SIMPLE_BLOCK | id::BLOCK => return self.block(size),
            _ => skip(&mut self.input, size)?,
        }
        Ok(Some(Item::Other))
    }

    /// A block's header; its frame is skipped and returned if it belongs to the video track.
    fn block(&mut self, size: u64) -> Result<Option<Item>, String> {
        if size == UNKNOWN {
            return Err(format!(
                "a block of unknown size at offset {}",
                self.input.pos()
            ));
        }
        let start = self.input.pos();
        let Some(track) = vint(&mut self.input, false).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let mut rest = [0; 3];
        if !self.input.fill(&mut rest).map_err(|e| e.to_string())? {
            return Ok(None);
        }
        let head = self.input.pos() - start;
        let Some(len) = size.checked_sub(head) else {
            return Err(format!(
                "a block of {size} bytes at offset {start}, shorter than its header"
            ));
        };
        if track != self.track.number {
            return skip(&mut self.input, len).map(|()| Some(Item::Other));
        }
        if rest[2] & 0x06 != 0 {
            return Err(format!(
                "a laced block at offset {start}: one frame per block expected"
            ));
        }
        // Too short for any JPEG (FF D8 FF D9): not a frame, so a file of empty blocks cannot
        // make a reader's index of frames many times its size.
        if len < 4 {
            return skip(&mut self.input, len).map(|()| Some(Item::Other));
        }
        if len > self.max_frame {
            return Err(format!(
                "a frame of {len} bytes at offset {} is over --max-frame-bytes {}",
                self.input.pos(),
                self.max_frame
            ));
        }
        let offset = self.input.pos();
        if len > self.input.remaining() {
            return Ok(None);
        }
        skip(&mut self.input, len)?;
        let relative = i64::from(i16::from_be_bytes([rest[0], rest[1]]));
        let ticks = self.cluster_time.saturating_add(relative);
        let first = *self.first_time.get_or_insert(ticks);
        // A frame timed before the first (a damaged or reordered file) counts as at the start.
        let since = u64::try_from(ticks.saturating_sub(first)).unwrap_or(0);
        let time_us = since.saturating_mul(self.scale_ns) / 1000;
        Ok(Some(Item::Block(Block {
            offset,
            len,
            time_us,
        })))
    }
}

/// The EBML header: present, and a Matroska or WebM document.
fn check_header<R: Read + Seek>(input: &mut ScanInput<R>) -> Result<(), String> {
    let not = "not a Matroska file (no EBML header)";
    match header(input) {
        Ok(Some((id::EBML, size))) => {
            let body = body(input, size)?;
            let doc = first(&body, id::DOC_TYPE)?.unwrap_or(b"matroska");
            let doc = String::from_utf8_lossy(doc);
            let doc = doc.trim_end_matches('\0');
            if doc != "matroska" && doc != "webm" {
                return Err(format!(
                    "an EBML file of type {doc:?}, not Matroska or WebM"
                ));
            }
            Ok(())
        }
        Ok(_) | Err(_) => Err(not.into()),
    }
}

/// The first video track of a Tracks element's body.
fn video_track(tracks: &[u8]) -> Result<Track, String> {
    for (element, entry) in children(tracks)? {
        if element != id::TRACK_ENTRY {
            continue;
        }
        let number = first(entry, id::TRACK_NUMBER)?.and_then(uint);
        let kind = first(entry, id::TRACK_TYPE)?.and_then(uint);
        let codec = first(entry, id::CODEC_ID)?.map(|c| String::from_utf8_lossy(c).into_owned());
        let codec = codec.unwrap_or_default().trim_end_matches('\0').to_string();
        if kind != Some(1) && !codec.starts_with("V_") {
            continue;
        }
        let video = first(entry, id::VIDEO)?.unwrap_or(&[]);
        let size = |e| Ok::<_, String>(first(video, e)?.and_then(uint).unwrap_or(0));
        return Ok(Track {
            number: number.ok_or("a video track without a TrackNumber")?,
            codec,
            width: size(id::PIXEL_WIDTH)?,
            height: size(id::PIXEL_HEIGHT)?,
        });
    }
    Err("no video track".into())
}

/// An element's ID and data size, or `None` at the end of the file.
fn header<R: Read + Seek>(input: &mut ScanInput<R>) -> io::Result<Option<(u32, u64)>> {
    let Some(element) = vint(input, true)? else {
        return Ok(None);
    };
    if element > u64::from(u32::MAX) {
        return Err(bad(format!(
            "an element ID over 4 bytes at offset {}",
            input.pos()
        )));
    }
    Ok(vint(input, false)?.map(|size| (element as u32, size)))
}

/// An EBML variable-length integer: an ID keeps its length marker, a size loses it (all
/// value bits set means unknown: [`UNKNOWN`]). `None` at the end of the file.
fn vint<R: Read + Seek>(input: &mut ScanInput<R>, keep_marker: bool) -> io::Result<Option<u64>> {
    let Some(lead) = input.byte()? else {
        return Ok(None);
    };
    let len = lead.leading_zeros() as usize + 1;
    if len > 8 {
        return Err(bad(format!(
            "a zero byte at offset {} where an element starts",
            input.pos() - 1
        )));
    }
    let mut rest = [0; 7];
    if !input.fill(&mut rest[..len - 1])? {
        return Ok(None);
    }
    Ok(Some(decode_vint(lead, &rest[..len - 1], keep_marker)))
}

fn decode_vint(lead: u8, rest: &[u8], keep_marker: bool) -> u64 {
    let len = rest.len() + 1;
    let first = if keep_marker {
        lead
    } else {
        lead & 0xFFu8.checked_shr(len as u32).unwrap_or(0)
    };
    let value = rest
        .iter()
        .fold(u64::from(first), |v, &b| v << 8 | u64::from(b));
    let all_ones = (1u64 << (7 * len)) - 1;
    if !keep_marker && value == all_ones {
        UNKNOWN
    } else {
        value
    }
}

fn bad(what: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, what)
}

/// A header element's body, read whole (bounded).
fn body<R: Read + Seek>(input: &mut ScanInput<R>, size: u64) -> Result<Vec<u8>, String> {
    take(input, size, MAX_HEADER)?.ok_or_else(|| "the file ends inside its headers".into())
}

fn take<R: Read + Seek>(
    input: &mut ScanInput<R>,
    size: u64,
    max: u64,
) -> Result<Option<Vec<u8>>, String> {
    input.take(size, max).map_err(|e| e.to_string())
}

fn skip<R: Read + Seek>(input: &mut ScanInput<R>, size: u64) -> Result<(), String> {
    if size == UNKNOWN {
        return Err(format!(
            "an element of unknown size at offset {}",
            input.pos()
        ));
    }
    input.skip(size).map_err(|e| e.to_string())
}

/// The children of a master element's body, each as (ID, body).
fn children(mut body: &[u8]) -> Result<Vec<(u32, &[u8])>, String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let (element, n) = slice_vint(body, true)?;
        let (size, m) = slice_vint(&body[n..], false)?;
        let rest = &body[n + m..];
        let size = usize::try_from(size).ok().filter(|&s| s <= rest.len());
        let size = size.ok_or("a header element larger than its parent")?;
        out.push((element as u32, &rest[..size]));
        body = &rest[size..];
    }
    Ok(out)
}

fn slice_vint(bytes: &[u8], keep_marker: bool) -> Result<(u64, usize), String> {
    let lead = *bytes.first().ok_or("a header element cut short")?;
    let len = lead.leading_zeros() as usize + 1;
    if len > 8 || bytes.len() < len {
        return Err("a malformed header element".into());
    }
    Ok((decode_vint(lead, &bytes[1..len], keep_marker), len))
}

/// The body of the first child with this ID.
fn first(body: &[u8], element: u32) -> Result<Option<&[u8]>, String> {
    Ok(children(body)?
        .into_iter()
        .find(|&(e, _)| e == element)
        .map(|(_, b)| b))
}

/// A big-endian unsigned integer of at most 8 bytes.
fn uint(bytes: &[u8]) -> Option<u64> {
    (bytes.len() <= 8).then(|| bytes.iter().fold(0, |v, &b| v << 8 | u64::from(b)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    /// One element as bytes: its ID, an 8-byte size (or unknown) and its body.
    pub(crate) fn el(element: u32, body: &[u8]) -> Vec<u8> {
        let mut out = element
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|&b| b == 0)
            .collect::<Vec<_>>();
        out.extend_from_slice(&(body.len() as u64 | 1 << 56).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn unknown(element: u32) -> Vec<u8> {
        let mut out = element.to_be_bytes().to_vec();
        out.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        out
    }

    fn simple_block(track: u8, rel: i16, frame: &[u8]) -> Vec<u8> {
        let mut body = vec![0x80 | track];
        body.extend_from_slice(&rel.to_be_bytes());
        body.push(0x80);
        body.extend_from_slice(frame);
        el(id::SIMPLE_BLOCK, &body)
    }

    /// A file with `codec` on track 1 (and an audio track 2), in clusters given as
    /// (timestamp, blocks), the Segment and the second cluster of unknown size.
    pub(crate) fn file(codec: &str, clusters: &[(u8, Vec<Vec<u8>>)]) -> Vec<u8> {
        let mut out = el(id::EBML, &el(id::DOC_TYPE, b"matroska"));
        out.extend(unknown(id::SEGMENT));
        out.extend(el(id::INFO, &el(id::TIMESTAMP_SCALE, &[0x0F, 0x42, 0x40])));
        let video = [
            el(id::TRACK_NUMBER, &[1]),
            el(id::TRACK_TYPE, &[1]),
            el(id::CODEC_ID, codec.as_bytes()),
            el(
                id::VIDEO,
                &[el(id::PIXEL_WIDTH, &[64]), el(id::PIXEL_HEIGHT, &[48])].concat(),
            ),
        ]
        .concat();
        let audio = [
            el(id::TRACK_NUMBER, &[2]),
            el(id::TRACK_TYPE, &[2]),
            el(id::CODEC_ID, b"A_PCM"),
        ]
        .concat();
        out.extend(el(
            id::TRACKS,
            &[el(id::TRACK_ENTRY, &audio), el(id::TRACK_ENTRY, &video)].concat(),
        ));
        for (i, (time, blocks)) in clusters.iter().enumerate() {
            let mut body = el(id::TIMESTAMP, &[*time]);
            body.extend(blocks.concat());
            if i == 1 {
                out.extend(unknown(id::CLUSTER));
                out.extend(body);
            } else {
                out.extend(el(id::CLUSTER, &body));
            }
        }
        out
    }

    fn sample() -> Vec<u8> {
        let group = el(id::BLOCK_GROUP, &{
            let mut b = simple_block(1, 10, b"three");
            b[0] = id::BLOCK as u8;
            b
        });
        file(
            MJPEG_CODEC,
            &[
                (
                    5,
                    vec![
                        simple_block(1, 0, b"one!"),
                        simple_block(2, 1, b"audio"),
                        simple_block(1, 40, b"two!"),
                    ],
                ),
                (100, vec![group, simple_block(1, 50, b"four")]),
            ],
        )
    }

    fn frames(bytes: &[u8]) -> (Vec<(Vec<u8>, u64)>, bool) {
        let mut reader = MkvReader::open(Cursor::new(bytes.to_vec()), 1000).unwrap();
        let mut out = Vec::new();
        while let Some(b) = reader.next_block().unwrap() {
            let at = b.offset as usize;
            out.push((bytes[at..at + b.len as usize].to_vec(), b.time_us));
        }
        (out, reader.cut_short())
    }

    #[test]
    fn reads_simple_and_grouped_blocks_of_the_video_track_with_their_times() {
        let bytes = sample();
        let reader = MkvReader::open(Cursor::new(bytes.clone()), 1000).unwrap();
        assert_eq!(
            reader.track(),
            &Track {
                number: 1,
                codec: MJPEG_CODEC.into(),
                width: 64,
                height: 48
            }
        );
        let (got, cut) = frames(&bytes);
        let want: Vec<(Vec<u8>, u64)> = vec![
            (b"one!".to_vec(), 0),
            (b"two!".to_vec(), 40_000),
            (b"three".to_vec(), 105_000),
            (b"four".to_vec(), 145_000),
        ];
        assert_eq!(got, want);
        assert!(!cut);
        // A block too short for any JPEG is not a frame (empty blocks cannot make an index of
        // frames many times the file's size).
        let short = file(
            MJPEG_CODEC,
            &[(
                5,
                vec![
                    simple_block(1, 0, b""),
                    simple_block(1, 1, b"abc"),
                    simple_block(1, 2, b"abcd"),
                ],
            )],
        );
        assert_eq!(frames(&short).0, [(b"abcd".to_vec(), 0)]);
    }

    #[test]
    fn rewinds_to_the_first_frame() {
        let bytes = sample();
        let mut reader = MkvReader::open(Cursor::new(bytes), 1000).unwrap();
        while reader.next_block().unwrap().is_some() {}
        reader.rewind().unwrap();
        assert_eq!(reader.next_block().unwrap().unwrap().time_us, 0);
    }

    /// A block before its Cluster's Timestamp (a damaged or odd file) reads the same time after
    /// a rewind as before it: the fuzz run found it reading the last Cluster's time instead.
    #[test]
    fn a_rewind_reads_a_block_before_its_timestamp_as_the_first_pass_did() {
        let mut bytes = file(MJPEG_CODEC, &[]);
        let early = [simple_block(1, 3, b"early"), el(id::TIMESTAMP, &[5])].concat();
        bytes.extend(el(id::CLUSTER, &early));
        let late = [el(id::TIMESTAMP, &[100]), simple_block(1, 0, b"late")].concat();
        bytes.extend(el(id::CLUSTER, &late));
        let mut reader = MkvReader::open(Cursor::new(bytes), 1000).unwrap();
        let mut pass = || {
            let mut times = Vec::new();
            while let Some(b) = reader.next_block().unwrap() {
                times.push(b.time_us);
            }
            reader.rewind().unwrap();
            times
        };
        let first = pass();
        // Times count from the first frame.
        assert_eq!(first, [0, 97_000]);
        let again = pass();
        assert_eq!(again, first);
    }

    #[test]
    fn a_file_cut_anywhere_yields_its_whole_frames() {
        let bytes = sample();
        let (all, _) = frames(&bytes);
        let headers = MkvReader::open(Cursor::new(bytes.clone()), 1000)
            .unwrap()
            .input
            .pos() as usize;
        for cut in headers..bytes.len() {
            let (got, _) = frames(&bytes[..cut]);
            assert_eq!(got[..], all[..got.len()], "cut at {cut}");
            let last_end = bytes.windows(4).position(|w| w == b"four").unwrap() + 4;
            if cut < last_end {
                assert!(got.len() < all.len(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn damaged_files_give_bounded_frames_or_errors_never_a_panic() {
        use crate::media::jpeg_scan::testing::{damaged, xorshift};
        let mut next = xorshift();
        let good = sample();
        let mut read = 0;
        for _ in 0..3000 {
            let bytes = damaged(&good, &mut next);
            let Ok(mut reader) = MkvReader::open(Cursor::new(bytes.clone()), 1000) else {
                continue;
            };
            for _ in 0..100 {
                match reader.next_block() {
                    Ok(Some(b)) => {
                        assert!(b.len <= 1000 && b.offset + b.len <= bytes.len() as u64);
                        read += 1;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
        // Not vacuous: many damaged files still had frames to read.
        assert!(read > 1000, "{read}");
    }

    #[test]
    fn names_what_it_found_when_it_cannot_replay() {
        let err = |bytes: Vec<u8>| MkvReader::open(Cursor::new(bytes), 1000).err().unwrap();
        assert_eq!(
            err(file("V_MPEG4/ISO/AVC", &[])),
            "the video track is V_MPEG4/ISO/AVC, not MJPEG (V_MJPEG); only MJPEG can be replayed"
        );
        assert_eq!(
            err(b"RIFF....AVI ".to_vec()),
            "not a Matroska file (no EBML header)"
        );
        assert_eq!(
            err(el(id::EBML, &el(id::DOC_TYPE, b"other"))),
            "an EBML file of type \"other\", not Matroska or WebM"
        );
        let head_only = sample()[..20].to_vec();
        assert_eq!(err(head_only), "the file ends inside its headers");
        let big = file(MJPEG_CODEC, &[(0, vec![simple_block(1, 0, &[7; 2000])])]);
        let mut reader = MkvReader::open(Cursor::new(big), 1000).unwrap();
        let e = reader.next_block().unwrap_err();
        assert!(
            e.starts_with("a frame of 2000 bytes at offset")
                && e.ends_with("over --max-frame-bytes 1000"),
            "{e}"
        );
    }
}
