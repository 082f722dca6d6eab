//! TLS to the PostgreSQL server, as libpq does it: the URL's `sslmode` and `sslrootcert`
//! (else `PGSSLMODE` and `PGSSLROOTCERT`), what each mode asks of the server's
//! certificate, and the OpenSSL connector that asks it.
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

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use percent_encoding::percent_decode_str;
use postgres::Config;
use postgres::config::SslMode as DriverMode;
use postgres_openssl::MakeTlsConnector;

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
/// in plain text. No OpenSSL context is built then: making one loads the system's root
/// certificates, which cost a command tens of milliseconds for a connector never used.
pub(super) fn connector(
    requested: &Requested,
    config: &mut Config,
) -> anyhow::Result<Option<MakeTlsConnector>> {
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
    let roots = roots(mode, root_cert)?;
    let mut builder = SslConnector::builder(SslMethod::tls_client())?;
    match &roots {
        Roots::Unchecked => builder.set_verify(SslVerifyMode::NONE),
        Roots::System => builder.set_verify(SslVerifyMode::PEER),
        Roots::File(path) => {
            let pem = std::fs::read(path).with_context(|| {
                format!("cannot read the root certificate file {}", path.display())
            })?;
            let mut store = X509StoreBuilder::new()?;
            for cert in X509::stack_from_pem(&pem)
                .with_context(|| format!("{}: not PEM certificates", path.display()))?
            {
                store.add_cert(cert)?;
            }
            builder.set_cert_store(store.build());
            builder.set_verify(SslVerifyMode::PEER);
        }
    }
    let mut connector = MakeTlsConnector::new(builder.build());
    let check_name = mode == SslMode::VerifyFull;
    connector.set_callback(move |ssl, _| {
        ssl.set_verify_hostname(check_name);
        Ok(())
    });
    Ok(Some(connector))
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
