#![no_main]
//! `--allow-ip` values: never panic; what parses round-trips; a list read back from its
//! stored text allows exactly what the list allows.

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use ipnet::IpNet;
use tokenctl::allowlist::{allows, parse_network, to_text};

fuzz_target!(|data: (&str, [u8; 16], bool)| {
    let (values, octets, v4) = data;
    let list: Vec<_> = values.split(',').filter_map(|v| parse_network(v).ok()).collect();
    for net in &list {
        assert_eq!(parse_network(&net.to_string()).unwrap(), *net);
    }
    let ip = if v4 {
        IpAddr::from([octets[0], octets[1], octets[2], octets[3]])
    } else {
        IpAddr::from(octets)
    };
    let stored: Vec<IpNet> = to_text(&list)
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(allows(&stored, ip), allows(&list, ip));
});
