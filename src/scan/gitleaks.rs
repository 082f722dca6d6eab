//! A gitleaks rule for this database's tokens, so that scanners already running in CI
//! (gitleaks, and tools that read its configuration) catch them too.
//!
//! gitleaks cannot check the CRC-32, so its rule is the shape alone: the prefixes in use,
//! an environment, 36 base62 characters, word boundaries around. `tokenctl scan` then
//! tells a real token from a look-alike, and which are still active.

use std::fmt::Write as _;

/// The configuration file text. `prefixes[0]` is the database's `token_prefix`; the others
/// are older prefixes that active tokens still carry.
pub fn rule(prefixes: &[String]) -> String {
    let mut sorted: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let alternatives = if sorted.len() == 1 {
        sorted[0].to_string()
    } else {
        format!("(?:{})", sorted.join("|"))
    };
    let keywords: Vec<String> = sorted.iter().map(|p| format!("\"{p}_\"")).collect();
    let current = prefixes[0].as_str();
    let older: Vec<&str> = sorted.iter().copied().filter(|p| *p != current).collect();
    let also = if older.is_empty() {
        String::new()
    } else {
        format!(" (active tokens also carry: {})", older.join(", "))
    };
    let mut out = String::new();
    out.push_str(
        "# gitleaks configuration with a rule for tokenctl tokens (tokenctl scan --gitleaks-rule).\n",
    );
    let _ = writeln!(out, "# Token prefix of this database: {current}{also}.");
    out.push_str(
        "# Save as .gitleaks.toml, or copy the [[rules]] table into the configuration you have.\n\
         # gitleaks cannot check a token's checksum; `tokenctl scan` confirms a finding and\n\
         # tells whether the token is still active.\n\
         \n\
         title = \"gitleaks default rules and tokenctl tokens\"\n\
         \n\
         [extend]\n\
         useDefault = true\n\
         \n\
         [[rules]]\n\
         id = \"tokenctl-api-token\"\n\
         description = \"tokenctl API token\"\n",
    );
    let _ = writeln!(
        out,
        "regex = '''\\b({alternatives}_[a-z][a-z0-9]{{1,7}}_[0-9A-Za-z]{{36}})\\b'''"
    );
    out.push_str("secretGroup = 1\nentropy = 3.5\n");
    let _ = writeln!(out, "keywords = [{}]", keywords.join(", "));
    out.push_str("tags = [\"api-token\", \"tokenctl\"]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_prefix() {
        let text = rule(&["tok".into()]);
        assert!(text.contains(r"regex = '''\b(tok_[a-z][a-z0-9]{1,7}_[0-9A-Za-z]{36})\b'''"));
        assert!(text.contains("keywords = [\"tok_\"]"));
        assert!(text.contains("Token prefix of this database: tok."));
    }

    #[test]
    fn older_prefixes_join_the_pattern() {
        let text = rule(&["acme".into(), "tok".into(), "acme".into()]);
        assert!(text.contains(r"\b((?:acme|tok)_[a-z]"), "{text}");
        assert!(text.contains("keywords = [\"acme_\", \"tok_\"]"));
        assert!(text.contains("database: acme (active tokens also carry: tok)."));
    }

    /// The rule's pattern, run through the regex crate (RE2 syntax, like gitleaks' Go),
    /// finds a real token and not a glued one.
    #[test]
    fn pattern_matches_tokens() {
        let text = rule(&["tok".into()]);
        let line = text.lines().find(|l| l.starts_with("regex = ")).unwrap();
        let pattern = line
            .trim_start_matches("regex = '''")
            .trim_end_matches("'''");
        let re = regex::Regex::new(&format!("(?-u){pattern}")).unwrap();
        let g = crate::token::generate("tok", "live").unwrap();
        let t = g.secret.expose();
        assert!(re.is_match(&format!("KEY={t}\n")));
        assert!(!re.is_match(&format!("KEY_{t}")));
    }
}
