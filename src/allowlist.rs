//! IP allow lists: which networks may use a token. Parsing of `--allow-ip` values and the
//! match that verification does on every request.
//!
//! An empty list allows every address. A value is a CIDR (`203.0.113.0/24`,
//! `2001:db8::/32`) or a single address (taken as /32 or /128); a CIDR with host bits set
//! (`10.0.0.1/8`) is refused rather than silently widened or narrowed.

use std::net::IpAddr;

use ipnet::IpNet;

/// Parses one `--allow-ip` value.
pub fn parse_network(s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        if net.trunc() != net {
            return Err(format!("host bits are set; did you mean {}?", net.trunc()));
        }
        return Ok(net);
    }
    s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        "not an IP network: use 203.0.113.0/24, 2001:db8::/32 or a single address".into()
    })
}

/// Whether `ip` is allowed by `list` (empty: every address).
pub fn allows(list: &[IpNet], ip: IpAddr) -> bool {
    list.is_empty() || list.iter().any(|n| n.contains(&ip))
}

/// The stored form: networks separated by spaces.
pub fn to_text(list: &[IpNet]) -> String {
    list.iter()
        .map(IpNet::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn networks() {
        assert_eq!(
            parse_network("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("10.1.2.3").unwrap().to_string(),
            "10.1.2.3/32"
        );
        assert_eq!(
            parse_network("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(parse_network("::1").unwrap().to_string(), "::1/128");
        assert!(
            parse_network("10.0.0.1/8")
                .unwrap_err()
                .contains("10.0.0.0/8")
        );
        for bad in [
            "10.0.0.0/33",
            "300.0.0.0/8",
            "example.com",
            "",
            "10.0.0.0/",
            " 10.0.0.1",
        ] {
            assert!(parse_network(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching() {
        let list: Vec<IpNet> = ["10.0.0.0/8", "2001:db8:1::/48"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(allows(&list, ip("10.255.0.1")));
        assert!(!allows(&list, ip("11.0.0.1")));
        assert!(allows(&list, ip("2001:db8:1:ffff::1")));
        assert!(!allows(&list, ip("2001:db8:2::1")));
        // An IPv4 address never matches an IPv6 network, mapped or not.
        assert!(!allows(&["::ffff:0:0/96".parse().unwrap()], ip("10.0.0.1")));
        assert!(allows(&[], ip("192.0.2.1")));
    }

    proptest! {
        #[test]
        fn stored_form_allows_the_same(
            nets in proptest::collection::vec((any::<u32>(), 0u8..=32), 0..4),
            ip in any::<u32>(),
        ) {
            let list: Vec<IpNet> = nets.iter()
                .map(|(a, len)| IpNet::new(IpAddr::from(std::net::Ipv4Addr::from(*a)), *len).unwrap().trunc())
                .collect();
            let ip = IpAddr::from(std::net::Ipv4Addr::from(ip));
            let stored: Vec<IpNet> = to_text(&list).split_whitespace().map(|n| n.parse().unwrap()).collect();
            prop_assert_eq!(allows(&stored, ip), allows(&list, ip));
            for n in &list {
                prop_assert_eq!(parse_network(&n.to_string()).unwrap(), *n);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,60}") {
            let _ = parse_network(&s);
        }
    }
}
