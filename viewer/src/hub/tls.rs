//! `--http-cert FILE --http-key FILE`: the hub over https. The certificate chain and its key
//! are PEM files; the key is a secret, read only when its owner alone may read it
//! ([`shared::files::secret_file`]). rustls with the ring provider, TLS 1.2 and 1.3.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Largest certificate chain file read (a chain of a few certificates is a few kilobytes).
const MAX_CERT_BYTES: u64 = 1024 * 1024;
/// Largest key file read (an RSA 8192 key in PEM is under 7 kB).
const MAX_KEY_BYTES: usize = 64 * 1024;
/// A client must finish the TLS handshake within this time, or it is closed: a client that
/// never does would otherwise hold one of its address's connections forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What wraps every accepted connection before HTTP is read from it.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl Tls {
    /// Reads the certificate chain and its key; refuses a key others may read, a file without
    /// a certificate or key, and a key that does not belong to the certificate.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls> {
        let chain = read_chain(cert).with_context(|| format!("--http-cert {}", cert.display()))?;
        let key_pem =
            shared::files::secret_file::read_private(key, MAX_KEY_BYTES).context("--http-key")?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| anyhow::anyhow!("no private key in PEM form ({e})"))
            .with_context(|| format!("--http-key {}", key.display()))?;
        // ring rather than aws-lc-rs, which builds with cmake and clang for every target
        // (the board, Windows); rustls deprecates ring's provider only for lacking the
        // post-quantum key exchange.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .with_context(|| {
                format!(
                    "--http-key {} with --http-cert {}",
                    key.display(),
                    cert.display()
                )
            })?;
        // HTTP/1.1 only: the hub's server speaks nothing else.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The handshake on `stream`, within [`HANDSHAKE_TIMEOUT`]; the error is the reason, for
    /// one log line.
    pub async fn accept<S>(&self, stream: S) -> Result<TlsStream<S>, String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
            Err(_) => Err(format!(
                "no TLS handshake within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            )),
        }
    }
}

/// The certificates of the PEM file at `path`, in its order (the server's first).
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let file = shared::files::secret_file::open_regular(path).context("cannot open")?;
    let mut pem = Vec::new();
    file.take(MAX_CERT_BYTES + 1)
        .read_to_end(&mut pem)
        .context("cannot read")?;
    if pem.len() as u64 > MAX_CERT_BYTES {
        bail!("longer than {MAX_CERT_BYTES} bytes");
    }
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("not PEM certificates ({e})"))?;
    if chain.is_empty() {
        bail!("no CERTIFICATE block in it");
    }
    Ok(chain)
}
