//! Text the CLI prints about deliveries (`deliveries`, `show`): the same views as the console's
//! `/api/deliveries`, laid out for a terminal.

use std::fmt::Write;

use crate::delivery::lookup::{Listed, Shown};

/// One line per delivery: time, state, attempts, channel, recipient, order, id, last error.
pub fn deliveries_table(list: &[Listed]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20}  {:<7}  {:>8}  {:<10}  {:<13}  {:<8}  {:<36}  LAST ERROR",
        "CREATED (UTC)", "STATE", "ATTEMPTS", "CHANNEL", "RECIPIENT", "ORDER", "ID"
    );
    for d in list {
        let order = d
            .order
            .as_deref()
            .map(|n| format!("№{n}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<20}  {:<7}  {:>8}  {:<10}  {:<13}  {:<8}  {:<36}  {}",
            d.created_at,
            d.state,
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
pub fn delivery(d: &Shown) -> String {
    let l = &d.listed;
    let mut out = String::new();
    let _ = writeln!(out, "Delivery   {}", l.id);
    let _ = writeln!(
        out,
        "State      {} after {} attempt(s)",
        l.state, l.attempts
    );
    let _ = writeln!(out, "Created    {}", l.created_at);
    let next = match l.state {
        "pending" => "Next try  ",
        _ => "Updated   ",
    };
    let _ = writeln!(out, "{next} {}", d.next_attempt_at);
    let _ = writeln!(out, "Channel    {} ({})", l.channel, d.target);
    let _ = writeln!(out, "Recipient  {}", l.recipient);
    if let Some(order) = &l.order {
        let service = l.service.as_deref().unwrap_or("");
        let _ = writeln!(out, "Order      №{order} {service}");
    }
    if let Some(id) = &d.provider_id {
        let _ = writeln!(out, "Provider   message {id}");
    }
    if !d.attempts_made.is_empty() {
        let _ = writeln!(out, "Attempts");
        for a in &d.attempts_made {
            let error = a
                .error
                .as_deref()
                .map(|e| format!("  {e}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:>3}  {}  {:<6}{error}",
                a.number, a.ended_at, a.outcome
            );
        }
    } else if let Some(error) = &l.last_error {
        let _ = writeln!(out, "Error      {error}");
    }
    if d.can_replay {
        let _ = writeln!(out, "Send again: torrow-hooks replay {}", l.id);
    }
    let _ = writeln!(out, "Text");
    for line in d.text.lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

fn one_line(text: &str, max: usize) -> String {
    let flat = text.replace(['\n', '\r'], " ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    format!("{cut}…")
}
