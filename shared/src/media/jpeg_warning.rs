//! Which of libjpeg-turbo's warnings leave a picture whole. TurboJPEG 3 decodes through a
//! warning and then returns -1, which the turbojpeg crate returns as an error: without this,
//! a camera that pads every frame before its end marker (many UVC cameras) would fail every
//! frame, in the streamer's re-encoding and in the viewer's decoding alike.

/// Whether a decode that failed with `message` decoded the whole picture all the same: only
/// for padding before a marker (`Corrupt JPEG data: 64 extraneous bytes before marker 0xd9`).
/// Other warnings (a premature end, a bad Huffman code) leave the picture damaged.
pub fn whole_despite(message: &str) -> bool {
    message.contains("extraneous bytes before marker")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::jpeg_scan::testing::real_jpeg;

    /// The padding warning, as libjpeg-turbo words it, is told apart from damage.
    #[test]
    fn padding_is_whole_damage_is_not() {
        let jpeg = real_jpeg(3);
        let end = jpeg.len() - 2;
        let padded = [&jpeg[..end], &[0u8; 64][..], &jpeg[end..]].concat();
        let warned = turbojpeg::decompress(&padded, turbojpeg::PixelFormat::RGB);
        let message = warned.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(whole_despite(&message), "{message:?}");
        let cut = turbojpeg::decompress(&jpeg[..jpeg.len() / 2], turbojpeg::PixelFormat::RGB);
        let message = cut.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            !message.is_empty() && !whole_despite(&message),
            "{message:?}"
        );
    }
}
