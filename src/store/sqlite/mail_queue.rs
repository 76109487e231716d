//! The SQLite mail queue: failure reports waiting per address, the throttle, and the mail
//! fence's records (vouched credentials, the shared key).

use async_trait::async_trait;
use sqlx::Row;

use super::{SqliteStore, HOUR_MS};
use crate::store::{Confirmation, Enqueued, MailBatch, MailQueue, QueuedMail, Shared, StoreResult};

#[async_trait]
impl MailQueue for SqliteStore {
    async fn vouch(&self, id: &str, now: i64) -> StoreResult<()> {
        Shared(&*self.pool().await).vouch(id, now).await
    }

    async fn vouched(&self, id: &str) -> StoreResult<bool> {
        Shared(&*self.pool().await).vouched(id).await
    }

    async fn shared_key(&self, name: &str, fresh: &str) -> StoreResult<String> {
        Shared(&*self.pool().await).shared_key(name, fresh).await
    }

    async fn enqueue_mail(
        &self,
        address: &str,
        report: &str,
        now: i64,
        max_new_per_hour: u32,
    ) -> StoreResult<Enqueued> {
        let pool = self.pool().await;
        let mut tx = pool.begin().await?;
        // Let the address in when it is known, or while the hour's quota of new ones lasts. One
        // statement, so two reports for new addresses cannot both take the last place.
        let admitted = sqlx::query(
            "INSERT INTO mail_addresses (address, admitted_at, last_sent_at) \
             SELECT ?1, ?2, NULL WHERE (SELECT COUNT(*) FROM mail_addresses WHERE admitted_at > ?3) < ?4 \
             ON CONFLICT(address) DO NOTHING",
        )
        .bind(address)
        .bind(now)
        .bind(now - HOUR_MS)
        .bind(max_new_per_hour as i64)
        .execute(&mut *tx)
        .await?;
        if admitted.rows_affected() == 0 {
            let known = sqlx::query("SELECT 1 FROM mail_addresses WHERE address = ?")
                .bind(address)
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Ok(Enqueued::NewAddressLimit);
            }
        }
        sqlx::query("INSERT INTO mail_queue (address, report, created_at) VALUES (?, ?, ?)")
            .bind(address)
            .bind(report)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Enqueued::Queued)
    }

    async fn mail_addresses(&self, limit: i64, asked_since: i64) -> StoreResult<Vec<String>> {
        Shared(&*self.pool().await)
            .mail_addresses(limit, asked_since)
            .await
    }

    async fn confirmation(&self, address: &str) -> StoreResult<Confirmation> {
        Shared(&*self.pool().await).confirmation(address).await
    }

    async fn confirmation_sent(&self, address: &str, token: &str, now: i64) -> StoreResult<()> {
        Shared(&*self.pool().await)
            .confirmation_sent(address, token, now)
            .await
    }

    async fn confirm(&self, token: &str, now: i64, sent_since: i64) -> StoreResult<Option<String>> {
        Shared(&*self.pool().await)
            .confirm(token, now, sent_since)
            .await
    }

    async fn mark_confirmed(&self, address: &str, now: i64) -> StoreResult<()> {
        Shared(&*self.pool().await)
            .mark_confirmed(address, now)
            .await
    }

    async fn awaiting_confirmation(
        &self,
        since: i64,
        limit: i64,
    ) -> StoreResult<Vec<(String, i64)>> {
        Shared(&*self.pool().await)
            .awaiting_confirmation(since, limit)
            .await
    }

    async fn held_reports(&self, address: &str) -> StoreResult<i64> {
        Shared(&*self.pool().await).held_reports(address).await
    }

    async fn unsent_mail(&self, address: &str, limit: i64) -> StoreResult<MailBatch> {
        let rows = sqlx::query(
            "SELECT id, address, report, created_at FROM mail_queue \
             WHERE sent_at IS NULL AND address = ? ORDER BY id LIMIT ?",
        )
        .bind(address)
        .bind(limit)
        .fetch_all(&*self.pool().await)
        .await?;
        let items: Vec<QueuedMail> = rows
            .iter()
            .map(|r| QueuedMail {
                id: r.get("id"),
                address: r.get("address"),
                report: r.get("report"),
                created_at: r.get("created_at"),
            })
            .collect();
        let last_listed = items.last().map_or(0, |i| i.id);
        let rest = sqlx::query(
            "SELECT COUNT(*), MAX(id) FROM mail_queue WHERE sent_at IS NULL AND address = ? AND id > ?",
        )
        .bind(address)
        .bind(last_listed)
        .fetch_one(&*self.pool().await)
        .await?;
        let more: i64 = rest.get(0);
        let up_to = rest.get::<Option<i64>, _>(1).unwrap_or(last_listed);
        Ok(MailBatch { items, more, up_to })
    }

    async fn last_mailed(&self, address: &str) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT last_sent_at FROM mail_addresses WHERE address = ?")
            .bind(address)
            .fetch_optional(&*self.pool().await)
            .await?;
        Ok(row.and_then(|r| r.get(0)))
    }

    async fn claim_mail(
        &self,
        address: &str,
        now: i64,
        throttle_ms: i64,
        hold_ms: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE mail_addresses SET claimed_until = ?2 + ?4 WHERE address = ?1 \
             AND (claimed_until IS NULL OR claimed_until < ?2) \
             AND (last_sent_at IS NULL OR last_sent_at + ?3 <= ?2)",
        )
        .bind(address)
        .bind(now)
        .bind(throttle_ms)
        .bind(hold_ms)
        .execute(&*self.pool().await)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_mail(&self, address: &str) -> StoreResult<()> {
        sqlx::query("UPDATE mail_addresses SET claimed_until = NULL WHERE address = ?")
            .bind(address)
            .execute(&*self.pool().await)
            .await?;
        Ok(())
    }

    async fn mark_mailed(&self, address: &str, up_to: i64, now: i64) -> StoreResult<()> {
        let pool = self.pool().await;
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE mail_queue SET sent_at = ? WHERE address = ? AND sent_at IS NULL AND id <= ?",
        )
        .bind(now)
        .bind(address)
        .bind(up_to)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO mail_addresses (address, admitted_at, last_sent_at) VALUES (?1, ?2, ?2) \
             ON CONFLICT(address) DO UPDATE SET last_sent_at = excluded.last_sent_at, claimed_until = NULL",
        )
        .bind(address)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
