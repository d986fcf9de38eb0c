//! `application/x-www-form-urlencoded` decoding (the WHATWG URL Standard's serialisation, which
//! RFC 6749 Appendix B adopts): `&`-separated pairs, `=` between name and value, `+` for space,
//! `%XX` for any other byte, and UTF-8 underneath.
//!
//! Token request bodies and the halves of a Basic credential are both encoded this way. Most of
//! them contain neither `%` nor `+`, so [`decode`] returns a borrow and allocates only when a
//! byte actually changes; [`decode_in_place`] never allocates (decoding only shrinks).
//!
//! Unlike the WHATWG parser, which passes a stray `%` through and replaces bad UTF-8, decoding
//! here is strict: an OAuth parameter that does not decode cleanly is an invalid request, not
//! something to guess at.

use std::borrow::Cow;

/// Why a form component did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormError {
    /// `%` not followed by two hex digits.
    InvalidPercent,
    /// The decoded bytes are not UTF-8.
    InvalidUtf8,
}

/// The `name=value` pairs of a form body, raw (still encoded). Empty pairs (`a=1&&b=2`, a
/// trailing `&`) are skipped. A pair without `=` has the value `None`.
pub fn pairs(body: &[u8]) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], Some(&pair[eq + 1..])),
            None => (pair, None),
        })
}

/// Decode one component: borrowed when it has no `%` or `+`, owned otherwise.
pub fn decode(raw: &[u8]) -> Result<Cow<'_, str>, FormError> {
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|_| FormError::InvalidUtf8);
    }
    let mut bytes = raw.to_vec();
    let len = decode_in_place(&mut bytes)?;
    bytes.truncate(len);
    String::from_utf8(bytes)
        .map(Cow::Owned)
        .map_err(|_| FormError::InvalidUtf8)
}

/// Decode `buf` in place; the decoded bytes are `buf[..returned length]`. They are not checked
/// for UTF-8: the caller does that once on what it keeps.
pub fn decode_in_place(buf: &mut [u8]) -> Result<usize, FormError> {
    let mut read = 0;
    let mut write = 0;
    while read < buf.len() {
        let byte = match buf[read] {
            b'+' => b' ',
            b'%' => {
                let high = buf.get(read + 1).copied().and_then(hex_value);
                let low = buf.get(read + 2).copied().and_then(hex_value);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(FormError::InvalidPercent);
                };
                read += 2;
                high << 4 | low
            }
            other => other,
        };
        buf[write] = byte;
        write += 1;
        read += 1;
    }
    Ok(write)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_components_are_borrowed() {
        assert!(matches!(
            decode(b"client_credentials"),
            Ok(Cow::Borrowed("client_credentials"))
        ));
        assert!(matches!(decode(b""), Ok(Cow::Borrowed(""))));
    }

    #[test]
    fn plus_and_percent() {
        assert_eq!(decode(b"read+write").as_deref(), Ok("read write"));
        assert_eq!(decode(b"read%20write").as_deref(), Ok("read write"));
        assert_eq!(decode(b"a%2Bb%2bc").as_deref(), Ok("a+b+c"));
        assert_eq!(decode(b"id%3Awith%3acolon").as_deref(), Ok("id:with:colon"));
        assert_eq!(decode(b"%25%26%3D").as_deref(), Ok("%&="));
        assert!(matches!(decode(b"a+b"), Ok(Cow::Owned(_))));
    }

    #[test]
    fn utf8() {
        assert_eq!(decode(b"caf%C3%A9").as_deref(), Ok("café"));
        assert_eq!(decode("café".as_bytes()).as_deref(), Ok("café"));
        assert_eq!(decode(b"%C3%28"), Err(FormError::InvalidUtf8));
        assert_eq!(decode(b"\xff"), Err(FormError::InvalidUtf8));
        assert_eq!(decode(b"%FF"), Err(FormError::InvalidUtf8));
    }

    #[test]
    fn invalid_percent() {
        for bad in [&b"%zz"[..], b"%", b"%4", b"abc%", b"%4g", b"%%41"] {
            assert_eq!(decode(bad), Err(FormError::InvalidPercent), "{bad:?}");
        }
    }

    #[test]
    fn in_place_shrinks() {
        let mut buf = *b"a%41+b";
        assert_eq!(decode_in_place(&mut buf), Ok(4));
        assert_eq!(&buf[..4], b"aA b");
    }

    #[test]
    fn pairs_split_at_the_first_equals() {
        let got: Vec<_> = pairs(b"a=1&&b=&c&d=x=y&").collect();
        assert_eq!(
            got,
            [
                (&b"a"[..], Some(&b"1"[..])),
                (b"b", Some(b"")),
                (b"c", None),
                (b"d", Some(b"x=y")),
            ]
        );
    }
}
