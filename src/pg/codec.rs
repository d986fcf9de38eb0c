//! Framing of backend messages in the connection's one read buffer.
//!
//! "Not enough bytes yet" is `Ok(None)`, not an error. The header is peeked before the body
//! is touched so that a hostile or corrupt length cannot make us buffer without bound.

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;
use postgres_protocol::message::backend::Message;

use super::error::Error;

/// The largest single backend message we accept. A DataRow this big means a query we did
/// not mean to run; a length this big in a corrupt stream must not make us allocate it.
pub(crate) const MESSAGE_BYTES_MAX: usize = 64 << 20;

/// Bytes the read buffer starts with, and the least room we ask a read to fill. Sized for
/// a burst of pipelined replies; it grows only for a larger single message.
pub(crate) const READ_BYTES_MIN: usize = 64 << 10;

/// Initial capacity of each of the connection's two send buffers.
pub(crate) const SEND_BYTES_INITIAL: usize = 64 << 10;

/// Cuts the next complete message off the front of `buf`, or `Ok(None)` if it is not all
/// there yet.
pub fn next_message(buf: &mut BytesMut) -> Result<Option<Message>, Error> {
    if buf.len() >= 5 {
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if len > MESSAGE_BYTES_MAX {
            return Err(Error::protocol("backend message larger than 64 MiB"));
        }
    }
    Message::parse(buf).map_err(|e| Error::protocol_io("malformed backend message", e))
}

/// Reads more bytes onto the end of `buf` (rent-style: the buffer goes into the read and
/// comes back). EOF is `Closed`.
pub(crate) async fn fill<R: AsyncReadRent>(
    reader: &mut R,
    mut buf: BytesMut,
) -> (Result<(), Error>, BytesMut) {
    buf.reserve(READ_BYTES_MIN);
    let len = buf.len();
    let cap = buf.capacity();
    let (res, slice) = reader.read(buf.slice_mut(len..cap)).await;
    let buf = slice.into_inner();
    let res = match res {
        Ok(0) => Err(Error::closed_because("server closed the connection")),
        Ok(_) => Ok(()),
        Err(e) => Err(Error::io("read from server", e)),
    };
    (res, buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn partial_message_is_none_and_complete_one_parses() {
        let mut buf = BytesMut::new();
        assert!(next_message(&mut buf).unwrap().is_none());
        buf.put_slice(&[b'Z', 0, 0, 0, 5]);
        assert!(next_message(&mut buf).unwrap().is_none());
        buf.put_u8(b'I');
        buf.put_slice(&[b'1', 0, 0]);
        assert!(matches!(
            next_message(&mut buf).unwrap(),
            Some(Message::ReadyForQuery(_))
        ));
        assert!(next_message(&mut buf).unwrap().is_none());
        buf.put_slice(&[0, 4]);
        assert!(matches!(
            next_message(&mut buf).unwrap(),
            Some(Message::ParseComplete)
        ));
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_or_bad_length_is_a_protocol_error() {
        for bytes in [&[b'D', 0x7f, 0xff, 0xff, 0xff][..], &[b'D', 0, 0, 0, 2][..]] {
            let mut buf = BytesMut::from(bytes);
            match next_message(&mut buf) {
                Err(e) => assert_eq!(e.kind(), super::super::ErrorKind::Protocol),
                Ok(_) => panic!("accepted a bad length: {bytes:?}"),
            }
        }
    }
}
