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
        template: crate::render::DEFAULT_TEMPLATE.to_string(),
        template_given: false,
    }
}

/// A well-formed event as heavy to parse and render as `bytes` allow (for the CPU bench, the
/// loadgen's abusive clients and the limit tests): as many booked items as fit, each pointing at
/// its own resource with a name, a description and a price, in groups, with many contact fields.
pub fn crowded_event(bytes: usize) -> Vec<u8> {
    let head = r#"{"EventType":3060,"CaseItem":{"Id":"case-crowded","CaseType":2,"CaseState":2,"StartDate":"2024-06-16T09:00:00Z","EndDate":"2024-06-16T10:30:00Z","Place":"ул. Верхняя, 18","OrderNumber":{"FullNumber":"№9000"},"ResourceGroupList":[{"GroupId":"g","GroupName":"Группа"}]},"Service":{"Id":"svc","ItemInfo":{"Name":"Услуга"}},"#;
    let resource = |i: usize| {
        format!(
            r#"{{"Id":"r{i}","Description":"Описание {i}","ItemInfo":{{"Name":"Позиция {i}"}},"PriceProperties":{{"SalePrice":{i}.5,"CurrencyCode":"RUB"}},"AmountProperties":{{"Measure":796}}}}"#
        )
    };
    let item =
        |i: usize| format!(r#"{{"ResourceGroupId":"g","Tid":"r{i}","Amount":1,"SalePrice":null}}"#);
    let field = |i: usize| {
        format!(r#"{{"ParticipationFieldType":101,"Name":"Поле {i}","Value":"Значение {i}"}}"#)
    };
    let tail_size = 600;
    let mut n = 0;
    let mut used = head.len() + tail_size;
    // Each item costs its resource, its booked line and a contact field, with commas.
    while used + resource(n).len() + item(n).len() + field(n).len() + 3 < bytes {
        used += resource(n).len() + item(n).len() + field(n).len() + 3;
        n += 1;
    }
    let join = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(",");
    let body = format!(
        r#"{head}"Resources":[{}],"CaseParticipants":[{{"CaseParticipantState":2,"ParticipantTimeZone":"Europe/Moscow","BookingResourceList":[{}],"ContactInformation":{{"Fields":[{{"ParticipationFieldType":7,"Name":"Телефон","Value":"+7 911 999-88-77"}},{}]}},"PriceProperties":{{"SalePrice":0,"CurrencyCode":"RUB"}}}}]}}"#,
        join(&resource),
        join(&item),
        join(&field),
    );
    body.into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_crowded_event_fills_its_size_and_parses() {
        for size in [64 * 1024, 256 * 1024] {
            let body = super::crowded_event(size);
            assert!(
                body.len() <= size && body.len() > size * 9 / 10,
                "{}",
                body.len()
            );
            let event = crate::event::CaseActionEvent::parse(&body).unwrap();
            assert!(event.is_well_formed());
            assert!(
                event.booked_items().len() > size / 1024,
                "{}",
                event.booked_items().len()
            );
            assert!(event.resource("r7").is_some());
        }
    }
}
