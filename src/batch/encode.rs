//! The bytes of a token batch: five binary arrays, the parameters of the `unnest` insert.
//!
//! A batch lives in `ArrayRows`: one buffer per column, each already a binary array
//! (`i32` ndim, flags, element type, length, lower bound, then one `i32` length + bytes per
//! element). `push` appends each row's five fields in their final wire form, and sealing
//! patches the element count into the five headers, so a flush hands the buffers to the
//! connection as they are. A retry of part of a batch (bisecting a poison row) copies the
//! range's contiguous slice of each column behind a fresh header (`UnnestParams`): five
//! `memcpy`s per range, not per row.
//!
//! Why arrays and not a binary COPY body: `INSERT ... SELECT FROM unnest(...)` with binary
//! arrays wrote more rows/s than binary COPY (docs/MEASUREMENTS.md), and unlike COPY it can
//! be one statement with the write's record in `token_writes`, which makes retries
//! idempotent.
//!
//! Buffers are cleared and reused, never shrunk: in steady state nothing here allocates.
use std::ops::Range;

use crate::limits;
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

// A row's fields come from a request body (a requested scope), a client's registration (its
// id and scopes) or both: each is bounded below the field bound, so `push`'s assertion
// (which would abort the process) can never fire on what a client sends.
const _: () = assert!(limits::BODY_BYTES_MAX <= FIELD_BYTES_MAX);
const _: () = assert!(limits::SCOPES_BYTES_MAX <= FIELD_BYTES_MAX);
const _: () = assert!(limits::CLIENT_ID_BYTES_MAX <= FIELD_BYTES_MAX);

/// Microseconds from 1970-01-01 to 2000-01-01 UTC: binary `timestamptz` counts from 2000.
pub const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// Bytes of a row apart from `client_id` and `scope`: five lengths (20), jti (16), two
/// timestamps (16).
pub const ROW_FIXED_BYTES: usize = 4 * COLUMNS + 16 + 8 + 8;

/// Binary array header: ndim, has-nulls flag, element type, then per dimension its length
/// and lower bound.
pub const ARRAY_HEADER_BYTES: usize = 20;
/// Where the element count sits in the header.
const ARRAY_COUNT_AT: usize = 12;

/// Element type of each column's array, in `COLUMNS` order.
const ELEMENT_OIDS: [u32; COLUMNS] = [
    oid::UUID,
    oid::TEXT,
    oid::TEXT,
    oid::TIMESTAMPTZ,
    oid::TIMESTAMPTZ,
];

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

    /// Bytes `push` appends for this row, over all five columns.
    pub fn encoded_len(&self) -> usize {
        ROW_FIXED_BYTES + self.client_id.len() + self.scope.len()
    }
}

/// Writes a one-dimensional array header with element type `element_oid` and `count`.
fn put_array_header(column: &mut Vec<u8>, element_oid: u32, count: u32) {
    column.extend_from_slice(&1i32.to_be_bytes());
    column.extend_from_slice(&0i32.to_be_bytes());
    column.extend_from_slice(&element_oid.to_be_bytes());
    column.extend_from_slice(&count.to_be_bytes());
    column.extend_from_slice(&1i32.to_be_bytes());
}

/// The rows of one batch as five binary arrays, plus where each row ends in each.
#[derive(Debug)]
pub struct ArrayRows {
    /// Header (count patched when sealed), then the elements.
    columns: [Vec<u8>; COLUMNS],
    /// `ends[i][c]`: offset in column `c` just past row `i`'s element. Row `i` spans
    /// `ends[i - 1][c]..ends[i][c]` (from the header's end for row 0), so any range of rows
    /// is one contiguous slice per column.
    ends: Vec<[u32; COLUMNS]>,
    sealed: bool,
}

impl ArrayRows {
    /// Room for `rows` rows of about `variable_bytes` of client_id + scope each before the
    /// first reallocation.
    pub fn with_capacity(rows: usize, variable_bytes: usize) -> ArrayRows {
        // Per column: the header plus its share of each row (length prefix + data).
        let per_row = [
            4 + 16,
            4 + variable_bytes / 2,
            4 + variable_bytes / 2,
            4 + 8,
            4 + 8,
        ];
        let mut array = ArrayRows {
            columns: per_row.map(|bytes| Vec::with_capacity(ARRAY_HEADER_BYTES + rows * bytes)),
            ends: Vec::with_capacity(rows),
            sealed: false,
        };
        array.clear();
        array
    }

    /// Empties the batch for reuse, keeping its capacity.
    pub fn clear(&mut self) {
        for (column, &element_oid) in self.columns.iter_mut().zip(&ELEMENT_OIDS) {
            column.clear();
            put_array_header(column, element_oid, 0);
        }
        self.ends.clear();
        self.sealed = false;
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Encoded bytes so far, over all five columns (headers included).
    pub fn bytes(&self) -> usize {
        self.columns.iter().map(Vec::len).sum()
    }

    /// Appends one row, each field to its column as a binary array element. The hot path:
    /// no allocation once the buffers have grown to a batch's size.
    #[inline]
    pub fn push(&mut self, row: &TokenRow<'_>) {
        debug_assert!(row.is_well_formed(), "malformed token row: {row:?}");
        assert!(!self.sealed, "push into a sealed batch");
        // The limit that makes the `as i32` below exact; one compare per row.
        assert!(row.client_id.len() <= FIELD_BYTES_MAX && row.scope.len() <= FIELD_BYTES_MAX);
        let before = self.bytes();
        let [jti, client_id, scope, issued_at, expires_at] = &mut self.columns;
        jti.extend_from_slice(&16i32.to_be_bytes());
        jti.extend_from_slice(&row.jti);
        put_text(client_id, row.client_id);
        put_text(scope, row.scope);
        put_timestamp(issued_at, row.issued_at_unix_us);
        put_timestamp(expires_at, row.expires_at_unix_us);
        self.ends
            .push(self.columns.each_ref().map(|c| c.len() as u32));
        debug_assert_eq!(self.bytes() - before, row.encoded_len());
        debug_assert!(self.columns.iter().all(|c| c.len() <= u32::MAX as usize));
    }

    /// Writes the element count into the five headers: the batch is then five complete
    /// arrays. Idempotent; no row may follow.
    pub fn seal(&mut self) {
        if self.sealed {
            return;
        }
        debug_assert!(self.rows_are_well_formed(), "batch encoding is corrupt");
        let count = (self.len() as u32).to_be_bytes();
        for column in &mut self.columns {
            column[ARRAY_COUNT_AT..ARRAY_COUNT_AT + 4].copy_from_slice(&count);
        }
        self.sealed = true;
    }

    /// The whole batch as the five parameters of an `unnest` insert, in binary format.
    pub fn params(&self) -> [Option<&[u8]>; COLUMNS] {
        assert!(self.sealed, "params of an unsealed batch");
        self.columns.each_ref().map(|c| Some(&c[..]))
    }

    /// The jti of row `row`: its 16 bytes, without the element's length.
    pub fn jti(&self, row: usize) -> &[u8] {
        &self.elements(0, row..row + 1)[4..]
    }

    /// The bytes of rows `range` in column `c`: their elements, back to back.
    fn elements(&self, c: usize, range: Range<usize>) -> &[u8] {
        let start = match range.start {
            0 => ARRAY_HEADER_BYTES,
            i => self.ends[i - 1][c] as usize,
        };
        let end = self.ends[range.end - 1][c] as usize;
        &self.columns[c][start..end]
    }

    /// Row `i`'s jti and client_id, for logging a rejected row (no secrets in either).
    pub fn row_ids(&self, i: usize) -> ([u8; 16], &str) {
        let mut jti = [0; 16];
        jti.copy_from_slice(&self.elements(0, i..i + 1)[4..]);
        // Written from a `&str`, so it is UTF-8; fall back rather than panic in a log path.
        let client_id =
            std::str::from_utf8(&self.elements(1, i..i + 1)[4..]).unwrap_or("<invalid utf-8>");
        (jti, client_id)
    }

    /// Walks every element of every column: true when each holds exactly its rows' fields
    /// with lengths that add up. Debug builds check this when a batch is sealed, the
    /// "encoded" side of the pair assertion on rows.
    fn rows_are_well_formed(&self) -> bool {
        (0..COLUMNS).all(|c| {
            let fixed = [16, -1, -1, 8, 8][c];
            (0..self.len()).all(|i| {
                let e = self.elements(c, i..i + 1);
                let len = i32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                e.len() == 4 + len as usize && (fixed < 0 || len == fixed) && (c != 1 || len > 0)
            })
        })
    }
}

fn put_text(column: &mut Vec<u8>, text: &str) {
    column.extend_from_slice(&(text.len() as i32).to_be_bytes());
    column.extend_from_slice(text.as_bytes());
}

fn put_timestamp(column: &mut Vec<u8>, unix_us: i64) {
    column.extend_from_slice(&8i32.to_be_bytes());
    column.extend_from_slice(&(unix_us - PG_EPOCH_OFFSET_US).to_be_bytes());
}

/// A range of a batch's rows as five binary arrays, for retrying part of a batch. Owned by
/// one writer task and reused for every partial retry.
#[derive(Debug, Default)]
pub struct UnnestParams {
    columns: [Vec<u8>; COLUMNS],
}

impl UnnestParams {
    /// Replaces the arrays with rows `range` of `rows`: a header and one slice per column.
    pub fn encode(&mut self, rows: &ArrayRows, range: Range<usize>) {
        assert!(
            !range.is_empty() && range.end <= rows.len(),
            "bad row range {range:?}"
        );
        for (c, column) in self.columns.iter_mut().enumerate() {
            column.clear();
            put_array_header(column, ELEMENT_OIDS[c], range.len() as u32);
            column.extend_from_slice(rows.elements(c, range.clone()));
        }
    }

    /// The five parameters, in binary format.
    pub fn params(&self) -> [Option<&[u8]>; COLUMNS] {
        self.columns.each_ref().map(|c| Some(&c[..]))
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

    fn batch(n: u8) -> ArrayRows {
        let mut rows = ArrayRows::with_capacity(n as usize, 16);
        for i in 1..=n {
            rows.push(&row(i));
        }
        rows.seal();
        rows
    }

    #[test]
    fn sealed_batch_is_five_complete_arrays() {
        let rows = batch(2);
        let [jti, client, scope, issued, _] = rows.params().map(Option::unwrap);
        assert_eq!(&jti[..4], &1i32.to_be_bytes()); // one dimension
        assert_eq!(&jti[8..12], &oid::UUID.to_be_bytes());
        assert_eq!(&jti[12..16], &2u32.to_be_bytes()); // two elements
        assert_eq!(&jti[16..20], &1i32.to_be_bytes()); // lower bound 1
        assert_eq!(&jti[20..24], &16i32.to_be_bytes());
        assert_eq!(&jti[24..40], &[1; 16]);
        assert_eq!(jti.len(), ARRAY_HEADER_BYTES + 2 * 20);
        assert_eq!(
            &client[ARRAY_HEADER_BYTES..],
            b"\0\0\0\x05svc-a\0\0\0\x05svc-a"
        );
        assert_eq!(scope.len(), ARRAY_HEADER_BYTES + 2 * 14);
        assert_eq!(&issued[8..12], &oid::TIMESTAMPTZ.to_be_bytes());
        // 1 µs after 2000-01-01 is PG timestamptz 1.
        assert_eq!(&issued[20..32], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            rows.bytes(),
            5 * ARRAY_HEADER_BYTES + 2 * row(1).encoded_len()
        );
        assert_eq!(rows.row_ids(1), ([2; 16], "svc-a"));
    }

    #[test]
    fn clear_keeps_capacity_and_restarts_at_the_headers() {
        let mut rows = batch(4);
        let caps = rows.columns.each_ref().map(Vec::capacity);
        rows.clear();
        assert!(rows.is_empty());
        assert_eq!(rows.bytes(), 5 * ARRAY_HEADER_BYTES);
        assert_eq!(rows.columns.each_ref().map(Vec::capacity), caps);
        rows.push(&row(9));
        assert_eq!(rows.row_ids(0).0, [9; 16]);
    }

    #[test]
    fn a_range_is_a_header_and_its_slice_of_each_column() {
        let rows = batch(3);
        let mut p = UnnestParams::default();
        p.encode(&rows, 1..3);
        let [jti, client, ..] = p.params().map(Option::unwrap);
        assert_eq!(&jti[12..16], &2u32.to_be_bytes());
        assert_eq!(jti.len(), ARRAY_HEADER_BYTES + 2 * 20);
        assert_eq!(
            &jti[ARRAY_HEADER_BYTES + 4..ARRAY_HEADER_BYTES + 20],
            &[2; 16]
        );
        assert_eq!(&jti[ARRAY_HEADER_BYTES + 24..], &[3; 16]);
        assert_eq!(client.len(), ARRAY_HEADER_BYTES + 2 * 9);
        // The whole range equals the sealed batch itself.
        p.encode(&rows, 0..3);
        assert_eq!(p.params(), rows.params());
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
