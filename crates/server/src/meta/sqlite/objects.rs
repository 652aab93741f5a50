//! The embedded object index: the `buckets` and `objects` tables. Keys are stored as bytes
//! (BLOB) so that SQLite orders them bytewise, as listings must be.

use std::collections::{BTreeMap, HashSet};

use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, params};

use super::db::{ReadPool, WriteOp, Writer};
use crate::meta::objects::{
    Bucket, IndexError, KeyRange, ListPage, Lister, ObjectIndex, ObjectMeta,
};
use crate::meta::rows::{self, BUCKET_COLUMNS, OBJECT_COLUMNS};

/// The object index in the embedded database.
#[derive(Clone)]
pub struct SqliteObjectIndex {
    writer: Writer,
    readers: ReadPool,
}

impl SqliteObjectIndex {
    /// An index over the database `writer` and `readers` use (opened and migrated by
    /// [`super::db::open`]).
    pub fn new(writer: Writer, readers: ReadPool) -> Self {
        SqliteObjectIndex { writer, readers }
    }
}

/// A write of the index, for the group-commit [`Writer`].
fn op<T, F>(f: F) -> WriteOp<T, IndexError>
where
    F: FnOnce(&rusqlite::Connection) -> Result<T, IndexError> + Send + 'static,
{
    Box::new(f)
}

pub(super) fn json(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_string())
}

/// An object's row; `NoSuchKey`, or `NoSuchBucket` when the bucket is missing too.
fn head_in(conn: &rusqlite::Connection, bucket: &str, key: &str) -> Result<ObjectMeta, IndexError> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?"
        ))?
        .query_row(params![bucket, key.as_bytes()], |r| Ok(rows::object(r)))
        .optional()?;
    match found {
        Some(meta) => meta,
        None => {
            let bucket_exists = conn
                .prepare_cached("SELECT 1 FROM buckets WHERE name = ?")?
                .exists([bucket])?;
            Err(if bucket_exists {
                IndexError::NoSuchKey
            } else {
                IndexError::NoSuchBucket
            })
        }
    }
}

/// The rows of one range of a listing.
fn range_in(
    conn: &rusqlite::Connection,
    bucket: &str,
    range: &KeyRange,
) -> Result<Vec<ObjectMeta>, IndexError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OBJECT_COLUMNS} FROM objects
         WHERE bucket = ? AND key >= ? AND (? IS NULL OR key < ?)
         ORDER BY key LIMIT ?"
    ))?;
    let mut rows = stmt.query(params![
        bucket,
        range.lower,
        range.upper,
        range.upper,
        range.limit as i64
    ])?;
    let mut out = Vec::with_capacity(range.limit.min(64));
    while let Some(row) = rows.next()? {
        out.push(rows::object(row)?);
    }
    Ok(out)
}

/// Makes `row` the row of its key if its bucket exists, answering the blob it replaced
/// (also the object half of a multipart upload's completion).
pub(super) fn upsert_in(
    conn: &rusqlite::Connection,
    row: &ObjectMeta,
) -> Result<Option<String>, IndexError> {
    let key = row.key.as_bytes();
    let old: Option<String> = conn
        .prepare_cached("SELECT blob FROM objects WHERE bucket = ? AND key = ?")?
        .query_row(params![row.bucket, key], |r| r.get(0))
        .optional()?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO objects (bucket, key, blob, size, etag, crc64, content_type,
                                  headers, user_meta, tags, last_modified)
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
             WHERE EXISTS (SELECT 1 FROM buckets WHERE name = ?)
             ON CONFLICT (bucket, key) DO UPDATE SET
                blob = excluded.blob, size = excluded.size, etag = excluded.etag,
                crc64 = excluded.crc64, content_type = excluded.content_type,
                headers = excluded.headers, user_meta = excluded.user_meta,
                tags = excluded.tags, last_modified = excluded.last_modified",
        )?
        .execute(params![
            row.bucket,
            key,
            row.blob,
            row.size as i64,
            row.etag,
            row.crc64.to_string(),
            row.content_type,
            json(&row.headers),
            json(&row.user_meta),
            json(&row.tags),
            row.last_modified,
            row.bucket
        ])?;
    if inserted == 0 {
        return Err(IndexError::NoSuchBucket);
    }
    Ok(old)
}

impl ObjectIndex for SqliteObjectIndex {
    fn insert_bucket<'a>(&'a self, bucket: &'a Bucket) -> BoxFuture<'a, Result<bool, IndexError>> {
        let b = bucket.clone();
        Box::pin(async move {
            let done = self
                .writer
                .write(op(move |conn| {
                    Ok(conn
                        .prepare_cached(
                            "INSERT INTO buckets (name, region, created_at, public_read,
                                                  file_processing)
                             VALUES (?, ?, ?, ?, ?)
                             ON CONFLICT (name) DO NOTHING",
                        )?
                        .execute(params![
                            b.name,
                            b.region,
                            b.created_at,
                            b.public_read,
                            b.file_processing
                        ])?)
                }))
                .await?;
            Ok(done > 0)
        })
    }

    fn set_public_read<'a>(
        &'a self,
        name: &'a str,
        public_read: bool,
    ) -> BoxFuture<'a, Result<(), IndexError>> {
        let name = name.to_string();
        Box::pin(self.writer.write(op(move |conn| {
            conn.prepare_cached("UPDATE buckets SET public_read = ? WHERE name = ?")?
                .execute(params![public_read, name])?;
            Ok(())
        })))
    }

    fn set_file_processing<'a>(
        &'a self,
        name: &'a str,
        on: bool,
    ) -> BoxFuture<'a, Result<(), IndexError>> {
        let name = name.to_string();
        Box::pin(self.writer.write(op(move |conn| {
            let done = conn
                .prepare_cached("UPDATE buckets SET file_processing = ? WHERE name = ?")?
                .execute(params![on, name])?;
            if done == 0 {
                return Err(IndexError::NoSuchBucket);
            }
            Ok(())
        })))
    }

    fn bucket<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Bucket>, IndexError>> {
        // Every request of a bucket asks this: on a blocking thread, one hand-off between
        // threads for the whole read (docs/benchmarks.md, issue 4).
        let name = name.to_string();
        Box::pin(
            self.readers
                .read(move |conn| -> Result<Option<Bucket>, IndexError> {
                    let mut stmt = conn.prepare_cached(&format!(
                        "SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = ?"
                    ))?;
                    let mut rows = stmt.query([&name])?;
                    rows.next()?.map(rows::bucket).transpose()
                }),
        )
    }

    fn buckets(&self) -> BoxFuture<'_, Result<Vec<Bucket>, IndexError>> {
        Box::pin(
            self.readers
                .read(|conn| -> Result<Vec<Bucket>, IndexError> {
                    let mut stmt = conn.prepare_cached(&format!(
                        "SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name"
                    ))?;
                    let mut rows = stmt.query([])?;
                    let mut buckets = Vec::new();
                    while let Some(row) = rows.next()? {
                        buckets.push(rows::bucket(row)?);
                    }
                    Ok(buckets)
                }),
        )
    }

    fn delete_bucket<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), IndexError>> {
        let name = name.to_string();
        Box::pin(self.writer.write(op(move |conn| {
            let has_objects = conn
                .prepare_cached("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1")?
                .exists([&name])?;
            // Uploads in progress are the bucket's too (COS: "file fragments").
            let has_uploads = conn
                .prepare_cached("SELECT 1 FROM uploads WHERE bucket = ? LIMIT 1")?
                .exists([&name])?;
            if has_objects || has_uploads {
                return Err(IndexError::BucketNotEmpty);
            }
            let done = conn
                .prepare_cached("DELETE FROM buckets WHERE name = ?")?
                .execute([&name])?;
            if done == 0 {
                return Err(IndexError::NoSuchBucket);
            }
            Ok(())
        })))
    }

    fn head<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<ObjectMeta, IndexError>> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        Box::pin(self.readers.read(move |conn| head_in(conn, &bucket, &key)))
    }

    fn head_blocking(&self, bucket: &str, key: &str) -> Result<ObjectMeta, IndexError> {
        self.readers.with(|conn| head_in(conn, bucket, key))
    }

    fn upsert<'a>(
        &'a self,
        object: &'a ObjectMeta,
    ) -> BoxFuture<'a, Result<Option<String>, IndexError>> {
        let row = object.clone();
        Box::pin(self.writer.write(op(move |conn| upsert_in(conn, &row))))
    }

    fn remove<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, IndexError>> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        Box::pin(self.writer.write(op(move |conn| {
            let mut stmt = conn.prepare_cached(
                "DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING blob",
            )?;
            let mut rows = stmt.query(params![bucket, key.as_bytes()])?;
            let blob = rows.next()?.map(|r| r.get(0)).transpose()?;
            // Run the statement to its end (it stays active until then).
            while rows.next()?.is_some() {}
            Ok(blob)
        })))
    }

    fn set_user_meta<'a>(
        &'a self,
        object: &'a ObjectMeta,
        name: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), IndexError>> {
        let (bucket, key, blob) = (
            object.bucket.clone(),
            object.key.clone(),
            object.blob.clone(),
        );
        let (name, value) = (name.to_string(), value.to_string());
        Box::pin(self.writer.write(op(move |conn| {
            let current: Option<String> = conn
                .prepare_cached(
                    "SELECT user_meta FROM objects WHERE bucket = ? AND key = ? AND blob = ?",
                )?
                .query_row(params![bucket, key.as_bytes(), blob], |r| r.get(0))
                .optional()?;
            let Some(current) = current else {
                return Err(IndexError::NoSuchKey);
            };
            let mut user_meta: BTreeMap<String, String> =
                serde_json::from_str(&current).unwrap_or_default();
            if user_meta.get(&name).is_some_and(|v| *v == value) {
                return Ok(());
            }
            user_meta.insert(name, value);
            conn.prepare_cached(
                "UPDATE objects SET user_meta = ? WHERE bucket = ? AND key = ? AND blob = ?",
            )?
            .execute(params![json(&user_meta), bucket, key.as_bytes(), blob])?;
            Ok(())
        })))
    }

    fn set_tags<'a>(
        &'a self,
        object: &'a ObjectMeta,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<(), IndexError>> {
        let (bucket, key, blob, tags) = (
            object.bucket.clone(),
            object.key.clone(),
            object.blob.clone(),
            json(tags),
        );
        Box::pin(self.writer.write(op(move |conn| {
            let done = conn
                .prepare_cached(
                    "UPDATE objects SET tags = ? WHERE bucket = ? AND key = ? AND blob = ?",
                )?
                .execute(params![tags, bucket, key.as_bytes(), blob])?;
            if done == 0 {
                return Err(IndexError::NoSuchKey);
            }
            Ok(())
        })))
    }

    fn rewrite_meta<'a>(&'a self, meta: &'a ObjectMeta) -> BoxFuture<'a, Result<(), IndexError>> {
        let meta = meta.clone();
        Box::pin(self.writer.write(op(move |conn| {
            let done = conn
                .prepare_cached(
                    "UPDATE objects SET content_type = ?, headers = ?, user_meta = ?,
                            last_modified = ?
                     WHERE bucket = ? AND key = ? AND blob = ?",
                )?
                .execute(params![
                    meta.content_type,
                    json(&meta.headers),
                    json(&meta.user_meta),
                    meta.last_modified,
                    meta.bucket,
                    meta.key.as_bytes(),
                    meta.blob
                ])?;
            if done == 0 {
                return Err(IndexError::NoSuchKey);
            }
            Ok(())
        })))
    }

    fn list<'a>(
        &'a self,
        bucket: &'a str,
        lister: Lister,
    ) -> BoxFuture<'a, Result<ListPage, IndexError>> {
        let bucket = bucket.to_string();
        Box::pin(self.readers.read(move |conn| {
            // Every range from one snapshot.
            let tx = conn.unchecked_transaction()?;
            let page = lister.drive(|range| range_in(&tx, &bucket, range))?;
            tx.commit()?;
            Ok(page)
        }))
    }

    fn referenced_blobs(&self) -> BoxFuture<'_, Result<HashSet<String>, IndexError>> {
        Box::pin(
            self.readers
                .read(|conn| -> Result<HashSet<String>, IndexError> {
                    let mut stmt = conn.prepare(
                        "SELECT blob FROM objects UNION ALL SELECT blob FROM upload_parts",
                    )?;
                    let blobs = stmt.query_map([], |r| r.get::<_, String>(0))?;
                    Ok(blobs.collect::<Result<_, _>>()?)
                }),
        )
    }
}
