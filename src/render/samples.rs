//! Built-in sample events: every template set must render them all before it is used, and the
//! console offers them for previews.

use crate::event::CaseActionEvent;
use crate::params::{Hide, Options, TimeZoneChoice};

/// Name and JSON of each sample: a booking with one resource, an order with prices, an event
/// participation, a cancelled booking.
pub const SAMPLES: &[(&str, &str)] = &[
    ("booking", include_str!("samples/booking.json")),
    ("order", include_str!("samples/order.json")),
    ("event", include_str!("samples/event.json")),
    ("cancelled", include_str!("samples/cancelled.json")),
];

/// The sample events, parsed.
pub fn events() -> Vec<(&'static str, CaseActionEvent)> {
    SAMPLES
        .iter()
        .map(|(name, json)| {
            let event = CaseActionEvent::parse(json.as_bytes()).expect("a built-in sample parses");
            (*name, event)
        })
        .collect()
}

/// Options that make a template use every part: nothing hidden, every text set; with `phone`,
/// the phone-only form (the message alone).
pub fn options(locale: &str, phone: bool) -> Options {
    let hide = Hide {
        hide_detail_section: false,
        hide_resource_description: false,
        hide_order_duration: false,
        hide_address: false,
        hide_service_name: false,
        hide_order_description: false,
        hide_url: false,
        hide_contact_info: false,
    };
    Options {
        error_email: None,
        message: "Вы записаны на услугу / You are booked".to_string(),
        phone: phone.then(|| "79119998877".to_string()),
        resource_name: None,
        detail_section_name: None,
        case_type_name: None,
        hide,
        locale: locale.to_string(),
        timezone: TimeZoneChoice::Fixed(chrono_tz::Europe::Moscow),
        timezone_is_default: true,
        timezone_name: None,
        sign_text: "—".to_string(),
    }
}
