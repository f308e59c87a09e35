//! Where a verifier may fetch an issuer's keys from: pure rules, decided on what is really dialled.
//!
//! An issuer URL comes from a sidecar, so whoever wrote the file chooses it. The caller must not let that
//! turn the verifier into a way to reach the networks around it (cloud metadata, a router's admin page, a
//! database on the LAN) or into a port scanner. The rules:
//!
//! 1. The issuer is parsed once, by a WHATWG URL parser ([`url::Url`]), into the host the HTTP client will
//!    use: `https://012.0.0.1`, `https://0xa.0.0.1`, `https://2852039166` and `https://169.254.169.254.` are
//!    the IPv4 addresses 10.0.0.1 and 169.254.169.254, and are vetted as such.
//! 2. Only `http(s)://host[:port][/path]`: no userinfo, query, fragment, backslash, control character or space
//!    in the text as written.
//! 3. Every address the connection may use is vetted by [`FetchTarget::vet_address`]: the IP literal of the
//!    URL, or each address a host name resolves to (the caller resolves and connects only to vetted
//!    addresses). Allowed: public unicast addresses over https, and this machine's loopback (a local
//!    `proofmark serve`) over http or https. Never an address in one of the internal ranges of
//!    [`classify`]: private, shared (CGNAT), link-local (cloud metadata), unspecified, benchmarking,
//!    documentation, reserved, multicast, broadcast, or an IPv6 form that embeds such an IPv4 address
//!    (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo).
//! 4. Names that exist only inside a network (`.local`, `.internal`, `.lan`, `.home.arpa`, …) are refused
//!    before any lookup; plain http is allowed only to an IP loopback literal or `localhost`.
//!
//! `allow_insecure` (the user's explicit `--allow-insecure-issuer`, or a URL the user typed) lifts rules 3
//! and 4, never 1 and 2.
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address an IP is, for key fetching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Globally routable unicast.
    Public,
    /// This machine (127.0.0.0/8, ::1, and their IPv4-mapped form).
    Loopback,
    /// Not to be dialled on a sidecar's say-so; names the range.
    Internal(&'static str),
}

/// Classify an address; IPv6 forms that embed an IPv4 address are classified by that address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::{Internal, Loopback, Public};
    let o = ip.octets();
    let bits = u32::from(ip);
    let within = |net: u32, len: u32| bits >> (32 - len) == net >> (32 - len);
    match o {
        [127, ..] => Loopback,
        [0, ..] => Internal("0.0.0.0/8 (this network)"),
        [10, ..] => Internal("10.0.0.0/8 (private)"),
        [100, ..] if within(0x6440_0000, 10) => Internal("100.64.0.0/10 (shared address space)"),
        [169, 254, ..] => Internal("169.254.0.0/16 (link-local)"),
        [172, ..] if within(0xac10_0000, 12) => Internal("172.16.0.0/12 (private)"),
        [192, 0, 0, _] => Internal("192.0.0.0/24 (IETF protocol assignments)"),
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => Internal("documentation range"),
        [192, 88, 99, _] => Internal("192.88.99.0/24 (6to4 relay anycast)"),
        [192, 168, ..] => Internal("192.168.0.0/16 (private)"),
        [198, ..] if within(0xc612_0000, 15) => Internal("198.18.0.0/15 (benchmarking)"),
        [224..=239, ..] => Internal("224.0.0.0/4 (multicast)"),
        [240..=255, ..] => Internal("240.0.0.0/4 (reserved, broadcast)"),
        _ => Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::{Internal, Loopback, Public};
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let via = |v4: Ipv4Addr, form: &'static str| match classify_v4(v4) {
        Public => Public,
        _ => Internal(form),
    };
    if ip == Ipv6Addr::LOCALHOST {
        return Loopback;
    }
    if ip.is_unspecified() {
        return Internal(":: (unspecified)");
    }
    match s {
        // ::ffff:a.b.c.d — the kernel dials the IPv4 address itself, loopback included.
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => classify_v4(embedded(hi, lo)),
        // ::a.b.c.d (deprecated IPv4-compatible) and ::ffff:0:a.b.c.d (IPv4-translated).
        [0, 0, 0, 0, 0, 0, ..] => Internal("::/96 (IPv4-compatible)"),
        [0, 0, 0, 0, 0xffff, 0, ..] => Internal("::ffff:0:0:0/96 (IPv4-translated)"),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => via(embedded(hi, lo), "64:ff9b::/96 (NAT64) of an internal IPv4 address"),
        [0x64, 0xff9b, 1, ..] => Internal("64:ff9b:1::/48 (local-use NAT64)"),
        [0x2002, hi, lo, ..] => via(embedded(hi, lo), "2002::/16 (6to4) of an internal IPv4 address"),
        [0x2001, 0, server_hi, server_lo, _, _, client_hi, client_lo] => {
            // Teredo: the server's IPv4 address, and the client's, stored inverted.
            let client = embedded(!client_hi, !client_lo);
            match (classify_v4(embedded(server_hi, server_lo)), classify_v4(client)) {
                (Public, Public) => Public,
                _ => Internal("2001::/32 (Teredo) of an internal IPv4 address"),
            }
        }
        [0x2001, 0xdb8, ..] => Internal("2001:db8::/32 (documentation)"),
        [0x0100, 0, 0, 0, ..] => Internal("100::/64 (discard-only)"),
        [first, ..] if first & 0xfe00 == 0xfc00 => Internal("fc00::/7 (unique local)"),
        [first, ..] if first & 0xffc0 == 0xfe80 => Internal("fe80::/10 (link-local)"),
        [first, ..] if first & 0xffc0 == 0xfec0 => Internal("fec0::/10 (site-local)"),
        [first, ..] if first & 0xff00 == 0xff00 => Internal("ff00::/8 (multicast)"),
        _ => Public,
    }
}

/// Host-name suffixes that only mean something inside a network.
const INTERNAL_SUFFIXES: [&str; 8] =
    [".local", ".internal", ".lan", ".home", ".corp", ".intranet", ".localdomain", ".home.arpa"];

/// Whether a host name only means something inside a network (`localhost`, a single label, or one of the
/// internal suffixes such as `.local`, `.internal`, `.lan`).
pub fn is_internal_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let dotted = format!(".{name}");
    name == "localhost"
        || dotted.ends_with(".localhost")
        || !name.contains('.')
        || INTERNAL_SUFFIXES.iter().any(|s| dotted.ends_with(s))
}

/// Why an issuer's keys are not fetched. Decided without any network access.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    NotHttp,
    NotPlainUrl,
    Unparsable(String),
    NoHost,
    InternalName(String),
    PlainHttp,
    Address { ip: IpAddr, range: &'static str },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotHttp => f.write_str("it is not an http(s) URL"),
            Self::NotPlainUrl => f.write_str(
                "it is not a plain URL (userinfo, query, fragment, backslash, spaces or control characters)",
            ),
            Self::Unparsable(e) => write!(f, "it is not a URL ({e})"),
            Self::NoHost => f.write_str("it has no host"),
            Self::InternalName(host) => write!(f, "{host} is a name that exists only inside a local network"),
            Self::PlainHttp => f.write_str("it is plain http to a host other than this machine's loopback"),
            Self::Address { ip, range } => write!(f, "its address {ip} is in {range}, not a public address"),
        }
    }
}

/// The host of a vetted URL, as the HTTP client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    Ip(IpAddr),
    /// A lower-case ASCII (punycode) name; every address it resolves to must pass [`FetchTarget::vet_address`].
    Name(String),
}

/// A URL that passed the spelling rules, with what the connection to it must still respect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTarget {
    /// The URL to request, as serialised by the URL parser.
    pub url: String,
    pub host: TargetHost,
    pub port: u16,
    pub https: bool,
    /// The rules of this module are lifted (an explicit user choice).
    pub allow_insecure: bool,
}

impl FetchTarget {
    /// Parse and vet a URL the verifier is about to request.
    pub fn parse(text: &str, allow_insecure: bool) -> Result<Self, Refusal> {
        let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(Refusal::NotHttp);
        }
        // The parser silently drops tabs and newlines and reads `\` as `/`: refuse them as written.
        if text.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
            return Err(Refusal::NotPlainUrl);
        }
        let url = url::Url::parse(text).map_err(|e| Refusal::Unparsable(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
            return Err(Refusal::NotPlainUrl);
        }
        let https = url.scheme() == "https";
        let port = url.port_or_known_default().ok_or(Refusal::NoHost)?;
        let host = match url.host() {
            Some(url::Host::Ipv4(v4)) => TargetHost::Ip(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => TargetHost::Ip(IpAddr::V6(v6)),
            Some(url::Host::Domain(name)) if !name.is_empty() => {
                TargetHost::Name(name.trim_end_matches('.').to_ascii_lowercase())
            }
            _ => return Err(Refusal::NoHost),
        };
        let target = Self { url: url.to_string(), host, port, https, allow_insecure };
        if !allow_insecure {
            match &target.host {
                TargetHost::Ip(ip) => target.vet_address(*ip)?,
                TargetHost::Name(name) => {
                    let dotted = format!(".{name}");
                    if INTERNAL_SUFFIXES.iter().any(|s| dotted.ends_with(s))
                        || !name.contains('.') && !target.is_localhost()
                    {
                        return Err(Refusal::InternalName(name.clone()));
                    }
                    if !https && !target.is_localhost() {
                        return Err(Refusal::PlainHttp);
                    }
                }
            }
        }
        Ok(target)
    }

    /// `{issuer}/.well-known/jwks.json` for an issuer named by a token, vetted.
    pub fn issuer_jwks(issuer: &str, allow_insecure: bool) -> Result<Self, Refusal> {
        let base = Self::parse(issuer, allow_insecure)?;
        let jwks = format!("{}/.well-known/jwks.json", base.url.trim_end_matches('/'));
        Self::parse(&jwks, allow_insecure)
    }

    fn is_localhost(&self) -> bool {
        matches!(&self.host, TargetHost::Name(n) if n == "localhost" || n.ends_with(".localhost"))
    }

    /// May the connection use this address? For a host name, the caller checks every address it resolves
    /// to, and connects only to the ones that pass (refusing the whole fetch if any fails is safer still).
    pub fn vet_address(&self, ip: IpAddr) -> Result<(), Refusal> {
        if self.allow_insecure {
            return Ok(());
        }
        match classify(ip) {
            AddressClass::Loopback => Ok(()),
            AddressClass::Public if self.https && !self.is_localhost() => Ok(()),
            AddressClass::Public => Err(Refusal::PlainHttp),
            AddressClass::Internal(range) => Err(Refusal::Address { ip, range }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(issuer: &str) -> Refusal {
        FetchTarget::issuer_jwks(issuer, false).expect_err(issuer)
    }

    #[test]
    fn spellings_of_internal_addresses_are_refused_as_the_address_they_are() {
        for (issuer, ip) in [
            ("https://012.0.0.1", "10.0.0.1"),
            ("https://0xa.0.0.1", "10.0.0.1"),
            ("https://0XA.0.0.1/", "10.0.0.1"),
            ("https://10.1", "10.0.0.1"),
            ("https://167772161", "10.0.0.1"),
            ("https://2852039166", "169.254.169.254"),
            ("https://0xa9fea9fe", "169.254.169.254"),
            ("https://0251.0376.0251.0376", "169.254.169.254"),
            ("https://169.254.169.254.", "169.254.169.254"),
            ("https://169.254.169.254:443/latest/meta-data", "169.254.169.254"),
            ("https://%31%30.0.0.1", "10.0.0.1"),
            ("https://１０.0.0.1", "10.0.0.1"),
            ("https://192.168.1.10", "192.168.1.10"),
            ("https://172.31.255.255", "172.31.255.255"),
            ("https://0.0.0.0", "0.0.0.0"),
            ("https://0", "0.0.0.0"),
            ("https://100.64.0.1", "100.64.0.1"),
            ("https://100.127.255.254", "100.127.255.254"),
            ("https://192.0.0.8", "192.0.0.8"),
            ("https://198.18.0.1", "198.18.0.1"),
            ("https://198.19.255.1", "198.19.255.1"),
            ("https://240.0.0.1", "240.0.0.1"),
            ("https://255.255.255.255", "255.255.255.255"),
            ("https://224.0.0.251", "224.0.0.251"),
            ("https://[fd00::1]", "fd00::1"),
            ("https://[fe80::1]", "fe80::1"),
            ("https://[ff02::1]", "ff02::1"),
            ("https://[::]", "::"),
            ("https://[::ffff:10.0.0.1]", "::ffff:a00:1"),
            ("https://[::ffff:a9fe:a9fe]", "::ffff:a9fe:a9fe"),
            ("https://[::10.0.0.1]", "::a00:1"),
            ("https://[::8.8.8.8]", "::808:808"),
            ("https://[64:ff9b::10.0.0.1]", "64:ff9b::a00:1"),
            ("https://[64:ff9b::169.254.169.254]", "64:ff9b::a9fe:a9fe"),
            ("https://[64:ff9b:1::1]", "64:ff9b:1::1"),
            ("https://[2002:a00:1::1]", "2002:a00:1::1"),
            ("https://[2002:c0a8:101::]", "2002:c0a8:101::"),
            // Teredo: server 8.8.8.8, client 10.0.0.1 stored inverted (f5ff:fffe).
            ("https://[2001:0:808:808::f5ff:fffe]", "2001:0:808:808::f5ff:fffe"),
            ("https://[2001:db8::1]", "2001:db8::1"),
        ] {
            match refused(issuer) {
                Refusal::Address { ip: got, .. } => assert_eq!(got, ip.parse::<IpAddr>().unwrap(), "{issuer}"),
                other => panic!("{issuer}: {other:?}"),
            }
        }
    }

    #[test]
    fn public_and_loopback_issuers_are_fetched() {
        let ok = |i: &str| FetchTarget::issuer_jwks(i, false).unwrap_or_else(|e| panic!("{i}: {e}")).url;
        assert_eq!(ok("https://api.example/"), "https://api.example/.well-known/jwks.json");
        assert_eq!(ok("https://API.Example:8443/v1"), "https://api.example:8443/v1/.well-known/jwks.json");
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080/.well-known/jwks.json");
        assert_eq!(ok("http://0x7f.1:8080"), "http://127.0.0.1:8080/.well-known/jwks.json");
        assert_eq!(ok("http://localhost:8080/"), "http://localhost:8080/.well-known/jwks.json");
        assert_eq!(ok("https://[::1]/"), "https://[::1]/.well-known/jwks.json");
        assert_eq!(ok("https://8.8.8.8"), "https://8.8.8.8/.well-known/jwks.json");
        assert_eq!(ok("https://[2606:4700::1111]"), "https://[2606:4700::1111]/.well-known/jwks.json");
        assert_eq!(ok("https://[64:ff9b::8.8.8.8]"), "https://[64:ff9b::808:808]/.well-known/jwks.json");
        assert_eq!(ok("https://[2002:808:808::1]"), "https://[2002:808:808::1]/.well-known/jwks.json");
        assert_eq!(ok("https://bücher.example"), "https://xn--bcher-kva.example/.well-known/jwks.json");
        assert_eq!(ok("https://api.example."), "https://api.example./.well-known/jwks.json");
    }

    #[test]
    fn other_refusals() {
        for (issuer, want) in [
            ("ftp://x.example", Refusal::NotHttp),
            ("api.example", Refusal::NotHttp),
            ("http://api.example", Refusal::PlainHttp),
            ("http://8.8.8.8", Refusal::PlainHttp),
            ("https://printer.local", Refusal::InternalName("printer.local".into())),
            ("https://db.internal./", Refusal::InternalName("db.internal".into())),
            ("https://router.home.arpa", Refusal::InternalName("router.home.arpa".into())),
            ("https://intranet", Refusal::InternalName("intranet".into())),
            ("https://a.example/?x=", Refusal::NotPlainUrl),
            ("https://user@a.example", Refusal::NotPlainUrl),
            ("https://u:p@a.example", Refusal::NotPlainUrl),
            ("https://a.example/#", Refusal::NotPlainUrl),
            ("https://a.example/\n", Refusal::NotPlainUrl),
            ("https://a.exa\tmple", Refusal::NotPlainUrl),
            ("https://a.example\\@10.0.0.1", Refusal::NotPlainUrl),
            ("https:// a.example", Refusal::NotPlainUrl),
        ] {
            assert_eq!(refused(issuer), want, "{issuer}");
        }
        assert!(matches!(refused("https://"), Refusal::Unparsable(_) | Refusal::NoHost));
        assert!(matches!(refused("https://[::1"), Refusal::Unparsable(_)));
    }

    #[test]
    fn resolved_addresses_are_vetted_like_literals() {
        let t = FetchTarget::issuer_jwks("https://keys.example", false).unwrap();
        assert_eq!(t.host, TargetHost::Name("keys.example".into()));
        assert!(t.vet_address("93.184.216.34".parse().unwrap()).is_ok());
        assert!(t.vet_address("127.0.0.1".parse().unwrap()).is_ok(), "loopback stays allowed");
        for internal in ["10.55.0.1", "169.254.169.254", "::ffff:192.168.0.1", "fd12::1", "64:ff9b::a00:1", "0.1.2.3"] {
            assert!(matches!(t.vet_address(internal.parse().unwrap()), Err(Refusal::Address { .. })), "{internal}");
        }
        // Plain http to localhost must land on loopback.
        let local = FetchTarget::issuer_jwks("http://localhost:8080", false).unwrap();
        assert!(local.vet_address("127.0.0.1".parse().unwrap()).is_ok());
        assert_eq!(local.vet_address("93.184.216.34".parse().unwrap()), Err(Refusal::PlainHttp));
        // The user's explicit choice lifts the address rules, never the URL rules.
        let insecure = FetchTarget::issuer_jwks("http://10.0.0.5:8080", true).unwrap();
        assert!(insecure.vet_address("10.0.0.5".parse().unwrap()).is_ok());
        assert_eq!(FetchTarget::issuer_jwks("http://u@10.0.0.5", true), Err(Refusal::NotPlainUrl));
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_refused_or_accepted_without_panic(text in "\\PC{0,60}") {
            crate::fuzzing::issuer_url(text.as_bytes());
        }

        #[test]
        fn url_like_text_is_stable(host in "[0-9a-fx.]{1,20}", port in proptest::option::of(0u16..)) {
            let url = match port { Some(p) => format!("https://{host}:{p}"), None => format!("https://{host}") };
            crate::fuzzing::issuer_url(url.as_bytes());
        }

        /// Every IPv6 form that carries an internal IPv4 address is internal, checked against a table of the
        /// IPv4 ranges written independently of `classify_v4`.
        #[test]
        fn internal_ipv4_addresses_stay_internal_in_every_ipv6_form(v4 in proptest::num::u32::ANY) {
            const INTERNAL: [(u32, u32); 15] = [
                (0x0000_0000, 8), (0x0a00_0000, 8), (0x6440_0000, 10), (0xa9fe_0000, 16), (0xac10_0000, 12),
                (0xc000_0000, 24), (0xc000_0200, 24), (0xc058_6300, 24), (0xc0a8_0000, 16), (0xc612_0000, 15),
                (0xc633_6400, 24), (0xcb00_7100, 24), (0xe000_0000, 4), (0xf000_0000, 4), (0x7f00_0000, 8),
            ];
            let public = !INTERNAL.iter().any(|&(net, len)| v4 >> (32 - len) == net >> (32 - len));
            let (hi, lo) = ((v4 >> 16) as u16, v4 as u16);
            let ip4 = Ipv4Addr::from(v4);
            let loopback = ip4.octets()[0] == 127;
            proptest::prop_assert_eq!(classify(IpAddr::V4(ip4)) == AddressClass::Public, public, "{}", ip4);
            let forms = [
                Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, hi, lo),      // IPv4-mapped
                Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo),   // NAT64
                Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1),      // 6to4
                Ipv6Addr::new(0x2001, 0, hi, lo, 0, 0, 0xf7f7, 0xf7f7), // Teredo server (client 8.8.8.8)
                Ipv6Addr::new(0x2001, 0, 0x0808, 0x0808, 0, 0, !hi, !lo), // Teredo client (server 8.8.8.8)
            ];
            for form in forms {
                let class = classify(IpAddr::V6(form));
                if loopback && form.segments()[5] == 0xffff {
                    proptest::prop_assert_eq!(class, AddressClass::Loopback);
                } else {
                    proptest::prop_assert_eq!(class == AddressClass::Public, public, "{} carrying {}", form, ip4);
                }
            }
            // The deprecated forms are refused whatever they carry.
            proptest::prop_assert!(matches!(classify(IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo))), AddressClass::Internal(_) | AddressClass::Loopback));
            proptest::prop_assert!(matches!(classify(IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, hi, lo))), AddressClass::Internal(_)));
        }
    }

    #[test]
    fn classification_edges() {
        let c = |s: &str| classify(s.parse().unwrap());
        assert_eq!(c("100.63.255.255"), AddressClass::Public);
        assert_eq!(c("100.128.0.0"), AddressClass::Public);
        assert_eq!(c("172.15.255.255"), AddressClass::Public);
        assert_eq!(c("172.32.0.0"), AddressClass::Public);
        assert_eq!(c("198.17.255.255"), AddressClass::Public);
        assert_eq!(c("198.20.0.0"), AddressClass::Public);
        assert_eq!(c("192.0.1.1"), AddressClass::Public);
        assert_eq!(c("223.255.255.255"), AddressClass::Public);
        assert_eq!(c("127.3.4.5"), AddressClass::Loopback);
        assert_eq!(c("::ffff:127.0.0.1"), AddressClass::Loopback);
        assert_eq!(c("::1"), AddressClass::Loopback);
        assert_eq!(c("2001:0:808:808::f7f7:f7f7"), AddressClass::Public, "Teredo between public addresses");
        assert!(matches!(c("2001:0:a00:1::f7f7:f7f7"), AddressClass::Internal(_)), "Teredo via a private server");
    }
}
