//! The password file, as libpq reads it (the driver does not): `PGPASSFILE`, else
//! `~/.pgpass`; lines `hostname:port:database:username:password`, `*` matching anything,
//! `\:` and `\\` escaped, `#` starting a comment; the first matching line wins. A file
//! that its group or others may read is ignored, with libpq's warning.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// What a line must match.
pub struct Key {
    pub host: String,
    pub port: String,
    pub dbname: String,
    pub user: String,
}

/// The password for `key` from the password file, if there is one that may be used.
pub fn lookup(key: &Key, warnings: &mut Vec<String>) -> Option<String> {
    let path = std::env::var_os("PGPASSFILE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        warnings.push(format!(
            "password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            path.display()
        ));
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    find(&text, key)
}

/// The password of the first line of `text` that matches `key`.
fn find(text: &str, key: &Key) -> Option<String> {
    let wanted = [&key.host, &key.port, &key.dbname, &key.user];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(fields)
        .find(|f| {
            f.len() == 5
                && f.iter()
                    .zip(wanted)
                    .all(|(field, want)| field == "*" || field == want)
        })
        .map(|mut f| f.swap_remove(4))
}

/// A line's fields, split at unescaped colons; the last one takes the rest of the line.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.last_mut().expect("one field").extend(chars.next()),
            ':' if out.len() < 5 => out.push(String::new()),
            c => out.last_mut().expect("one field").push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key {
            host: "db.internal".into(),
            port: "5432".into(),
            dbname: "tokens".into(),
            user: "app".into(),
        }
    }

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    other:5432:tokens:app:no\n\
                    db.internal:*:tokens:app:pa\\:ss\\\\word\n\
                    *:*:*:*:fallback\n";
        assert_eq!(find(text, &key()).as_deref(), Some("pa:ss\\word"));
        assert_eq!(
            find("*:*:*:*:fallback", &key()).as_deref(),
            Some("fallback")
        );
        assert_eq!(find("db.internal:5432:tokens:other:x\n", &key()), None);
        assert_eq!(find("too:few:fields\n", &key()), None);
    }

    #[test]
    fn a_file_others_may_read_is_ignored_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        // SAFETY: this module's only test that sets PGPASSFILE; nothing else reads it.
        unsafe { std::env::set_var("PGPASSFILE", &path) };
        let mut warnings = Vec::new();
        assert_eq!(lookup(&key(), &mut warnings), None);
        assert!(
            warnings[0].contains("group or world access"),
            "{warnings:?}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&key(), &mut warnings).as_deref(), Some("secret"));
        unsafe { std::env::remove_var("PGPASSFILE") };
    }
}
