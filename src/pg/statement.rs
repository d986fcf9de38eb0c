//! Statements known at compile time, prepared lazily once per connection.

/// A named statement. The connection remembers which names it has prepared, and the first
/// request using one pipelines `Parse` in front of its `Bind`, so preparing costs no extra
/// round trip. Names must be unique across the program: two statements sharing a name on
/// one connection would execute whichever was prepared first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    /// The server-side prepared statement name (must not be empty: the unnamed statement
    /// is replaced by every Parse and could not be reused).
    pub name: &'static str,
    pub sql: &'static str,
    /// Parameter type OIDs; 0 (or a shorter list) lets the server infer the type.
    pub param_types: &'static [u32],
}

impl Statement {
    pub const fn new(name: &'static str, sql: &'static str, param_types: &'static [u32]) -> Self {
        assert!(!name.is_empty(), "statement names must not be empty");
        Statement {
            name,
            sql,
            param_types,
        }
    }
}

/// Type OIDs for `Statement::param_types`.
pub mod oid {
    pub const UNKNOWN: u32 = 0;
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const INT8: u32 = 20;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const UUID: u32 = 2950;
    pub const TEXT_ARRAY: u32 = 1009;
    pub const UUID_ARRAY: u32 = 2951;
    pub const TIMESTAMPTZ_ARRAY: u32 = 1185;
}
