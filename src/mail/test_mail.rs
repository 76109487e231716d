//! `torrow-hooks test-mail <address>`: one email through the configured transport, and an SMTP
//! failure explained in plain words (what to change in `mail.smtp_url`).

use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncTransport, Message};

use super::{Mailer, Transport};
use crate::i18n::{tr, Lang};

impl Mailer {
    /// Sends a test email to `address`; `Ok` says where it went, `Err` what to fix.
    pub async fn send_test(&self, address: &str) -> Result<String, String> {
        let to = crate::params::parse_email(address)
            .map_err(|why| format!("{address} is not an address that can be mailed: {why}"))?;
        let lang = self.language;
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to.clone()))
            .subject(tr(lang, "[torrow-hooks] Test email"))
            .header(ContentType::TEXT_PLAIN)
            .body(tr(
                lang,
                "This is a test email from torrow-hooks: failure reports will reach this address.",
            ))
            .map_err(|e| format!("the email could not be made: {e}"))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| format!("sent to {to} through mail.smtp_url"))
                .map_err(|e| explain(&e, lang)),
            Transport::Files(files, dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("{}: {e}", dir.display()))?;
                files
                    .send(message)
                    .await
                    .map(|_| {
                        format!(
                            "mail.smtp_url is empty, so the email was written as a file under {} instead of being sent",
                            dir.display()
                        )
                    })
                    .map_err(|e| format!("{}: {e}", dir.display()))
            }
        }
    }
}

/// What went wrong with SMTP, and what to change.
fn explain(e: &lettre::transport::smtp::Error, _lang: Lang) -> String {
    let said = e.to_string();
    let lower = said.to_lowercase();
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    let advice = if e.is_timeout() {
        "the SMTP server did not answer in time: check the host and port in mail.smtp_url, and that the firewall lets this machine out on that port"
    } else if e.is_tls() {
        "the TLS handshake failed: smtps:// is for port 465, and for port 587 write smtp://…:587?tls=required"
    } else if code.starts_with("535") || code.starts_with("534") || lower.contains("authentication")
    {
        "the SMTP server refused the login: check the user and password in mail.smtp_url (an @ in the login is written %40, smtps://user%40example.com:password@smtp.example.com)"
    } else if code.starts_with("55") {
        "the SMTP server refused the sender or the recipient: mail.from must be an address the server lets you send as"
    } else if lower.contains("connection refused")
        || lower.contains("lookup")
        || lower.contains("resolve")
        || lower.contains("connect")
    {
        "this machine cannot connect to the SMTP server: check the host and port in mail.smtp_url"
    } else {
        "the SMTP server refused the email"
    };
    format!(
        "{advice} (the server said: {})",
        crate::redact::cut(&said, 300)
    )
}
