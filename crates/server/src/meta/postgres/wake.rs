//! Wake-ups between nodes: a job submitted on one node wakes idle workers on the others
//! through PostgreSQL's LISTEN/NOTIFY, coalesced per node — the announcer sends one
//! NOTIFY for all the submissions of the last [`COALESCE`], never one per submission. A
//! lost notification only delays work until the workers' idle poll
//! ([`crate::core::workers::SHARED_IDLE_POLL`]), and a reconnected listener wakes its node
//! once, for what it may have missed.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::core::workers::WorkSignal;

/// The channel the nodes announce work on.
pub const CHANNEL: &str = "hashscan_work";
/// Submissions within this window share one NOTIFY.
pub const COALESCE: Duration = Duration::from_millis(20);

/// Starts this node's announcer and listener; both end when `stop` changes.
pub fn spawn(
    pool: PgPool,
    signal: WorkSignal,
    node: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(announce(
            pool.clone(),
            signal.clone(),
            node.clone(),
            stop.clone(),
        )),
        tokio::spawn(listen(pool, signal, node, stop)),
    ]
}

async fn announce(
    pool: PgPool,
    signal: WorkSignal,
    node: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = signal.submitted() => {}
            _ = stop.changed() => return,
        }
        // Let the burst this submission belongs to arrive, then announce it once.
        tokio::time::sleep(COALESCE).await;
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&node)
            .execute(&pool)
            .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "cannot announce work; the other nodes will poll");
        }
    }
}

async fn listen(
    pool: PgPool,
    signal: WorkSignal,
    node: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "cannot listen for work; polling meanwhile");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::debug!(error = %e, "cannot listen for work; polling meanwhile");
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(2)) => continue,
                _ = stop.changed() => return,
            }
        }
        // Whatever was announced while not listening.
        signal.wake_local();
        loop {
            tokio::select! {
                got = listener.try_recv() => match got {
                    Ok(Some(n)) => {
                        if n.payload() != node {
                            signal.wake_local();
                        }
                    }
                    // The connection was lost: reconnect (the next try_recv does) and
                    // wake, as a notification may have been missed.
                    Ok(None) => signal.wake_local(),
                    Err(e) => {
                        tracing::debug!(error = %e, "lost the work listener; reconnecting");
                        break;
                    }
                },
                _ = stop.changed() => return,
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test]
    async fn a_submission_on_one_node_wakes_the_other_once_per_burst() {
        let Some(pool) = super::super::testdb::pool().await else {
            return;
        };
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let (a, b) = (WorkSignal::default(), WorkSignal::default());
        let _ta = spawn(pool.clone(), a.clone(), "a".into(), stop.clone());
        let _tb = spawn(pool.clone(), b.clone(), "b".into(), stop.clone());
        // Count NOTIFYs seen by a third listener.
        let mut spy = PgListener::connect_with(&pool).await.unwrap();
        spy.listen(CHANNEL).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;

        let woken = b.woken();
        tokio::pin!(woken);
        woken.as_mut().enable();
        for _ in 0..100 {
            a.notify();
        }
        tokio::time::timeout(Duration::from_secs(5), woken)
            .await
            .expect("node b woken by node a's submissions");
        let first = tokio::time::timeout(Duration::from_secs(5), spy.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.payload(), "a");
        // 100 submissions in a burst: one or two announcements, not 100.
        let mut more = 0;
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(300), spy.recv()).await {
            more += 1;
        }
        assert!(more <= 1, "{more} extra announcements for one burst");
    }
}
