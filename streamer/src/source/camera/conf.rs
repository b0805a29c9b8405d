//! The `/etc/streamer/NAME.conf` blocks `--list-cameras` ends with: one per camera, ready for
//! the `streamer@NAME` service, naming the camera by its `/dev/v4l/by-id/...` link (stable
//! across USB renumbering) where udev made one, else by its `/dev/videoN` path with a warning.

use std::io;
use std::path::{Path, PathBuf};

/// Where udev puts the links named after each camera's USB vendor, model and serial.
pub const BY_ID: &str = "/dev/v4l/by-id";

/// One capture device, as the blocks need it.
pub struct Found {
    /// The `/dev/videoN` node.
    pub node: PathBuf,
    /// The driver's card name.
    pub card: String,
    /// Whether the camera offers MJPG (far less USB bandwidth than raw YUYV).
    pub mjpg: bool,
}

/// The link in `dir` that resolves to `node`, if any. A camera with several capture nodes
/// has several links; `...-video-index0` (the picture, not metadata) is preferred, then the
/// first by name, so the answer never depends on directory order.
pub fn by_id_link(dir: &Path, node: &Path) -> Option<PathBuf> {
    let target = node.canonicalize().ok()?;
    let mut links: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.canonicalize().is_ok_and(|t| t == target))
        .collect();
    links.sort_by_key(|p| (!p.to_string_lossy().ends_with("-video-index0"), p.clone()));
    links.into_iter().next()
}

/// A service instance name from a card name: lower-case letters, digits and single dashes
/// (safe in a file name and in `streamer@NAME`), at most 32 characters, `camera` if nothing
/// is left.
fn slug(card: &str) -> String {
    let mut name = String::new();
    for c in card.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    name.truncate(32);
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "camera".into()
    } else {
        name.into()
    }
}

/// Writes the blocks for `cameras`, looking for by-id links in `by_id`.
pub fn write_blocks(out: &mut impl io::Write, cameras: &[Found], by_id: &Path) -> io::Result<()> {
    if cameras.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "# One service per camera (streamer@.service): save each block below as the file it\n\
         # names, set VIEWER_ADDR, then: sudo systemctl enable --now streamer@NAME"
    )?;
    let mut names: Vec<String> = Vec::new();
    for cam in cameras {
        let base = slug(&cam.card);
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        names.push(name.clone());
        writeln!(out)?;
        writeln!(
            out,
            "# --- /etc/streamer/{name}.conf: {} ({})",
            cam.card,
            cam.node.display()
        )?;
        let path = match by_id_link(by_id, &cam.node) {
            Some(link) => link,
            None => {
                writeln!(
                    out,
                    "# No link in {} points at {}: this number may change when cameras are\n\
                     # plugged in another order or the board restarts.",
                    by_id.display(),
                    cam.node.display()
                )?;
                cam.node.clone()
            }
        };
        writeln!(out, "VIEWER_ADDR=192.168.3.20:8080")?;
        let mut args = format!("--camera {}", path.display());
        if cam.mjpg {
            // Two raw cameras rarely fit on one USB bus (VIDIOC_STREAMON fails with ENOSPC).
            args.push_str(" --camera-format MJPG");
        }
        writeln!(out, "STREAMER_ARGS={args}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_unique() {
        assert_eq!(slug("HD Pro Webcam C920"), "hd-pro-webcam-c920");
        assert_eq!(slug("  vivid: (#1) "), "vivid-1");
        assert_eq!(slug("ÄÖ"), "camera");
        assert!(slug(&"x".repeat(80)).len() <= 32);
        let cams = [
            Found {
                node: "/nonexistent/video0".into(),
                card: "Cam".into(),
                mjpg: true,
            },
            Found {
                node: "/nonexistent/video2".into(),
                card: "Cam".into(),
                mjpg: false,
            },
        ];
        let mut out = Vec::new();
        write_blocks(&mut out, &cams, Path::new("/nonexistent")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("# --- /etc/streamer/cam.conf: Cam (/nonexistent/video0)\n"));
        assert!(text.contains("# --- /etc/streamer/cam-2.conf: Cam (/nonexistent/video2)\n"));
        assert!(text.contains("STREAMER_ARGS=--camera /nonexistent/video0 --camera-format MJPG\n"));
        assert!(text.contains("STREAMER_ARGS=--camera /nonexistent/video2\n"));
        // No by-id link: the fallback says so, once per camera.
        assert_eq!(text.matches("this number may change").count(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn the_by_id_link_of_the_device_is_used() {
        let dir = std::env::temp_dir().join(format!("streamer-byid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let by_id = dir.join("by-id");
        std::fs::create_dir_all(&by_id).unwrap();
        for n in [0, 1, 2] {
            std::fs::write(dir.join(format!("video{n}")), b"").unwrap();
        }
        // As udev lays them out: relative links, a metadata node next to the picture node.
        let link = |name: &str, to: &str| {
            std::os::unix::fs::symlink(to, by_id.join(name)).unwrap();
        };
        link("usb-Acme_Cam_123-video-index0", "../video0");
        link("usb-Acme_Cam_123-video-index1", "../video1");
        link("usb-Other_Cam_9-video-index1", "../video2");
        link("usb-Other_Cam_9-video-index0", "../video2");
        let found = |n: u32| by_id_link(&by_id, &dir.join(format!("video{n}")));
        assert_eq!(found(0), Some(by_id.join("usb-Acme_Cam_123-video-index0")));
        assert_eq!(found(1), Some(by_id.join("usb-Acme_Cam_123-video-index1")));
        assert_eq!(found(2), Some(by_id.join("usb-Other_Cam_9-video-index0")));
        assert_eq!(found(3), None);
        let cams = [Found {
            node: dir.join("video0"),
            card: "Acme Cam".into(),
            mjpg: false,
        }];
        let mut out = Vec::new();
        write_blocks(&mut out, &cams, &by_id).unwrap();
        let text = String::from_utf8(out).unwrap();
        let want = format!(
            "STREAMER_ARGS=--camera {}\n",
            by_id.join("usb-Acme_Cam_123-video-index0").display()
        );
        assert!(text.contains(&want), "{text}");
        assert!(!text.contains("may change"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
