//! The purge: deletes expired sessions, and expired documents with their content. Usage rows are never touched.
//!
//! The cutoff is fixed once per run and rows go in bounded batches, each its own short transaction, so opens
//! keep getting the write connection between batches.
//!
//! Where several instances share a database, one purge runs per interval across all of them: each tick, an
//! instance takes the lease row `purge` for one purge interval, and skips the tick while another instance holds
//! it. The holder renews the lease on its own next tick (and between batches), so it keeps purging; if it dies,
//! the lease lapses and the next instance to tick takes over, at most one interval late. Expiry is checked on
//! every access, so a late purge only delays reclaiming space.

use std::time::Duration;

use anyhow::bail;

use crate::store::Store;

const BATCH: i64 = 1000;

/// The lease row's name.
pub const PURGE_LEASE: &str = "purge";

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PurgeReport {
    pub sessions: u64,
    pub documents: u64,
}

/// The right to purge for the cluster: the lease `PURGE_LEASE`, held by `owner` for `ttl` at a time.
struct Lease<'a> {
    owner: &'a str,
    ttl: Duration,
}

impl Lease<'_> {
    async fn hold(&self, store: &dyn Store) -> anyhow::Result<bool> {
        store
            .try_acquire_lease(PURGE_LEASE, self.owner, self.ttl.as_millis() as i64)
            .await
    }
}

/// Purges now, whatever other instances do (`docsession purge`); concurrent batches skip each other's rows.
pub async fn purge_expired(store: &dyn Store) -> anyhow::Result<PurgeReport> {
    purge_batches(store, None).await
}

/// Purges if this instance holds (or can take) the lease; `None` when another instance holds it.
async fn purge_with_lease(
    store: &dyn Store,
    lease: &Lease<'_>,
) -> anyhow::Result<Option<PurgeReport>> {
    if !lease.hold(store).await? {
        return Ok(None);
    }
    purge_batches(store, Some(lease)).await.map(Some)
}

async fn purge_batches(
    store: &dyn Store,
    lease: Option<&Lease<'_>>,
) -> anyhow::Result<PurgeReport> {
    let cutoff = store.now().await?;
    let mut report = PurgeReport::default();
    let renew = || async {
        match lease {
            Some(lease) if !lease.hold(store).await? => {
                bail!("another instance took the purge lease during the run")
            }
            _ => anyhow::Ok(()),
        }
    };
    loop {
        let deleted = store.purge_sessions(cutoff, BATCH).await?;
        report.sessions += deleted;
        if deleted < BATCH as u64 {
            break;
        }
        renew().await?;
    }
    loop {
        let deleted = store.purge_documents(cutoff, BATCH).await?;
        report.documents += deleted;
        if deleted < BATCH as u64 {
            break;
        }
        renew().await?;
    }
    Ok(report)
}

/// Purges now and then every `interval`, for as long as the server runs, whenever this instance (`owner`)
/// holds the cluster's purge lease.
pub async fn run_every(store: std::sync::Arc<dyn Store>, interval: Duration, owner: String) {
    let lease = Lease {
        owner: &owner,
        ttl: interval,
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match purge_with_lease(store.as_ref(), &lease).await {
            Ok(Some(report)) => tracing::info!(
                owner,
                sessions = report.sessions,
                documents = report.documents,
                "purge done"
            ),
            Ok(None) => tracing::info!(owner, "purge skipped: another instance holds the lease"),
            Err(err) => {
                tracing::error!(owner, error = %err, "purge failed; it will run again at the next interval")
            }
        }
    }
}
