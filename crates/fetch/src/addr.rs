//! The address policy: which IP addresses a fetch may connect to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
    )
}

/// IPv4 ranges refused even with `allow_private`: never a valid unicast destination.
const ALWAYS_REFUSED_V4: &[Ipv4Net] = &[
    v4(0, 0, 0, 0, 8), // "this network", incl. 0.0.0.0 (which Linux connects to as localhost)
    v4(224, 0, 0, 0, 4), // multicast
    v4(255, 255, 255, 255, 32), // limited broadcast
];

/// IPv4 ranges refused unless `allow_private`: private, local, shared or not globally routable.
const PRIVATE_V4: &[Ipv4Net] = &[
    v4(10, 0, 0, 0, 8),      // private (RFC 1918)
    v4(100, 64, 0, 0, 10),   // shared address space, carrier-grade NAT (RFC 6598)
    v4(127, 0, 0, 0, 8),     // loopback
    v4(169, 254, 0, 0, 16),  // link-local, incl. cloud metadata 169.254.169.254
    v4(172, 16, 0, 0, 12),   // private (RFC 1918)
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments
    v4(192, 0, 2, 0, 24),    // documentation TEST-NET-1
    v4(192, 88, 99, 0, 24),  // 6to4 relay anycast (deprecated, RFC 7526)
    v4(192, 168, 0, 0, 16),  // private (RFC 1918)
    v4(198, 18, 0, 0, 15),   // benchmarking
    v4(198, 51, 100, 0, 24), // documentation TEST-NET-2
    v4(203, 0, 113, 0, 24),  // documentation TEST-NET-3
    v4(240, 0, 0, 0, 4),     // reserved
];

/// The IPv6 global unicast space (RFC 4291 §2.4). Every address outside it that is not
/// loopback and does not embed an IPv4 address (see [`embedded_v4`]) is reserved,
/// unallocated, local or multicast: nothing a public destination can be.
const GLOBAL_UNICAST_V6: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// IPv6 ranges refused unless `allow_private`, besides everything outside
/// [`GLOBAL_UNICAST_V6`]. Ranges that embed an IPv4 address are not here: they are judged
/// by that address (see [`embedded_v4`]). The ranges outside 2000::/3 are listed anyway,
/// as documentation of what they are.
const PRIVATE_V6: &[Ipv6Net] = &[
    v6([0x0064, 0xff9b, 0x0001, 0, 0, 0, 0, 0], 48), // local-use NAT64 (RFC 8215)
    v6([0x0100, 0, 0, 0, 0, 0, 0, 0], 64),           // discard-only
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),           // Teredo tunnels (embedded IPv4 obfuscated)
    v6([0x2001, 0x0002, 0, 0, 0, 0, 0, 0], 48),      // benchmarking
    v6([0x2001, 0x0010, 0, 0, 0, 0, 0, 0], 28),      // ORCHID (deprecated)
    v6([0x2001, 0x0020, 0, 0, 0, 0, 0, 0], 28),      // ORCHIDv2
    v6([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32),      // documentation
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),           // documentation (RFC 9637)
    v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),           // SRv6 SIDs
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),            // unique local (ULA)
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),           // link-local
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),           // site-local (deprecated)
];

/// Whether `addr` is refused by the default policy (`allow_private = false`).
///
/// Refused: IPv4 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24,
/// 192.0.2/24, 192.88.99/24, 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 224/4,
/// 240/4 and 255.255.255.255; IPv6 `::`, `::1`, multicast `ff00::/8`, everything outside
/// the global unicast space `2000::/3` (ULA `fc00::/7`, link-local `fe80::/10`, site-local
/// `fec0::/10`, discard-only `100::/64`, SRv6 `5f00::/16`, local-use NAT64
/// `64:ff9b:1::/48`, the rest of `::/8`, ...) and inside it documentation `2001:db8::/32`
/// and `3fff::/20`, Teredo `2001::/32`, benchmarking and ORCHID. IPv6 forms that carry an
/// IPv4 address (mapped `::ffff:0:0/96`, compatible `::/96`, translated
/// `::ffff:0:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by that IPv4
/// address.
pub fn is_refused(addr: IpAddr) -> bool {
    refused(addr, false)
}

/// The policy with its one knob: `allow_private` lets private, loopback, link-local,
/// documentation and reserved ranges through, but unspecified (`0.0.0.0/8`, `::`),
/// multicast and broadcast addresses stay refused.
pub(crate) fn refused(addr: IpAddr, allow_private: bool) -> bool {
    match addr {
        IpAddr::V4(a) => refused_v4(a, allow_private),
        IpAddr::V6(a) => refused_v6(a, allow_private),
    }
}

fn refused_v4(a: Ipv4Addr, allow_private: bool) -> bool {
    ALWAYS_REFUSED_V4.iter().any(|n| n.contains(&a))
        || (!allow_private && PRIVATE_V4.iter().any(|n| n.contains(&a)))
}

fn refused_v6(a: Ipv6Addr, allow_private: bool) -> bool {
    if a.is_unspecified() || a.is_multicast() {
        return true;
    }
    // Before the IPv4-compatible range `::/96`, which contains it.
    if a.is_loopback() {
        return !allow_private;
    }
    if let Some(v4) = embedded_v4(a) {
        return refused_v4(v4, allow_private);
    }
    !allow_private && (!GLOBAL_UNICAST_V6.contains(&a) || PRIVATE_V6.iter().any(|n| n.contains(&a)))
}

/// The IPv4 address that an IPv6 address stands for or tunnels to, for the forms whose
/// traffic ends at that IPv4 address.
pub(crate) fn embedded_v4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = a.segments();
    let o = a.octets();
    let low32 = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        // ::a.b.c.d (IPv4-compatible, deprecated) and ::ffff:a.b.c.d (IPv4-mapped)
        [0, 0, 0, 0, 0, 0 | 0xffff, _, _] => Some(low32),
        // ::ffff:0:a.b.c.d (IPv4-translated, SIIT)
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low32),
        // 64:ff9b::a.b.c.d (well-known NAT64 prefix)
        [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => Some(low32),
        // 2002:AABB:CCDD::/48 (6to4)
        [0x2002, ..] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// (address, refused by default, refused with allow_private)
    const TABLE: &[(&str, bool, bool)] = &[
        // IPv4 ranges, first and last address where it matters
        ("0.0.0.0", true, true),
        ("0.255.255.255", true, true),
        ("0.1.2.3", true, true),
        ("10.0.0.0", true, false),
        ("10.255.255.255", true, false),
        ("100.64.0.0", true, false),
        ("100.127.255.255", true, false),
        ("100.63.255.255", false, false),
        ("100.128.0.0", false, false),
        ("127.0.0.1", true, false),
        ("127.255.255.254", true, false),
        ("169.254.0.1", true, false),
        ("169.254.169.254", true, false),
        ("172.16.0.1", true, false),
        ("172.31.255.255", true, false),
        ("172.15.255.255", false, false),
        ("172.32.0.0", false, false),
        ("192.0.0.1", true, false),
        ("192.0.0.8", true, false),
        ("192.0.0.255", true, false),
        ("192.88.99.1", true, false),
        ("192.0.2.1", true, false),
        ("192.168.0.1", true, false),
        ("192.168.255.255", true, false),
        ("198.18.0.1", true, false),
        ("198.19.255.255", true, false),
        ("198.17.255.255", false, false),
        ("198.20.0.0", false, false),
        ("198.51.100.7", true, false),
        ("203.0.113.9", true, false),
        ("224.0.0.1", true, true),
        ("239.255.255.250", true, true),
        ("240.0.0.0", true, false),
        ("240.0.0.1", true, false),
        ("255.255.255.254", true, false),
        ("254.255.255.255", true, false),
        ("255.255.255.255", true, true),
        // public IPv4
        ("8.8.8.8", false, false),
        ("1.1.1.1", false, false),
        ("93.184.216.34", false, false),
        ("11.0.0.1", false, false),
        ("192.0.3.1", false, false),
        ("192.0.1.255", false, false),
        ("192.88.98.255", false, false),
        ("192.88.100.0", false, false),
        ("192.169.0.1", false, false),
        ("223.255.255.255", false, false),
        // IPv6
        ("::", true, true),
        ("::1", true, false),
        ("fc00::1", true, false),
        ("fdff:ffff::1", true, false),
        ("fe80::1", true, false),
        ("febf::1", true, false),
        ("fec0::1", true, false),
        ("ff02::1", true, true),
        ("ff0e::1", true, true),
        ("2001:db8::1", true, false),
        ("2001:db8:ffff::1", true, false),
        ("3fff::1", true, false),
        ("2001::1", true, false),
        ("2001:2::1", true, false),
        ("2001:10::1", true, false),
        ("2001:20::1", true, false),
        ("100::1", true, false),
        ("5f00::1", true, false),
        ("64:ff9b:1::1", true, false),
        ("64:ff9b:1::7f00:1", true, false),
        ("64:ff9b:1:ffff::1", true, false),
        // Teredo, the RFC 4380 example (server 65.54.227.120, client 192.0.2.45 obfuscated)
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", true, false),
        // outside the global unicast space 2000::/3, not embedding an IPv4 address
        ("::1:0:0:1", true, false),
        ("::fffe:7f00:1", true, false),
        ("::ffff:1:7f00:1", true, false),
        ("0:0:0:1::1", true, false),
        ("64:ff9b:0:0:1::7f00:1", true, false),
        ("64:ff9a::7f00:1", true, false),
        ("1::1", true, false),
        ("4000::1", true, false),
        ("8000::1", true, false),
        ("c000::1", true, false),
        ("e000::1", true, false),
        ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, false),
        ("4000::", true, false),
        // IPv6 forms with an embedded IPv4, judged by it
        ("::ffff:127.0.0.1", true, false),
        ("::ffff:169.254.169.254", true, false),
        ("::ffff:10.1.2.3", true, false),
        ("::ffff:0.0.0.0", true, true),
        ("::ffff:224.0.0.1", true, true),
        ("::ffff:8.8.8.8", false, false),
        ("::127.0.0.1", true, false),
        ("::8.8.8.8", false, false),
        ("::ffff:0:127.0.0.1", true, false),
        ("::ffff:0:8.8.8.8", false, false),
        ("::127.0.0.2", true, false),
        ("::2", true, true),
        ("::0.1.2.3", true, true),
        ("64:ff9b::127.0.0.1", true, false),
        ("64:ff9b::7f00:1", true, false),
        ("64:ff9b::ffff:ffff", true, true),
        ("64:ff9b::0.0.0.0", true, true),
        ("64:ff9b::e000:1", true, true),
        ("64:ff9b::a9fe:a9fe", true, false),
        ("64:ff9b::8.8.8.8", false, false),
        ("2002:7f00:0001::", true, false),
        ("2002:c0a8:0101:1::1", true, false),
        ("2002:0808:0808::1", false, false),
        ("2002:e000:0001::1", true, true),
        ("2002:7f00:1::1", true, false),
        ("2002:0000:0001::", true, true),
        ("2002:ffff:ffff::1", true, true),
        // the ranges the review found let through elsewhere, in every IPv4-carrying form
        ("::ffff:198.18.0.1", true, false),
        ("::198.18.0.1", true, false),
        ("::ffff:0:198.18.0.1", true, false),
        ("64:ff9b::c612:1", true, false),
        ("2002:c612:0001::", true, false),
        ("::ffff:192.0.0.1", true, false),
        ("::192.0.0.1", true, false),
        ("::ffff:0:192.0.0.1", true, false),
        ("64:ff9b::c000:1", true, false),
        ("2002:c000:0001::", true, false),
        ("::ffff:100.64.0.1", true, false),
        ("64:ff9b::6440:1", true, false),
        ("::ffff:240.0.0.1", true, false),
        ("::ffff:0.1.2.3", true, true),
        ("::ffff:0:0.0.0.0", true, true),
        ("::ffff:255.255.255.255", true, true),
        ("::ffff:0:255.255.255.255", true, true),
        ("::ffff:0:224.0.0.1", true, true),
        // public IPv6
        ("2606:4700::1111", false, false),
        ("2001:4860:4860::8888", false, false),
        ("2a00:1450:4001:80b::200e", false, false),
        ("2001:db7:ffff::1", false, false),
        ("2001:1::1", false, false),
        ("2c0f:f248::1", false, false),
        ("3ffe::1", false, false),
        ("2002:0808:0808:1::1", false, false),
        ("64:ff9b::808:808", false, false),
    ];

    #[test]
    fn table() {
        for &(addr, default, allow_private) in TABLE {
            let a = ip(addr);
            assert_eq!(is_refused(a), default, "{addr} by default");
            assert_eq!(refused(a, false), default, "{addr} by default");
            assert_eq!(refused(a, true), allow_private, "{addr} with allow_private");
        }
    }

    #[test]
    fn allow_private_only_ever_allows_more() {
        for &(_, default, allow_private) in TABLE {
            assert!(default || !allow_private);
        }
    }

    #[test]
    fn embedded_forms() {
        let v4: Ipv4Addr = "1.2.3.4".parse().unwrap();
        for form in [
            "::ffff:1.2.3.4",
            "::1.2.3.4",
            "::ffff:0:1.2.3.4",
            "64:ff9b::1.2.3.4",
            "2002:0102:0304::",
            "2002:0102:0304:ffff:ffff:ffff:ffff:ffff",
        ] {
            let a: Ipv6Addr = form.parse().unwrap();
            assert_eq!(embedded_v4(a), Some(v4), "{form}");
        }
        for form in ["2606:4700::1111", "64:ff9b:1::1.2.3.4", "::ffff:1:1.2.3.4"] {
            let a: Ipv6Addr = form.parse().unwrap();
            assert_eq!(embedded_v4(a), None, "{form}");
        }
    }

    fn forms(v4: Ipv4Addr, suffix: u128) -> Vec<Ipv6Addr> {
        let bits = u128::from(u32::from(v4));
        let mut out = vec![
            v4.to_ipv6_mapped(),
            Ipv6Addr::from((0xffff_u128 << 48) | bits), // ::ffff:0:a.b.c.d
            Ipv6Addr::from((0x0064_ff9b_u128 << 96) | bits), // 64:ff9b::a.b.c.d
            Ipv6Addr::from((0x2002_u128 << 112) | (bits << 80) | (suffix & ((1 << 80) - 1))),
        ];
        // ::0.0.0.1 is ::1, the IPv6 loopback, which has its own rule.
        if bits > 1 {
            out.push(Ipv6Addr::from(bits)); // ::a.b.c.d
        }
        out
    }

    proptest! {
        #[test]
        fn ipv6_forms_agree_with_their_ipv4(raw: u32, suffix: u128, allow_private: bool) {
            let v4 = Ipv4Addr::from(raw);
            let expected = refused(IpAddr::V4(v4), allow_private);
            for v6 in forms(v4, suffix) {
                prop_assert_eq!(refused(IpAddr::V6(v6), allow_private), expected, "{} for {}", v6, v4);
            }
        }

        #[test]
        fn ipv6_forms_agree_on_special_ranges(
            net in proptest::sample::select(ALWAYS_REFUSED_V4.iter().chain(PRIVATE_V4).copied().collect::<Vec<_>>()),
            host: u32,
            suffix: u128,
            allow_private: bool,
        ) {
            let v4 = Ipv4Addr::from(u32::from(net.network()) | (host & u32::from(net.hostmask())));
            prop_assert!(refused(IpAddr::V4(v4), false));
            let expected = refused(IpAddr::V4(v4), allow_private);
            for v6 in forms(v4, suffix) {
                prop_assert_eq!(refused(IpAddr::V6(v6), allow_private), expected, "{} for {}", v6, v4);
            }
        }
    }
}
