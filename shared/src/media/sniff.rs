//! What a payload is, from its first bytes: JPEG, PNG or neither, and its picture size from its
//! header. The one place that tells them apart, so that saving, serving, decoding and
//! recording always agree.

/// A JPEG starts with the Start Of Image marker.
pub const JPEG_SOI: [u8; 2] = [0xFF, 0xD8];
/// A PNG starts with this full signature (`\x89PNG\r\n\x1a\n`); four bytes are not enough to
/// tell a PNG from a text file mangled by a line-ending conversion.
pub const PNG_SIGNATURE: [u8; 8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

/// A picture format the viewer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Starts with the Start Of Image marker `FF D8`.
    Jpeg,
    /// Starts with the full PNG signature.
    Png,
}

impl Kind {
    /// JPEG or PNG, from the payload's first bytes; `None` for anything else.
    pub fn of(bytes: &[u8]) -> Option<Kind> {
        if bytes.starts_with(&JPEG_SOI) {
            Some(Kind::Jpeg)
        } else if bytes.starts_with(&PNG_SIGNATURE) {
            Some(Kind::Png)
        } else {
            None
        }
    }

    /// The MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
        }
    }
}

/// The file extension for any payload: `jpg`, `png`, or `bin` for anything else.
pub fn extension(bytes: &[u8]) -> &'static str {
    Kind::of(bytes).map_or("bin", Kind::extension)
}

/// A JPEG's or PNG's full picture size from its header, without decoding it.
pub fn picture_size(bytes: &[u8]) -> Option<(u32, u32)> {
    match Kind::of(bytes)? {
        Kind::Png => {
            // The IHDR chunk comes first: width and height, big-endian, at 16 and 20.
            let field =
                |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
            (bytes.get(12..16)? == b"IHDR").then_some(())?;
            Some((field(16)?, field(20)?))
        }
        Kind::Jpeg => {
            // Walk the marker segments up to the start of frame (SOF0..SOF15 but DHT, JPG, DAC).
            let mut at = 2;
            loop {
                let marker = *bytes.get(at + 1)?;
                if *bytes.get(at)? != 0xFF {
                    return None;
                }
                if marker == 0xFF {
                    at += 1; // fill byte
                    continue;
                }
                let len = usize::from(u16::from_be_bytes([
                    *bytes.get(at + 2)?,
                    *bytes.get(at + 3)?,
                ]));
                if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
                    let h = u16::from_be_bytes([*bytes.get(at + 5)?, *bytes.get(at + 6)?]);
                    let w = u16::from_be_bytes([*bytes.get(at + 7)?, *bytes.get(at + 8)?]);
                    return Some((u32::from(w), u32::from(h)));
                }
                if marker == 0xDA || len < 2 {
                    return None;
                }
                at += 2 + len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picture_size_from_headers() {
        let jpeg = crate::media::jpeg_scan::testing::real_jpeg(7);
        assert_eq!(picture_size(&jpeg), Some((48, 32)));
        // A PNG's signature, then its IHDR chunk: length 13, type, width 7, height 5.
        let mut png = PNG_SIGNATURE.to_vec();
        png.extend_from_slice(&[0, 0, 0, 13]);
        png.extend_from_slice(b"IHDR");
        png.extend_from_slice(&7u32.to_be_bytes());
        png.extend_from_slice(&5u32.to_be_bytes());
        assert_eq!(picture_size(&png), Some((7, 5)));
        // Truncated or garbled headers give nothing, never a panic.
        for n in 0..40 {
            let _ = picture_size(&jpeg[..n]);
        }
        assert_eq!(picture_size(b"\xFF\xD8\xFF\xE0\x00\x01"), None);
        assert_eq!(picture_size(b"GIF89a"), None);
    }

    #[test]
    fn tells_jpeg_from_png_from_anything_else() {
        assert_eq!(Kind::of(b"\xFF\xD8\xFF\xE0"), Some(Kind::Jpeg));
        assert_eq!(Kind::of(b"\xFF\xD8"), Some(Kind::Jpeg));
        assert_eq!(Kind::of(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(Kind::Png));
        assert_eq!(Kind::of(&PNG_SIGNATURE), Some(Kind::Png));
        for other in [
            &b""[..],
            b"\xFF",
            b"\xFF\xD9",
            b"GIF89a",
            b"hello",
            // The first four bytes alone, or a signature whose line endings were converted:
            // not a PNG.
            b"\x89PNG",
            b"\x89PNG\r\n",
            b"\x89PNG\n\x1a\n",
            b"\x89PNG\r\n\x1a\r\n",
        ] {
            assert_eq!(Kind::of(other), None, "{other:?}");
        }
    }

    #[test]
    fn names_types_and_extensions() {
        assert_eq!(Kind::Jpeg.content_type(), "image/jpeg");
        assert_eq!(Kind::Png.content_type(), "image/png");
        assert_eq!(extension(b"\xFF\xD8 jpeg"), "jpg");
        assert_eq!(extension(&PNG_SIGNATURE), "png");
        assert_eq!(extension(b"\x89PNG\r\n"), "bin");
        assert_eq!(extension(b""), "bin");
    }
}
