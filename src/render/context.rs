//! The Tera context of a message: every value the template may show, already formatted for the
//! locale. The template decides what goes where.

use chrono::{Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};
use serde::Serialize;

use crate::event::{parse_time, CaseActionEvent, CaseKind};
use crate::params::{Hide, Options, TimeZoneChoice};
use crate::settings::Links;

use super::locale::Locale;

const DEFAULT_CURRENCY: &str = "RUB";
/// Contact fields shown at most (Torrow's forms have a handful; a body with thousands is not real).
const MAX_CONTACTS: usize = 20;
/// `render.max_resource_lines` when nothing says otherwise.
pub const DEFAULT_MAX_LINES: usize = 50;

#[derive(Debug, Clone, Serialize)]
pub struct MessageContext {
    /// The template being rendered (`template=`, else `message`).
    pub template: String,
    /// `phone` was given without `template`: the message alone is sent.
    pub only_message: bool,
    pub message: String,
    pub sign_text: String,
    pub case_kind: CaseKind,
    pub cancelled: bool,
    pub case_type_name: String,
    /// `case_type_name` with a capital first letter (`Запись`).
    pub case_type_title: String,
    pub detail_section_name: String,
    pub resource_name: String,
    #[serde(flatten)]
    pub hide: Hide,
    pub order_number: String,
    pub order_id: String,
    pub service_id: String,
    pub service_name: String,
    pub service_description: String,
    /// Start date and time in the chosen zone, in the locale's format.
    pub start: String,
    pub timezone: String,
    pub timezone_name: String,
    /// `EndDate − StartDate` in the locale's words; "" when unknown or zero.
    pub duration: String,
    pub address: String,
    pub description: String,
    /// The first `render.max_resource_lines` booked items.
    pub resources: Vec<ResourceLine>,
    /// How many booked items are not listed ("и ещё 12"), or 0.
    pub resources_more: usize,
    /// The total when > 0, else "".
    pub total: String,
    /// The currency as the locale writes it (`₽`), or its ISO code when the locale has no word.
    pub currency: String,
    /// The ISO code (`RUB`).
    pub currency_code: String,
    /// The client's full name (contact field of type 1, else first and last name), or "".
    pub client_name: String,
    /// The client's phone as they wrote it in the booking form, or "".
    pub client_phone: String,
    pub contacts: Vec<Contact>,
    pub service_url: String,
    pub order_url: String,
}

/// Inserts each named field of `$from` into the Tera context `$into`, under its own name.
macro_rules! insert_fields {
    ($into:ident, $from:expr, $($field:ident),+ $(,)?) => {
        $( $into.insert(stringify!($field), &$from.$field); )+
    };
}

impl MessageContext {
    /// The variables as Tera's context, each converted once, straight into it. Tera's
    /// `from_serialize` first builds a map of them, hashing every name, then copies it over: that
    /// was half the cost of a render. A test keeps the two equal, so no variable is left out.
    pub fn to_tera(&self) -> tera::Context {
        let mut context = tera::Context::new();
        insert_fields!(
            context,
            self,
            template,
            only_message,
            message,
            sign_text,
            case_kind,
            cancelled,
            case_type_name,
            case_type_title,
            detail_section_name,
            resource_name,
            order_number,
            order_id,
            service_id,
            service_name,
            service_description,
            start,
            timezone,
            timezone_name,
            duration,
            address,
            description,
            resources,
            resources_more,
            total,
            currency,
            currency_code,
            client_name,
            client_phone,
            contacts,
            service_url,
            order_url,
        );
        insert_fields!(
            context,
            self.hide,
            hide_detail_section,
            hide_resource_description,
            hide_order_duration,
            hide_address,
            hide_service_name,
            hide_order_description,
            hide_url,
            hide_contact_info,
        );
        context
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourceLine {
    pub number: usize,
    pub name: String,
    pub description: String,
    pub amount: String,
    pub measure: String,
    /// Amount and measure (`2 шт.`), or the amount with the locale's `amount_label` (`кол-во 2`).
    pub quantity: String,
    /// The price when > 0, else "".
    pub price: String,
    pub currency: String,
    pub currency_code: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub name: String,
    pub value: String,
}

/// Builds the context for `event` with the options of a hook URL in `locale`.
pub fn build(
    event: &CaseActionEvent,
    opts: &Options,
    locale: &Locale,
    links: &Links,
    max_lines: usize,
) -> MessageContext {
    let case = event.case();
    let kind = event.kind();
    let names = locale.names(kind);
    let participant = event.participant();
    let currency = participant
        .and_then(|p| p.price_properties.as_ref())
        .and_then(|p| p.currency_code.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| DEFAULT_CURRENCY.to_string());

    let tz = match opts.timezone {
        TimeZoneChoice::Fixed(tz) => tz,
        TimeZoneChoice::Participant => participant
            .and_then(|p| p.participant_time_zone.as_deref())
            .and_then(|z| z.parse::<Tz>().ok())
            .unwrap_or(chrono_tz::Europe::Moscow),
    };
    let start = case.start_date.as_deref().and_then(parse_time);
    let end = case.end_date.as_deref().and_then(parse_time);
    let start_local = start.map(|s| tz.from_utc_datetime(&s.naive_utc()));
    let timezone_name = opts.timezone_name.clone().unwrap_or_else(|| {
        // Moscow time reads the same however it was chosen (default, MSK, or the participant's).
        if opts.timezone_is_default || tz == chrono_tz::Europe::Moscow {
            locale.default_timezone_name.clone()
        } else {
            zone_abbreviation(tz, start.unwrap_or_else(chrono::Utc::now))
        }
    });
    let duration = match (start, end) {
        (Some(s), Some(e)) => locale.duration((e - s).num_seconds()),
        _ => String::new(),
    };

    let resources = resource_lines(event, locale, &currency, max_lines);
    let resources_more = event.booked_items().len().saturating_sub(resources.len());
    let participant_total = participant
        .and_then(|p| p.price_properties.as_ref())
        .and_then(|p| p.sale_price)
        .unwrap_or(0.0);
    let total = if participant_total > 0.0 {
        participant_total
    } else {
        item_prices(event).sum()
    };

    let case_type_name = opts
        .case_type_name
        .clone()
        .unwrap_or_else(|| names.case_type_name.clone());
    let service_id = event.service_id().unwrap_or_default().to_string();
    let order_id = case.id.clone().unwrap_or_default();
    MessageContext {
        template: opts.template.clone(),
        only_message: opts.only_message(),
        message: opts.message.clone(),
        sign_text: opts.sign_text.clone(),
        case_kind: kind,
        cancelled: event.cancelled(),
        case_type_title: capitalize_first(&case_type_name),
        case_type_name,
        detail_section_name: opts
            .detail_section_name
            .clone()
            .unwrap_or_else(|| names.detail_section_name.clone()),
        resource_name: opts
            .resource_name
            .clone()
            .unwrap_or_else(|| locale.resource_name.clone()),
        hide: opts.hide,
        order_number: event.order_number(),
        service_name: event.service_name().unwrap_or_default().to_string(),
        service_description: event
            .service
            .as_ref()
            .and_then(|s| s.description.clone())
            .unwrap_or_default(),
        start: start_local.map(|t| locale.datetime(&t)).unwrap_or_default(),
        timezone: tz.name().to_string(),
        timezone_name,
        duration,
        address: clean(case.place.as_deref()),
        description: clean(case.description.as_deref()),
        resources,
        resources_more,
        total: if total > 0.0 {
            locale.money(total)
        } else {
            String::new()
        },
        currency: locale.currency(&currency),
        currency_code: currency,
        client_name: client_name(event),
        client_phone: crate::recipient::raw_phone(event)
            .map(|p| p.trim().to_string())
            .unwrap_or_default(),
        contacts: contacts(event),
        service_url: link(&links.service, &service_id),
        order_url: link(&links.order, &order_id),
        service_id,
        order_id,
    }
}

/// The zone's abbreviation at `at` (`CET`), or its offset in the tz database's style (`+05`).
fn zone_abbreviation(tz: Tz, at: chrono::DateTime<chrono::Utc>) -> String {
    let offset = tz.offset_from_utc_datetime(&at.naive_utc());
    if let Some(abbr) = offset
        .abbreviation()
        .filter(|a| a.chars().any(char::is_alphabetic))
    {
        return abbr.to_string();
    }
    let seconds = offset.fix().local_minus_utc();
    let sign = if seconds < 0 { '-' } else { '+' };
    let (hours, minutes) = (seconds.abs() / 3600, seconds.abs() % 3600 / 60);
    if minutes == 0 {
        format!("{sign}{hours:02}")
    } else {
        format!("{sign}{hours:02}:{minutes:02}")
    }
}

fn item_price(event: &CaseActionEvent, item: &crate::event::BookedItem) -> f64 {
    let own = item.sale_price.unwrap_or(0.0);
    if own > 0.0 {
        return own;
    }
    item.tid
        .as_deref()
        .and_then(|id| event.resource(id))
        .and_then(|r| r.price_properties.as_ref())
        .and_then(|p| p.sale_price)
        .unwrap_or(0.0)
}

fn item_prices(event: &CaseActionEvent) -> impl Iterator<Item = f64> + '_ {
    event
        .booked_items()
        .iter()
        .map(|item| item_price(event, item))
        .filter(|p| *p > 0.0)
}

fn resource_lines(
    event: &CaseActionEvent,
    locale: &Locale,
    currency: &str,
    max_lines: usize,
) -> Vec<ResourceLine> {
    event
        .booked_items()
        .iter()
        .take(max_lines)
        .enumerate()
        .map(|(i, item)| {
            let resource = item.tid.as_deref().and_then(|id| event.resource(id));
            let name = resource
                .and_then(|r| r.item_info.as_ref())
                .and_then(|info| info.name.clone())
                .filter(|n| !n.is_empty())
                .or_else(|| {
                    item.resource_group_id
                        .as_deref()
                        .and_then(|g| event.group_name(g))
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let price = item_price(event, item);
            let resource_currency = resource
                .and_then(|r| r.price_properties.as_ref())
                .and_then(|p| p.currency_code.clone())
                .filter(|c| !c.is_empty());
            let amount = item.amount.map(|a| locale.amount(a)).unwrap_or_default();
            let measure = locale.measure(
                resource
                    .and_then(|r| r.amount_properties.as_ref())
                    .and_then(|a| a.measure),
            );
            let currency_code = resource_currency.unwrap_or_else(|| currency.to_string());
            ResourceLine {
                number: i + 1,
                name,
                description: clean(resource.and_then(|r| r.description.as_deref())),
                quantity: locale.quantity(&amount, &measure),
                amount,
                measure,
                price: if price > 0.0 {
                    locale.money(price)
                } else {
                    String::new()
                },
                currency: locale.currency(&currency_code),
                currency_code,
            }
        })
        .collect()
}

/// The participant's contact fields with a value, hidden (`*…`) fields left out.
fn contacts(event: &CaseActionEvent) -> Vec<Contact> {
    let Some(info) = event
        .participant()
        .and_then(|p| p.contact_information.as_ref())
    else {
        return Vec::new();
    };
    info.fields
        .iter()
        .filter_map(|f| {
            let value = f.value.as_deref()?.trim();
            let name = f.name.as_deref().unwrap_or("").trim();
            (!value.is_empty() && !name.starts_with('*')).then(|| Contact {
                name: name.to_string(),
                value: value.to_string(),
            })
        })
        .take(MAX_CONTACTS)
        .collect()
}

/// Contact field types (Torrow's `ParticipationFieldType`): full name, last name, first name.
const FULL_NAME: i64 = 1;
const LAST_NAME: i64 = 2;
const FIRST_NAME: i64 = 3;

/// The client's full name (contact field type 1, else first and last name), or "".
pub fn client_name(event: &CaseActionEvent) -> String {
    let Some(info) = event
        .participant()
        .and_then(|p| p.contact_information.as_ref())
    else {
        return String::new();
    };
    let field = |kind: i64| {
        info.fields
            .iter()
            .find(|f| f.participation_field_type == Some(kind))
            .and_then(|f| f.value.as_deref())
            .map(str::trim)
            .unwrap_or("")
    };
    let full = field(FULL_NAME);
    if !full.is_empty() {
        return full.to_string();
    }
    [field(FIRST_NAME), field(LAST_NAME)]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn link(format: &str, id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format.replace("{id}", id)
    }
}

/// Trimmed text with HTML line breaks turned into newlines.
fn clean(text: Option<&str>) -> String {
    text.unwrap_or("")
        .replace("<br>", "\n")
        .replace("<br/>", "\n")
        .replace("<br />", "\n")
        .trim()
        .to_string()
}

fn capitalize_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::render::{locale::Locale, samples};
    use crate::settings::Links;

    #[test]
    fn the_tera_context_has_every_variable_as_serde_gives_it() {
        let links = Links {
            service: "https://torrow.net/s/{service_id}".into(),
            order: "https://torrow.net/o/{order_id}".into(),
        };
        for locale in [
            include_str!("../../templates/ru-RU/locale.toml"),
            include_str!("../../templates/en-US/locale.toml"),
        ] {
            let locale: Locale = toml::from_str(locale).unwrap();
            for (name, event) in samples::events() {
                for phone in [false, true] {
                    let opts = samples::options("", phone);
                    let ctx = super::build(&event, &opts, &locale, &links, 50);
                    let serde = tera::Context::from_serialize(&ctx).unwrap();
                    assert_eq!(ctx.to_tera(), serde, "{name}, phone-only {phone}");
                }
            }
        }
    }
}
