//! Reading a file that holds secrets (`viewer --http-auth`, `--secret`): it must be a regular
//! file readable by its owner only, as ssh demands of private keys, and small; its content
//! comes back without the surrounding whitespace an editor leaves.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Reads the secrets in `path`, at most `max_bytes` of them. Every refusal is an error whose
/// message names the file and says what is wrong (and how to fix it), ready for one line.
pub fn read_private(path: &Path, max_bytes: usize) -> io::Result<Vec<u8>> {
    let shown = path.display();
    let fail = |what: String| io::Error::other(format!("{shown}: {what}"));
    let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot read its attributes: {e}")))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    check_mode(&meta).map_err(|mode| {
        fail(format!(
            "readable by group or others (mode {mode:04o}), refusing it: chmod 600 {shown}"
        ))
    })?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells a file that is too long, whatever its size said.
    file.take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read: {e}")))?;
    if bytes.len() > max_bytes {
        return Err(fail(format!("longer than {max_bytes} bytes")));
    }
    Ok(bytes.trim_ascii().to_vec())
}

/// The file's permission bits when group or others may read or write it.
/// The most a `--secret` file may hold.
pub const MAX_SECRET_BYTES: usize = 4096;

/// `--secret FILE` as both programs take it: the file's bytes, shared by every connection;
/// `None` without the flag. The error is the one line to print.
pub fn load_secret(path: Option<&Path>) -> Result<Option<std::sync::Arc<[u8]>>, String> {
    match path {
        Some(path) => read_private(path, MAX_SECRET_BYTES)
            .map(|bytes| Some(bytes.into()))
            .map_err(|e| format!("--secret {e}")),
        None => Ok(None),
    }
}

#[cfg(unix)]
fn check_mode(meta: &std::fs::Metadata) -> Result<(), u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        Ok(())
    } else {
        Err(mode)
    }
}

/// Windows has ACLs rather than mode bits, and no cheap equivalent of the check: the
/// user's profile directory is private by default, so the file is taken as it is.
#[cfg(not(unix))]
fn check_mode(_meta: &std::fs::Metadata) -> Result<(), u32> {
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(name: &str, content: &[u8], mode: u32) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("secret-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_private_file_is_read_and_trimmed() {
        let path = file("ok", b"  alice:secret\n\n", 0o600);
        assert_eq!(read_private(&path, 64).unwrap(), b"alice:secret");
        let path = file("ro", b"x", 0o400);
        assert_eq!(read_private(&path, 64).unwrap(), b"x");
    }

    #[test]
    fn files_others_may_read_are_refused_with_their_mode() {
        for mode in [0o644, 0o640, 0o604, 0o620] {
            let path = file("open", b"alice:secret\n", mode);
            let e = read_private(&path, 64).unwrap_err().to_string();
            assert!(e.contains(&format!("(mode {mode:04o})")), "{e}");
            assert!(e.starts_with(&path.display().to_string()), "{e}");
        }
    }

    #[test]
    fn long_missing_and_non_regular_files_are_refused() {
        let path = file("long", &[b'a'; 65], 0o600);
        let e = read_private(&path, 64).unwrap_err().to_string();
        assert!(e.ends_with("longer than 64 bytes"), "{e}");
        assert_eq!(read_private(&path, 65).unwrap().len(), 65);
        let missing = path.with_file_name("missing");
        assert!(read_private(&missing, 64)
            .unwrap_err()
            .to_string()
            .contains("cannot open"));
        let dir = path.parent().unwrap();
        assert!(read_private(dir, 64).is_err());
    }
}
