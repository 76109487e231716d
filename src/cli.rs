//! Text the CLI prints about deliveries (`deliveries`, `show`): the same views as the console's
//! `/api/deliveries`, laid out for a terminal; and `new-outbox`.

use std::fmt::Write;

use crate::delivery::lookup::{Listed, Shown};
use crate::i18n::{Lang, Text};
use crate::store::State;
use crate::t;

/// A state's name in `lang` (`failed` → «не удалось»).
fn state_word(state: &str, lang: Lang) -> String {
    State::named(state)
        .map(|s| s.text().render(lang))
        .unwrap_or_else(|| state.to_string())
}

/// One line per delivery: time, state, attempts, channel, recipient, order, id, last error.
pub fn deliveries_table(list: &[Listed], lang: Lang) -> String {
    let mut out = String::new();
    let h = |label: Text| label.render(lang);
    let _ = writeln!(
        out,
        "{:<20}  {:<12}  {:>8}  {:<10}  {:<13}  {:<8}  {:<36}  {}",
        h(t!("cli-created")),
        h(t!("cli-state")),
        h(t!("cli-attempts")),
        h(t!("cli-channel")),
        h(t!("cli-recipient")),
        h(t!("cli-order")),
        "ID",
        h(t!("cli-last-error"))
    );
    for d in list {
        let order = d
            .order
            .as_deref()
            .map(|n| format!("№{n}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<20}  {:<12}  {:>8}  {:<10}  {:<13}  {:<8}  {:<36}  {}",
            local(&d.created_at, &d.timezone),
            state_word(d.state, lang),
            d.attempts,
            d.channel,
            d.recipient,
            order,
            d.id,
            one_line(d.last_error.as_deref().unwrap_or(""), 80)
        );
    }
    out
}

/// Everything about one delivery.
pub fn delivery(d: &Shown, lang: Lang) -> String {
    let l = &d.listed;
    let mut out = String::new();
    let mut line = |label: Text, value: String| {
        let _ = writeln!(out, "{:<11}{value}", label.render(lang));
    };
    line(t!("cli-delivery"), l.id.clone());
    line(
        t!("cli-state-2"),
        t!(
            "cli-state-after-n-attempt-s",
            state = state_word(l.state, lang),
            n = l.attempts
        )
        .render(lang),
    );
    line(t!("cli-created-2"), local(&l.created_at, &l.timezone));
    let next = if l.state == "pending" {
        t!("cli-next-try")
    } else {
        t!("cli-updated")
    };
    line(next, local(&d.next_attempt_at, &l.timezone));
    line(t!("cli-channel-2"), format!("{} ({})", l.channel, d.target));
    line(t!("cli-recipient-2"), l.recipient.clone());
    if let Some(order) = &l.order {
        let service = l.service.as_deref().unwrap_or("");
        line(t!("cli-order-2"), format!("№{order} {service}"));
    }
    if let Some(id) = &d.provider_id {
        line(
            t!("cli-provider"),
            t!("cli-message-id", id = id).render(lang),
        );
    }
    if d.attempts_made.is_empty() {
        if let Some(error) = &l.last_error {
            line(t!("cli-error"), error.clone());
        }
    }
    if !d.attempts_made.is_empty() {
        let _ = writeln!(out, "{}", t!("cli-attempts-2").render(lang));
        for a in &d.attempts_made {
            let error = a
                .error
                .as_deref()
                .map(|e| format!("  {e}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:>3}  {}  {:<6}{error}",
                a.number,
                local(&a.ended_at, &l.timezone),
                outcome_word(&a.outcome, lang)
            );
        }
    }
    if d.can_replay {
        let _ = writeln!(
            out,
            "{}",
            t!("cli-send-again-torrow-hooks-replay", id = l.id.as_str()).render(lang)
        );
    }
    let _ = writeln!(out, "{}", t!("cli-text").render(lang));
    for text_line in d.text.lines() {
        let _ = writeln!(out, "  {text_line}");
    }
    out
}

/// An attempt's outcome (`sent`, `retry`, `failed`, `dead`) in `lang`.
fn outcome_word(outcome: &str, lang: Lang) -> String {
    match outcome {
        "retry" => t!("outcome-retry").render(lang),
        other => state_word(other, lang),
    }
}

/// An RFC 3339 time in the order's zone, as the failure emails write it (`2024-05-08 11:15 MSK`).
fn local(rfc3339: &str, zone: &str) -> String {
    crate::mail::local_time(rfc3339, zone.parse().ok())
}

fn one_line(text: &str, max: usize) -> String {
    let flat = text.replace(['\n', '\r'], " ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    format!("{cut}…")
}

/// `torrow-hooks new-outbox`: where the outbox was lost (its file missing, empty, cut short or
/// another), lets the next start make a new, empty one; what it did, in the operator's words.
pub fn new_outbox(settings: &crate::Settings) -> anyhow::Result<Text> {
    use crate::store::sqlite::{start_new, NewOutbox};
    if settings.delivery.postgres_url().is_some() {
        return Ok(t!("cli-new-outbox-postgres"));
    }
    let path = settings.delivery.sqlite_path();
    let shown = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let done = start_new(&path).map_err(|e| anyhow::anyhow!("{}: {e}", shown.display()))?;
    Ok(match done {
        NewOutbox::Whole => t!("cli-new-outbox-whole", path = shown.display().to_string()),
        NewOutbox::Forgotten { kept: None } => {
            t!("cli-new-outbox-made", path = shown.display().to_string())
        }
        NewOutbox::Forgotten { kept: Some(kept) } => t!(
            "cli-new-outbox-kept",
            path = shown.display().to_string(),
            kept = kept.display().to_string()
        ),
    })
}
