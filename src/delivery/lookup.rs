//! Deliveries as an operator looks them up: the console's `/api/deliveries` and the CLI's
//! `deliveries` / `show` / `replay` print the same views. Recipients are masked; the hook URL's
//! query is never shown (it holds the channel's credentials).

use serde::Serialize;

use super::{Delivery, Summary};
use crate::i18n::Lang;
use crate::redact;
use crate::store::{now_ms, Attempt, Record, State, StoreError};

/// One line of the list.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub channel: String,
    /// Masked: `7911*****77`.
    pub recipient: String,
    /// Torrow's order number (`180`), when the event had one.
    pub order: Option<String>,
    pub service: Option<String>,
    pub state: &'static str,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The IANA zone of the order (its hook URL's), in which the CLI shows every time.
    pub timezone: String,
}

/// One delivery in full: the list line, the text and every attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    #[serde(flatten)]
    pub listed: Listed,
    /// Pending: when the next attempt is due; finished: when the last one ended (RFC 3339).
    pub next_attempt_at: String,
    pub target: String,
    pub provider_id: Option<String>,
    pub text: String,
    pub attempts_made: Vec<ShownAttempt>,
    /// Dead and failed deliveries can be sent again.
    pub can_replay: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShownAttempt {
    pub number: i64,
    pub ended_at: String,
    pub outcome: String,
    pub error: Option<String>,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// Pending again, to be sent at once by a running service.
    Queued(Vec<String>),
    NotFound,
    /// The delivery exists but is not dead or failed (its state).
    NotReplayable(State),
}

pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn listed(record: &Record, lang: Lang) -> (Listed, Summary) {
    let summary: Summary = serde_json::from_str(&record.summary).unwrap_or_default();
    let order = summary.order.as_ref();
    let listed = Listed {
        id: record.id.clone(),
        created_at: time(record.created_at),
        channel: record.channel.clone(),
        recipient: redact::phone(&record.recipient),
        order: order
            .map(|o| o.number.trim_start_matches('№').trim().to_string())
            .filter(|n| !n.is_empty()),
        service: order.map(|o| o.service.clone()).filter(|s| !s.is_empty()),
        state: record.state.as_str(),
        attempts: record.attempts,
        last_error: record.last_error.as_ref().map(|e| e.render(lang)),
        timezone: order
            .map(|o| o.timezone.clone())
            .filter(|z| z.parse::<chrono_tz::Tz>().is_ok())
            .unwrap_or_else(|| chrono_tz::Europe::Moscow.name().to_string()),
    };
    (listed, summary)
}

impl Delivery {
    /// The `limit` newest deliveries (at most 500), in `state` or any; texts in `lang`.
    pub async fn list(
        &self,
        state: Option<State>,
        limit: i64,
        lang: Lang,
    ) -> Result<Vec<Listed>, StoreError> {
        let records = self.store.recent(state, limit.clamp(1, 500)).await?;
        Ok(records
            .iter()
            .map(|r| {
                let mut line = listed(r, lang).0;
                let secrets = self.channels.stored_secrets(&r.query);
                line.last_error = line.last_error.map(|e| secrets.scrub(&e));
                line
            })
            .collect())
    }

    /// One delivery in full; texts in `lang`.
    pub async fn show(&self, id: &str, lang: Lang) -> Result<Option<Shown>, StoreError> {
        let Some(record) = self.store.get(id).await? else {
            return Ok(None);
        };
        let attempts: Vec<Attempt> = self.store.attempts(id).await?;
        let (mut listed, summary) = listed(&record, lang);
        // A token reused in the message (or echoed in an error) is masked here too.
        let secrets = self.channels.stored_secrets(&record.query);
        listed.last_error = listed.last_error.map(|e| secrets.scrub(&e));
        Ok(Some(Shown {
            listed,
            next_attempt_at: time(record.next_attempt_at),
            target: secrets.scrub_text(&summary.target).render(lang),
            provider_id: record.provider_id.clone(),
            text: secrets.scrub(&record.text),
            attempts_made: attempts
                .into_iter()
                .map(|a| ShownAttempt {
                    number: a.number,
                    ended_at: time(a.ended_at),
                    outcome: a.outcome,
                    error: a.error.map(|e| secrets.scrub_text(&e).render(lang)),
                })
                .collect(),
            can_replay: matches!(record.state, State::Dead | State::Failed | State::Unknown),
        }))
    }

    /// Makes a dead or failed delivery pending again and wakes the worker (in this process).
    pub async fn replay_one(&self, id: &str) -> Result<Replayed, StoreError> {
        let ids = self.store.replay(Some(id), now_ms()).await?;
        if !ids.is_empty() {
            self.wake();
            return Ok(Replayed::Queued(ids));
        }
        Ok(match self.store.get(id).await? {
            None => Replayed::NotFound,
            Some(record) => Replayed::NotReplayable(record.state),
        })
    }
}
