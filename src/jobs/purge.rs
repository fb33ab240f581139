//! The purge: deletes expired sessions, and expired documents with their content. Usage rows are never touched.
//!
//! The cutoff is fixed once per run and rows go in bounded batches, each its own short transaction, so opens
//! keep getting the write connection between batches.

use std::time::Duration;

use crate::store::Store;

const BATCH: i64 = 1000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PurgeReport {
    pub sessions: u64,
    pub documents: u64,
}

pub async fn purge_expired(store: &dyn Store) -> anyhow::Result<PurgeReport> {
    let cutoff = store.now().await?;
    let mut report = PurgeReport::default();
    loop {
        let deleted = store.purge_sessions(cutoff, BATCH).await?;
        report.sessions += deleted;
        if deleted < BATCH as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    loop {
        let deleted = store.purge_documents(cutoff, BATCH).await?;
        report.documents += deleted;
        if deleted < BATCH as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(report)
}

/// Purges now and then every `interval`, for as long as the server runs.
pub async fn run_every(store: std::sync::Arc<dyn Store>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match purge_expired(store.as_ref()).await {
            Ok(report) => tracing::info!(
                sessions = report.sessions,
                documents = report.documents,
                "purge done"
            ),
            Err(err) => {
                tracing::error!(error = %err, "purge failed; it will run again at the next interval")
            }
        }
    }
}
