//! Column access by name, shared by the row mappings of every store: a plain rusqlite row,
//! or one with its statement's column positions looked up once ([`Indexed`]).

use rusqlite::types::FromSql;

use crate::meta::BackendError;

/// A row whose columns are read by name.
pub(crate) trait Columns {
    fn col<T: FromSql>(&self, name: &str) -> Result<T, rusqlite::Error>;
}

/// The backend-neutral mappings (`meta::rows`) read SQLite rows through [`Columns`].
impl<C: Columns> crate::meta::rows::Row for C {
    fn text(&self, name: &str) -> Result<String, BackendError> {
        Ok(self.col(name)?)
    }
    fn text_opt(&self, name: &str) -> Result<Option<String>, BackendError> {
        Ok(self.col(name)?)
    }
    fn int(&self, name: &str) -> Result<i64, BackendError> {
        Ok(self.col(name)?)
    }
    fn int_opt(&self, name: &str) -> Result<Option<i64>, BackendError> {
        Ok(self.col(name)?)
    }
    fn flag(&self, name: &str) -> Result<bool, BackendError> {
        Ok(self.col(name)?)
    }
    fn bytes(&self, name: &str) -> Result<Vec<u8>, BackendError> {
        Ok(self.col(name)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn col<T: FromSql>(&self, name: &str) -> Result<T, rusqlite::Error> {
        self.get(name)
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
    fn col<T: FromSql>(&self, name: &str) -> Result<T, rusqlite::Error> {
        match self.positions.get(name) {
            Some(&i) => self.row.get(i),
            None => self.row.get(name),
        }
    }
}
