//! Secrets and passwords come from files, never from the command line (where `ps` shows them):
//! one reader that, as ssh does with its keys, refuses a file others may read, and bounds its
//! size.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// Reads a private file of at most `max_bytes`, trailing line ends removed. Errors name the
/// file and what is wrong: missing, readable by group or others (Unix), too large, empty.
pub fn read_private(path: &Path, max_bytes: usize) -> io::Result<Vec<u8>> {
    let shown = path.display();
    let file =
        fs::File::open(path).map_err(|e| io::Error::new(e.kind(), format!("{shown}: {e}")))?;
    let meta = file.metadata()?;
    check_mode(&meta, path)?;
    if meta.len() > max_bytes as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{shown}: {} bytes, more than the {max_bytes} a secret may have",
                meta.len()
            ),
        ));
    }
    let mut bytes = Vec::new();
    file.take(max_bytes as u64 + 1).read_to_end(&mut bytes)?;
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{shown}: empty"),
        ));
    }
    Ok(bytes)
}

#[cfg(unix)]
fn check_mode(meta: &fs::Metadata, path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{}: readable by others (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            ),
        ));
    }
    Ok(())
}

/// Windows has no such mode bits; its ACLs are the administrator's to set.
#[cfg(not(unix))]
fn check_mode(_: &fs::Metadata, _: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(name: &str, bytes: &[u8], mode: u32) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("secret-file-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn private_files_are_read_and_others_refused() {
        let ok = write("ok", b"s3cret\n", 0o600);
        assert_eq!(read_private(&ok, 1024).unwrap(), b"s3cret");
        let open = write("open", b"s3cret\n", 0o644);
        let e = read_private(&open, 1024).unwrap_err().to_string();
        assert!(e.contains("readable by others (mode 644)"), "{e}");
        let big = write("big", &[b'x'; 2000], 0o600);
        assert!(read_private(&big, 1024)
            .unwrap_err()
            .to_string()
            .contains("2000 bytes"));
        let empty = write("empty", b"\n", 0o600);
        assert!(read_private(&empty, 1024)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let missing = ok.with_file_name("missing");
        assert!(read_private(&missing, 1024)
            .unwrap_err()
            .to_string()
            .contains("missing"));
    }
}
