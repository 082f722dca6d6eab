//! Where a database is: an SQLite file, or a PostgreSQL server named by a URL
//! (`postgres://…` or `postgresql://…`, libpq's conventions). The location chooses the
//! backend. A URL may hold a password: a location is displayed (in messages, errors and
//! `Debug`) without it, always.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use super::postgres::tls::{self, Requested};

/// Where a database is.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file.
    File(PathBuf),
    /// A PostgreSQL server and database.
    Postgres(PostgresUrl),
}

/// A PostgreSQL URL as given, parsed. Its password is never displayed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PostgresUrl {
    /// The URL as given; private, for it may hold the password.
    text: String,
    /// The same without its TLS settings, which the driver does not know all of.
    driver: String,
    tls: Requested,
}

/// A `postgres://` URL that libpq's rules refuse.
#[derive(Debug, thiserror::Error)]
#[error("invalid PostgreSQL URL {url}: {why}")]
pub struct BadUrl {
    url: String,
    why: String,
}

impl Location {
    /// A database location as given on the command line or in `TOKENCTL_DB`: a
    /// `postgres://` or `postgresql://` URL, or else a file path.
    pub fn parse(text: &OsStr) -> Result<Location, BadUrl> {
        match text.to_str() {
            Some(s) if is_postgres_url(s) => Ok(Location::Postgres(PostgresUrl::parse(s)?)),
            _ => Ok(Location::File(PathBuf::from(text))),
        }
    }

    /// The file, for an SQLite database.
    pub fn as_file(&self) -> Option<&Path> {
        match self {
            Location::File(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }
}

/// Whether `text` names a PostgreSQL database rather than a file: the two URL schemes
/// libpq knows, in lower case as it requires.
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

impl PostgresUrl {
    /// Checks `text` with the driver's parser (libpq's URL rules).
    pub fn parse(text: &str) -> Result<PostgresUrl, BadUrl> {
        let mut url = PostgresUrl {
            text: text.to_string(),
            driver: String::new(),
            tls: Requested::default(),
        };
        let bad = |url: &PostgresUrl, why: String| BadUrl {
            url: url.to_string(),
            why,
        };
        (url.driver, url.tls) = tls::split(text).map_err(|why| bad(&url, why))?;
        match url.driver.parse::<postgres::Config>() {
            Ok(_) => Ok(url),
            Err(e) => Err(bad(&url, e.to_string())),
        }
    }

    /// The driver's configuration, password included (TLS apart: [`PostgresUrl::tls`]).
    pub(crate) fn config(&self) -> postgres::Config {
        self.driver
            .parse()
            .expect("checked when the location was parsed")
    }

    /// The URL's `sslmode` and `sslrootcert`.
    pub(in crate::store) fn tls(&self) -> &Requested {
        &self.tls
    }
}

/// The URL without its password: the `user:password@` part keeps its user, and a
/// `password=` parameter is left out.
impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, rest) = self.text.split_once("://").unwrap_or(("", &self.text));
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let authority = match authority.rsplit_once('@') {
            Some((user_info, hosts)) => {
                let user = user_info.split(':').next().unwrap_or("");
                format!("{user}@{hosts}")
            }
            None => authority.to_string(),
        };
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("password="))
            .collect();
        write!(f, "{scheme}://{authority}{path}")?;
        if !kept.is_empty() {
            write!(f, "?{}", kept.join("&"))?;
        }
        Ok(())
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

/// A file as its path; a URL without its password.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => url.fmt(f),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(p) => p.fmt(f),
            Location::Postgres(url) => url.fmt(f),
        }
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Location {
        Location::File(p.to_path_buf())
    }
}

impl From<&PathBuf> for Location {
    fn from(p: &PathBuf) -> Location {
        Location::File(p.clone())
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        Location::File(p)
    }
}

impl From<&Location> for Location {
    fn from(l: &Location) -> Location {
        l.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        Location::parse(OsStr::new(text)).unwrap().to_string()
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            shown("postgres://app:s3cret@db.internal:5433/tokens?sslmode=prefer"),
            "postgres://app@db.internal:5433/tokens?sslmode=prefer"
        );
        assert_eq!(
            shown("postgresql://app@h/db?password=s3cret&connect_timeout=3"),
            "postgresql://app@h/db?connect_timeout=3"
        );
        assert_eq!(shown("postgres://h/db?password=x"), "postgres://h/db");
        let url = Location::parse(OsStr::new("postgres://u:pw@h/db")).unwrap();
        assert!(!format!("{url:?}").contains("pw"));
    }

    #[test]
    fn the_scheme_chooses_the_backend() {
        assert!(matches!(
            Location::parse(OsStr::new("postgresql://h/db")).unwrap(),
            Location::Postgres(_)
        ));
        assert!(matches!(
            Location::parse(OsStr::new("postgres.db")).unwrap(),
            Location::File(_)
        ));
    }

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        let err = Location::parse(OsStr::new("postgres://u:pw@h:notaport/db")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("invalid PostgreSQL URL postgres://u@h:notaport/db"));
        assert!(!text.contains("pw"), "{text}");
    }

    /// The driver knows neither `verify-*` nor `sslrootcert`: both are taken out of what
    /// it reads, kept in what is shown.
    #[test]
    fn tls_settings_are_read_apart_from_the_driver() {
        let text = "postgres://u:pw@h/db?sslmode=verify-full&connect_timeout=3&sslrootcert=%2Fetc%2Fca.crt";
        let Location::Postgres(url) = Location::parse(OsStr::new(text)).unwrap() else {
            panic!("a URL");
        };
        assert_eq!(url.driver, "postgres://u:pw@h/db?connect_timeout=3");
        assert_eq!(
            format!("{:?}", url.tls()),
            r#"Requested { mode: Some(VerifyFull), root_cert: Some("/etc/ca.crt") }"#
        );
        assert_eq!(
            url.to_string(),
            "postgres://u@h/db?sslmode=verify-full&connect_timeout=3&sslrootcert=%2Fetc%2Fca.crt"
        );
        let err = Location::parse(OsStr::new("postgres://u:pw@h/db?sslmode=strict")).unwrap_err();
        assert!(
            err.to_string()
                .contains("sslmode=strict: expected disable, prefer"),
            "{err}"
        );
        assert!(!err.to_string().contains("pw"), "{err}");
    }
}
