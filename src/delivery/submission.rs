//! What a POST hands to delivery: what to send, to whom, what makes it the same POST as another,
//! and the facts a failure report needs. Delivery makes the outbox's row of it; the caller knows
//! nothing of the outbox.

use super::Summary;
use crate::store::NewDelivery;

/// What makes two POSTs the same: their channel, query and body. BLAKE3 (a cryptographic hash,
/// so no two different POSTs share a key; 2.5× faster than SHA-256 on the 90 KB sample, see
/// BENCHMARKS.md). A NUL cannot occur in a channel name or a raw query, so the parts cannot run
/// into each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupKey(String);

impl DedupKey {
    pub fn of(channel: &str, query: &str, body: &[u8]) -> DedupKey {
        let mut hash = blake3::Hasher::new();
        hash.update(channel.as_bytes());
        hash.update(&[0]);
        hash.update(query.as_bytes());
        hash.update(&[0]);
        hash.update(body);
        DedupKey(hash.finalize().to_hex().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One POST to deliver.
#[derive(Debug, Clone)]
pub struct Submission {
    pub channel: String,
    /// The channel's route (its parameters, as JSON): what every attempt sends through. The
    /// outbox keeps this, not the whole query.
    pub route: String,
    pub recipient: String,
    /// The text, or why none could be made: then the delivery is kept as failed (so that nothing
    /// is lost without a trace) and reported, never attempted.
    pub text: Result<String, crate::i18n::Text>,
    pub dedup: DedupKey,
    /// What the delivery is about, for reports and the deliveries view.
    pub summary: Summary,
    pub error_email: Option<String>,
}

impl Submission {
    /// The outbox row. A delivery that could not be made gets a key of its own, so that the same
    /// POST goes through once the cause (a template, say) is mended.
    /// `unvouched`: no provider has accepted the hook's credentials, or it has none of its own.
    pub(super) fn into_row(self, unvouched: bool) -> NewDelivery {
        // Time-ordered (UUID v7): a new delivery's id, and its attempts' rows keyed by it, go at
        // the end of their indexes instead of a random page of each.
        let id = uuid::Uuid::now_v7().to_string();
        let (text, failed, dedup_key) = match self.text {
            Ok(text) => (text, None, self.dedup.0),
            Err(why) => (String::new(), Some(why), format!("failed:{id}")),
        };
        NewDelivery {
            id,
            channel: self.channel,
            query: self.route,
            dedup_key,
            recipient: self.recipient,
            text,
            summary: serde_json::to_string(&self.summary).expect("a summary serializes"),
            error_email: self.error_email,
            failed,
            unvouched,
        }
    }
}
