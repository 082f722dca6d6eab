//! TLS to the PostgreSQL server, as libpq does it: the URL's `sslmode` and `sslrootcert`
//! (else `PGSSLMODE` and `PGSSLROOTCERT`), what each mode asks of the server's
//! certificate, and the rustls connector that asks it.
//!
//! - `disable`: no TLS.
//! - `prefer` (the default): TLS when the server offers it; its certificate is not checked.
//! - `require`: TLS or no connection; the certificate is not checked, unless a root
//!   certificate is named (`sslrootcert`) or `~/.postgresql/root.crt` exists: then it is
//!   checked as by `verify-ca`, as libpq does.
//! - `verify-ca`: TLS, with a certificate signed by a root in `sslrootcert` (default
//!   `~/.postgresql/root.crt`, which must then exist).
//! - `verify-full`: the same, and the certificate is for the host the URL names.
//!
//! `sslrootcert=system` trusts the system's roots instead of a file, and only with
//! `verify-full` (its default then), as libpq 16 does. Otherwise only the roots in the
//! file are trusted, not also the system's: the file is the whole trust.
//!
//! The driver only knows `disable`, `prefer` and `require`: the URL's two TLS settings
//! are taken out of it ([`split`]) before the driver reads it, and given back to it as
//! the connector and the nearest mode the driver knows.
//!
//! rustls (with ring's cryptography) is linked into the binary: no command loads a TLS
//! library at start, and one that connects without TLS builds nothing of it. A refused
//! certificate is reported as "certificate verify failed" and why ([`Refused`]).

use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::{Context as _, bail};
use percent_encoding::percent_decode_str;
use postgres::config::SslMode as DriverMode;
use postgres::tls::{MakeTlsConnect, TlsConnect};
use postgres::{Config, Socket};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use rustls::{Error as TlsError, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`, but `allow` (which tries without TLS first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(in crate::store) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => return Err("sslmode=allow is not supported: use prefer".into()),
            other => {
                return Err(format!(
                    "sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }
}

/// The TLS settings a URL gives, if it gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(in crate::store) struct Requested {
    mode: Option<SslMode>,
    root_cert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of the query of `url`: the URL for the driver,
/// and the settings taken out.
pub(in crate::store) fn split(url: &str) -> Result<(String, Requested), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), Requested::default()));
    };
    let mut requested = Requested::default();
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = || {
            percent_decode_str(value)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| format!("{key}: not UTF-8"))
        };
        match key {
            "sslmode" => requested.mode = Some(SslMode::parse(&value()?)?),
            "sslrootcert" => requested.root_cert = Some(value()?),
            _ => kept.push(pair),
        }
    }
    let driver = match kept.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", kept.join("&")),
    };
    Ok((driver, requested))
}

/// Where the trusted roots come from.
enum Roots {
    /// Certificates are not checked.
    Unchecked,
    File(PathBuf),
    System,
}

/// Sets the driver's mode on `config` and returns the connector for `requested` (the
/// environment filling in what the URL leaves out); `None` for `disable`, which connects
/// in plain text. Only `sslrootcert=system` reads the system's root certificates.
pub(super) fn connector(
    requested: &Requested,
    config: &mut Config,
) -> anyhow::Result<Option<Connector>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let root_cert = requested.root_cert.clone().or_else(|| env("PGSSLROOTCERT"));
    let mode = match (requested.mode, env("PGSSLMODE")) {
        (Some(mode), _) => mode,
        (None, Some(text)) => {
            SslMode::parse(&text).map_err(|e| anyhow::anyhow!("PGSSLMODE: {e}"))?
        }
        (None, None) if root_cert.as_deref() == Some("system") => SslMode::VerifyFull,
        (None, None) => SslMode::Prefer,
    };
    config.ssl_mode(match mode {
        SslMode::Disable => DriverMode::Disable,
        SslMode::Prefer => DriverMode::Prefer,
        _ => DriverMode::Require,
    });
    if mode == SslMode::Disable {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = verifier(mode, roots(mode, root_cert)?, &provider)?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(Connector(MakeRustlsConnect::new(config))))
}

/// What checks the server's certificate: nothing but its handshake signature
/// ([`Unchecked`]), the chain to `roots` ([`AnyName`], `verify-ca` and `require`), or the
/// chain and the host's name (`verify-full`).
fn verifier(
    mode: SslMode,
    roots: Roots,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn ServerCertVerifier>> {
    let roots = match roots {
        Roots::Unchecked => return Ok(Arc::new(Unchecked(provider.clone()))),
        Roots::System => system_roots()?,
        Roots::File(path) => file_roots(&path)?,
    };
    let chain =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    Ok(match mode {
        SslMode::VerifyFull => chain,
        _ => Arc::new(AnyName(chain)),
    })
}

/// The certificates of the PEM file at `path`: at least one, all of them valid roots.
fn file_roots(path: &Path) -> anyhow::Result<RootCertStore> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the root certificate file {}", path.display()))?;
    let not_pem = || format!("{}: not PEM certificates", path.display());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.with_context(not_pem)?)
            .with_context(not_pem)?;
    }
    if roots.is_empty() {
        bail!(not_pem());
    }
    Ok(roots)
}

/// The system's root certificates (where OpenSSL's configuration and `SSL_CERT_FILE`,
/// `SSL_CERT_DIR` say): at least one, or the first reason none was read.
fn system_roots() -> anyhow::Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        match found.errors.first() {
            Some(why) => bail!("sslrootcert=system: the system's root certificates: {why}"),
            None => bail!("sslrootcert=system: the system has no root certificates"),
        }
    }
    Ok(roots)
}

/// The roots `mode` checks the certificate against; `root_cert` as given.
fn roots(mode: SslMode, root_cert: Option<String>) -> anyhow::Result<Roots> {
    let default = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql/root.crt"));
    Ok(match (mode, root_cert) {
        (SslMode::Disable | SslMode::Prefer, _) => Roots::Unchecked,
        (SslMode::VerifyFull, Some(s)) if s == "system" => Roots::System,
        (_, Some(s)) if s == "system" => {
            bail!(
                "sslrootcert=system needs sslmode=verify-full (a weaker mode would not check the server's name)"
            )
        }
        (_, Some(path)) => Roots::File(PathBuf::from(path)),
        (SslMode::Require, None) => match default {
            Some(path) if path.exists() => Roots::File(path),
            _ => Roots::Unchecked,
        },
        (_, None) => match default {
            Some(path) if path.exists() => Roots::File(path),
            _ => bail!(
                "sslmode={} checks the server's certificate, but no root certificate was given: name it with sslrootcert=PATH (or create ~/.postgresql/root.crt, or use sslrootcert=system)",
                if mode == SslMode::VerifyCa {
                    "verify-ca"
                } else {
                    "verify-full"
                }
            ),
        },
    })
}

/// The certificate is not checked (`prefer`, `require` without a root), but the server
/// must still sign the handshake with its key: the session is with whoever holds it.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root, whatever name the certificate is
/// for. The name is checked last, after the chain, its dates and its use: a name
/// mismatch is the only refusal let through.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let checked =
            self.0
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match checked {
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            checked => checked,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The driver's TLS connector: rustls's (which also gives the server's certificate for
/// SCRAM's channel binding), its refusals of a certificate told as [`Refused`].
#[derive(Clone)]
pub(super) struct Connector(MakeRustlsConnect);

impl MakeTlsConnect<Socket> for Connector {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
    type TlsConnect = Explained<<MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect>;
    type Error = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, Self::Error> {
        MakeTlsConnect::<Socket>::make_tls_connect(&mut self.0, domain).map(Explained)
    }
}

/// One connection's handshake, its failure explained.
pub(super) struct Explained<T>(T);

impl<S, T> TlsConnect<S> for Explained<T>
where
    T: TlsConnect<S, Error = io::Error>,
    T::Future: Unpin,
{
    type Stream = T::Stream;
    type Error = io::Error;
    type Future = Handshake<T::Future>;

    fn connect(self, stream: S) -> Self::Future {
        Handshake(self.0.connect(stream))
    }
}

/// The handshake's future: rustls's, a refused certificate's error replaced by [`Refused`].
pub(super) struct Handshake<F>(F);

impl<F, Stream> Future for Handshake<F>
where
    F: Future<Output = io::Result<Stream>> + Unpin,
{
    type Output = io::Result<Stream>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map_err(explain)
    }
}

/// `err` as [`Refused`] if it is rustls's refusal of the server's certificate.
fn explain(err: io::Error) -> io::Error {
    let refused = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>());
    match refused {
        Some(TlsError::InvalidCertificate(why)) => io::Error::new(err.kind(), Refused(why.clone())),
        _ => err,
    }
}

/// The server's certificate was refused: in OpenSSL's words, which libpq users know
/// ("certificate verify failed", "IP address mismatch"), then rustls's reason.
#[derive(Debug)]
struct Refused(CertificateError);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("certificate verify failed: ")?;
        match &self.0 {
            CertificateError::NotValidForNameContext {
                expected: ServerName::IpAddress(_),
                ..
            } => write!(f, "IP address mismatch: {}", self.0),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                write!(f, "hostname mismatch: {}", self.0)
            }
            CertificateError::UnknownIssuer => {
                f.write_str("unknown issuer: no trusted root certificate signed it")
            }
            why => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for Refused {}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// `tests/fixtures/tls/`: two roots, `ca.crt` and `other-ca.crt`, valid for a hundred
    /// years from 2026, and `server.crt`, for `localhost` only, signed by `ca.crt`.
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    }

    fn cert(name: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(fixture(name)).expect("fixture certificate")
    }

    /// `cert` as the server's certificate for `host`, checked by `mode` against the roots
    /// of the file `root`, at `now` (seconds since 1970).
    fn check_at(
        mode: SslMode,
        root: &str,
        cert: &CertificateDer<'_>,
        host: &str,
        now: u64,
    ) -> Result<ServerCertVerified, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match mode {
            SslMode::Prefer => Roots::Unchecked,
            _ => Roots::File(fixture(root)),
        };
        let verifier = verifier(mode, roots, &provider).expect("verifier");
        let name = ServerName::try_from(host.to_string()).expect("server name");
        let now = UnixTime::since_unix_epoch(Duration::from_secs(now));
        verifier.verify_server_cert(cert, &[], &name, &[], now)
    }

    /// 2027-06-01, within the fixtures' validity.
    const VALID: u64 = 1_811_808_000;

    fn check(mode: SslMode, root: &str, host: &str) -> Result<ServerCertVerified, TlsError> {
        check_at(mode, root, &cert("server.crt"), host, VALID)
    }

    const UNKNOWN_ISSUER: TlsError = TlsError::InvalidCertificate(CertificateError::UnknownIssuer);

    #[test]
    fn verify_ca_accepts_a_certificate_for_any_name_signed_by_the_root() {
        for host in ["localhost", "127.0.0.1", "db.example"] {
            for mode in [SslMode::VerifyCa, SslMode::Require] {
                assert!(check(mode, "ca.crt", host).is_ok(), "{mode:?} {host}");
                let refused = check(mode, "other-ca.crt", host).unwrap_err();
                assert_eq!(refused, UNKNOWN_ISSUER, "{mode:?} {host}");
            }
        }
    }

    #[test]
    fn verify_ca_still_refuses_an_expired_certificate() {
        let in_2200 = 7_258_118_400;
        let refused = check_at(
            SslMode::VerifyCa,
            "ca.crt",
            &cert("server.crt"),
            "db.example",
            in_2200,
        );
        assert!(
            matches!(
                refused,
                Err(TlsError::InvalidCertificate(
                    CertificateError::ExpiredContext { .. }
                ))
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn verify_full_checks_the_root_and_the_name() {
        assert!(check(SslMode::VerifyFull, "ca.crt", "localhost").is_ok());
        for host in ["127.0.0.1", "db.example"] {
            let refused = check(SslMode::VerifyFull, "ca.crt", host).unwrap_err();
            assert!(
                matches!(
                    refused,
                    TlsError::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
                ),
                "{host}: {refused:?}"
            );
        }
        let refused = check(SslMode::VerifyFull, "other-ca.crt", "localhost").unwrap_err();
        assert_eq!(refused, UNKNOWN_ISSUER);
    }

    #[test]
    fn without_roots_any_certificate_is_accepted() {
        let self_signed = cert("other-ca.crt");
        let accepted = check_at(SslMode::Prefer, "", &self_signed, "db.example", VALID);
        assert!(accepted.is_ok());
    }

    #[test]
    fn a_refused_certificate_is_told_as_certificate_verify_failed() {
        let told = |mode, root, host| {
            let refused = check(mode, root, host).unwrap_err();
            explain(io::Error::new(io::ErrorKind::InvalidData, refused)).to_string()
        };
        let ip = told(SslMode::VerifyFull, "ca.crt", "127.0.0.1");
        assert!(
            ip.starts_with("certificate verify failed: IP address mismatch: ")
                && ip.contains("localhost"),
            "{ip}"
        );
        let name = told(SslMode::VerifyFull, "ca.crt", "db.example");
        assert!(
            name.starts_with("certificate verify failed: hostname mismatch: ")
                && name.contains("localhost"),
            "{name}"
        );
        let root = told(SslMode::VerifyCa, "other-ca.crt", "localhost");
        assert_eq!(
            root,
            "certificate verify failed: unknown issuer: no trusted root certificate signed it"
        );
        let other = explain(io::Error::new(
            io::ErrorKind::InvalidData,
            TlsError::DecryptError,
        ));
        assert_eq!(other.to_string(), TlsError::DecryptError.to_string());
    }

    #[test]
    fn a_root_file_must_be_readable_and_hold_pem_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.crt");
        let err = file_roots(&missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read the root certificate file {}",
                missing.display()
            )
        );
        for (name, text) in [
            ("empty.crt", ""),
            ("text.crt", "not a certificate\n"),
            (
                "garbage.crt",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let err = file_roots(&path).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{}: not PEM certificates", path.display())
            );
        }
        assert_eq!(file_roots(&fixture("ca.crt")).unwrap().len(), 1);
    }
}
