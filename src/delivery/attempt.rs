//! One attempt of one delivery: try it (asking the provider first when an earlier send got no
//! answer), turn what happened into an [`Outcome`], write it, then log, count and report it.
//!
//! A send that got no answer may have gone out. It is never sent again blindly: the channel
//! says what follows ([`Unanswered`]): a resend where the provider drops repeats itself, a look
//! at the provider's own list of sent messages before a resend, or a hold until the operator
//! decides (docs/en/delivery.md, "No answer"). A delivery found mid-send after a crash is
//! treated the same way.

use std::{sync::atomic::Ordering, sync::Arc, time::Instant};

use super::{Delivery, Summary};
use crate::channel::{Channel, Failure, Found, Outgoing, Route, Sent, Unanswered};
use crate::i18n::Text;
use crate::mail::{Advice, FailureReport};
use crate::redact;
use crate::store::{now_ms, Outcome, Record, State};
use crate::t;

/// What one try came to, before it is written.
enum Tried {
    Sent(Sent),
    Failed(Failure),
    /// No answer, and the provider is to be asked later whether it went out.
    AskLater(Text),
    /// No answer, and the provider cannot be asked: held for the operator.
    Held(Text),
}

impl Delivery {
    /// One attempt of one delivery; returns the delivery as it stands afterwards.
    pub(super) async fn attempt(self: Arc<Self>, record: Record) -> Record {
        self.attempted(record).await.0
    }

    /// [`Delivery::attempt`], and whether it found the route unusable ([`Failure::Unusable`]).
    pub(super) async fn attempted(self: Arc<Self>, mut record: Record) -> (Record, bool) {
        let slot = self
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let started = Instant::now();
        let tried = self.try_once(&record).await;
        let unusable = matches!(tried, Tried::Failed(Failure::Unusable(_)));
        metrics::histogram!("hooks_attempt_duration_seconds", "channel" => record.channel.clone())
            .record(started.elapsed().as_secs_f64());
        let outcome = self.outcome(&record, tried, now_ms());
        if let Err(e) = self
            .store
            .finish_attempt(&record.id, record.attempts + 1, &outcome, now_ms())
            .await
        {
            tracing::error!(error = %e, delivery_id = %record.id, "cannot record the attempt; it is written again as soon as the outbox takes writes");
            self.unrecorded.lock().expect("unrecorded lock").push((
                record.id.clone(),
                record.attempts + 1,
                outcome,
            ));
            drop(slot);
            return (record, unusable);
        }
        self.tell(&mut record, &outcome).await;
        drop(slot);
        // The worker needs to look again only when the next due time moved or a slot it was
        // waiting for is free; waking it after every send would cost three queries per POST.
        if record.state == State::Pending || self.starved.swap(false, Ordering::Relaxed) {
            self.wake.notify_one();
        }
        (record, unusable)
    }

    /// Sends the delivery, or first asks the provider whether an earlier send went out.
    async fn try_once(&self, record: &Record) -> Tried {
        let Some(channel) = self.channels.get(&record.channel) else {
            return Tried::Failed(Failure::Permanent(t!(
                "channel-channel-name-available",
                name = record.channel.as_str()
            )));
        };
        let route = self.channels.stored_route(channel.as_ref(), &record.query);
        let message = Outgoing {
            delivery_id: &record.id,
            recipient: &record.recipient,
            text: &record.text,
        };
        let policy = channel.when_unanswered(&route);
        if record.unsure {
            if let Some(settled) = settle(channel.as_ref(), &route, &message, record).await {
                return settled;
            }
        }
        let max_age = self.cfg.max_age.as_millis() as i64;
        if record.attempts > 0 && now_ms() > record.created_at + max_age {
            return Tried::Failed(Failure::Retryable(t!("channel-too-old-send")));
        }
        match channel.send(&route, &message).await {
            Ok(sent) => Tried::Sent(sent),
            Err(Failure::NoAnswer(why)) => match policy {
                Unanswered::Resend => Tried::Failed(Failure::Retryable(why)),
                Unanswered::Ask => Tried::AskLater(why),
                Unanswered::Hold => Tried::Held(t!("delivery-no-answer-held", why = why)),
            },
            Err(failure) => Tried::Failed(failure),
        }
    }

    /// What the try means for the delivery: its next state, and when it is tried again.
    fn outcome(&self, record: &Record, tried: Tried, now: i64) -> Outcome {
        let (error, unanswered, hint) = match tried {
            Tried::Sent(sent) => {
                return Outcome::Sent {
                    provider_id: sent.provider_id,
                    warning: sent.warning,
                }
            }
            Tried::Held(error) => {
                return Outcome::Unknown {
                    error,
                    check_at: None,
                }
            }
            Tried::Failed(Failure::Permanent(error) | Failure::Unusable(error)) => {
                return Outcome::Failed { error }
            }
            Tried::Failed(Failure::Refused(error)) => return Outcome::Refused { error },
            Tried::Failed(Failure::RetryAfter(error, hint)) => (error, false, Some(hint)),
            Tried::Failed(
                Failure::Retryable(error) | Failure::Unread(error) | Failure::NoAnswer(error),
            ) => (error, false, None),
            Tried::AskLater(error) => (error, true, None),
        };
        let max_age = self.cfg.max_age.as_millis() as i64;
        let pause = self
            .schedule
            .delay(record.attempts)
            .max(hint.unwrap_or_default());
        let next = now + pause.as_millis() as i64;
        if next > record.created_at + max_age {
            let age = humantime::format_duration(self.cfg.max_age).to_string();
            let attempts = record.attempts + 1;
            let error = if unanswered {
                t!("delivery-gave-up-unanswered", error = error, age = age)
            } else {
                t!(
                    "channel-error-gave-up-after-attempts",
                    error = error,
                    attempts = attempts,
                    age = age
                )
            };
            Outcome::Dead { error }
        } else if unanswered {
            Outcome::Unknown {
                error,
                check_at: Some(next),
            }
        } else {
            Outcome::Retry {
                next_attempt_at: next,
                error,
            }
        }
    }

    /// Brings `record` up to the written outcome; logs, counts and reports it.
    async fn tell(&self, record: &mut Record, outcome: &Outcome) {
        record.attempts += 1;
        record.unsure = false;
        let secrets = self.channels.stored_secrets(&record.query);
        let (state, label, advice) = match outcome {
            Outcome::Sent {
                provider_id,
                warning,
            } => {
                // The provider took the hook's credentials: its failures may be mailed.
                let credentials = self.mailer.credentials(&record.channel, &secrets);
                self.mailer.vouch(credentials.as_ref()).await;
                record.provider_id = provider_id.clone();
                record.last_error = warning.clone();
                (State::Sent, "sent", None)
            }
            Outcome::Retry {
                error,
                next_attempt_at,
            } => {
                record.last_error = Some(error.clone());
                record.next_attempt_at = *next_attempt_at;
                (State::Pending, "retry", None)
            }
            Outcome::Unknown { error, check_at } => {
                record.last_error = Some(error.clone());
                record.unsure = true;
                match check_at {
                    Some(at) => {
                        record.next_attempt_at = *at;
                        (State::Pending, "unknown", None)
                    }
                    None => (State::Unknown, "unknown", Some(Advice::OutcomeUnknown)),
                }
            }
            Outcome::Failed { error } | Outcome::Refused { error } => {
                record.last_error = Some(error.clone());
                let advice = if matches!(outcome, Outcome::Refused { .. }) {
                    Advice::CheckCredentials
                } else {
                    Advice::FixAndResend
                };
                (State::Failed, "failed", Some(advice))
            }
            Outcome::Dead { error } => {
                record.last_error = Some(error.clone());
                (State::Dead, "dead", Some(Advice::ProviderDown))
            }
        };
        record.state = state;
        metrics::counter!("hooks_deliveries_total", "channel" => record.channel.clone(), "outcome" => label)
            .increment(1);
        tracing::info!(
            delivery_id = %record.id,
            channel = %record.channel,
            recipient = %redact::phone(&record.recipient),
            attempt = record.attempts,
            outcome = label,
            error = %secrets.scrub(&record.last_error.as_ref().filter(|_| state != State::Sent).map(Text::to_string).unwrap_or_default()),
            "delivery attempt"
        );
        let advice = match advice {
            None if state == State::Pending && self.still_failing(record, now_ms()).await => {
                Some(Advice::StillRetried)
            }
            other => other,
        };
        if let Some(advice) = advice {
            self.report(record, advice).await;
        }
    }

    /// A delivery still pending `mail.warn_after` after it was accepted, not reported as such
    /// yet: it is reported once (the outbox keeps the mark, for every instance).
    async fn still_failing(&self, record: &Record, now: i64) -> bool {
        let warn_after = self.mailer.warn_after.as_millis() as i64;
        if warn_after == 0 || record.state != State::Pending || now < record.created_at + warn_after
        {
            return false;
        }
        match self.store.claim_warning(&record.id, now).await {
            Ok(first) => first,
            Err(e) => {
                tracing::warn!(error = %e, delivery_id = %record.id, "cannot mark the early failure report; it is not sent");
                false
            }
        }
    }

    pub(super) async fn report(&self, record: &Record, advice: Advice) {
        let Some(address) = record.error_email.as_deref() else {
            return;
        };
        let summary: Summary = serde_json::from_str(&record.summary).unwrap_or_default();
        let secrets = self.channels.stored_secrets(&record.query);
        let report = FailureReport::delivery(
            record,
            &secrets,
            summary.target,
            summary.query,
            summary.order,
            advice,
        );
        let credentials = self.mailer.credentials(&record.channel, &secrets);
        self.mailer
            .report(address, &report, credentials.as_ref())
            .await;
    }
}

/// For a delivery whose last send may have gone out: `None` when it may be sent now; else what
/// the try came to without sending (found sent, held, or to be asked again later).
async fn settle(
    channel: &dyn Channel,
    route: &Route,
    message: &Outgoing<'_>,
    record: &Record,
) -> Option<Tried> {
    match channel.when_unanswered(route) {
        Unanswered::Resend => None,
        Unanswered::Hold => Some(Tried::Held(t!("delivery-unsure-cannot-ask"))),
        Unanswered::Ask => match channel.look_for(route, message, record.created_at).await {
            Ok(Found::Sent(sent)) => {
                tracing::info!(delivery_id = %record.id, "the provider lists the message as sent: not sent again");
                Some(Tried::Sent(sent))
            }
            Ok(Found::NotSent) => {
                tracing::info!(delivery_id = %record.id, "the provider does not list the message: sending it");
                None
            }
            Ok(Found::CannotTell(why)) => Some(Tried::Held(why)),
            Err(failure) if failure.is_retryable() => Some(Tried::AskLater(t!(
                "delivery-cannot-ask-now",
                why = failure.into_text()
            ))),
            Err(failure) => Some(Tried::Held(failure.into_text())),
        },
    }
}
