//! Retention: finished deliveries (with their texts, tokens and the clients' contact data) and
//! mailed failure reports are deleted after `delivery.retention`; throttle rows of addresses with
//! nothing waiting are deleted once neither the throttle nor the hourly new-address quota needs
//! them. Small batches, so that the POST path never waits long for the database.

use std::{sync::Arc, time::Duration};

use crate::store::{now_ms, Purged, Store};

/// Rows of each kind deleted by one statement, at most.
const BATCH: i64 = 500;
/// How long an address that had reports is remembered: while it is, the hourly quota of new
/// addresses never holds its reports back.
const ADDRESS_MEMORY: Duration = Duration::from_secs(90 * 24 * 3600);
/// A cleanup pass runs at least this often.
const MAX_INTERVAL: Duration = Duration::from_secs(60);

pub struct Retention {
    store: Arc<dyn Store>,
    retention: Duration,
    /// Throttle rows are kept at least this long after their last email.
    address_memory: Duration,
}

impl Retention {
    pub fn new(store: Arc<dyn Store>, retention: Duration, mail_throttle: Duration) -> Self {
        Retention {
            store,
            retention,
            address_memory: mail_throttle.max(ADDRESS_MEMORY),
        }
    }

    /// How often a pass runs: a quarter of the retention, at most every minute.
    pub fn interval(&self) -> Duration {
        (self.retention / 4).clamp(Duration::from_millis(10), MAX_INTERVAL)
    }

    /// Deletes everything past its time, batch after batch; returns what went.
    pub async fn pass(&self) -> anyhow::Result<Purged> {
        let mut all = Purged::default();
        loop {
            let now = now_ms();
            let kept = self.retention.as_millis() as i64;
            let remembered = self.address_memory.as_millis() as i64;
            let purged = self
                .store
                .purge(now, now - kept, now - kept, now - remembered, BATCH)
                .await?;
            all.deliveries += purged.deliveries;
            all.reports += purged.reports;
            all.addresses += purged.addresses;
            let full = [purged.deliveries, purged.reports, purged.addresses]
                .iter()
                .any(|n| *n as i64 >= BATCH);
            if !full {
                return Ok(all);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Runs a pass every [`Retention::interval`] until the process ends.
    pub async fn run(self) {
        let mut every = tokio::time::interval(self.interval());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match self.pass().await {
                Ok(p) if p.total() > 0 => {
                    metrics::counter!("hooks_retention_deleted_total", "kind" => "deliveries")
                        .increment(p.deliveries);
                    metrics::counter!("hooks_retention_deleted_total", "kind" => "reports")
                        .increment(p.reports);
                    tracing::debug!(
                        deliveries = p.deliveries,
                        reports = p.reports,
                        addresses = p.addresses,
                        "retention: old rows deleted"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention pass failed; will try again"),
            }
            // What retention (or anything else) freed goes back to the file system, a bounded
            // step at a time (SQLite; nothing to do on PostgreSQL).
            match self.store.give_back().await {
                Ok(0) => {}
                Ok(pages) => tracing::debug!(pages, "outbox: freed pages given back"),
                Err(e) => tracing::warn!(error = %e, "cannot give the outbox's freed room back"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Enqueued, SqliteStore};

    #[tokio::test]
    async fn an_address_that_had_reports_is_remembered_past_the_quota_window() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("s.sqlite"), false)
                .await
                .unwrap(),
        );
        let hour = 3_600_000;
        let long_ago = now_ms() - 3 * hour;
        // The operator's address had a report three hours ago.
        let first = store
            .enqueue_mail("op@example.com", "{}", long_ago, 1)
            .await
            .unwrap();
        assert_eq!(first, Enqueued::Queued);
        store
            .mark_mailed("op@example.com", i64::MAX, long_ago)
            .await
            .unwrap();
        let retention = Retention::new(
            store.clone(),
            Duration::from_secs(7 * 24 * 3600),
            Duration::from_secs(600),
        );
        retention.pass().await.unwrap();
        // A stranger takes this hour's only new place; the operator is still let in.
        let now = now_ms();
        assert_eq!(
            store
                .enqueue_mail("new@example.com", "{}", now, 1)
                .await
                .unwrap(),
            Enqueued::Queued
        );
        assert_eq!(
            store
                .enqueue_mail("other@example.com", "{}", now, 1)
                .await
                .unwrap(),
            Enqueued::NewAddressLimit
        );
        assert_eq!(
            store
                .enqueue_mail("op@example.com", "{}", now, 1)
                .await
                .unwrap(),
            Enqueued::Queued
        );
    }
}
