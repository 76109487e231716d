//! No mail to an address that did not ask for it. A hook URL names its `errorEmail`, and anyone
//! with one working account can make such a URL: the first email to a new address is a short
//! confirmation in the operator's language, with nothing the caller chose in it (no client name,
//! no message text, no link but ours), and reports follow only once its link was opened
//! (docs/en/delivery.md, "Failure emails").
//!
//! - The link carries a one-time token; the outbox keeps only its keyed hash (the instance key
//!   of [`super::fence`]), so any instance can confirm it, and it expires after [`VALID_FOR`].
//! - At most one confirmation per address per [`ASK_AGAIN_AFTER`]; reports wait meanwhile (at
//!   most [`MAX_HELD`] per address; retention deletes them after `delivery.retention`).
//! - The link is built from `server.public_url`; without it new addresses get nothing, and
//!   `/readyz` says why. Addresses in `mail.allowed_addresses` need no confirmation.
//! - Opening the link shows a page with a button; the button confirms (POST), so that a mail
//!   scanner that follows links confirms nothing.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};

use super::{Mailer, Transport};
use crate::i18n::Text;
use crate::store::now_ms;
use crate::t;

/// How long a confirmation link works.
pub const VALID_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// One confirmation email per address at most this often.
pub const ASK_AGAIN_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);
/// Reports held for an address that has not confirmed yet, at most.
pub const MAX_HELD: i64 = 50;

/// What opening a confirmation link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// This address gets reports from now on.
    Now(String),
    /// The link is unknown, used already, or expired.
    Unknown,
}

impl Mailer {
    /// Whether new addresses can be asked at all (the link needs `server.public_url`).
    pub fn can_confirm(&self) -> bool {
        self.console.is_some()
    }

    /// The link of a confirmation token was opened and its button pressed.
    pub async fn confirm(&self, token: &str) -> anyhow::Result<Confirmed> {
        let token = token.trim();
        if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Confirmed::Unknown);
        }
        let now = now_ms();
        let since = now - VALID_FOR.as_millis() as i64;
        let hash = self.fence.token_hash(token);
        match self.store.confirm(&hash, now, since).await? {
            Some(address) => {
                metrics::counter!("hooks_email_confirmations_total", "outcome" => "confirmed")
                    .increment(1);
                tracing::info!(
                    domain = address.rsplit('@').next().unwrap_or(""),
                    "an address confirmed it wants failure reports"
                );
                self.wake.notify_one();
                Ok(Confirmed::Now(address))
            }
            None => Ok(Confirmed::Unknown),
        }
    }

    /// Addresses waiting for their confirmation: (address, when the email went).
    pub async fn awaiting(&self, limit: i64) -> anyhow::Result<Vec<(String, i64)>> {
        let since = now_ms() - ASK_AGAIN_AFTER.as_millis() as i64;
        Ok(self.store.awaiting_confirmation(since, limit).await?)
    }

    /// The address needs a confirmation before its reports: it has none yet (or it expired).
    /// Asks for it (once the address is claimed, so one instance asks), or says why it cannot.
    pub(super) async fn ask(&self, address: &str, now: i64) -> anyhow::Result<()> {
        let Some(base) = self.console.as_deref() else {
            metrics::counter!("hooks_emails_refused_total", "reason" => "no_public_url")
                .increment(1);
            tracing::warn!(
                domain = address.rsplit('@').next().unwrap_or(""),
                "failure reports to a new address wait: server.public_url is not set, so it cannot be asked to confirm"
            );
            return Ok(());
        };
        let hold = super::CLAIM_HOLD.as_millis() as i64;
        if !self.store.claim_mail(address, now, 0, hold).await? {
            return Ok(());
        }
        let token = blake3::Hash::from_bytes(rand::random::<[u8; 32]>()).to_hex()[..32].to_string();
        let link = format!("{base}/confirm/{token}");
        let sent = self.send_confirmation(address, &link).await;
        match sent {
            Ok(()) => {
                self.store
                    .confirmation_sent(address, &self.fence.token_hash(&token), now_ms())
                    .await?;
                metrics::counter!("hooks_email_confirmations_total", "outcome" => "asked")
                    .increment(1);
                tracing::info!(
                    domain = address.rsplit('@').next().unwrap_or(""),
                    "a new address was asked to confirm it wants failure reports"
                );
                Ok(())
            }
            Err(e) => {
                self.store.release_mail(address).await?;
                Err(e)
            }
        }
    }

    async fn send_confirmation(&self, address: &str, link: &str) -> anyhow::Result<()> {
        let to = crate::params::parse_email(address)
            .map_err(|why| anyhow::anyhow!("{address}: {why}"))?;
        let lang = self.language;
        let days = ASK_AGAIN_AFTER.as_secs() / 86_400;
        let valid = VALID_FOR.as_secs() / 86_400;
        let body = [
            t!("confirm-mail-why"),
            Text::default(),
            t!("confirm-mail-link", link = link, days = valid),
            Text::default(),
            t!("confirm-mail-ignore", days = days),
        ]
        .iter()
        .map(|t| t.render(lang))
        .collect::<Vec<_>>()
        .join("\n");
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(t!("confirm-mail-subject").render(lang))
            .header(ContentType::TEXT_PLAIN)
            .body(body)?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                lettre::AsyncTransport::send(smtp, message).await?;
            }
            Transport::Files(files, dir) => {
                tokio::fs::create_dir_all(dir).await?;
                lettre::AsyncTransport::send(files, message).await?;
            }
        }
        Ok(())
    }
}
