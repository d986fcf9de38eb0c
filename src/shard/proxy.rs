//! The client's address behind a load balancer: a connection from `trusted_proxies` may
//! begin with a PROXY protocol header (`http::proxy`), which is read here off the socket,
//! exactly and no further, before TLS or HTTP see a byte. From any other peer nothing is
//! read here, and a PROXY header is a malformed request like any other.

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use crate::http::proxy::{self, Header};
use crate::limits;
use crate::shard::Shard;

/// Pause between two looks at a header that has arrived in part (a rare split across
/// segments): the socket stays readable meanwhile, so waiting for readiness would spin.
const PARTIAL_HEADER_PAUSE: Duration = Duration::from_millis(1);

/// The address the connection speaks for: the header's client, the peer itself (no header,
/// or a header for the proxy's own connection), or `None` to close it (a broken header, or
/// none whole within `header_timeout`).
pub async fn client_address(shard: &Shard, stream: &TcpStream, peer: IpAddr) -> Option<IpAddr> {
    let config = &shard.ctx.config;
    if !config
        .trusted_proxies
        .iter()
        .any(|cidr| cidr.contains(peer))
    {
        return Some(peer);
    }
    let deadline = Instant::now() + config.header_timeout;
    let mut buf = vec![0u8; limits::PROXY_HEADER_BYTES_MAX];
    loop {
        let ready = monoio::time::timeout_at(deadline.into(), stream.readable(false)).await;
        if !matches!(ready, Ok(Ok(()))) {
            return None;
        }
        let seen = peek(stream, &mut buf)?;
        if seen == 0 {
            return None; // closed before a byte
        }
        match proxy::parse(&buf[..seen]) {
            Ok(Header::Complete { len, source }) => {
                consume(stream, &mut buf[..len])?;
                return Some(source.unwrap_or(peer));
            }
            // Not a header at all: a trusted proxy may also pass connections through as
            // they are.
            Err(proxy::NotProxy) if !looks_like_header(&buf[..seen]) => return Some(peer),
            Err(proxy::NotProxy) => return None,
            Ok(Header::Partial) if seen == buf.len() => return None,
            Ok(Header::Partial) => monoio::time::sleep(PARTIAL_HEADER_PAUSE).await,
        }
    }
}

/// Begins like a header (`PROXY ` or the version 2 signature's first bytes): a broken one
/// closes the connection instead of reaching HTTP.
fn looks_like_header(buf: &[u8]) -> bool {
    buf.starts_with(b"PROXY") || buf.starts_with(b"\r\n\r\n\0")
}

/// What has arrived, without taking it off the socket.
fn peek(stream: &TcpStream, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes and outlives the call; MSG_DONTWAIT keeps
    // the shard's thread from blocking.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(n).ok()
}

/// Take exactly the header off the socket (it has arrived: it was just seen).
fn consume(stream: &TcpStream, header: &mut [u8]) -> Option<()> {
    // SAFETY: as in `peek`.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            header.as_mut_ptr().cast(),
            header.len(),
            libc::MSG_DONTWAIT,
        )
    };
    (usize::try_from(n).ok() == Some(header.len())).then_some(())
}
