//! The object index on PostgreSQL: the `buckets` and `objects` tables. Keys are BYTEA so
//! that PostgreSQL orders them bytewise, as listings must (whatever the database's
//! collation); a listing reads all its ranges from one snapshot (REPEATABLE READ).

use std::collections::{BTreeMap, HashSet};

use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool};

use crate::meta::BackendError;
use crate::meta::objects::{
    Bucket, IndexError, KeyRange, ListPage, Lister, ObjectIndex, ObjectMeta,
};
use crate::meta::rows::{self, BUCKET_COLUMNS, OBJECT_COLUMNS};

/// The object index in a PostgreSQL database.
#[derive(Clone)]
pub struct PgObjectIndex {
    pool: PgPool,
    /// For [`ObjectIndex::head_blocking`], called from the job workers' threads.
    runtime: Option<tokio::runtime::Handle>,
}

impl PgObjectIndex {
    /// An index over a migrated database; call it inside the runtime.
    pub fn new(pool: PgPool) -> Self {
        PgObjectIndex {
            pool,
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }
}

pub(super) fn json(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_string())
}

/// An object's row; `NoSuchKey`, or `NoSuchBucket` when the bucket is missing too.
async fn head_in(pool: &PgPool, bucket: &str, key: &str) -> Result<ObjectMeta, IndexError> {
    let found = sqlx::query(&format!(
        "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND key = $2"
    ))
    .bind(bucket)
    .bind(key.as_bytes())
    .fetch_optional(pool)
    .await?;
    match found {
        Some(row) => rows::object(&row),
        None => {
            let bucket_exists = sqlx::query("SELECT 1 FROM buckets WHERE name = $1")
                .bind(bucket)
                .fetch_optional(pool)
                .await?
                .is_some();
            Err(if bucket_exists {
                IndexError::NoSuchKey
            } else {
                IndexError::NoSuchBucket
            })
        }
    }
}

/// The rows of one range of a listing.
async fn range_in(
    conn: &mut PgConnection,
    bucket: &str,
    range: &KeyRange,
) -> Result<Vec<ObjectMeta>, IndexError> {
    let rows = sqlx::query(&format!(
        "SELECT {OBJECT_COLUMNS} FROM objects
         WHERE bucket = $1 AND key >= $2 AND ($3::bytea IS NULL OR key < $3)
         ORDER BY key LIMIT $4"
    ))
    .bind(bucket)
    .bind(&range.lower)
    .bind(range.upper.as_deref())
    .bind(range.limit as i64)
    .fetch_all(conn)
    .await?;
    rows.iter().map(rows::object).collect()
}

/// Makes `row` the row of its key if its bucket exists, answering the blob it replaced
/// (also the object half of a multipart upload's completion, in its transaction).
pub(super) async fn upsert_in(
    conn: &mut PgConnection,
    row: &ObjectMeta,
) -> Result<Option<String>, IndexError> {
    // The old row is locked (FOR UPDATE) so that the blob answered is the one replaced,
    // even when two nodes replace the object at once.
    let old: Option<String> =
        sqlx::query_scalar("SELECT blob FROM objects WHERE bucket = $1 AND key = $2 FOR UPDATE")
            .bind(&row.bucket)
            .bind(row.key.as_bytes())
            .fetch_optional(&mut *conn)
            .await?;
    let inserted = sqlx::query(
        "INSERT INTO objects (bucket, key, blob, size, etag, crc64, content_type,
                              headers, user_meta, tags, last_modified)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
         WHERE EXISTS (SELECT 1 FROM buckets WHERE name = $1)
         ON CONFLICT (bucket, key) DO UPDATE SET
            blob = excluded.blob, size = excluded.size, etag = excluded.etag,
            crc64 = excluded.crc64, content_type = excluded.content_type,
            headers = excluded.headers, user_meta = excluded.user_meta,
            tags = excluded.tags, last_modified = excluded.last_modified",
    )
    .bind(&row.bucket)
    .bind(row.key.as_bytes())
    .bind(&row.blob)
    .bind(row.size as i64)
    .bind(&row.etag)
    .bind(row.crc64.to_string())
    .bind(&row.content_type)
    .bind(json(&row.headers))
    .bind(json(&row.user_meta))
    .bind(json(&row.tags))
    .bind(row.last_modified)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(IndexError::NoSuchBucket);
    }
    Ok(old)
}

impl ObjectIndex for PgObjectIndex {
    fn insert_bucket<'a>(&'a self, bucket: &'a Bucket) -> BoxFuture<'a, Result<bool, IndexError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "INSERT INTO buckets (name, region, created_at, public_read, file_processing)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(&bucket.name)
            .bind(&bucket.region)
            .bind(bucket.created_at)
            .bind(bucket.public_read)
            .bind(bucket.file_processing)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn set_public_read<'a>(
        &'a self,
        name: &'a str,
        public_read: bool,
    ) -> BoxFuture<'a, Result<(), IndexError>> {
        Box::pin(async move {
            sqlx::query("UPDATE buckets SET public_read = $1 WHERE name = $2")
                .bind(public_read)
                .bind(name)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn set_file_processing<'a>(
        &'a self,
        name: &'a str,
        on: bool,
    ) -> BoxFuture<'a, Result<(), IndexError>> {
        Box::pin(async move {
            let done = sqlx::query("UPDATE buckets SET file_processing = $1 WHERE name = $2")
                .bind(on)
                .bind(name)
                .execute(&self.pool)
                .await?;
            if done.rows_affected() == 0 {
                return Err(IndexError::NoSuchBucket);
            }
            Ok(())
        })
    }

    fn bucket<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<Bucket>, IndexError>> {
        Box::pin(async move {
            let row = sqlx::query(&format!(
                "SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = $1"
            ))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(rows::bucket).transpose()
        })
    }

    fn buckets(&self) -> BoxFuture<'_, Result<Vec<Bucket>, IndexError>> {
        Box::pin(async move {
            let rows = sqlx::query(&format!(
                "SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name"
            ))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(rows::bucket).collect()
        })
    }

    fn delete_bucket<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), IndexError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            // The bucket's row is locked first: an object or upload inserted meanwhile by
            // another node waits for this transaction (its INSERT checks the bucket).
            let exists = sqlx::query("SELECT 1 FROM buckets WHERE name = $1 FOR UPDATE")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !exists {
                return Err(IndexError::NoSuchBucket);
            }
            // Uploads in progress are the bucket's too (COS: "file fragments").
            let busy: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM objects WHERE bucket = $1)
                     OR EXISTS (SELECT 1 FROM uploads WHERE bucket = $1)",
            )
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
            if busy {
                return Err(IndexError::BucketNotEmpty);
            }
            sqlx::query("DELETE FROM buckets WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn head<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<ObjectMeta, IndexError>> {
        Box::pin(head_in(&self.pool, bucket, key))
    }

    fn head_blocking(&self, bucket: &str, key: &str) -> Result<ObjectMeta, IndexError> {
        let Some(runtime) = &self.runtime else {
            return Err(IndexError::Backend(BackendError::new(
                "the PostgreSQL index was made outside the runtime",
            )));
        };
        runtime.block_on(head_in(&self.pool, bucket, key))
    }

    fn upsert<'a>(
        &'a self,
        object: &'a ObjectMeta,
    ) -> BoxFuture<'a, Result<Option<String>, IndexError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let old = upsert_in(&mut tx, object).await?;
            tx.commit().await?;
            Ok(old)
        })
    }

    fn remove<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, IndexError>> {
        Box::pin(async move {
            Ok(sqlx::query_scalar(
                "DELETE FROM objects WHERE bucket = $1 AND key = $2 RETURNING blob",
            )
            .bind(bucket)
            .bind(key.as_bytes())
            .fetch_optional(&self.pool)
            .await?)
        })
    }

    fn set_user_meta<'a>(
        &'a self,
        object: &'a ObjectMeta,
        name: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), IndexError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let current: Option<String> = sqlx::query_scalar(
                "SELECT user_meta FROM objects WHERE bucket = $1 AND key = $2 AND blob = $3
                 FOR UPDATE",
            )
            .bind(&object.bucket)
            .bind(object.key.as_bytes())
            .bind(&object.blob)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(current) = current else {
                return Err(IndexError::NoSuchKey);
            };
            let mut user_meta: BTreeMap<String, String> =
                serde_json::from_str(&current).unwrap_or_default();
            if user_meta.get(name).is_some_and(|v| v == value) {
                return Ok(());
            }
            user_meta.insert(name.to_string(), value.to_string());
            sqlx::query(
                "UPDATE objects SET user_meta = $1 WHERE bucket = $2 AND key = $3 AND blob = $4",
            )
            .bind(json(&user_meta))
            .bind(&object.bucket)
            .bind(object.key.as_bytes())
            .bind(&object.blob)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn set_tags<'a>(
        &'a self,
        object: &'a ObjectMeta,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<(), IndexError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE objects SET tags = $1 WHERE bucket = $2 AND key = $3 AND blob = $4",
            )
            .bind(json(tags))
            .bind(&object.bucket)
            .bind(object.key.as_bytes())
            .bind(&object.blob)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(IndexError::NoSuchKey);
            }
            Ok(())
        })
    }

    fn rewrite_meta<'a>(&'a self, meta: &'a ObjectMeta) -> BoxFuture<'a, Result<(), IndexError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE objects SET content_type = $1, headers = $2, user_meta = $3,
                        last_modified = $4
                 WHERE bucket = $5 AND key = $6 AND blob = $7",
            )
            .bind(&meta.content_type)
            .bind(json(&meta.headers))
            .bind(json(&meta.user_meta))
            .bind(meta.last_modified)
            .bind(&meta.bucket)
            .bind(meta.key.as_bytes())
            .bind(&meta.blob)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(IndexError::NoSuchKey);
            }
            Ok(())
        })
    }

    fn list<'a>(
        &'a self,
        bucket: &'a str,
        mut lister: Lister,
    ) -> BoxFuture<'a, Result<ListPage, IndexError>> {
        Box::pin(async move {
            // Every range from one snapshot.
            let mut tx = self.pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
            while let Some(range) = lister.next_range() {
                let rows = range_in(&mut tx, bucket, &range).await?;
                lister.feed(rows);
            }
            tx.commit().await?;
            Ok(lister.finish())
        })
    }

    fn referenced_blobs(&self) -> BoxFuture<'_, Result<HashSet<String>, IndexError>> {
        Box::pin(async move {
            let mut out = HashSet::new();
            let mut rows = sqlx::query_scalar::<_, String>(
                "SELECT blob FROM objects UNION SELECT blob FROM upload_parts",
            )
            .fetch(&self.pool);
            while let Some(blob) = rows.try_next().await? {
                out.insert(blob);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::meta::objects::ListParams;

    fn object(bucket: &str, key: &str, blob: &str) -> ObjectMeta {
        ObjectMeta {
            bucket: bucket.into(),
            key: key.into(),
            size: 3,
            etag: "e".into(),
            crc64: 42,
            content_type: "text/plain".into(),
            headers: BTreeMap::new(),
            user_meta: BTreeMap::from([("x-cos-meta-a".into(), "1".into())]),
            tags: BTreeMap::new(),
            last_modified: 1,
            blob: blob.into(),
        }
    }

    fn bucket(name: &str) -> Bucket {
        Bucket {
            name: name.into(),
            region: "ap-guangzhou".into(),
            created_at: 7,
            public_read: false,
            file_processing: true,
        }
    }

    #[tokio::test]
    async fn buckets_objects_and_listing_bytewise() {
        let Some(pool) = super::super::testdb::pool().await else {
            return;
        };
        let index = PgObjectIndex::new(pool);
        assert!(index.insert_bucket(&bucket("b")).await.unwrap());
        assert!(!index.insert_bucket(&bucket("b")).await.unwrap());
        assert!(matches!(
            index.upsert(&object("nope", "k", "x")).await,
            Err(IndexError::NoSuchBucket)
        ));
        // Bytewise order: "B" < "a" < "é" whatever the collation.
        for (k, blob) in [
            ("a/1", "b1"),
            ("a/2", "b2"),
            ("B", "b3"),
            ("é", "b4"),
            ("c", "b5"),
        ] {
            assert_eq!(index.upsert(&object("b", k, blob)).await.unwrap(), None);
        }
        assert_eq!(
            index
                .upsert(&object("b", "c", "b6"))
                .await
                .unwrap()
                .as_deref(),
            Some("b5")
        );
        let page = index
            .list(
                "b",
                Lister::new(&ListParams {
                    delimiter: "/".into(),
                    max_keys: 1000,
                    ..ListParams::default()
                }),
            )
            .await
            .unwrap();
        let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["B", "c", "é"]);
        assert_eq!(page.common_prefixes, ["a/"]);
        let paged = index
            .list(
                "b",
                Lister::new(&ListParams {
                    max_keys: 2,
                    ..ListParams::default()
                }),
            )
            .await
            .unwrap();
        assert!(paged.truncated);
        assert_eq!(paged.next_marker.as_deref(), Some("a/1"));

        let got = index.head("b", "é").await.unwrap();
        assert_eq!((got.blob.as_str(), got.crc64), ("b4", 42));
        assert!(matches!(
            index.head("b", "zz").await,
            Err(IndexError::NoSuchKey)
        ));
        assert!(matches!(
            index.head("zz", "a").await,
            Err(IndexError::NoSuchBucket)
        ));
        let blocking = index.clone();
        let got = tokio::task::spawn_blocking(move || blocking.head_blocking("b", "B"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.blob, "b3");

        index
            .set_user_meta(&got, "x-cos-meta-md5", "abc")
            .await
            .unwrap();
        let got = index.head("b", "B").await.unwrap();
        assert_eq!(
            got.user_meta.get("x-cos-meta-md5").map(String::as_str),
            Some("abc")
        );
        let tags = BTreeMap::from([("t".to_string(), "v".to_string())]);
        index.set_tags(&got, &tags).await.unwrap();
        assert_eq!(index.head("b", "B").await.unwrap().tags, tags);
        // A write against a replaced blob is refused.
        let stale = object("b", "B", "old");
        assert!(matches!(
            index.set_tags(&stale, &tags).await,
            Err(IndexError::NoSuchKey)
        ));

        let referenced = index.referenced_blobs().await.unwrap();
        assert_eq!(referenced.len(), 5);
        assert!(referenced.contains("b6") && !referenced.contains("b5"));

        assert!(matches!(
            index.delete_bucket("b").await,
            Err(IndexError::BucketNotEmpty)
        ));
        for k in ["a/1", "a/2", "B", "é", "c"] {
            assert!(index.remove("b", k).await.unwrap().is_some());
        }
        assert_eq!(index.remove("b", "c").await.unwrap(), None);
        index.delete_bucket("b").await.unwrap();
        assert!(matches!(
            index.delete_bucket("b").await,
            Err(IndexError::NoSuchBucket)
        ));
    }
}
