//! TLS settings shared by the server and the client: loading PEM certificates and keys,
//! and building `rustls` configurations with the one crypto provider the project uses.
//!
//! The provider is `ring`: it builds with nothing but a C compiler, which the Rust
//! toolchain's machine has (`aws-lc-rs`, rustls' default, wants CMake and more).
//! Nothing here touches a socket; the event loops drive `rustls` sessions themselves.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// The crypto provider every configuration here uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's configuration from a PEM certificate chain and a PEM private key
/// (PKCS#8, PKCS#1 RSA or SEC1 EC).
///
/// # Errors
/// One line naming the file and what is wrong with it: missing, unreadable, no
/// certificate or key in it, or a key that does not match the certificate.
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs = load_certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| pem_error(key_file, "private key", &e))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "{}: the key does not fit the certificate in {} ({e})",
                key_file.display(),
                cert_file.display()
            )
        })?;
    Ok(Arc::new(config))
}

/// The client's configuration: the server is verified against `ca_file` if given, else
/// against the roots compiled in from Mozilla's list (`webpki-roots`); with `insecure`
/// nothing is verified.
///
/// # Errors
/// One line naming the CA file and what is wrong with it.
pub fn client_config(ca_file: Option<&Path>, insecure: bool) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        match ca_file {
            Some(file) => {
                for cert in load_certs(file)? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("{}: not a usable CA certificate ({e})", file.display()))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The certificates in a PEM file, at least one.
///
/// # Errors
/// One line naming the file: missing, unreadable, or holding no certificate.
pub fn load_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| pem_error(file, "certificate", &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(file, "certificate", &e))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it (PEM expected)", file.display()));
    }
    Ok(certs)
}

fn pem_error(file: &Path, what: &str, err: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match err {
        Error::Io(e) => format!("{}: {e}", file.display()),
        Error::NoItemsFound => format!("{}: no {what} in it (PEM expected)", file.display()),
        other => format!("{}: not a PEM {what} ({other:?})", file.display()),
    }
}

/// The host name to verify the server's certificate against: the name the user gave
/// (`example.org:1234` -> `example.org`), or the IP address.
///
/// # Errors
/// The name is not a valid DNS name or IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string()).map_err(|e| format!("invalid server name '{host}': {e}"))
}

/// `--insecure`: accepts any certificate (signatures are still checked, so the session
/// is encrypted, but to whom is not known).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
