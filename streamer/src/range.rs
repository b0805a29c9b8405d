//! YUV range: JPEG is full range (0-255), most cameras and video files are limited range
//! (luma 16-235, chroma 16-240). Stretching through lookup tables keeps pictures from coming
//! out washed out (black as dark grey, white as light grey) at the cost of one table load a byte.

/// Tables mapping limited-range samples to full range: `y` for luma, `c` for chroma.
#[derive(Debug, Clone)]
pub struct RangeLuts {
    pub y: [u8; 256],
    pub c: [u8; 256],
}

impl RangeLuts {
    /// The limited-to-full tables (values outside the nominal range are clipped).
    pub fn limited_to_full() -> Self {
        let mut y = [0u8; 256];
        let mut c = [0u8; 256];
        for v in 0..256usize {
            let f = v as f64;
            y[v] = ((f - 16.0) * 255.0 / 219.0).round().clamp(0.0, 255.0) as u8;
            // Rounded around 128 so that both ends land on 0 and 255 (16 and 240 are
            // exactly half a step past them).
            c[v] = (128.0 + ((f - 128.0) * 255.0 / 224.0).round()).clamp(0.0, 255.0) as u8;
        }
        RangeLuts { y, c }
    }

    /// Expands a luma plane in place.
    pub fn luma(&self, plane: &mut [u8]) {
        plane.iter_mut().for_each(|v| *v = self.y[usize::from(*v)]);
    }

    /// Expands a chroma plane (or interleaved Cb/Cr bytes) in place.
    pub fn chroma(&self, plane: &mut [u8]) {
        plane.iter_mut().for_each(|v| *v = self.c[usize::from(*v)]);
    }

    /// Expands packed YUYV (Y0 U Y1 V) in place.
    pub fn yuyv(&self, packed: &mut [u8]) {
        for px in packed.chunks_exact_mut(2) {
            px[0] = self.y[usize::from(px[0])];
            px[1] = self.c[usize::from(px[1])];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_stretch_to_full_range() {
        let l = RangeLuts::limited_to_full();
        assert_eq!((l.y[16], l.y[235], l.y[0], l.y[255]), (0, 255, 0, 255));
        assert_eq!((l.c[16], l.c[128], l.c[240]), (0, 128, 255));
        // 75 % white (Y 180) lands on 75 % of full scale.
        assert_eq!(l.y[180], 191);
    }

    #[test]
    fn yuyv_alternates_luma_and_chroma() {
        let l = RangeLuts::limited_to_full();
        let mut px = [16, 16, 235, 240, 180, 128];
        l.yuyv(&mut px);
        assert_eq!(px, [0, 0, 255, 255, 191, 128]);
    }
}
