//! The PROXY protocol header (HAProxy's, versions 1 and 2) that an L4 load balancer sends
//! before the client's bytes, naming the client's address. Parsing only: which peers may
//! send one is the connection's decision (`trusted_proxies`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::limits::PROXY_HEADER_BYTES_MAX;

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// What the front of a connection says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Not all of the header has arrived.
    Partial,
    /// A whole header of `len` bytes; `source` is the client's address, `None` when the
    /// proxy speaks for itself (version 2 `LOCAL`, version 1 `UNKNOWN`, other families).
    Complete { len: usize, source: Option<IpAddr> },
}

/// Why the front of a connection is not a PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotProxy;

/// Read a PROXY header at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Header, NotProxy> {
    if buf.first() == Some(&b'\r') || buf.is_empty() {
        return parse_v2(buf);
    }
    parse_v1(buf)
}

/// `PROXY TCP4|TCP6|UNKNOWN <src> <dst> <sport> <dport>\r\n` (no more than 107 bytes).
fn parse_v1(buf: &[u8]) -> Result<Header, NotProxy> {
    const PREFIX: &[u8] = b"PROXY ";
    const V1_BYTES_MAX: usize = 107;
    let prefix_len = PREFIX.len().min(buf.len());
    if buf[..prefix_len] != PREFIX[..prefix_len] {
        return Err(NotProxy);
    }
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_BYTES_MAX {
            Err(NotProxy)
        } else {
            Ok(Header::Partial)
        };
    };
    if end + 2 > V1_BYTES_MAX {
        return Err(NotProxy);
    }
    let line = std::str::from_utf8(&buf[PREFIX.len()..end]).map_err(|_| NotProxy)?;
    let mut words = line.split(' ');
    let source = match words.next() {
        Some("UNKNOWN") => None,
        Some(family @ ("TCP4" | "TCP6")) => {
            let fields: Vec<&str> = words.collect();
            let [src, dst, sport, dport] = fields[..] else {
                return Err(NotProxy);
            };
            let src: IpAddr = src.parse().map_err(|_| NotProxy)?;
            let dst: IpAddr = dst.parse().map_err(|_| NotProxy)?;
            let v4 = family == "TCP4";
            if src.is_ipv4() != v4 || dst.is_ipv4() != v4 {
                return Err(NotProxy);
            }
            for port in [sport, dport] {
                port.parse::<u16>().map_err(|_| NotProxy)?;
            }
            Some(src)
        }
        _ => return Err(NotProxy),
    };
    Ok(Header::Complete {
        len: end + 2,
        source,
    })
}

/// The binary version 2: signature, version and command, family, length, addresses, TLVs.
fn parse_v2(buf: &[u8]) -> Result<Header, NotProxy> {
    let signature_len = V2_SIGNATURE.len().min(buf.len());
    if buf[..signature_len] != V2_SIGNATURE[..signature_len] {
        return Err(NotProxy);
    }
    if buf.len() < 16 {
        return Ok(Header::Partial);
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0F);
    if version != 2 || command > 1 {
        return Err(NotProxy);
    }
    let len = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > PROXY_HEADER_BYTES_MAX {
        return Err(NotProxy);
    }
    if buf.len() < len {
        return Ok(Header::Partial);
    }
    let body = &buf[16..len];
    // LOCAL (0): the proxy's own connection (a health check); keep its address.
    let source = match (command, buf[13] >> 4) {
        (0, _) => None,
        (_, 1) if body.len() >= 12 => Some(IpAddr::V4(Ipv4Addr::new(
            body[0], body[1], body[2], body[3],
        ))),
        (_, 2) if body.len() >= 36 => {
            let octets: [u8; 16] = body[..16].try_into().map_err(|_| NotProxy)?;
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        (_, 1 | 2) => return Err(NotProxy),
        // AF_UNSPEC or AF_UNIX: no client address to tell.
        _ => None,
    };
    Ok(Header::Complete { len, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family << 4 | 1);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn version_1_names_the_client() {
        let line = b"PROXY TCP4 203.0.113.7 10.0.0.1 55555 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(line),
            Ok(Header::Complete {
                len: 43,
                source: Some("203.0.113.7".parse().unwrap())
            })
        );
        let v6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 1 2\r\n";
        assert!(matches!(
            parse(v6),
            Ok(Header::Complete {
                source: Some(IpAddr::V6(_)),
                ..
            })
        ));
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Ok(Header::Complete {
                len: 15,
                source: None
            })
        );
        for partial in [&b"PRO"[..], b"PROXY TCP4 203.0", b""] {
            assert_eq!(parse(partial), Ok(Header::Partial), "{partial:?}");
        }
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP4 203.0.113.7 10.0.0.1 55555\r\n",
            b"PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 203.0.113.7 10.0.0.1 70000 443\r\n",
            b"PROXY UDP4 203.0.113.7 10.0.0.1 1 2\r\n",
            b"proxy TCP4 203.0.113.7 10.0.0.1 1 2\r\n",
        ] {
            assert_eq!(parse(bad), Err(NotProxy), "{bad:?}");
        }
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 120]].concat();
        assert_eq!(parse(&long), Err(NotProxy));
    }

    #[test]
    fn version_2_names_the_client_or_the_proxy() {
        let mut inet = vec![198, 51, 100, 9, 10, 0, 0, 1];
        inet.extend_from_slice(&[0xD9, 0x03, 0x01, 0xBB]);
        let header = v2(1, 1, &inet);
        let mut with_request = header.clone();
        with_request.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            parse(&with_request),
            Ok(Header::Complete {
                len: 28,
                source: Some("198.51.100.9".parse().unwrap())
            })
        );
        let mut inet6 = [0u8; 36];
        inet6[15] = 7;
        assert_eq!(
            parse(&v2(1, 2, &inet6)),
            Ok(Header::Complete {
                len: 52,
                source: Some("::7".parse().unwrap())
            })
        );
        assert_eq!(
            parse(&v2(0, 0, &[])),
            Ok(Header::Complete {
                len: 16,
                source: None
            })
        );
        assert_eq!(parse(&header[..20]), Ok(Header::Partial));
        assert_eq!(parse(&header[..5]), Ok(Header::Partial));
        assert_eq!(
            parse(&v2(1, 1, &inet[..4])),
            Err(NotProxy),
            "too short for INET"
        );
        assert_eq!(parse(&v2(2, 1, &inet)), Err(NotProxy), "no such command");
        let huge = v2(1, 1, &[0; PROXY_HEADER_BYTES_MAX]);
        assert_eq!(parse(&huge), Err(NotProxy));
        let mut version_3 = header;
        version_3[12] = 0x31;
        assert_eq!(parse(&version_3), Err(NotProxy));
    }
}
