//! TLS for every HTTP client of the binary: `verify`'s reqwest client,
//! `load`'s hyper client and the metrics scraper all take their rustls
//! config from [`client_config`], so a target one command trusts the other
//! trusts too, and `--insecure` and `--cacert` cannot mean two things.
//!
//! The crypto provider is aws-lc-rs, the binary's only one (Cargo.toml says
//! why), named explicitly: a config that names its provider does not depend
//! on which process-wide default some other crate installed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The crypto provider of every TLS client config.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A `--cacert` file that cannot serve as trust roots. Each is a usage
/// error: the run stops before its first request, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("--cacert {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--cacert {}: not PEM: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error(
        "--cacert {}: no certificate in it (expected PEM blocks starting `-----BEGIN CERTIFICATE-----`)",
        path.display()
    )]
    Empty { path: PathBuf },
    #[error("--cacert {}: certificate {index} cannot be a trust root: {reason}", path.display())]
    Unusable {
        path: PathBuf,
        index: usize,
        reason: String,
    },
}

/// The certificates of a PEM file (one or more CAs, or a self-signed
/// server certificate), each checked the way the verifier will use it, so
/// a file that parses but cannot anchor a chain fails here rather than on
/// the first request.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let bytes = std::fs::read(path).map_err(|source| CaFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaFileError::Pem {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(CaFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    for (i, cert) in certs.iter().enumerate() {
        rustls::RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| CaFileError::Unusable {
                path: path.to_path_buf(),
                index: i + 1,
                reason: e.to_string(),
            })?;
    }
    Ok(certs)
}

/// The platform's trust roots could not be loaded (and no `--cacert` was
/// given to stand in for them), or rustls refused the settings.
#[derive(Debug, thiserror::Error)]
#[error("TLS set-up failed: {0}")]
pub struct TlsSetupError(#[from] rustls::Error);

/// The rustls config of every client: TLS 1.2 and 1.3 on aws-lc-rs, HTTP/1.1
/// offered by ALPN (neither client speaks h2, and a server that picked it
/// would break the connection), and either the platform's roots plus
/// `extra_roots` (what reqwest has always used for `verify`) or, with
/// `insecure`, no certificate check at all.
pub fn client_config(
    insecure: bool,
    extra_roots: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig, TlsSetupError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let verifier: Arc<dyn ServerCertVerifier> = if insecure {
        Arc::new(SkipCertificateCheck {
            algorithms: provider.signature_verification_algorithms,
        })
    } else if extra_roots.is_empty() {
        Arc::new(rustls_platform_verifier::Verifier::new(provider)?)
    } else {
        Arc::new(rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots.iter().cloned(),
            provider,
        )?)
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `--insecure`: any certificate, for any name, is accepted. The handshake
/// signatures are still checked against the certificate's key, so the
/// connection is at least with whoever holds that key (as curl -k does),
/// and a broken server still fails as a TLS error rather than later.
#[derive(Debug)]
struct SkipCertificateCheck {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for SkipCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Whether `e`, or anything it wraps, is a rustls error: how the load
/// client tells a failed handshake from a refused connection. I/O errors
/// are looked into through `get_ref`, because `io::Error::source` skips
/// the error it wraps and goes straight to that error's own source.
pub fn is_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() {
            return true;
        }
        let wrapped = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref);
        if wrapped.is_some_and(|inner| is_tls_error(inner)) {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn self_signed_pem() -> String {
        use base64::Engine as _;
        let der = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .unwrap()
            .cert;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.der());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn a_pem_bundle_gives_every_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let two = format!("{}\n{}", self_signed_pem(), self_signed_pem());
        let p = write(dir.path(), "ca.pem", two.as_bytes());
        assert_eq!(read_ca_file(&p).unwrap().len(), 2);
        assert!(client_config(false, &read_ca_file(&p).unwrap()).is_ok());
    }

    #[test]
    fn files_that_cannot_be_roots_name_the_file_and_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = read_ca_file(&missing).unwrap_err();
        assert!(matches!(e, CaFileError::Read { .. }), "{e:?}");
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let text = write(dir.path(), "notes.txt", b"just some text\n");
        let e = read_ca_file(&text).unwrap_err();
        assert!(matches!(e, CaFileError::Empty { .. }), "{e:?}");
        assert!(e.to_string().contains("notes.txt"), "{e}");

        let garbage = write(
            dir.path(),
            "garbage.pem",
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        );
        let e = read_ca_file(&garbage).unwrap_err();
        assert!(matches!(e, CaFileError::Unusable { index: 1, .. }), "{e:?}");
    }

    #[test]
    fn a_rustls_error_is_found_inside_io_errors() {
        let tls = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        assert!(is_tls_error(&tls));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!is_tls_error(&refused));
    }
}
