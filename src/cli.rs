//! Text the CLI prints about deliveries (`deliveries`, `show`): the same views as the console's
//! `/api/deliveries`, laid out for a terminal.

use std::fmt::Write;

use crate::delivery::lookup::{Listed, Shown};
use crate::i18n::{tr, Lang};

/// One line per delivery: time, state, attempts, channel, recipient, order, id, last error.
pub fn deliveries_table(list: &[Listed], lang: Lang) -> String {
    let mut out = String::new();
    let h = |label: &str| tr(lang, label);
    let _ = writeln!(
        out,
        "{:<20}  {:<9}  {:>8}  {:<10}  {:<13}  {:<8}  {:<36}  {}",
        h("CREATED"),
        h("STATE"),
        h("ATTEMPTS"),
        h("CHANNEL"),
        h("RECIPIENT"),
        h("ORDER"),
        "ID",
        h("LAST ERROR")
    );
    for d in list {
        let order = d
            .order
            .as_deref()
            .map(|n| format!("№{n}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<20}  {:<9}  {:>8}  {:<10}  {:<13}  {:<8}  {:<36}  {}",
            local(&d.created_at, &d.timezone),
            d.state,
            d.attempts,
            d.channel,
            d.recipient,
            order,
            d.id,
            one_line(&tr(lang, d.last_error.as_deref().unwrap_or("")), 80)
        );
    }
    out
}

/// Everything about one delivery.
pub fn delivery(d: &Shown, lang: Lang) -> String {
    let l = &d.listed;
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{:<11}{value}", tr(lang, label));
    };
    line("Delivery", l.id.clone());
    line(
        "State",
        tr(
            lang,
            &format!("{} after {} attempt(s)", l.state, l.attempts),
        ),
    );
    line("Created", local(&l.created_at, &l.timezone));
    let next = if l.state == "pending" {
        "Next try"
    } else {
        "Updated"
    };
    line(next, local(&d.next_attempt_at, &l.timezone));
    line("Channel", format!("{} ({})", l.channel, d.target));
    line("Recipient", l.recipient.clone());
    if let Some(order) = &l.order {
        let service = l.service.as_deref().unwrap_or("");
        line("Order", format!("№{order} {service}"));
    }
    if let Some(id) = &d.provider_id {
        line("Provider", tr(lang, &format!("message {id}")));
    }
    if d.attempts_made.is_empty() {
        if let Some(error) = &l.last_error {
            line("Error", tr(lang, error));
        }
    }
    if !d.attempts_made.is_empty() {
        let _ = writeln!(out, "{}", tr(lang, "Attempts"));
        for a in &d.attempts_made {
            let error = a
                .error
                .as_deref()
                .map(|e| format!("  {}", tr(lang, e)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:>3}  {}  {:<6}{error}",
                a.number,
                local(&a.ended_at, &l.timezone),
                a.outcome
            );
        }
    }
    if d.can_replay {
        let _ = writeln!(
            out,
            "{}",
            tr(lang, &format!("Send again: torrow-hooks replay {}", l.id))
        );
    }
    let _ = writeln!(out, "{}", tr(lang, "Text"));
    for text_line in d.text.lines() {
        let _ = writeln!(out, "  {text_line}");
    }
    out
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
