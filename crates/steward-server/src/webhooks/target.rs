//! Which webhook destinations Steward refuses (issue 9, item 7): a pure rule, no IO.
//!
//! A webhook makes Steward send an HTTP request where an admin says, from inside the
//! network Steward runs in. Unless the server allows private targets
//! (`steward serve --webhook-allow-private`), a destination is refused when its address is
//! loopback, link-local, private (RFC 1918), shared (CGNAT, 100.64.0.0/10), unique-local
//! (fc00::/7), site-local (fec0::/10), unspecified (`0.0.0.0/8`, `::`), multicast or
//! broadcast, in any spelling: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
//! (`::a.b.c.d`) and NAT64 (`64:ff9b::/96`) IPv6 forms are judged by the IPv4 address they
//! carry, and decimal, octal, hex and short IPv4 forms are normalised by the WHATWG URL
//! parser (the `url` crate, the same one `reqwest` uses) before they are judged. Names are
//! refused when they are `localhost` (or under `.localhost`, RFC 6761) or a cloud metadata
//! name. Cloud metadata destinations (addresses and names) are refused even when private
//! targets are allowed: they hand out the host's credentials.
//!
//! [`check_url`] judges a URL as written (registration); [`check_ip`] judges each address
//! a name resolves to (delivery, see [`crate::webhooks`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why a destination is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetClass {
    /// 127.0.0.0/8, ::1, `localhost`.
    Loopback,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// 10/8, 172.16/12, 192.168/16, and the deprecated site-local fec0::/10.
    Private,
    /// 100.64.0.0/10 (RFC 6598, carrier-grade NAT).
    SharedAddressSpace,
    /// fc00::/7 (RFC 4193).
    UniqueLocal,
    /// 0.0.0.0/8 and `::`: "this host" (Linux connects them to loopback).
    Unspecified,
    /// 224.0.0.0/4 and ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// A cloud metadata service: 169.254.169.254, 169.254.170.2, 100.100.100.200,
    /// fd00:ec2::254, `metadata.google.internal` and the like.
    Metadata,
}

impl TargetClass {
    /// The name used in problems and delivery logs.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetClass::Loopback => "loopback",
            TargetClass::LinkLocal => "link_local",
            TargetClass::Private => "private",
            TargetClass::SharedAddressSpace => "shared_address_space",
            TargetClass::UniqueLocal => "unique_local",
            TargetClass::Unspecified => "unspecified",
            TargetClass::Multicast => "multicast",
            TargetClass::Broadcast => "broadcast",
            TargetClass::Metadata => "metadata",
        }
    }

    /// Whether `--webhook-allow-private` lets this class through. Metadata services,
    /// unspecified, multicast and broadcast addresses never are.
    pub fn allowed_as_private(self) -> bool {
        matches!(
            self,
            TargetClass::Loopback
                | TargetClass::LinkLocal
                | TargetClass::Private
                | TargetClass::SharedAddressSpace
                | TargetClass::UniqueLocal
        )
    }

    /// The problem `rule` of a refusal of this class.
    pub fn rule(self) -> steward_policy::Refusal {
        if self == TargetClass::Metadata {
            steward_policy::Refusal::MetadataWebhookTarget
        } else {
            steward_policy::Refusal::PrivateWebhookTarget
        }
    }
}

/// A refused destination: what it was and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The host or address refused, as normalised (`169.254.169.254` for `2852039166`).
    pub target: String,
    pub class: TargetClass,
}

impl Refusal {
    pub fn rule(&self) -> steward_policy::Refusal {
        self.class.rule()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            TargetClass::Metadata => write!(
                f,
                "`{}` is a cloud metadata service; webhooks may never target one",
                self.target
            ),
            class if class.allowed_as_private() => write!(
                f,
                "`{}` is a {} address; webhooks may target internal addresses only when the \
                 server runs with `--webhook-allow-private`",
                self.target,
                class.as_str().replace('_', "-")
            ),
            class => write!(
                f,
                "`{}` is a{} {} address, which a webhook cannot target",
                self.target,
                if class == TargetClass::Unspecified {
                    "n"
                } else {
                    ""
                },
                class.as_str()
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// Why a URL cannot be a webhook destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Not an absolute `http` or `https` URL with a host.
    Invalid(String),
    /// A destination the rule refuses.
    Refused(Refusal),
}

/// Where a checked URL sends: its host, as an address or a name to resolve, and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub host: DestinationHost,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationHost {
    /// An address literal, normalised (decimal, octal, hex and short IPv4 forms).
    Ip(IpAddr),
    /// A name, lower-case and without a trailing dot; its addresses must be checked with
    /// [`check_ip`] once resolved.
    Name(String),
}

/// Parses `url` as the HTTP client will, and judges its host: an address literal by
/// [`check_ip`], a name by [`check_name`]. A name's addresses are not known here.
pub fn check_url(url: &str, allow_private: bool) -> Result<Destination, UrlError> {
    let parsed = Url::parse(url).map_err(|e| UrlError::Invalid(format!("is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UrlError::Invalid(
            "must start with `http://` or `https://`".into(),
        ));
    }
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| UrlError::Invalid("has no port".into()))?;
    let host = match parsed.host() {
        Some(Host::Ipv4(ip)) => DestinationHost::Ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => DestinationHost::Ip(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => {
            DestinationHost::Name(name.trim_end_matches('.').to_ascii_lowercase())
        }
        None => return Err(UrlError::Invalid("must name a host".into())),
    };
    match &host {
        DestinationHost::Ip(ip) => check_ip(*ip, allow_private),
        DestinationHost::Name(name) => check_name(name, allow_private),
    }
    .map_err(UrlError::Refused)?;
    Ok(Destination { host, port })
}

/// Names that are cloud metadata services (lower-case, no trailing dot).
const METADATA_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "metadata.azure.internal",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
    "metadata.platformequinix.com",
];

/// Judges a host name (not its addresses): `localhost` and names under `.localhost` are
/// loopback (RFC 6761), metadata service names are refused always.
pub fn check_name(name: &str, allow_private: bool) -> Result<(), Refusal> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let class = if METADATA_NAMES.contains(&name.as_str()) {
        TargetClass::Metadata
    } else if name == "localhost" || name.ends_with(".localhost") {
        TargetClass::Loopback
    } else {
        return Ok(());
    };
    refuse(name, class, allow_private)
}

/// Judges one address.
pub fn check_ip(ip: IpAddr, allow_private: bool) -> Result<(), Refusal> {
    match classify(ip) {
        Some(class) => refuse(ip.to_string(), class, allow_private),
        None => Ok(()),
    }
}

fn refuse(target: String, class: TargetClass, allow_private: bool) -> Result<(), Refusal> {
    if allow_private && class.allowed_as_private() {
        Ok(())
    } else {
        Err(Refusal { target, class })
    }
}

/// The class of an internal address, or `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<TargetClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<TargetClass> {
    let [a, b, c, d] = ip.octets();
    Some(match (a, b, c, d) {
        // AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean…; ECS task metadata; Alibaba.
        (169, 254, 169, 254) | (169, 254, 170, 2) | (100, 100, 100, 200) => TargetClass::Metadata,
        (0, ..) => TargetClass::Unspecified,
        (127, ..) => TargetClass::Loopback,
        (169, 254, ..) => TargetClass::LinkLocal,
        (10, ..) | (192, 168, ..) => TargetClass::Private,
        (172, b, ..) if (16..32).contains(&b) => TargetClass::Private,
        (100, b, ..) if (64..128).contains(&b) => TargetClass::SharedAddressSpace,
        (255, 255, 255, 255) => TargetClass::Broadcast,
        (224..=239, ..) => TargetClass::Multicast,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<TargetClass> {
    let segments = ip.segments();
    // fd00:ec2::254, the AWS metadata service over IPv6.
    if segments == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] {
        return Some(TargetClass::Metadata);
    }
    if ip.is_unspecified() {
        return Some(TargetClass::Unspecified);
    }
    if ip.is_loopback() {
        return Some(TargetClass::Loopback);
    }
    // An IPv4 address in IPv6 clothing is judged as that IPv4 address: mapped
    // (::ffff:0:0/96), compatible (::/96, deprecated) and NAT64 (64:ff9b::/96).
    let embedded = match segments {
        [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0, 0, hi, lo]
        | [0x0064, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
        }
        _ => None,
    };
    if let Some(v4) = embedded {
        return classify_v4(v4);
    }
    let first = segments[0];
    Some(if first & 0xffc0 == 0xfe80 {
        TargetClass::LinkLocal
    } else if first & 0xffc0 == 0xfec0 {
        TargetClass::Private
    } else if first & 0xfe00 == 0xfc00 {
        TargetClass::UniqueLocal
    } else if first & 0xff00 == 0xff00 {
        TargetClass::Multicast
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form from issue 9 and the classes around it: URL, the class refused by
    /// default (`None`: accepted), and whether `--webhook-allow-private` lets it through.
    const TABLE: &[(&str, Option<TargetClass>, bool)] = &[
        // Metadata, in every spelling: never allowed.
        (
            "http://169.254.169.254/latest/meta-data/",
            Some(TargetClass::Metadata),
            false,
        ),
        ("http://2852039166/", Some(TargetClass::Metadata), false),
        (
            "http://0251.0376.0251.0376/",
            Some(TargetClass::Metadata),
            false,
        ),
        (
            "http://0xa9.0xfe.0xa9.0xfe/",
            Some(TargetClass::Metadata),
            false,
        ),
        ("http://0xA9FEA9FE/", Some(TargetClass::Metadata), false),
        ("http://169.254.43518/", Some(TargetClass::Metadata), false),
        ("http://169.16689662/", Some(TargetClass::Metadata), false),
        (
            "http://[::ffff:169.254.169.254]/",
            Some(TargetClass::Metadata),
            false,
        ),
        (
            "http://[::ffff:a9fe:a9fe]/",
            Some(TargetClass::Metadata),
            false,
        ),
        (
            "http://[fd00:ec2::254]/",
            Some(TargetClass::Metadata),
            false,
        ),
        (
            "http://169.254.170.2/v2/credentials",
            Some(TargetClass::Metadata),
            false,
        ),
        (
            "http://100.100.100.200/latest/meta-data",
            Some(TargetClass::Metadata),
            false,
        ),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            Some(TargetClass::Metadata),
            false,
        ),
        (
            "http://METADATA.Google.Internal./",
            Some(TargetClass::Metadata),
            false,
        ),
        (
            "http://metadata/computeMetadata/v1/",
            Some(TargetClass::Metadata),
            false,
        ),
        ("http://metadata.goog/", Some(TargetClass::Metadata), false),
        (
            "https://instance-data.ec2.internal/",
            Some(TargetClass::Metadata),
            false,
        ),
        (
            "http://user:pw@169.254.169.254:80/",
            Some(TargetClass::Metadata),
            false,
        ),
        // Loopback.
        (
            "http://127.0.0.1:8080/hook",
            Some(TargetClass::Loopback),
            true,
        ),
        ("http://127.1/", Some(TargetClass::Loopback), true),
        ("http://2130706433/", Some(TargetClass::Loopback), true),
        ("http://0177.0.0.1/", Some(TargetClass::Loopback), true),
        ("http://0x7f.1/", Some(TargetClass::Loopback), true),
        ("http://[::1]:9000/", Some(TargetClass::Loopback), true),
        (
            "http://[::ffff:127.0.0.1]/",
            Some(TargetClass::Loopback),
            true,
        ),
        ("http://[::127.0.0.1]/", Some(TargetClass::Loopback), true),
        ("http://localhost:3000/", Some(TargetClass::Loopback), true),
        ("http://LOCALHOST./", Some(TargetClass::Loopback), true),
        ("http://api.localhost/", Some(TargetClass::Loopback), true),
        // Link-local.
        ("http://169.254.1.1/", Some(TargetClass::LinkLocal), true),
        ("http://[fe80::1]/", Some(TargetClass::LinkLocal), true),
        // Private (RFC 1918) and the deprecated site-local IPv6.
        ("http://10.0.0.5/", Some(TargetClass::Private), true),
        ("http://012.0.0.5/", Some(TargetClass::Private), true),
        ("http://167772165/", Some(TargetClass::Private), true),
        ("http://172.16.0.1/", Some(TargetClass::Private), true),
        ("http://172.31.255.255/", Some(TargetClass::Private), true),
        ("http://192.168.1.10/", Some(TargetClass::Private), true),
        ("http://0xc0a80101/", Some(TargetClass::Private), true),
        (
            "http://[::ffff:10.1.2.3]/",
            Some(TargetClass::Private),
            true,
        ),
        ("http://[64:ff9b::a00:1]/", Some(TargetClass::Private), true),
        ("http://[fec0::1]/", Some(TargetClass::Private), true),
        // Shared address space (CGNAT).
        (
            "http://100.64.0.1/",
            Some(TargetClass::SharedAddressSpace),
            true,
        ),
        (
            "http://100.127.255.254/",
            Some(TargetClass::SharedAddressSpace),
            true,
        ),
        // Unique-local IPv6.
        ("http://[fc00::1]/", Some(TargetClass::UniqueLocal), true),
        (
            "http://[fd12:3456:789a::1]:8443/",
            Some(TargetClass::UniqueLocal),
            true,
        ),
        // Never a destination.
        (
            "http://0.0.0.0:8080/",
            Some(TargetClass::Unspecified),
            false,
        ),
        ("http://0/", Some(TargetClass::Unspecified), false),
        ("http://[::]/", Some(TargetClass::Unspecified), false),
        (
            "http://[::ffff:0.0.0.0]/",
            Some(TargetClass::Unspecified),
            false,
        ),
        ("http://224.0.0.1/", Some(TargetClass::Multicast), false),
        ("http://[ff02::1]/", Some(TargetClass::Multicast), false),
        (
            "http://255.255.255.255/",
            Some(TargetClass::Broadcast),
            false,
        ),
        ("http://4294967295/", Some(TargetClass::Broadcast), false),
        // Public: accepted.
        ("https://hooks.example.com/steward", None, true),
        (
            "https://hooks.slack.com/services/T000/B000/XXXX",
            None,
            true,
        ),
        ("http://93.184.216.34/", None, true),
        ("http://1.1.1.1/", None, true),
        ("http://172.32.0.1/", None, true),
        ("http://172.15.255.255/", None, true),
        ("http://100.63.255.255/", None, true),
        ("http://100.128.0.1/", None, true),
        ("http://169.253.255.255/", None, true),
        ("http://[2606:4700:4700::1111]/", None, true),
        ("http://[::ffff:8.8.8.8]/", None, true),
        ("http://metadata.example.com/", None, true),
        ("http://localhost.example.com/", None, true),
    ];

    #[test]
    fn every_form_is_judged_by_the_address_it_reaches() {
        for &(url, class, allowed_as_private) in TABLE {
            let default = check_url(url, false);
            match class {
                None => assert!(default.is_ok(), "{url}: {default:?}"),
                Some(class) => match &default {
                    Err(UrlError::Refused(refusal)) => {
                        assert_eq!(refusal.class, class, "{url}");
                        assert_eq!(refusal.rule(), class.rule(), "{url}");
                    }
                    other => panic!("{url}: expected a {class:?} refusal, got {other:?}"),
                },
            }
            let private = check_url(url, true);
            assert_eq!(
                private.is_ok(),
                allowed_as_private,
                "{url} with --webhook-allow-private: {private:?}"
            );
        }
    }

    #[test]
    fn odd_ipv4_forms_normalise_to_the_address() {
        for (url, ip) in [
            ("http://2852039166/", "169.254.169.254"),
            ("http://0251.0376.0251.0376/", "169.254.169.254"),
            ("http://0xa9fea9fe/", "169.254.169.254"),
            ("http://169.254.43518/", "169.254.169.254"),
            ("http://127.1/", "127.0.0.1"),
        ] {
            let Err(UrlError::Refused(refusal)) = check_url(url, false) else {
                panic!("{url} was not refused");
            };
            assert_eq!(refusal.target, ip, "{url}");
        }
    }

    #[test]
    fn metadata_stays_refused_with_allow_private_and_says_so() {
        let Err(UrlError::Refused(refusal)) = check_url("http://169.254.169.254/", true) else {
            panic!("metadata accepted");
        };
        assert_eq!(refusal.rule().code(), "metadata_webhook_target");
        assert!(refusal.to_string().contains("metadata"), "{refusal}");
        let Err(UrlError::Refused(refusal)) = check_url("http://10.0.0.1/", false) else {
            panic!("private accepted");
        };
        assert_eq!(refusal.rule().code(), "private_webhook_target");
        assert!(
            refusal.to_string().contains("--webhook-allow-private"),
            "{refusal}"
        );
    }

    #[test]
    fn only_http_urls_with_a_host_are_destinations() {
        for url in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "gopher://127.0.0.1/",
            "example.com/hook",
            "http://",
            "http://[::1/",
            "http://256.256.256.256/",
        ] {
            assert!(
                matches!(check_url(url, true), Err(UrlError::Invalid(_))),
                "{url}: {:?}",
                check_url(url, true)
            );
        }
        assert_eq!(
            check_url("https://hooks.example.com:8443/x", false),
            Ok(Destination {
                host: DestinationHost::Name("hooks.example.com".into()),
                port: 8443
            })
        );
    }

    /// The class a URL is refused for, `None` when accepted.
    fn refused_class(url: &str) -> Option<TargetClass> {
        match check_url(url, false) {
            Ok(_) => None,
            Err(UrlError::Refused(refusal)) => Some(refusal.class),
            Err(UrlError::Invalid(why)) => panic!("{url}: {why}"),
        }
    }

    proptest::proptest! {
        /// However an IPv4 address is spelled (decimal, octal or hex per part, one
        /// 32-bit number, IPv4-mapped IPv6), it is judged as the address itself.
        #[test]
        fn every_spelling_of_an_address_is_judged_alike(n: u32) {
            let ip = Ipv4Addr::from(n);
            let expected = classify(IpAddr::V4(ip));
            let [a, b, c, d] = ip.octets();
            for url in [
                format!("http://{ip}/"),
                format!("http://{n}/"),
                format!("http://{n:#x}/"),
                format!("http://0{a:o}.0{b:o}.0{c:o}.0{d:o}/"),
                format!("http://{a:#x}.{b:#x}.{c:#x}.{d:#x}/"),
                format!("http://{a}.{}/", (u32::from(b) << 16) | (u32::from(c) << 8) | u32::from(d)),
                format!("http://[::ffff:{ip}]/"),
            ] {
                proptest::prop_assert_eq!(refused_class(&url), expected, "{}", url);
            }
        }
    }

    #[test]
    fn resolved_addresses_are_judged_alone() {
        assert!(check_ip("8.8.8.8".parse().expect("ip"), false).is_ok());
        assert_eq!(
            check_ip("10.1.1.1".parse().expect("ip"), false).map_err(|r| r.class),
            Err(TargetClass::Private)
        );
        assert!(check_ip("10.1.1.1".parse().expect("ip"), true).is_ok());
        assert_eq!(
            check_ip("::ffff:169.254.169.254".parse().expect("ip"), true).map_err(|r| r.class),
            Err(TargetClass::Metadata)
        );
    }
}
