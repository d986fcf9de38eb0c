//! Result rows in text format, owned in one buffer: no allocation per row or per field.

/// Marks a NULL field in `Rows::fields`.
const NULL_LEN: u32 = u32::MAX;

/// The rows a query returned. All field bytes live in `data`, copied out of the DataRow
/// messages as they arrive (so the connection's read buffer can be reused at once), and
/// `fields` holds one `(offset, len)` per field, row after row.
#[derive(Debug, Default, Clone)]
pub struct Rows {
    data: Vec<u8>,
    fields: Vec<(u32, u32)>,
    /// Fields per row; every DataRow of one result has the same count.
    columns: usize,
    rows: usize,
}

impl Rows {
    /// Appends one DataRow: `body` is the message body and `ranges` its fields' ranges in it.
    /// Returns false if the row's width differs from earlier rows (a protocol violation).
    pub(crate) fn push_row(
        &mut self,
        body: &[u8],
        ranges: &[Option<std::ops::Range<usize>>],
    ) -> bool {
        if self.rows == 0 {
            self.columns = ranges.len();
        } else if ranges.len() != self.columns {
            return false;
        }
        for range in ranges {
            match range {
                Some(r) => {
                    let offset = self.data.len() as u32;
                    self.data.extend_from_slice(&body[r.clone()]);
                    self.fields.push((offset, r.len() as u32));
                }
                None => self.fields.push((0, NULL_LEN)),
            }
        }
        self.rows += 1;
        true
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Fields per row (0 when there are no rows).
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Row `i`. Panics if `i >= len()`, like slice indexing.
    pub fn row(&self, i: usize) -> Row<'_> {
        assert!(i < self.rows, "row {i} out of {} rows", self.rows);
        let start = i * self.columns;
        Row {
            data: &self.data,
            fields: &self.fields[start..start + self.columns],
        }
    }

    /// Row `i`, or None past the end.
    pub fn get(&self, i: usize) -> Option<Row<'_>> {
        (i < self.rows).then(|| self.row(i))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        (0..self.rows).map(move |i| self.row(i))
    }
}

/// One row, borrowed from `Rows`.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    data: &'a [u8],
    fields: &'a [(u32, u32)],
}

impl<'a> Row<'a> {
    /// The text-format bytes of column `col`; None for NULL or past the last column.
    pub fn get(&self, col: usize) -> Option<&'a [u8]> {
        let &(offset, len) = self.fields.get(col)?;
        if len == NULL_LEN {
            return None;
        }
        Some(&self.data[offset as usize..offset as usize + len as usize])
    }

    /// Column `col` as UTF-8 text; None for NULL, past the end, or invalid UTF-8 (the
    /// connection asks for client_encoding UTF8, so that last case means a bug elsewhere).
    pub fn get_str(&self, col: usize) -> Option<&'a str> {
        std::str::from_utf8(self.get(col)?).ok()
    }

    /// True if column `col` is SQL NULL.
    pub fn is_null(&self, col: usize) -> bool {
        matches!(self.fields.get(col), Some(&(_, NULL_LEN)))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_fields_and_nulls_apart() {
        let mut rows = Rows::default();
        assert!(rows.is_empty());
        let body = b"xxhelloyyworld";
        assert!(rows.push_row(body, &[Some(2..7), None, Some(9..14)]));
        assert!(rows.push_row(b"", &[Some(0..0), None, None]));
        assert!(!rows.push_row(b"", &[None]));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.columns(), 3);
        let r = rows.row(0);
        assert_eq!(r.len(), 3);
        assert_eq!(r.get_str(0), Some("hello"));
        assert_eq!(r.get(1), None);
        assert!(r.is_null(1));
        assert_eq!(r.get(2), Some(&b"world"[..]));
        assert_eq!(r.get(3), None);
        let r = rows.row(1);
        assert_eq!(r.get(0), Some(&b""[..]));
        assert!(!r.is_null(0));
        assert!(r.is_null(2));
        assert_eq!(rows.iter().count(), 2);
        assert!(rows.get(2).is_none());
    }
}
