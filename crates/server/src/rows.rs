//! Column access shared by the async reads (sqlx) and the reads and writes on plain threads
//! (rusqlite: the group-commit writer, the job workers), so that each kind of row is mapped
//! in one place whichever driver read it.

/// A column could not be read; converts into each store's error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ColumnError {
    #[error("{0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
}

/// A row of either driver.
pub(crate) trait Columns {
    fn col<T: ColumnType>(&self, name: &str) -> Result<T, ColumnError>;
}

/// The column types the stores read.
pub(crate) trait ColumnType:
    for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + rusqlite::types::FromSql
{
}
impl ColumnType for String {}
impl ColumnType for Option<String> {}
impl ColumnType for Vec<u8> {}
impl ColumnType for i64 {}
impl ColumnType for Option<i64> {}
impl ColumnType for bool {}

impl Columns for sqlx::sqlite::SqliteRow {
    fn col<T: ColumnType>(&self, name: &str) -> Result<T, ColumnError> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn col<T: ColumnType>(&self, name: &str) -> Result<T, ColumnError> {
        Ok(self.get(name)?)
    }
}

/// A rusqlite row with its statement's column positions looked up once: `Row::get` by name
/// compares the name with every column's (case-insensitively) on each call, which for a
/// lookup of 100 detections was a tenth of the server's time.
pub(crate) struct Indexed<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    positions: &'a std::collections::HashMap<String, usize>,
}

/// The column positions of `stmt`, for [`Indexed`].
pub(crate) fn positions(
    stmt: &rusqlite::Statement<'_>,
) -> std::collections::HashMap<String, usize> {
    stmt.column_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name.to_string(), i))
        .collect()
}

impl<'a, 'r> Indexed<'a, 'r> {
    pub(crate) fn new(
        row: &'a rusqlite::Row<'r>,
        positions: &'a std::collections::HashMap<String, usize>,
    ) -> Self {
        Indexed { row, positions }
    }
}

impl Columns for Indexed<'_, '_> {
    fn col<T: ColumnType>(&self, name: &str) -> Result<T, ColumnError> {
        match self.positions.get(name) {
            Some(&i) => Ok(self.row.get(i)?),
            None => Ok(self.row.get(name)?),
        }
    }
}
