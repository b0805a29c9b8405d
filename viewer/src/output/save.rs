//! `--save-dir`: every received payload written exactly as it arrived, one file per frame,
//! named with a counter and the peer (`000042-192.168.3.7.jpg`). Each file is written under a
//! temporary name and renamed once complete, so a crash never leaves half a file behind.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use shared::sniff;

/// Writes `payload` as frame number `counter` from `peer` into `dir`; returns the final path.
pub fn save(dir: &Path, counter: u64, peer: IpAddr, payload: &[u8]) -> std::io::Result<PathBuf> {
    // `:` is legal on Linux but not on the Windows shares people copy these to.
    let peer = peer.to_string().replace(':', "_");
    let name = format!("{counter:06}-{peer}.{}", sniff::extension(payload));
    let path = dir.join(&name);
    let partial = dir.join(format!(".{name}.part"));
    let mut file = fs::File::create(&partial)?;
    file.write_all(payload)?;
    drop(file);
    fs::rename(&partial, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_bytes_as_received_under_a_counter_and_peer_name() {
        let dir = std::env::temp_dir().join(format!("save-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let payload = b"\xFF\xD8 not re-encoded \xFF\xD9";
        let path = save(&dir, 42, "192.168.3.7".parse().unwrap(), payload).unwrap();
        assert_eq!(path.file_name().unwrap(), "000042-192.168.3.7.jpg");
        assert_eq!(fs::read(&path).unwrap(), payload);
        let png = save(&dir, 43, "::1".parse().unwrap(), b"\x89PNG\r\n\x1a\n").unwrap();
        assert_eq!(png.file_name().unwrap(), "000043-__1.png");
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
