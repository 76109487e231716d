//! `torrow-hooks test-mail <address>`: one email through the configured transport, and an SMTP
//! failure explained in plain words (what to change in `mail.smtp_url`).

use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncTransport, Message};

use super::{Mailer, Transport};
use crate::i18n::Text;
use crate::t;

impl Mailer {
    /// Sends a test email to `address`; `Ok` says where it went, `Err` what to fix.
    pub async fn send_test(&self, address: &str) -> Result<Text, Text> {
        let to = crate::params::parse_email(address).map_err(|why| {
            t!(
                "test-mail-bad-address",
                address = crate::params::quote(address),
                why = why
            )
        })?;
        let lang = self.language;
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to.clone()))
            .subject(t!("test-mail-subject").render(lang))
            .header(ContentType::TEXT_PLAIN)
            .body(t!("test-mail-body").render(lang))
            .map_err(|e| t!("test-mail-not-made", why = e.to_string()))?;
        let file_problem = |dir: &std::path::Path, e: &dyn std::fmt::Display| {
            t!(
                "test-mail-file-problem",
                path = dir.display().to_string(),
                why = e.to_string()
            )
        };
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| t!("test-mail-sent", address = to.to_string()))
                .map_err(|e| explain(&e)),
            Transport::Files(files, dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| file_problem(dir, &e))?;
                files
                    .send(message)
                    .await
                    .map(|_| t!("test-mail-written-as-file", dir = dir.display().to_string()))
                    .map_err(|e| file_problem(dir, &e))
            }
        }
    }
}

/// What went wrong with SMTP, and what to change.
fn explain(e: &lettre::transport::smtp::Error) -> Text {
    let said = e.to_string();
    let lower = said.to_lowercase();
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    let advice = if e.is_timeout() {
        t!("test-mail-timeout")
    } else if e.is_tls() {
        t!("test-mail-tls")
    } else if code.starts_with("535") || code.starts_with("534") || lower.contains("authentication")
    {
        t!("test-mail-login")
    } else if code.starts_with("55") {
        t!("test-mail-sender")
    } else if lower.contains("connection refused")
        || lower.contains("lookup")
        || lower.contains("resolve")
        || lower.contains("connect")
    {
        t!("test-mail-connect")
    } else {
        t!("test-mail-refused")
    };
    t!(
        "test-mail-advice-said",
        advice = advice,
        said = crate::redact::cut(&said, 300)
    )
}
