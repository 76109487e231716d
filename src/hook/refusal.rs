//! What is reported about a request: the failure report of a refused POST, and the order facts
//! every report carries.

use super::Refusal;
use crate::app::App;
use crate::event::{parse_time, CaseActionEvent};
use crate::mail::{FailureReport, OrderSummary};
use crate::params::{self, Options, Query, Report};
use crate::redact;

impl App {
    /// Mails a refused POST to its `errorEmail`, but only when the body is a well-formed Torrow
    /// event: a stranger's `{}` with someone's address must not make us send mail.
    pub(super) async fn report_refusal(
        &self,
        channel: &str,
        raw_query: &str,
        body: &[u8],
        refusal: &Refusal,
    ) {
        if raw_query.len() > params::MAX_QUERY_BYTES {
            return;
        }
        let Some(event) = CaseActionEvent::parse(body)
            .ok()
            .filter(CaseActionEvent::is_well_formed)
        else {
            tracing::debug!("refused POST not mailed: the body is not a well-formed Torrow event");
            return;
        };
        let query = Query::parse(raw_query);
        let Some(address) = params::error_email(&query) else {
            return;
        };
        let secrets = self.channels.secrets(raw_query);
        // The URL's zone when it names a valid one (the parameters may be what is wrong).
        let zone: chrono_tz::Tz = query
            .get("timezone")
            .and_then(|z| z.parse().ok())
            .unwrap_or(chrono_tz::Europe::Moscow);
        let order = OrderSummary {
            number: redact::cut(&event.order_number(), 40),
            service: redact::cut(event.service_name().unwrap_or_default(), 100),
            start: start_in(&event, zone),
            order_id: redact::cut(event.case().id.as_deref().unwrap_or_default(), 64),
            timezone: zone.name().to_string(),
            kind: event.kind().as_str().to_string(),
            client_name: redact::cut(&crate::render::context::client_name(&event), 100),
            client_phone: crate::recipient::raw_phone(&event)
                .map(|p| redact::cut(p.trim(), 40))
                .unwrap_or_default(),
        };
        let report = FailureReport::refused(
            refusal.what.clone(),
            secrets.scrub_text(&refusal.answer.error_message.clone().unwrap_or_default()),
            &params::quote(channel),
            self.channels
                .get(channel)
                .and_then(|c| Some(c.target(&c.route(&query, &mut Report::default())?)))
                .map(|t| secrets.scrub_text(&t))
                .unwrap_or_default(),
            self.channels.mask_query(&secrets, raw_query),
            order,
        );
        // The hook's credentials: the route's secrets when its parameters make a route.
        let credentials = match self.channels.get(channel) {
            Some(c) => {
                let secrets = match c.route(&query, &mut Report::default()) {
                    Some(route) => self.channels.route_secrets(&route),
                    None => secrets,
                };
                self.mailer.credentials(c.name(), &secrets)
            }
            None => None,
        };
        self.mailer
            .report(&address, &report, credentials.as_ref())
            .await;
    }
}

pub(super) fn order_summary(event: &CaseActionEvent, options: &Options) -> OrderSummary {
    let zone = match options.timezone {
        params::TimeZoneChoice::Fixed(tz) => tz,
        params::TimeZoneChoice::Participant => event
            .participant()
            .and_then(|p| p.participant_time_zone.as_deref())
            .and_then(|z| z.parse().ok())
            .unwrap_or(chrono_tz::Europe::Moscow),
    };
    OrderSummary {
        number: event.order_number(),
        service: event.service_name().unwrap_or_default().to_string(),
        start: start_in(event, zone),
        order_id: event.case().id.clone().unwrap_or_default(),
        timezone: zone.name().to_string(),
        kind: event.kind().as_str().to_string(),
        client_name: crate::redact::cut(&crate::render::context::client_name(event), 100),
        client_phone: crate::recipient::raw_phone(event)
            .map(|p| crate::redact::cut(p.trim(), 40))
            .unwrap_or_default(),
    }
}

/// The case's start in `zone`, as failure emails write every time (`2024-05-08 11:15 MSK`).
fn start_in(event: &CaseActionEvent, zone: chrono_tz::Tz) -> String {
    event
        .case()
        .start_date
        .as_deref()
        .and_then(parse_time)
        .map(|t| {
            t.with_timezone(&zone)
                .format(crate::mail::TIME_FORMAT)
                .to_string()
        })
        .unwrap_or_default()
}
