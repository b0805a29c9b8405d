//! Matroska (EBML) files with one MJPEG video track: [`read`] walks a file block by block.

pub mod read;
