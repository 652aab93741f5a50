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
