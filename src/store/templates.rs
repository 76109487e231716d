//! Template versions saved in the console, kept in the outbox database so that every instance
//! serves the same ones. One statement each, the same on SQLite and PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;

use super::{PgStore, SqliteStore, StoreResult};

/// One saved version (or a withdrawal, `source: None`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TemplateVersion {
    pub id: i64,
    pub locale: String,
    pub name: String,
    pub source: Option<String>,
    pub note: String,
    pub saved_at: i64,
}

#[async_trait]
pub trait TemplateVersions: Send + Sync {
    /// The id of the newest version of any template (0 when none): it changes on every save.
    async fn newest_template_version(&self) -> StoreResult<i64>;
    /// The newest version of every template ever saved, withdrawals included.
    async fn current_templates(&self) -> StoreResult<Vec<TemplateVersion>>;
    /// The versions of one template, newest first, at most `limit`.
    async fn template_history(
        &self,
        locale: &str,
        name: &str,
        limit: i64,
    ) -> StoreResult<Vec<TemplateVersion>>;
    /// Saves a version (`None` withdraws the console version); returns its id.
    async fn save_template(
        &self,
        locale: &str,
        name: &str,
        source: Option<&str>,
        note: &str,
        now: i64,
    ) -> StoreResult<i64>;
}

const COLUMNS: &str = "id, locale, name, source, note, saved_at";

fn version<R: Row>(row: &R) -> TemplateVersion
where
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    TemplateVersion {
        id: row.get(0),
        locale: row.get(1),
        name: row.get(2),
        source: row.get(3),
        note: row.get(4),
        saved_at: row.get(5),
    }
}

/// The statements, on either database's pool.
macro_rules! template_versions {
    ($store:ty) => {
        #[async_trait]
        impl TemplateVersions for $store {
            async fn newest_template_version(&self) -> StoreResult<i64> {
                let row = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM template_versions")
                    .fetch_one(&*self.pool().await)
                    .await?;
                Ok(row.get::<i64, _>(0))
            }

            async fn current_templates(&self) -> StoreResult<Vec<TemplateVersion>> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM template_versions v WHERE id = \
                     (SELECT MAX(id) FROM template_versions w \
                      WHERE w.locale = v.locale AND w.name = v.name) ORDER BY locale, name"
                );
                let rows = sqlx::query(&sql).fetch_all(&*self.pool().await).await?;
                Ok(rows.iter().map(version).collect())
            }

            async fn template_history(
                &self,
                locale: &str,
                name: &str,
                limit: i64,
            ) -> StoreResult<Vec<TemplateVersion>> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM template_versions \
                     WHERE locale = $1 AND name = $2 ORDER BY id DESC LIMIT $3"
                );
                let rows = sqlx::query(&sql)
                    .bind(locale)
                    .bind(name)
                    .bind(limit)
                    .fetch_all(&*self.pool().await)
                    .await?;
                Ok(rows.iter().map(version).collect())
            }

            async fn save_template(
                &self,
                locale: &str,
                name: &str,
                source: Option<&str>,
                note: &str,
                now: i64,
            ) -> StoreResult<i64> {
                let row = sqlx::query(
                    "INSERT INTO template_versions (locale, name, source, note, saved_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(locale)
                .bind(name)
                .bind(source)
                .bind(note)
                .bind(now)
                .fetch_one(&*self.pool().await)
                .await?;
                Ok(row.get::<i64, _>(0))
            }
        }
    };
}

template_versions!(SqliteStore);
template_versions!(PgStore);
