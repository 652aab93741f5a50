//! The upload index on PostgreSQL: the `uploads` and `upload_parts` tables. Several nodes
//! may receive parts of one upload while another completes or aborts it: a part's write
//! holds the upload's row FOR SHARE and a completion or abort FOR UPDATE, so a part is
//! either in the completed object's list or refused with `NoSuchUpload`, never orphaned
//! in a row that no upload owns.

use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool};

use super::objects::{json, upsert_in};
use crate::meta::BackendError;
use crate::meta::objects::{IndexError, ObjectMeta};
use crate::meta::rows::{self, UPLOAD_COLUMNS};
use crate::meta::uploads::{Completed, Part, Upload, UploadError, UploadIndex, UploadRange};

/// The upload index in a PostgreSQL database.
#[derive(Clone)]
pub struct PgUploads {
    pool: PgPool,
}

impl PgUploads {
    /// The index over a migrated database.
    pub fn new(pool: PgPool) -> Self {
        PgUploads { pool }
    }
}

/// Locks the upload's row (`FOR SHARE` or `FOR UPDATE`); false when there is none.
async fn lock(conn: &mut PgConnection, upload_id: &str, mode: &str) -> Result<bool, UploadError> {
    Ok(sqlx::query(&format!(
        "SELECT 1 FROM uploads WHERE upload_id = $1 FOR {mode}"
    ))
    .bind(upload_id)
    .fetch_optional(conn)
    .await?
    .is_some())
}

/// Deletes an upload's parts and the upload, answering the parts' blobs.
async fn delete_upload(
    conn: &mut PgConnection,
    upload_id: &str,
) -> Result<Vec<String>, UploadError> {
    let blobs = sqlx::query_scalar("DELETE FROM upload_parts WHERE upload_id = $1 RETURNING blob")
        .bind(upload_id)
        .fetch_all(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM uploads WHERE upload_id = $1")
        .bind(upload_id)
        .execute(&mut *conn)
        .await?;
    Ok(blobs)
}

impl UploadIndex for PgUploads {
    fn create<'a>(&'a self, u: &'a Upload) -> BoxFuture<'a, Result<(), UploadError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "INSERT INTO uploads (upload_id, bucket, key, initiated, content_type,
                                      headers, user_meta, tags)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8
                 WHERE EXISTS (SELECT 1 FROM buckets WHERE name = $2)",
            )
            .bind(&u.upload_id)
            .bind(&u.bucket)
            .bind(u.key.as_bytes())
            .bind(u.initiated)
            .bind(&u.content_type)
            .bind(json(&u.headers))
            .bind(json(&u.user_meta))
            .bind(json(&u.tags))
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(UploadError::NoSuchBucket);
            }
            Ok(())
        })
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Upload, UploadError>> {
        Box::pin(async move {
            let row = sqlx::query(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads
                 WHERE upload_id = $1 AND bucket = $2 AND key = $3"
            ))
            .bind(upload_id)
            .bind(bucket)
            .bind(key.as_bytes())
            .fetch_optional(&self.pool)
            .await?;
            match row {
                Some(r) => rows::upload(&r),
                None => Err(UploadError::NoSuchUpload),
            }
        })
    }

    fn put_part<'a>(
        &'a self,
        upload_id: &'a str,
        p: &'a Part,
    ) -> BoxFuture<'a, Result<Option<String>, UploadError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            if !lock(&mut tx, upload_id, "SHARE").await? {
                return Err(UploadError::NoSuchUpload);
            }
            // The replaced part's blob comes from the row this statement replaces, so two
            // nodes writing the same part number each learn the blob they replaced.
            let old: Option<String> = sqlx::query_scalar(
                "WITH old AS (SELECT blob FROM upload_parts
                               WHERE upload_id = $1 AND part_number = $2 FOR UPDATE),
                      new AS (INSERT INTO upload_parts (upload_id, part_number, blob, size,
                                                        etag, crc64, last_modified)
                              VALUES ($1, $2, $3, $4, $5, $6, $7)
                              ON CONFLICT (upload_id, part_number) DO UPDATE SET
                                 blob = excluded.blob, size = excluded.size,
                                 etag = excluded.etag, crc64 = excluded.crc64,
                                 last_modified = excluded.last_modified)
                 SELECT blob FROM old",
            )
            .bind(upload_id)
            .bind(i32::try_from(p.number).unwrap_or(i32::MAX))
            .bind(&p.blob)
            .bind(p.size as i64)
            .bind(&p.etag)
            .bind(p.crc64.to_string())
            .bind(p.last_modified)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(old)
        })
    }

    fn parts<'a>(
        &'a self,
        upload_id: &'a str,
        after: u32,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Part>, UploadError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT part_number, blob, size, etag, crc64, last_modified FROM upload_parts
                 WHERE upload_id = $1 AND part_number > $2 ORDER BY part_number LIMIT $3",
            )
            .bind(upload_id)
            .bind(i64::from(after))
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(rows::part).collect()
        })
    }

    fn list<'a>(
        &'a self,
        bucket: &'a str,
        range: &'a UploadRange,
    ) -> BoxFuture<'a, Result<Vec<Upload>, UploadError>> {
        Box::pin(async move {
            // Upload ids compare bytewise too (COLLATE "C").
            let rows = sqlx::query(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads
                 WHERE bucket = $1
                   AND (key, upload_id COLLATE \"C\") > ($2, $3 COLLATE \"C\")
                   AND ($4::bytea IS NULL OR key < $4)
                 ORDER BY key, upload_id COLLATE \"C\" LIMIT $5"
            ))
            .bind(bucket)
            .bind(&range.after_key)
            .bind(&range.after_id)
            .bind(range.upper.as_deref())
            .bind(range.limit as i64)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(rows::upload).collect()
        })
    }

    fn complete<'a>(
        &'a self,
        upload_id: &'a str,
        object: &'a ObjectMeta,
    ) -> BoxFuture<'a, Result<Completed, UploadError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            if !lock(&mut tx, upload_id, "UPDATE").await? {
                return Err(UploadError::NoSuchUpload);
            }
            let parts = delete_upload(&mut tx, upload_id).await?;
            // An error rolls the whole transaction back (dropped uncommitted), so the
            // upload is deleted only together with the new row.
            let replaced = upsert_in(&mut tx, object).await.map_err(|e| match e {
                IndexError::NoSuchBucket => UploadError::NoSuchBucket,
                IndexError::Backend(b) => UploadError::Backend(b),
                other => UploadError::Backend(BackendError::new(other.to_string())),
            })?;
            tx.commit().await?;
            Ok(Completed { replaced, parts })
        })
    }

    fn abort<'a>(&'a self, upload_id: &'a str) -> BoxFuture<'a, Result<Vec<String>, UploadError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            if !lock(&mut tx, upload_id, "UPDATE").await? {
                return Err(UploadError::NoSuchUpload);
            }
            let parts = delete_upload(&mut tx, upload_id).await?;
            tx.commit().await?;
            Ok(parts)
        })
    }

    fn initiated_before(
        &self,
        before: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Upload>, UploadError>> {
        Box::pin(async move {
            let rows = sqlx::query(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE initiated < $1
                 ORDER BY initiated LIMIT $2"
            ))
            .bind(before)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(rows::upload).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeMap;

    use super::*;
    use crate::meta::objects::{Bucket, ObjectIndex};
    use crate::meta::postgres::objects::PgObjectIndex;

    fn upload(id: &str, key: &str) -> Upload {
        Upload {
            upload_id: id.into(),
            bucket: "b".into(),
            key: key.into(),
            initiated: 10,
            content_type: None,
            headers: BTreeMap::new(),
            user_meta: BTreeMap::new(),
            tags: BTreeMap::new(),
        }
    }

    fn part(number: u32, blob: &str) -> Part {
        Part {
            number,
            size: 5,
            etag: "e".into(),
            crc64: 9,
            last_modified: 3,
            blob: blob.into(),
        }
    }

    #[tokio::test]
    async fn parts_complete_in_one_transaction_and_listing_orders_bytewise() {
        let Some(pool) = super::super::testdb::pool().await else {
            return;
        };
        let objects = PgObjectIndex::new(pool.clone());
        let uploads = PgUploads::new(pool);
        assert!(matches!(
            uploads.create(&upload("u0", "k")).await,
            Err(UploadError::NoSuchBucket)
        ));
        objects
            .insert_bucket(&Bucket {
                name: "b".into(),
                region: "r".into(),
                created_at: 1,
                public_read: false,
                file_processing: true,
            })
            .await
            .unwrap();
        for (id, key) in [("u1", "a"), ("u2", "a"), ("u3", "B"), ("u4", "c")] {
            uploads.create(&upload(id, key)).await.unwrap();
        }
        let listed = uploads
            .list(
                "b",
                &UploadRange {
                    after_key: b"a".to_vec(),
                    after_id: "u1".into(),
                    upper: None,
                    limit: 10,
                },
            )
            .await
            .unwrap();
        let ids: Vec<&str> = listed.iter().map(|u| u.upload_id.as_str()).collect();
        assert_eq!(ids, ["u2", "u4"]);

        assert_eq!(uploads.put_part("u1", &part(1, "p1")).await.unwrap(), None);
        assert_eq!(
            uploads
                .put_part("u1", &part(1, "p1b"))
                .await
                .unwrap()
                .as_deref(),
            Some("p1")
        );
        uploads.put_part("u1", &part(2, "p2")).await.unwrap();
        let parts = uploads.parts("u1", 0, 10).await.unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].blob.as_str(), parts[0].crc64), ("p1b", 9));
        assert_eq!(uploads.parts("u1", 1, 10).await.unwrap().len(), 1);
        assert!(objects.referenced_blobs().await.unwrap().contains("p2"));

        let object = ObjectMeta {
            bucket: "b".into(),
            key: "a".into(),
            size: 10,
            etag: "x-2".into(),
            crc64: 1,
            content_type: "t".into(),
            headers: BTreeMap::new(),
            user_meta: BTreeMap::new(),
            tags: BTreeMap::new(),
            last_modified: 4,
            blob: "whole".into(),
        };
        let done = uploads.complete("u1", &object).await.unwrap();
        assert_eq!(done.replaced, None);
        let mut blobs = done.parts.clone();
        blobs.sort();
        assert_eq!(blobs, ["p1b", "p2"]);
        assert_eq!(objects.head("b", "a").await.unwrap().blob, "whole");
        assert!(matches!(
            uploads.complete("u1", &object).await,
            Err(UploadError::NoSuchUpload)
        ));
        assert!(matches!(
            uploads.put_part("u1", &part(3, "p3")).await,
            Err(UploadError::NoSuchUpload)
        ));
        assert!(matches!(
            uploads.get("b", "a", "u1").await,
            Err(UploadError::NoSuchUpload)
        ));
        assert_eq!(uploads.get("b", "a", "u2").await.unwrap().upload_id, "u2");
        assert_eq!(uploads.initiated_before(11, 10).await.unwrap().len(), 3);
        assert_eq!(uploads.initiated_before(10, 10).await.unwrap().len(), 0);
        uploads.put_part("u2", &part(1, "q1")).await.unwrap();
        assert_eq!(uploads.abort("u2").await.unwrap(), ["q1"]);
        assert!(matches!(
            uploads.abort("u2").await,
            Err(UploadError::NoSuchUpload)
        ));
    }
}
