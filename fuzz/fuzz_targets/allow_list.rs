#![no_main]
//! `--allow-ip` values: never panic; what parses round-trips; the stored text form allows
//! exactly what the parsed list allows.

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use tokenctl::allowlist::{allows, parse_network, text_allows, to_text};

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
    assert_eq!(text_allows(&to_text(&list), ip), allows(&list, ip));
});
