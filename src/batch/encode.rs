//! The bytes of a token batch, in the two forms the writer sends.
//!
//! A batch lives in one buffer that *is* the body of
//! `COPY tokens (jti, client_id, scope, issued_at, expires_at) FROM STDIN (FORMAT binary)`:
//! `push` appends each row in its final wire form, so a flush hands the buffer to the
//! connection as it is. For a retry (whose first attempt may have committed) the writer
//! needs `ON CONFLICT (jti) DO NOTHING`, which COPY lacks; `UnnestParams` then re-reads
//! rows out of the same buffer into five binary arrays for an `unnest` insert. A binary
//! COPY field (`i32` length, bytes) is byte for byte a binary array element, so that
//! transcoding is five `memcpy`s per row and no parsing.
//!
//! Both buffers are cleared and reused, never shrunk: in steady state nothing here
//! allocates.

use std::ops::Range;

use crate::pg::oid;

/// One issued token, as `tokens` records it. Borrowed: `push` copies it into the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRow<'a> {
    /// The JWT's `jti`, a UUID's 16 bytes.
    pub jti: [u8; 16],
    pub client_id: &'a str,
    /// Space-separated granted scopes; may be empty (stored as '', not NULL).
    pub scope: &'a str,
    /// Microseconds since the unix epoch (the JWT's `iat`, at full precision).
    pub issued_at_unix_us: i64,
    /// Microseconds since the unix epoch (the JWT's `exp`).
    pub expires_at_unix_us: i64,
}

/// Columns of a token row, in the order of every statement in `batch::sql`.
pub const COLUMNS: usize = 5;

/// Longest `client_id` or `scope` a row may carry. Both arrive in an HTTP body of at most
/// 64 KiB, so a longer one is a bug upstream; the bound also keeps every length within
/// the `i32` the wire format uses.
pub const FIELD_BYTES_MAX: usize = 64 << 10;

/// Microseconds from 1970-01-01 to 2000-01-01 UTC: binary `timestamptz` counts from 2000.
pub const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// Signature, flags (0: no OIDs), header-extension length (0).
const COPY_HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// A field count of -1 ends the data.
const COPY_TRAILER: &[u8; 2] = &[0xff, 0xff];

/// Bytes of a row apart from `client_id` and `scope`: field count (2), five lengths (20),
/// jti (16), two timestamps (16).
pub const ROW_FIXED_BYTES: usize = 2 + 4 * COLUMNS + 16 + 8 + 8;

impl TokenRow<'_> {
    /// What a row must satisfy before it enters a batch. Callers' bugs, not operating
    /// errors: checked with `debug_assert!` on the way in.
    pub fn is_well_formed(&self) -> bool {
        self.jti != [0; 16]
            && !self.client_id.is_empty()
            && self.client_id.len() <= FIELD_BYTES_MAX
            && self.scope.len() <= FIELD_BYTES_MAX
            && !self.client_id.contains('\0')
            && !self.scope.contains('\0')
            && self.issued_at_unix_us <= self.expires_at_unix_us
    }

    /// Bytes `push` appends for this row.
    pub fn encoded_len(&self) -> usize {
        ROW_FIXED_BYTES + self.client_id.len() + self.scope.len()
    }
}

/// The rows of one batch as a binary COPY body, plus where each row starts.
#[derive(Debug)]
pub struct CopyRows {
    /// Header, rows, and the trailer once sealed.
    buf: Vec<u8>,
    /// Offset in `buf` of each row's field count; row `i` ends where `i + 1` starts (or at
    /// the trailer). Lets a retry re-read any sub-range of rows without parsing the rest.
    row_starts: Vec<u32>,
    sealed: bool,
}

impl CopyRows {
    /// Room for `rows` rows of about `row_bytes` each before the first reallocation.
    pub fn with_capacity(rows: usize, row_bytes: usize) -> CopyRows {
        let mut copy = CopyRows {
            buf: Vec::with_capacity(COPY_HEADER.len() + rows * row_bytes + COPY_TRAILER.len()),
            row_starts: Vec::with_capacity(rows),
            sealed: false,
        };
        copy.clear();
        copy
    }

    /// Empties the batch for reuse, keeping its capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(COPY_HEADER);
        self.row_starts.clear();
        self.sealed = false;
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.row_starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.row_starts.is_empty()
    }

    /// Encoded bytes so far (header and rows).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Appends one row in binary COPY form. The hot path: no allocation once the buffer
    /// has grown to a batch's size, no branches beyond the length conversions.
    #[inline]
    pub fn push(&mut self, row: &TokenRow<'_>) {
        debug_assert!(row.is_well_formed(), "malformed token row: {row:?}");
        assert!(!self.sealed, "push into a sealed batch");
        let start = self.buf.len();
        // The limit that makes the `as i32` below exact; one compare per row.
        assert!(row.client_id.len() <= FIELD_BYTES_MAX && row.scope.len() <= FIELD_BYTES_MAX);
        self.row_starts.push(start as u32);
        let buf = &mut self.buf;
        buf.reserve(row.encoded_len());
        buf.extend_from_slice(&(COLUMNS as i16).to_be_bytes());
        buf.extend_from_slice(&16i32.to_be_bytes());
        buf.extend_from_slice(&row.jti);
        buf.extend_from_slice(&(row.client_id.len() as i32).to_be_bytes());
        buf.extend_from_slice(row.client_id.as_bytes());
        buf.extend_from_slice(&(row.scope.len() as i32).to_be_bytes());
        buf.extend_from_slice(row.scope.as_bytes());
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&(row.issued_at_unix_us - PG_EPOCH_OFFSET_US).to_be_bytes());
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&(row.expires_at_unix_us - PG_EPOCH_OFFSET_US).to_be_bytes());
        debug_assert_eq!(self.buf.len() - start, row.encoded_len());
        debug_assert!(
            self.buf.len() <= u32::MAX as usize,
            "batch buffer beyond 4 GiB"
        );
    }

    /// Ends the COPY body (appends the trailer). Idempotent; no row may follow.
    pub fn seal(&mut self) {
        if !self.sealed {
            debug_assert!(self.rows_are_well_formed(), "batch encoding is corrupt");
            self.buf.extend_from_slice(COPY_TRAILER);
            self.sealed = true;
        }
    }

    /// The whole COPY body, for `copy_in`. Only a sealed batch is a complete body.
    pub fn copy_data(&self) -> &[u8] {
        assert!(self.sealed, "copy_data of an unsealed batch");
        &self.buf
    }

    /// Row `i`'s five fields, each as its wire encoding (`i32` length, then the bytes).
    pub fn row_fields(&self, i: usize) -> [&[u8]; COLUMNS] {
        let start = self.row_starts[i] as usize;
        let end = match self.row_starts.get(i + 1) {
            Some(&next) => next as usize,
            None if self.sealed => self.buf.len() - COPY_TRAILER.len(),
            None => self.buf.len(),
        };
        let row = &self.buf[start..end];
        debug_assert_eq!(&row[..2], &(COLUMNS as i16).to_be_bytes());
        let mut fields = [&row[0..0]; COLUMNS];
        let mut at = 2;
        for field in &mut fields {
            let len = i32::from_be_bytes([row[at], row[at + 1], row[at + 2], row[at + 3]]);
            // We never write NULL: every column is present.
            debug_assert!(len >= 0, "NULL field in a token row");
            let end = at + 4 + len as usize;
            *field = &row[at..end];
            at = end;
        }
        debug_assert_eq!(at, row.len(), "row {i} has bytes past its fifth field");
        fields
    }

    /// Row `i`'s jti and client_id, for logging a rejected row (no secrets in either).
    pub fn row_ids(&self, i: usize) -> ([u8; 16], &str) {
        let fields = self.row_fields(i);
        let mut jti = [0; 16];
        jti.copy_from_slice(&fields[0][4..]);
        // Written from a `&str`, so it is UTF-8; fall back rather than panic in a log path.
        let client_id = std::str::from_utf8(&fields[1][4..]).unwrap_or("<invalid utf-8>");
        (jti, client_id)
    }

    /// Walks every row: true when the buffer is exactly header + well-formed rows. Debug
    /// builds check this when a batch is sealed, the "encoded" side of the pair assertion.
    fn rows_are_well_formed(&self) -> bool {
        if self.buf.get(..COPY_HEADER.len()) != Some(&COPY_HEADER[..]) {
            return false;
        }
        (0..self.len()).all(|i| {
            let f = self.row_fields(i);
            f[0].len() == 4 + 16 && f[1].len() > 4 && f[3].len() == 12 && f[4].len() == 12
        })
    }
}

/// A range of a batch's rows as five binary arrays, the parameters of
/// `batch::sql::INSERT_UNNEST`. Owned by one writer task and reused for every retry.
#[derive(Debug, Default)]
pub struct UnnestParams {
    columns: [Vec<u8>; COLUMNS],
}

/// Element type of each column's array, in `COLUMNS` order.
const ELEMENT_OIDS: [u32; COLUMNS] = [
    oid::UUID,
    oid::TEXT,
    oid::TEXT,
    oid::TIMESTAMPTZ,
    oid::TIMESTAMPTZ,
];

/// Binary array header: ndim, has-nulls flag, element type, then per dimension its length
/// and lower bound.
const ARRAY_HEADER_BYTES: usize = 20;

impl UnnestParams {
    /// Replaces the arrays with rows `range` of `rows`.
    pub fn encode(&mut self, rows: &CopyRows, range: Range<usize>) {
        assert!(
            !range.is_empty() && range.end <= rows.len(),
            "bad row range {range:?}"
        );
        let count = range.len() as i32;
        for (column, &element_oid) in self.columns.iter_mut().zip(&ELEMENT_OIDS) {
            column.clear();
            column.extend_from_slice(&1i32.to_be_bytes());
            column.extend_from_slice(&0i32.to_be_bytes());
            column.extend_from_slice(&element_oid.to_be_bytes());
            column.extend_from_slice(&count.to_be_bytes());
            column.extend_from_slice(&1i32.to_be_bytes());
            debug_assert_eq!(column.len(), ARRAY_HEADER_BYTES);
        }
        for i in range {
            for (column, field) in self.columns.iter_mut().zip(rows.row_fields(i)) {
                column.extend_from_slice(field);
            }
        }
    }

    /// The five parameters, in binary format.
    pub fn params(&self) -> [Option<&[u8]>; COLUMNS] {
        let [a, b, c, d, e] = &self.columns;
        [Some(a), Some(b), Some(c), Some(d), Some(e)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u8) -> TokenRow<'static> {
        TokenRow {
            jti: [n; 16],
            client_id: "svc-a",
            scope: "read write",
            issued_at_unix_us: PG_EPOCH_OFFSET_US + 1,
            expires_at_unix_us: PG_EPOCH_OFFSET_US + 3_600_000_001,
        }
    }

    #[test]
    fn copy_body_is_header_rows_trailer() {
        let mut rows = CopyRows::with_capacity(2, 64);
        rows.push(&row(1));
        rows.push(&row(2));
        rows.seal();
        let data = rows.copy_data();
        assert_eq!(&data[..19], COPY_HEADER);
        assert_eq!(&data[data.len() - 2..], &[0xff, 0xff]);
        assert_eq!(data.len(), 19 + 2 * row(1).encoded_len() + 2);
        let f = rows.row_fields(1);
        assert_eq!(f[0], &[&[0, 0, 0, 16][..], &[2; 16]].concat()[..]);
        assert_eq!(f[1], b"\0\0\0\x05svc-a");
        assert_eq!(f[2], b"\0\0\0\x0aread write");
        // 1 µs after 2000-01-01 is PG timestamptz 1.
        assert_eq!(f[3], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(rows.row_ids(0), ([1; 16], "svc-a"));
    }

    #[test]
    fn clear_keeps_capacity_and_restarts_at_the_header() {
        let mut rows = CopyRows::with_capacity(4, 64);
        for n in 1..=4 {
            rows.push(&row(n));
        }
        rows.seal();
        let cap = rows.buf.capacity();
        rows.clear();
        assert!(rows.is_empty());
        assert_eq!(rows.bytes(), 19);
        assert_eq!(rows.buf.capacity(), cap);
        rows.push(&row(9));
        assert_eq!(rows.row_ids(0).0, [9; 16]);
    }

    #[test]
    fn unnest_arrays_hold_exactly_the_range() {
        let mut rows = CopyRows::with_capacity(3, 64);
        for n in 1..=3 {
            rows.push(&row(n));
        }
        rows.seal();
        let mut p = UnnestParams::default();
        p.encode(&rows, 1..3);
        let [jti, client, ..] = p.params();
        let jti = jti.unwrap();
        assert_eq!(&jti[..4], &1i32.to_be_bytes()); // one dimension
        assert_eq!(&jti[8..12], &oid::UUID.to_be_bytes());
        assert_eq!(&jti[12..16], &2i32.to_be_bytes()); // two elements
        assert_eq!(jti.len(), ARRAY_HEADER_BYTES + 2 * 20);
        assert_eq!(
            &jti[ARRAY_HEADER_BYTES + 4..ARRAY_HEADER_BYTES + 20],
            &[2; 16]
        );
        assert_eq!(client.unwrap().len(), ARRAY_HEADER_BYTES + 2 * 9);
    }

    #[test]
    fn well_formedness() {
        assert!(row(1).is_well_formed());
        assert!(
            !TokenRow {
                jti: [0; 16],
                ..row(1)
            }
            .is_well_formed()
        );
        assert!(
            !TokenRow {
                client_id: "",
                ..row(1)
            }
            .is_well_formed()
        );
        assert!(
            !TokenRow {
                expires_at_unix_us: 0,
                ..row(1)
            }
            .is_well_formed()
        );
    }
}
