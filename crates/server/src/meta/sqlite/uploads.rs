//! The embedded upload index: the `uploads` and `upload_parts` tables (migration 0009).

use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, params};

use super::db::{ReadPool, WriteError, WriteOp, Writer};
use super::objects::{json, upsert_in};
use crate::meta::BackendError;
use crate::meta::objects::{IndexError, ObjectMeta};
use crate::meta::rows::{self, UPLOAD_COLUMNS};
use crate::meta::uploads::{Completed, Part, Upload, UploadError, UploadIndex, UploadRange};

/// The upload index in the embedded database.
#[derive(Clone)]
pub struct SqliteUploads {
    writer: Writer,
    readers: ReadPool,
}

impl SqliteUploads {
    pub fn new(writer: Writer, readers: ReadPool) -> Self {
        SqliteUploads { writer, readers }
    }
}

impl From<rusqlite::Error> for UploadError {
    fn from(e: rusqlite::Error) -> Self {
        UploadError::Backend(e.into())
    }
}

impl From<super::db::ReadStopped> for UploadError {
    fn from(e: super::db::ReadStopped) -> Self {
        UploadError::Backend(e.into())
    }
}

impl From<WriteError> for UploadError {
    fn from(e: WriteError) -> Self {
        UploadError::Backend(BackendError::new(e.to_string()))
    }
}

fn op<T, F>(f: F) -> WriteOp<T, UploadError>
where
    F: FnOnce(&rusqlite::Connection) -> Result<T, UploadError> + Send + 'static,
{
    Box::new(f)
}

fn exists(conn: &rusqlite::Connection, upload_id: &str) -> Result<bool, UploadError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM uploads WHERE upload_id = ?")?
        .exists([upload_id])?)
}

/// Deletes an upload's parts and the upload, answering the parts' blobs.
fn delete_upload(conn: &rusqlite::Connection, upload_id: &str) -> Result<Vec<String>, UploadError> {
    let mut blobs = Vec::new();
    {
        let mut stmt =
            conn.prepare_cached("DELETE FROM upload_parts WHERE upload_id = ? RETURNING blob")?;
        let mut rows = stmt.query([upload_id])?;
        while let Some(r) = rows.next()? {
            blobs.push(r.get(0)?);
        }
    }
    conn.prepare_cached("DELETE FROM uploads WHERE upload_id = ?")?
        .execute([upload_id])?;
    Ok(blobs)
}

impl UploadIndex for SqliteUploads {
    fn create<'a>(&'a self, upload: &'a Upload) -> BoxFuture<'a, Result<(), UploadError>> {
        let u = upload.clone();
        Box::pin(self.writer.write(op(move |conn| {
            let done = conn
                .prepare_cached(
                    "INSERT INTO uploads (upload_id, bucket, key, initiated, content_type,
                                          headers, user_meta, tags)
                     SELECT ?, ?, ?, ?, ?, ?, ?, ?
                     WHERE EXISTS (SELECT 1 FROM buckets WHERE name = ?)",
                )?
                .execute(params![
                    u.upload_id,
                    u.bucket,
                    u.key.as_bytes(),
                    u.initiated,
                    u.content_type,
                    json(&u.headers),
                    json(&u.user_meta),
                    json(&u.tags),
                    u.bucket
                ])?;
            if done == 0 {
                return Err(UploadError::NoSuchBucket);
            }
            Ok(())
        })))
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Upload, UploadError>> {
        let (bucket, key, id) = (bucket.to_string(), key.to_string(), upload_id.to_string());
        Box::pin(self.readers.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads
                 WHERE upload_id = ? AND bucket = ? AND key = ?"
            ))?
            .query_row(params![id, bucket, key.as_bytes()], |r| Ok(rows::upload(r)))
            .optional()?
            .unwrap_or(Err(UploadError::NoSuchUpload))
        }))
    }

    fn put_part<'a>(
        &'a self,
        upload_id: &'a str,
        part: &'a Part,
    ) -> BoxFuture<'a, Result<Option<String>, UploadError>> {
        let (id, p) = (upload_id.to_string(), part.clone());
        Box::pin(self.writer.write(op(move |conn| {
            if !exists(conn, &id)? {
                return Err(UploadError::NoSuchUpload);
            }
            let old: Option<String> = conn
                .prepare_cached(
                    "SELECT blob FROM upload_parts WHERE upload_id = ? AND part_number = ?",
                )?
                .query_row(params![id, p.number], |r| r.get(0))
                .optional()?;
            conn.prepare_cached(
                "INSERT INTO upload_parts (upload_id, part_number, blob, size, etag, crc64,
                                           last_modified)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (upload_id, part_number) DO UPDATE SET
                    blob = excluded.blob, size = excluded.size, etag = excluded.etag,
                    crc64 = excluded.crc64, last_modified = excluded.last_modified",
            )?
            .execute(params![
                id,
                p.number,
                p.blob,
                p.size as i64,
                p.etag,
                p.crc64.to_string(),
                p.last_modified
            ])?;
            Ok(old)
        })))
    }

    fn parts<'a>(
        &'a self,
        upload_id: &'a str,
        after: u32,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Part>, UploadError>> {
        let id = upload_id.to_string();
        Box::pin(self.readers.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT part_number, blob, size, etag, crc64, last_modified FROM upload_parts
                 WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
            )?;
            let mut rows = stmt.query(params![id, after, limit as i64])?;
            let mut parts = Vec::new();
            while let Some(r) = rows.next()? {
                parts.push(rows::part(r)?);
            }
            Ok(parts)
        }))
    }

    fn list<'a>(
        &'a self,
        bucket: &'a str,
        range: &'a UploadRange,
    ) -> BoxFuture<'a, Result<Vec<Upload>, UploadError>> {
        let (bucket, range) = (bucket.to_string(), range.clone());
        Box::pin(self.readers.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads
                 WHERE bucket = ? AND (key, upload_id) > (?, ?) AND (? IS NULL OR key < ?)
                 ORDER BY key, upload_id LIMIT ?"
            ))?;
            let mut rows = stmt.query(params![
                bucket,
                range.after_key,
                range.after_id,
                range.upper,
                range.upper,
                range.limit as i64
            ])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(rows::upload(r)?);
            }
            Ok(out)
        }))
    }

    fn complete<'a>(
        &'a self,
        upload_id: &'a str,
        object: &'a ObjectMeta,
    ) -> BoxFuture<'a, Result<Completed, UploadError>> {
        let (id, row) = (upload_id.to_string(), object.clone());
        Box::pin(self.writer.write(op(move |conn| {
            if !exists(conn, &id)? {
                return Err(UploadError::NoSuchUpload);
            }
            let parts = delete_upload(conn, &id)?;
            // A statement error rolls the whole write back (the writer's transaction), so
            // the upload is deleted only together with the new row.
            let replaced = upsert_in(conn, &row).map_err(|e| match e {
                IndexError::NoSuchBucket => UploadError::NoSuchBucket,
                IndexError::Backend(b) => UploadError::Backend(b),
                other => UploadError::Backend(BackendError::new(other.to_string())),
            })?;
            Ok(Completed { replaced, parts })
        })))
    }

    fn abort<'a>(&'a self, upload_id: &'a str) -> BoxFuture<'a, Result<Vec<String>, UploadError>> {
        let id = upload_id.to_string();
        Box::pin(self.writer.write(op(move |conn| {
            if !exists(conn, &id)? {
                return Err(UploadError::NoSuchUpload);
            }
            delete_upload(conn, &id)
        })))
    }

    fn initiated_before(
        &self,
        before: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Upload>, UploadError>> {
        Box::pin(self.readers.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE initiated < ?
                 ORDER BY initiated LIMIT ?"
            ))?;
            let mut rows = stmt.query(params![before, limit as i64])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(rows::upload(r)?);
            }
            Ok(out)
        }))
    }
}
