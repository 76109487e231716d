//! What a hook request does, shared by HTTP and the CLI: check, deliver, preview.
//! Query → params + event → render → delivery.

// The error side of these results is the outcome itself, built once per refused request.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use crate::app::App;
use crate::channel::{Channel, RecipientRule, Route};
use crate::delivery::{admission::Refusal as Full, DedupKey, NotStored, Submission, Summary};
use crate::event::CaseActionEvent;
use crate::i18n::Text;
use crate::params::{self, Environment, Options, Query, Report};
use crate::recipient;
use crate::redact::{self, Secrets};
use crate::store::{State, StoreError};
use crate::t;

mod refusal;

use refusal::order_summary;

/// What a request came to, in the service's own words; [`crate::http`] turns it into a status
/// code and Torrow's JSON, and the CLI into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Check mode passed.
    Verified,
    /// Sent.
    Delivered,
    /// Stored; the first attempt failed for now or is still under way.
    Queued,
    /// Preview or `render`: the text, nothing sent.
    Rendered,
    UnknownChannel,
    /// A parameter is missing or wrong.
    WrongParameters,
    /// The body is no usable event, there is no recipient, or no message could be made of it.
    UnusableEvent,
    /// The provider refused (bad credentials, permanent send failure).
    ProviderRefused,
    /// The outbox could not store the delivery.
    NotStored,
    /// Hooks whose credentials no provider accepted have filled their share of the outbox.
    OverShare,
}

impl Kind {
    /// Sent, queued, verified or rendered: nothing for the caller to fix.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Kind::Verified | Kind::Delivered | Kind::Queued | Kind::Rendered
        )
    }
}

/// A [`Kind`] with the texts that go with it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: Kind,
    pub message: Option<Text>,
    pub error_message: Option<Text>,
    pub warning_message: Option<Text>,
    pub delivery_id: Option<String>,
    /// Preview: the recipient, masked.
    pub recipient: Option<String>,
    /// Preview: the text.
    pub text: Option<String>,
}

impl Outcome {
    fn new(kind: Kind) -> Self {
        Outcome {
            kind,
            message: None,
            error_message: None,
            warning_message: None,
            delivery_id: None,
            recipient: None,
            text: None,
        }
    }

    pub fn success(kind: Kind, message: Text, warnings: &Text) -> Self {
        let mut o = Outcome::new(kind);
        o.message = Some(message);
        o.warning_message = (!warnings.is_empty()).then(|| warnings.clone());
        o
    }

    pub fn refused(kind: Kind, errors: Text, warnings: &Text) -> Self {
        let mut o = Outcome::new(kind);
        o.error_message = Some(errors);
        o.warning_message = Some(warnings.clone());
        o
    }
}

/// A request that passed every check: who gets what, through which channel.
pub struct Prepared {
    pub channel: Arc<dyn Channel>,
    pub query: Query,
    /// The channel's own parameters, parsed once.
    pub route: Route,
    pub report: Report,
    pub options: Options,
    pub event: CaseActionEvent,
    pub recipient: String,
}

/// Why a request stopped before delivery: the answer, and what to email about it.
struct Refusal {
    answer: Outcome,
    /// What failed, for the email's subject (`mail-wrong-parameters`…).
    what: Text,
    /// A rendered message that failed is kept as a failed delivery (so the operator can see and
    /// replay it); a refusal of the request itself is not stored.
    keep: bool,
}

fn refuse(answer: Outcome, what: Text) -> Refusal {
    Refusal {
        answer,
        what,
        keep: false,
    }
}

impl App {
    fn lookup(&self, channel: &str) -> Result<Arc<dyn Channel>, Outcome> {
        self.channels.get(channel).ok_or_else(|| {
            Outcome::refused(
                Kind::UnknownChannel,
                t!(
                    "answer-unknown-channel-name-known-known",
                    name = params::quote(channel),
                    known = self.channels.names()
                ),
                &Text::default(),
            )
        })
    }

    /// The query, unless it is too large to look at (`server.max_params`, 48 KiB).
    fn parse_query(&self, raw_query: &str) -> Result<Query, Outcome> {
        params::check_size(raw_query, self.settings.server.max_params)
            .map_err(|e| Outcome::refused(Kind::WrongParameters, e, &Text::default()))?;
        Ok(Query::parse(raw_query))
    }

    /// Checks the parameters of `query` for `channel`: common ones, the channel's (parsed once
    /// into its route), unknown ones.
    fn options(&self, channel: &dyn Channel, query: &Query) -> (Option<(Options, Route)>, Report) {
        let serving = self.templates.current();
        let env = Environment {
            templates: &serving.catalogue,
            default_locale: &self.settings.templates.default_locale,
            default_region: &self.settings.phone.default_region,
        };
        let mut report = Report::default();
        let options = Options::parse(query, &env, &mut report);
        let route = channel.route(query, &mut report);
        params::warn_unknown(query, channel.params(), &mut report);
        // An honest check and preview: say when the template's newest edit is not the one served.
        if let Some(problem) = options
            .as_ref()
            .and_then(|o| serving.problem(&o.locale, &o.template))
        {
            report.warn(problem);
        }
        let both = options.zip(route).filter(|_| !report.has_errors());
        (both, report)
    }

    /// Check mode (GET): validate, verify credentials at the provider; never sends.
    pub async fn check(&self, channel: &str, raw_query: &str) -> Outcome {
        let (secrets, _) = self.masking(raw_query);
        let answer = self.check_unmasked(channel, raw_query).await;
        mask(&secrets, answer)
    }

    async fn check_unmasked(&self, channel: &str, raw_query: &str) -> Outcome {
        let channel = match self.lookup(channel) {
            Ok(c) => c,
            Err(answer) => return answer,
        };
        let query = match self.parse_query(raw_query) {
            Ok(q) => q,
            Err(answer) => return answer,
        };
        let (options, mut report) = self.options(channel.as_ref(), &query);
        let Some((_, route)) = options else {
            return Outcome::refused(
                Kind::WrongParameters,
                report.error_message(),
                &report.warning_message(),
            );
        };
        match channel.check(&route).await {
            Ok(warnings) => {
                // The provider took the credentials: this hook's failures may be mailed.
                let secrets = self.channels.route_secrets(&route);
                let credentials = self.mailer.credentials(channel.name(), &secrets);
                self.mailer.vouch(credentials.as_ref()).await;
                report.warnings.extend(warnings);
                Outcome::success(
                    Kind::Verified,
                    t!("answer-webhook-has-been-successfully-verified"),
                    &report.warning_message(),
                )
            }
            Err(crate::channel::Failure::Unusable(error)) => {
                Outcome::refused(Kind::WrongParameters, error, &report.warning_message())
            }
            Err(failure) => {
                let retryable = failure.is_retryable();
                let mut error = failure.into_text();
                if retryable {
                    // Check mode sends nothing and retries nothing: say what the operator can do.
                    error = t!("answer-error-nothing-sent-check-again", error = error);
                }
                Outcome::refused(Kind::ProviderRefused, error, &report.warning_message())
            }
        }
    }

    /// The request's secrets, and its query as logs, the outbox and reports may show it (noted
    /// on the request's span too): worked out once per request.
    fn masking(&self, raw_query: &str) -> (Secrets, String) {
        let secrets = self.channels.secrets(raw_query);
        let query = self.channels.mask_query(&secrets, raw_query);
        tracing::Span::current().record("query", query.as_str());
        (secrets, query)
    }

    /// Render only (POST /preview): the recipient (masked) and the text; never sends.
    pub async fn preview(&self, channel: &str, raw_query: &str, body: &[u8]) -> Outcome {
        let (secrets, _) = self.masking(raw_query);
        let answer = match self.prepare_and_render(channel, raw_query, body).await {
            Ok((p, text)) => {
                let mut answer = Outcome::new(Kind::Rendered);
                let warnings = p.report.warning_message();
                answer.warning_message = (!warnings.is_empty()).then_some(warnings);
                answer.recipient = Some(redact::phone(&p.recipient));
                answer.text = Some(text);
                answer
            }
            Err(refusal) => refusal.answer,
        };
        mask(&secrets, answer)
    }

    /// Deliver (POST /webhook): store durably, attempt, answer Success / Queued / Error.
    ///
    /// The body is taken, not borrowed, so that it is let go of before the outbox is awaited.
    pub async fn deliver(&self, channel_name: &str, raw_query: &str, body: Vec<u8>) -> Outcome {
        let (secrets, masked_query) = self.masking(raw_query);
        let answer = match self.prepare(channel_name, raw_query, &body) {
            Ok(prepared) => {
                self.deliver_prepared(prepared, body, &secrets, masked_query)
                    .await
            }
            Err(refusal) => {
                self.report_refusal(channel_name, raw_query, &body, &refusal)
                    .await;
                refusal.answer
            }
        };
        mask(&secrets, answer)
    }

    async fn deliver_prepared(
        &self,
        prepared: Prepared,
        body: Vec<u8>,
        secrets: &Secrets,
        masked_query: String,
    ) -> Outcome {
        let warnings = prepared.report.warning_message();
        let rendered = self.render(&prepared).await;
        let Prepared {
            channel,
            query,
            route,
            options,
            event,
            recipient,
            ..
        } = prepared;
        let summary = Summary {
            order: Some(order_summary(&event, &options)),
            target: secrets.scrub_text(&channel.target(&route)),
            query: masked_query,
        };
        let channel = channel.name();
        // A text that could not be made is still handed over (kept as failed, and reported);
        // a request refused outright is only reported.
        let failed_answer = match &rendered {
            Err(refusal) if !refusal.keep => {
                self.report_refusal(channel, query.raw(), &body, refusal)
                    .await;
                return refusal.answer.clone();
            }
            Err(refusal) => Some(refusal.answer.clone()),
            Ok(_) => None,
        };
        let submission = Submission {
            channel: channel.to_string(),
            route: route.to_string(),
            recipient,
            text: rendered.map_err(|r| r.answer.error_message.unwrap_or_default()),
            dedup: DedupKey::of(channel, query.raw(), &body),
            summary,
            error_email: options.error_email,
        };
        // What the request brought is let go of before the outbox and the first attempt are
        // awaited: a request held up there keeps its submission (the text and a summary), not
        // a body of up to `server.body_limit`, however slow the store or the provider.
        drop(body);
        drop(event);
        let submitted = self.delivery.submit(submission).await;
        if let (Some(mut answer), Ok(submitted)) = (failed_answer, &submitted) {
            answer.delivery_id = Some(submitted.record.id.clone());
            return answer;
        }
        let submitted = match submitted {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = ?e, "cannot store the delivery");
                metrics::counter!("hooks_not_stored_total").increment(1);
                let text = match &e {
                    NotStored::Refused(why @ Full::UnvouchedShare { .. }) => {
                        return Outcome::refused(
                            Kind::OverShare,
                            t!("answer-not-stored-because", cause = why.text()),
                            &warnings,
                        );
                    }
                    NotStored::Refused(why) => {
                        t!("answer-not-stored-because", cause = why.text())
                    }
                    NotStored::Store(StoreError::Storage(fault)) => {
                        t!("answer-not-stored-because", cause = fault.text())
                    }
                    NotStored::Store(_) => t!("answer-message-could-stored-please-try"),
                };
                return Outcome::refused(Kind::NotStored, text, &warnings);
            }
        };
        tracing::Span::current().record("delivery_id", submitted.record.id.as_str());
        let record = submitted.record;
        if submitted.unusable {
            // What check mode says of the same URL: its parameters name something unusable.
            let error = record.last_error.clone().unwrap_or_default();
            let mut answer = Outcome::refused(Kind::WrongParameters, error, &warnings);
            answer.delivery_id = Some(record.id);
            return answer;
        }
        let mut answer = match record.state {
            State::Sent => Outcome::success(
                Kind::Delivered,
                t!("answer-message-has-been-delivered"),
                &warnings,
            ),
            State::Pending | State::Sending | State::Unknown => {
                let mut a = Outcome::new(Kind::Queued);
                a.message = Some(match &record.last_error {
                    Some(e) if record.state == State::Unknown => {
                        t!("answer-outcome-unknown", error = e)
                    }
                    Some(e) => t!("answer-message-stored-will-retried-error", error = e),
                    None => t!("answer-message-stored-being-delivered"),
                });
                a.warning_message = Some(warnings.clone());
                a
            }
            State::Failed | State::Dead => Outcome::refused(
                Kind::ProviderRefused,
                record
                    .last_error
                    .clone()
                    .unwrap_or_else(|| t!("answer-delivery-failed")),
                &warnings,
            ),
        };
        if submitted.duplicate {
            let note = if matches!(record.state, State::Failed | State::Dead) {
                t!(
                    "answer-same-request-received-before-delivery",
                    id = record.id.as_str(),
                    state = record.state.text(),
                    id2 = record.id.as_str()
                )
            } else {
                t!(
                    "answer-same-request-received-before-delivery-2",
                    id = record.id.as_str(),
                    state = record.state.text()
                )
            };
            let w = answer.warning_message.take().unwrap_or_default();
            answer.warning_message = Some(w.then(note));
        }
        answer.delivery_id = Some(record.id);
        answer
    }

    /// Everything before rendering: params, event, recipient.
    fn prepare(&self, channel: &str, raw_query: &str, body: &[u8]) -> Result<Prepared, Refusal> {
        let channel = self
            .lookup(channel)
            .map_err(|a| refuse(a, t!("mail-unknown-channel")))?;
        let query = self
            .parse_query(raw_query)
            .map_err(|a| refuse(a, t!("mail-wrong-parameters")))?;
        let (options, report) = self.options(channel.as_ref(), &query);
        let warnings = report.warning_message();
        let Some((options, route)) = options else {
            return Err(refuse(
                Outcome::refused(Kind::WrongParameters, report.error_message(), &warnings),
                t!("mail-wrong-parameters"),
            ));
        };
        let event = CaseActionEvent::parse(body).map_err(|e| {
            refuse(
                Outcome::refused(Kind::UnusableEvent, e.text(), &warnings),
                t!("mail-unusable-event"),
            )
        })?;
        let recipient = match (channel.recipient_rule(&route), &options.phone) {
            (RecipientRule::Phone, Some(phone)) => phone.clone(),
            (RecipientRule::Phone, None) => {
                recipient::from_event(&event, &self.settings.phone.default_region).map_err(|e| {
                    refuse(
                        Outcome::refused(Kind::UnusableEvent, e.text(), &warnings),
                        t!("mail-recipient"),
                    )
                })?
            }
            (RecipientRule::ContactField { name, what }, _) => channel
                .read_contact(recipient::field_value(&event, &name))
                .map_err(|why| {
                    let field = params::quote(&name);
                    let error = match why {
                        None => t!("answer-what-field-field", what = what, field = field),
                        Some(why) => t!(
                            "answer-what-field-field-why",
                            what = what,
                            field = field,
                            why = why
                        ),
                    };
                    refuse(
                        Outcome::refused(Kind::UnusableEvent, error, &warnings),
                        t!("mail-recipient"),
                    )
                })?,
        };
        Ok(Prepared {
            channel,
            query,
            route,
            report,
            options,
            event,
            recipient,
        })
    }

    /// The text of a prepared request, or why there is none (a template failed, or made nothing).
    async fn render(&self, p: &Prepared) -> Result<String, Refusal> {
        let warnings = p.report.warning_message();
        let text = self.templates.render(&p.event, &p.options).await.map_err(|e| {
            // The caller reads where it failed; the source and paths go to the log only.
            tracing::warn!(locale = %p.options.locale, error = %e, "the message template failed");
            kept(refuse(
                Outcome::refused(
                    Kind::UnusableEvent,
                    t!(
                        "answer-message-template-failed-error",
                        error = e.public(&p.options.locale)
                    ),
                    &warnings,
                ),
                t!("mail-template-failed"),
            ))
        })?;
        if text.trim().is_empty() {
            return Err(kept(refuse(
                Outcome::refused(
                    Kind::UnusableEvent,
                    t!("answer-rendered-message-empty"),
                    &warnings,
                ),
                t!("mail-template-failed"),
            )));
        }
        let max = p.channel.max_text_chars(&p.route);
        let chars = text.chars().count();
        if chars > max {
            // Refused, not stored: a text the messenger would refuse is no use to anyone.
            return Err(refuse(
                Outcome::refused(
                    Kind::WrongParameters,
                    t!(
                        "answer-message-too-long",
                        chars = chars,
                        channel = p.channel.title(),
                        max = max
                    ),
                    &warnings,
                ),
                t!("mail-message-too-long"),
            ));
        }
        Ok(text)
    }

    async fn prepare_and_render(
        &self,
        channel: &str,
        raw_query: &str,
        body: &[u8],
    ) -> Result<(Prepared, String), Refusal> {
        let prepared = self.prepare(channel, raw_query, body)?;
        let text = self.render(&prepared).await?;
        Ok((prepared, text))
    }
}

fn kept(mut refusal: Refusal) -> Refusal {
    refusal.keep = true;
    refusal
}

impl App {
    /// `torrow-hooks render`: the recipient (in full: the operator's own terminal), the text and
    /// the warnings; or the answer explaining why not.
    pub async fn render_for_cli(
        &self,
        channel: &str,
        raw_query: &str,
        body: &[u8],
    ) -> Result<(String, String, Text), Outcome> {
        self.prepare_and_render(channel, raw_query, body)
            .await
            .map(|(p, text)| (p.recipient, text, p.report.warning_message()))
            .map_err(|r| mask(&self.channels.secrets(raw_query), r.answer))
    }
}

/// The request's secrets masked in every text of its answer.
fn mask(secrets: &Secrets, mut answer: Outcome) -> Outcome {
    if secrets.is_empty() {
        return answer;
    }
    for text in [
        &mut answer.message,
        &mut answer.error_message,
        &mut answer.warning_message,
    ]
    .into_iter()
    .flatten()
    {
        *text = secrets.scrub_text(text);
    }
    if let Some(text) = &mut answer.text {
        *text = secrets.scrub(text);
    }
    answer
}
