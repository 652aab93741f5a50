//! What the nodes share per request and per moment, on PostgreSQL: replayed nonces (a
//! logged table, so a crash of the database does not reopen the replay window), request
//! counters, node heartbeats (how many nodes share a rate limit; which ruleset is active)
//! and leases for work one node at a time does. Every time here is the database's.

use futures_util::future::BoxFuture;
use sqlx::{PgPool, Row};

use super::NOW_MS;
use crate::meta::BackendError;
use crate::meta::shared::{Cluster, Heartbeat, NonceError, NonceRefused, SharedState};

/// The current time on the database's clock in Unix seconds (nonce windows are seconds).
const NOW_S: &str = "extract(epoch from clock_timestamp())::bigint";

/// The shared state in a PostgreSQL database.
#[derive(Clone)]
pub struct PgShared {
    pool: PgPool,
}

impl PgShared {
    /// The shared state over a migrated database.
    pub fn new(pool: PgPool) -> Self {
        PgShared { pool }
    }
}

impl SharedState for PgShared {
    /// Inserts the pair unless an unexpired entry has it; an expired entry is taken over.
    /// The node's `now` is not used: the window is judged on the database's clock.
    fn remember_nonce<'a>(
        &'a self,
        access_key: &'a str,
        nonce: &'a str,
        expires_at: i64,
        _now: i64,
    ) -> BoxFuture<'a, Result<(), NonceError>> {
        Box::pin(async move {
            let accepted = sqlx::query(&format!(
                "INSERT INTO nonces (access_key, nonce, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (access_key, nonce) DO UPDATE SET expires_at = excluded.expires_at
                 WHERE nonces.expires_at < {NOW_S}
                 RETURNING 1"
            ))
            .bind(access_key)
            .bind(nonce)
            .bind(expires_at)
            .fetch_optional(&self.pool)
            .await
            .map_err(BackendError::from)?;
            match accepted {
                Some(_) => Ok(()),
                None => Err(NonceRefused::Replayed.into()),
            }
        })
    }

    fn count<'a>(&'a self, name: &'a str, by: u64) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO counters (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
            )
            .bind(name)
            .bind(i64::try_from(by).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn counter<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<u64, BackendError>> {
        Box::pin(async move {
            let value: Option<i64> =
                sqlx::query_scalar("SELECT value FROM counters WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(value.unwrap_or(0).max(0) as u64)
        })
    }

    fn heartbeat<'a>(
        &'a self,
        beat: &'a Heartbeat,
    ) -> BoxFuture<'a, Result<Cluster, BackendError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query(&format!(
                "INSERT INTO nodes (id, seen_at, started, ruleset) VALUES ($1, {NOW_MS}, {NOW_MS}, $2)
                 ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at,
                                                ruleset = excluded.ruleset"
            ))
            .bind(&beat.node)
            .bind(&beat.ruleset)
            .execute(&mut *tx)
            .await?;
            if beat.rules_loaded {
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ('active_ruleset', $1)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(&beat.ruleset)
                .execute(&mut *tx)
                .await?;
            }
            // Housekeeping shared by every node's beat: gone nodes and expired nonces.
            sqlx::query(&format!("DELETE FROM nodes WHERE seen_at < {NOW_MS} - $1"))
                .bind(beat.live_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!("DELETE FROM nonces WHERE expires_at < {NOW_S}"))
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query(
                "SELECT (SELECT count(*) FROM nodes) AS nodes,
                        (SELECT value FROM settings WHERE name = 'active_ruleset') AS active",
            )
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            let nodes: i64 = row.try_get("nodes")?;
            let active: Option<String> = row.try_get("active")?;
            Ok(Cluster {
                nodes: u32::try_from(nodes).unwrap_or(u32::MAX).max(1),
                active_ruleset: active.unwrap_or_else(|| beat.ruleset.clone()),
            })
        })
    }

    fn leave<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM nodes WHERE id = $1")
                .bind(node)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn lease<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
        ttl_ms: i64,
    ) -> BoxFuture<'a, Result<bool, BackendError>> {
        Box::pin(async move {
            // settings.value holds "<owner> <expiry ms>".
            let key = format!("lease:{name}");
            let taken = sqlx::query(&format!(
                "INSERT INTO settings (name, value) VALUES ($1, $2 || ' ' || ({NOW_MS} + $3))
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value
                 WHERE split_part(settings.value, ' ', 1) = $2
                    OR split_part(settings.value, ' ', 2)::bigint < {NOW_MS}
                 RETURNING 1"
            ))
            .bind(&key)
            .bind(owner)
            .bind(ttl_ms)
            .fetch_optional(&self.pool)
            .await?;
            Ok(taken.is_some())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test]
    async fn nonces_counters_heartbeats_and_leases_are_shared() {
        let Some(pool) = super::super::testdb::pool().await else {
            return;
        };
        // Two nodes: two stores on one database.
        let (a, b) = (PgShared::new(pool.clone()), PgShared::new(pool));
        let far = 4_000_000_000; // seconds: year 2096
        a.remember_nonce("ak", "n1", far, 0).await.unwrap();
        assert!(matches!(
            b.remember_nonce("ak", "n1", far, 0).await,
            Err(NonceError::Refused(NonceRefused::Replayed))
        ));
        b.remember_nonce("ak2", "n1", far, 0).await.unwrap();
        // An expired entry is taken over.
        a.remember_nonce("ak", "old", 1, 0).await.unwrap();
        b.remember_nonce("ak", "old", far, 0).await.unwrap();

        a.count("calls", 2).await.unwrap();
        b.count("calls", 3).await.unwrap();
        assert_eq!(a.counter("calls").await.unwrap(), 5);
        assert_eq!(b.counter("never").await.unwrap(), 0);

        let beat = |node: &str, ruleset: &str, loaded: bool| Heartbeat {
            node: node.into(),
            ruleset: ruleset.into(),
            rules_loaded: loaded,
            live_ms: 60_000,
        };
        let one = a.heartbeat(&beat("n-a", "v1", true)).await.unwrap();
        assert_eq!(
            one,
            Cluster {
                nodes: 1,
                active_ruleset: "v1".into()
            }
        );
        let two = b.heartbeat(&beat("n-b", "v1", true)).await.unwrap();
        assert_eq!(two.nodes, 2);
        // A node that loads other rules makes them active; the other sees it differs.
        b.heartbeat(&beat("n-b", "v2", true)).await.unwrap();
        let seen = a.heartbeat(&beat("n-a", "v1", false)).await.unwrap();
        assert_eq!(
            seen,
            Cluster {
                nodes: 2,
                active_ruleset: "v2".into()
            }
        );
        b.leave("n-b").await.unwrap();
        assert_eq!(
            a.heartbeat(&beat("n-a", "v1", false)).await.unwrap().nodes,
            1
        );
        // A node silent for longer than the live time is forgotten.
        b.heartbeat(&beat("n-b", "v2", false)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let short = Heartbeat {
            live_ms: 10,
            ..beat("n-a", "v1", false)
        };
        assert_eq!(a.heartbeat(&short).await.unwrap().nodes, 1);

        assert!(a.lease("sweep", "n-a", 60_000).await.unwrap());
        assert!(!b.lease("sweep", "n-b", 60_000).await.unwrap());
        assert!(a.lease("sweep", "n-a", 1).await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(b.lease("sweep", "n-b", 60_000).await.unwrap());
        assert!(!a.lease("sweep", "n-a", 60_000).await.unwrap());
    }
}
