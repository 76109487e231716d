//! The statements of a batch: the accepts of a round in one, the attempts' ends of a round in one.

use sqlx::{PgConnection, Postgres, Row, Transaction};

use super::super::{record, COLUMNS};
use super::{Accept, Finish};
use crate::i18n::Text;
use crate::store::{Accepted, StoreError, StoreResult};

/// The accept of a round: `earlier` is the stored delivery of each key within its window,
/// `added` inserts the others. Rows come back by `n`, the write's place in the round; an added
/// row's columns are left out, as the writer knows them.
static ACCEPT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let unknown = COLUMNS
        .split(',')
        .map(|c| format!("NULL AS {}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
                          $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
                          $10::bigint[], $11::bigint[], $13::bigint[], $14::bigint[]) \
                          WITH ORDINALITY AS i(id, channel, query, \
                          dedup_key, recipient, text, summary, error_email, failed, now, \
                          dedup_since, unvouched, size, n)), \
              earlier AS (SELECT i.n, i.id AS asked, e.* FROM input i CROSS JOIN LATERAL \
                          (SELECT {COLUMNS} FROM deliveries WHERE dedup_key = i.dedup_key \
                           AND created_at >= i.dedup_since ORDER BY created_at DESC LIMIT 1) e), \
              added AS (INSERT INTO deliveries (id, channel, query, dedup_key, recipient, text, \
                          summary, error_email, state, attempts, created_at, next_attempt_at, \
                          updated_at, last_error, locked_until, unvouched, size) \
                        SELECT id, channel, query, dedup_key, recipient, text, summary, \
                          error_email, CASE WHEN failed IS NULL THEN 'sending' ELSE 'failed' END, \
                          0, now, now, now, failed, CASE WHEN failed IS NULL THEN now + $12 END, \
                          unvouched, size \
                        FROM input WHERE n NOT IN (SELECT n FROM earlier) RETURNING id) \
         SELECT n, id = asked AS added, {COLUMNS} FROM earlier \
         UNION ALL SELECT i.n, true, {unknown} FROM added JOIN input i USING (id)"
    )
});

/// For each accept, the delivery of the same POST within the dedup window, or the new one: one
/// statement for the whole round, whose keys differ. The answers are in the order of `writes`.
pub(super) async fn accept(
    tx: &mut Transaction<'_, Postgres>,
    writes: &[&Accept],
    lease_ms: i64,
) -> StoreResult<Vec<Accepted>> {
    let rows = sqlx::query(&ACCEPT_SQL)
        .bind(column(writes, |a| a.new.id.as_str()))
        .bind(column(writes, |a| a.new.channel.as_str()))
        .bind(column(writes, |a| a.new.query.as_str()))
        .bind(column(writes, |a| a.new.dedup_key.as_str()))
        .bind(column(writes, |a| a.new.recipient.as_str()))
        .bind(column(writes, |a| a.new.text.as_str()))
        .bind(column(writes, |a| a.new.summary.as_str()))
        .bind(column(writes, |a| a.new.error_email.as_deref()))
        .bind(column(writes, |a| {
            a.new.failed.as_ref().map(Text::to_stored)
        }))
        .bind(column(writes, |a| a.now))
        .bind(column(writes, |a| a.dedup_since))
        .bind(lease_ms)
        .bind(column(writes, |a| i64::from(a.new.unvouched)))
        .bind(column(writes, |a| a.new.size()))
        .fetch_all(&mut **tx)
        .await?;
    let mut answers: Vec<Option<Accepted>> = writes.iter().map(|_| None).collect();
    for row in rows {
        let n = row.get::<i64, _>("n") as usize - 1;
        let (Some(slot), Some(write)) = (answers.get_mut(n), writes.get(n)) else {
            continue;
        };
        *slot = Some(
            match (
                row.get::<bool, _>("added"),
                row.get::<Option<String>, _>("id"),
            ) {
                // Added now: the row is what was written.
                (true, None) => Accepted::New(write.new.as_ref().clone().into_record(write.now)),
                // This very write, committed before although its commit was not confirmed.
                (true, Some(_)) => Accepted::New(record(&row)),
                (false, _) => Accepted::Duplicate(record(&row)),
            },
        );
    }
    answers
        .into_iter()
        .map(|a| a.ok_or(StoreError::WriterStopped))
        .collect()
}

/// `d.id = ANY($1)` bounds the rows read to the round's, whichever way the join is planned:
/// planned while the table was small, `d.id = i.id` alone became a hash join over the whole
/// table, kept as the table grew (measured: 2 ms per batch at 15,000 rows). The writer's
/// connection makes no sequential scan (`enable_seqscan`), so `ANY` is a lookup by id.
const FINISH_SQL: &str = "WITH input AS (SELECT * FROM unnest($1::text[], $2::bigint[], \
       $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bigint[], \
       $10::bigint[]) AS i(id, number, state, next, error, provider_id, purge_after, how, now, \
       unsure)), \
     updated AS (UPDATE deliveries d SET state = i.state, \
       attempts = GREATEST(d.attempts, i.number), next_attempt_at = i.next, updated_at = i.now, \
       last_error = COALESCE(i.error, d.last_error), \
       provider_id = COALESCE(i.provider_id, d.provider_id), locked_until = NULL, \
       purge_after = i.purge_after, unsure = i.unsure \
       FROM input i WHERE d.id = ANY($1) AND d.id = i.id \
       RETURNING d.id, i.number, i.now, i.how, i.error) \
     INSERT INTO attempts (delivery_id, number, ended_at, outcome, error) \
     SELECT id, number, now, how, error FROM updated \
     ON CONFLICT (delivery_id, number) DO UPDATE SET ended_at = excluded.ended_at, \
     outcome = excluded.outcome, error = excluded.error";

/// The ends of a round's attempts: each delivery's new state and each attempt's row, in one
/// statement. The round names each delivery once. Written twice (a batch tried again write by
/// write after a commit whose outcome was unknown), an end counts once.
pub(super) async fn finish(conn: &mut PgConnection, writes: &[&Finish]) -> StoreResult<()> {
    let ends: Vec<_> = writes
        .iter()
        .map(|w| crate::store::finished(&w.outcome, w.now))
        .collect();
    sqlx::query(FINISH_SQL)
        .bind(column(writes, |w| w.id.as_str()))
        .bind(column(writes, |w| w.number))
        .bind(column(&ends, |e| e.state.as_str()))
        .bind(column(&ends, |e| e.next))
        .bind(column(&ends, |e| e.error.as_deref()))
        .bind(column(&ends, |e| e.provider_id.as_deref()))
        .bind(column(&ends, |e| e.purge_after))
        .bind(column(&ends, |e| e.how))
        .bind(column(writes, |w| w.now))
        .bind(column(&ends, |e| i64::from(e.unsure)))
        .execute(conn)
        .await?;
    Ok(())
}

/// One column of a round's rows, as an array parameter (the statements `unnest` them).
fn column<'a, W, T>(rows: &'a [W], value: impl Fn(&'a W) -> T) -> Vec<T> {
    rows.iter().map(value).collect()
}

/// The plan `conn` makes of [`FINISH_SQL`], as `EXPLAIN` prints it; nothing is written.
pub(super) async fn plan_of_finish(conn: &mut PgConnection) -> StoreResult<String> {
    let prepare = format!(
        "PREPARE ends(text[], bigint[], text[], bigint[], text[], text[], bigint[], text[], \
         bigint[], bigint[]) AS {FINISH_SQL}"
    );
    sqlx::raw_sql(&prepare).execute(&mut *conn).await?;
    let lines = sqlx::raw_sql(
        "EXPLAIN EXECUTE ends('{x}', '{1}', '{sent}', '{1}', '{NULL}', '{NULL}', '{NULL}', \
         '{sent}', '{1}', '{0}')",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(lines
        .iter()
        .map(|line| line.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n"))
}
