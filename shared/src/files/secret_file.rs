//! Reading a file that holds secrets (`viewer --http-auth`, `--secret`): it must be a regular
//! file owned by the user (or root) and readable by its owner only, as ssh demands of private
//! keys, and small; its content comes back without the whitespace an editor leaves.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

/// Reads the secrets in `path`, at most `max_bytes` of them. Every refusal is an error whose
/// message names the file and says what is wrong (and how to fix it), ready for one line.
pub fn read_private(path: &Path, max_bytes: usize) -> io::Result<Vec<u8>> {
    let shown = path.display();
    let fail = |what: String| io::Error::other(format!("{shown}: {what}"));
    let file = open_nonblocking(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot read its attributes: {e}")))?;
    if !meta.is_file() {
        return Err(fail("not a regular file, refusing it".into()));
    }
    check_owner(&meta).map_err(|(owner, me)| {
        fail(format!(
            "owned by uid {owner}, neither you (uid {me}) nor root, refusing it: chown {me} {shown}"
        ))
    })?;
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

/// Opens `path` for reading if it is a regular file (a certificate, a key): a FIFO or a device
/// there is refused at once, not waited on (opening a FIFO blocks until a writer comes).
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = open_nonblocking(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file, refusing it"));
    }
    Ok(file)
}

/// Opens without blocking: a FIFO or a device at the path must be refused, not waited on.
#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

/// The most a `--secret` file may hold.
pub const MAX_SECRET_BYTES: usize = 4096;
/// The least a `--secret` file must hold (after trimming): an HMAC key shorter than this
/// can be guessed, and an empty one proves nothing.
pub const MIN_SECRET_BYTES: usize = 16;

/// A shared secret (`--secret`): its bytes are never printed, also not by `{:?}`.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// The bytes, shared (for the proofs of the extension exchange).
    pub fn bytes(&self) -> Arc<[u8]> {
        self.0.clone()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.0.len())
    }
}

/// `--secret FILE` as both programs take it: the file's bytes, shared by every connection;
/// `None` without the flag. The error is the one line to print; a secret shorter than
/// [`MIN_SECRET_BYTES`] is refused, saying how to make a good one.
pub fn load_secret(path: Option<&Path>) -> Result<Option<Secret>, String> {
    let Some(path) = path else {
        return Ok(None);
    };
    let bytes = read_private(path, MAX_SECRET_BYTES).map_err(|e| format!("--secret {e}"))?;
    if bytes.len() < MIN_SECRET_BYTES {
        let shown = path.display();
        return Err(format!(
            "--secret {shown}: {} bytes, too short to keep a guesser out (at least \
             {MIN_SECRET_BYTES}): make one with `head -c 32 /dev/urandom | base64 > {shown}; \
             chmod 600 {shown}` and copy it to both machines",
            bytes.len()
        ));
    }
    Ok(Some(Secret(bytes.into())))
}

/// The file's owner and ours when the file is neither ours nor root's: someone else could
/// have written the secret (ssh refuses such files too).
#[cfg(unix)]
fn check_owner(meta: &std::fs::Metadata) -> Result<(), (u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid cannot fail and touches no memory of ours.
    let me = unsafe { libc::geteuid() };
    match meta.uid() {
        owner if owner == me || owner == 0 => Ok(()),
        owner => Err((owner, me)),
    }
}

#[cfg(not(unix))]
fn check_owner(_meta: &std::fs::Metadata) -> Result<(), (u32, u32)> {
    Ok(())
}

/// The file's permission bits when group or others may read or write it.
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

    /// A test's own directory, removed when the test ends (passed or not).
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("secret-file-{test}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn file(&self, name: &str, content: &[u8], mode: u32) -> std::path::PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, content).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_private_file_is_read_and_trimmed() {
        let scratch = Scratch::new("private");
        let path = scratch.file("ok", b"  alice:secret\n\n", 0o600);
        assert_eq!(read_private(&path, 64).unwrap(), b"alice:secret");
        let path = scratch.file("ro", b"x", 0o400);
        assert_eq!(read_private(&path, 64).unwrap(), b"x");
    }

    #[test]
    fn files_others_may_read_are_refused_with_their_mode() {
        let scratch = Scratch::new("open");
        for mode in [0o644, 0o640, 0o604, 0o620] {
            let path = scratch.file("open", b"alice:secret\n", mode);
            let e = read_private(&path, 64).unwrap_err().to_string();
            assert!(e.contains(&format!("(mode {mode:04o})")), "{e}");
            assert!(e.starts_with(&path.display().to_string()), "{e}");
        }
    }

    #[test]
    fn long_missing_and_non_regular_files_are_refused() {
        let scratch = Scratch::new("long");
        let path = scratch.file("long", &[b'a'; 65], 0o600);
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

    #[test]
    fn a_fifo_is_refused_at_once_not_waited_on() {
        let path = std::env::temp_dir().join(format!("secret-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Opening a FIFO for reading blocks until a writer comes, unless non-blocking: a
        // thread with a deadline tells a hang from a refusal.
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let secret = read_private(&p, 64).map_err(|e| e.to_string());
            // A certificate (`--http-cert`) is opened as carefully.
            let cert = open_regular(&p).map(drop).map_err(|e| e.to_string());
            tx.send((secret, cert))
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(20));
        let _ = std::fs::remove_file(&path);
        let (secret, cert) = got.expect("blocked on a FIFO");
        let e = secret.unwrap_err();
        assert!(e.ends_with("not a regular file, refusing it"), "{e}");
        assert_eq!(cert.unwrap_err(), "not a regular file, refusing it");
    }

    #[test]
    fn short_secrets_are_refused_saying_how_to_make_one() {
        let scratch = Scratch::new("short");
        for content in [&b""[..], b"\n", b"12345678", b"123456789012345\n"] {
            let path = scratch.file("short", content, 0o600);
            let e = load_secret(Some(&path)).unwrap_err();
            assert!(e.contains("too short"), "{e}");
            assert!(e.contains("head -c 32 /dev/urandom"), "{e}");
        }
        let path = scratch.file("good", b"0123456789abcdef\n", 0o600);
        let secret = load_secret(Some(&path)).unwrap().unwrap();
        assert_eq!(&secret.bytes()[..], b"0123456789abcdef");
        // Debug shows the length only.
        let shown = format!("{secret:?}");
        assert_eq!(shown, "Secret(16 bytes, redacted)");
        assert!(load_secret(None).unwrap().is_none());
    }

    #[test]
    fn a_file_owned_by_someone_else_is_refused() {
        let scratch = Scratch::new("owned");
        let me = unsafe { libc::geteuid() };
        let path = scratch.file("owned", b"0123456789abcdef", 0o600);
        if me == 0 {
            // As root, give it away (to nobody) to see the refusal.
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
            let e = read_private(&path, 64).unwrap_err().to_string();
            assert!(e.contains("owned by uid 65534"), "{e}");
        } else {
            // A user cannot give a file away; /etc/passwd is root's (allowed owner) but
            // readable by all, so the owner check alone is shown through check_owner.
            let meta = std::fs::metadata(&path).unwrap();
            assert!(check_owner(&meta).is_ok());
        }
    }
}
