//! The Torrow CaseActionEvent payload: only the fields the message needs, tolerant of the real
//! payload's quirks (one object or an array, nulls, `""`, odd timestamps, unknown fields).

mod skim;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CaseActionEvent {
    pub event_type: Option<i64>,
    pub case_item: Option<CaseItem>,
    pub service: Option<Service>,
    #[serde(deserialize_with = "one_or_many")]
    pub resources: Vec<Resource>,
    #[serde(deserialize_with = "one_or_many")]
    pub case_participants: Vec<CaseParticipant>,
    /// Resources and groups by id, built once by [`CaseActionEvent::parse`]: a message looks up
    /// each booked item, and a linear search per item made a 10,000-resource body cost a second.
    #[serde(skip)]
    index: Index,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Index {
    resources: std::collections::HashMap<String, usize>,
    groups: std::collections::HashMap<String, usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CaseItem {
    pub id: Option<String>,
    pub case_type: Option<i64>,
    pub case_state: Option<i64>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub description: Option<String>,
    pub place: Option<String>,
    pub service_id: Option<String>,
    /// Only whether it is there counts (an event participation): skipped, never built.
    pub group_case_properties: Option<serde::de::IgnoredAny>,
    #[serde(deserialize_with = "nullable_vec")]
    pub booking_resource_list: Vec<BookedItem>,
    #[serde(deserialize_with = "nullable_vec")]
    pub resource_group_list: Vec<ResourceGroup>,
    pub order_number: Option<OrderNumber>,
    pub item_info: Option<ItemInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct OrderNumber {
    pub full_number: Option<String>,
    pub sequence_number: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ItemInfo {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ResourceGroup {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BookedItem {
    pub tid: Option<String>,
    pub resource_group_id: Option<String>,
    pub amount: Option<f64>,
    pub sale_price: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Service {
    pub id: Option<String>,
    pub item_info: Option<ItemInfo>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resource {
    pub id: Option<String>,
    pub description: Option<String>,
    pub item_info: Option<ItemInfo>,
    pub price_properties: Option<PriceProperties>,
    pub amount_properties: Option<AmountProperties>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PriceProperties {
    pub sale_price: Option<f64>,
    pub currency_code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AmountProperties {
    pub measure: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CaseParticipant {
    pub case_participant_state: Option<i64>,
    #[serde(deserialize_with = "nullable_vec")]
    pub booking_resource_list: Vec<BookedItem>,
    pub contact_information: Option<ContactInformation>,
    pub price_properties: Option<PriceProperties>,
    pub participant_time_zone: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContactInformation {
    #[serde(deserialize_with = "nullable_vec")]
    pub fields: Vec<ContactField>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContactField {
    pub participation_field_type: Option<i64>,
    pub value: Option<String>,
    pub name: Option<String>,
}

/// Which kind of case the event is about; it picks the default names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseKind {
    Booking,
    Event,
    Order,
}

impl CaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Booking => "booking",
            CaseKind::Event => "event",
            CaseKind::Order => "order",
        }
    }
}

/// Why a body is not a usable event (`Display`: the English of [`EventError::text`]).
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("{}", self.text())]
    Empty,
    #[error("{}", self.text())]
    Json(String),
    #[error("{}", self.text())]
    NoCaseItem,
}

impl EventError {
    /// The error in the reader's words.
    pub fn text(&self) -> crate::i18n::Text {
        match self {
            EventError::Empty => crate::t!("param-request-body-empty-expected-torrow"),
            EventError::Json(why) => crate::t!("param-request-body-valid-json-torrow", why = why),
            EventError::NoCaseItem => crate::t!("param-event-has-caseitem-order-caseactionevent"),
        }
    }
}

/// Participant states that mean the participation was cancelled.
const CANCELLED_PARTICIPANT: i64 = 3;
/// Case states that mean the case was cancelled or rejected.
const CANCELLED_CASE: [i64; 2] = [7, 8];

impl CaseActionEvent {
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(EventError::Empty);
        }
        // The members no message reads are passed over (see `skim`). When that copy is not an
        // event, the body as it came says why, with its own line and column.
        let read = serde_json::from_slice::<CaseActionEvent>;
        let parsed = match skim::skimmed(body) {
            Some(std::borrow::Cow::Owned(skimmed)) => read(&skimmed).or_else(|_| read(body)),
            _ => read(body),
        };
        let mut event = parsed.map_err(|e| EventError::Json(e.to_string()))?;
        if event.case_item.is_none() {
            return Err(EventError::NoCaseItem);
        }
        event.build_index();
        Ok(event)
    }

    /// Looks like a real Torrow event: a case with an id and at least one participant. Only such
    /// a body may cause a failure report to be mailed.
    pub fn is_well_formed(&self) -> bool {
        let has_id = self
            .case_item
            .as_ref()
            .and_then(|c| c.id.as_deref())
            .is_some_and(|id| !id.trim().is_empty());
        has_id && !self.case_participants.is_empty()
    }

    pub fn case(&self) -> &CaseItem {
        static EMPTY: std::sync::OnceLock<CaseItem> = std::sync::OnceLock::new();
        self.case_item
            .as_ref()
            .unwrap_or_else(|| EMPTY.get_or_init(CaseItem::default))
    }

    /// The participant the message is for (the first one when several arrive).
    pub fn participant(&self) -> Option<&CaseParticipant> {
        self.case_participants.first()
    }

    pub fn kind(&self) -> CaseKind {
        let case = self.case();
        if case.case_type == Some(1) {
            CaseKind::Booking
        } else if case.group_case_properties.is_some() {
            CaseKind::Event
        } else {
            CaseKind::Order
        }
    }

    pub fn cancelled(&self) -> bool {
        self.participant()
            .and_then(|p| p.case_participant_state)
            .is_some_and(|s| s == CANCELLED_PARTICIPANT)
            || self
                .case()
                .case_state
                .is_some_and(|s| CANCELLED_CASE.contains(&s))
    }

    /// The booked items: the participant's list, else the case's.
    pub fn booked_items(&self) -> &[BookedItem] {
        match self.participant() {
            Some(p) if !p.booking_resource_list.is_empty() => &p.booking_resource_list,
            _ => &self.case().booking_resource_list,
        }
    }

    /// Indexes resources and groups by id (the first of a repeated id wins, as a search would).
    fn build_index(&mut self) {
        let mut index = Index::default();
        for (i, r) in self.resources.iter().enumerate() {
            if let Some(id) = &r.id {
                index.resources.entry(id.clone()).or_insert(i);
            }
        }
        for (i, g) in self.case().resource_group_list.iter().enumerate() {
            if let Some(id) = &g.group_id {
                index.groups.entry(id.clone()).or_insert(i);
            }
        }
        self.index = index;
    }

    pub fn resource(&self, id: &str) -> Option<&Resource> {
        match self.index.resources.get(id) {
            Some(&i) => self.resources.get(i),
            // Built without `parse` (tests): search.
            None if self.index.resources.is_empty() => {
                self.resources.iter().find(|r| r.id.as_deref() == Some(id))
            }
            None => None,
        }
    }

    pub fn group_name(&self, group_id: &str) -> Option<&str> {
        let groups = &self.case().resource_group_list;
        let group = match self.index.groups.get(group_id) {
            Some(&i) => groups.get(i),
            None if self.index.groups.is_empty() => groups
                .iter()
                .find(|g| g.group_id.as_deref() == Some(group_id)),
            None => None,
        };
        group.and_then(|g| g.group_name.as_deref())
    }

    pub fn order_number(&self) -> String {
        let case = self.case();
        case.order_number
            .as_ref()
            .and_then(|n| {
                n.full_number
                    .clone()
                    .filter(|s| !s.is_empty())
                    .or_else(|| n.sequence_number.map(|s| format!("№{s}")))
            })
            .unwrap_or_default()
    }

    pub fn service_name(&self) -> Option<&str> {
        self.service
            .as_ref()
            .and_then(|s| s.item_info.as_ref())
            .and_then(|i| i.name.as_deref())
            .filter(|s| !s.is_empty())
    }

    pub fn service_id(&self) -> Option<&str> {
        self.service
            .as_ref()
            .and_then(|s| s.id.as_deref())
            .or(self.case().service_id.as_deref())
            .filter(|s| !s.is_empty())
    }
}

/// Parses Torrow timestamps: RFC 3339 with any fraction, or without a zone (taken as UTC).
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// A list, one object, or null: read as it comes, without buffering the value first (the
/// resources are most of a 90 KB event).
fn one_or_many<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    struct OneOrMany<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for OneOrMany<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list, an object or null")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Vec<T>, D2::Error> {
            d.deserialize_any(self)
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(one) = seq.next_element()? {
                all.push(one);
            }
            Ok(all)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(|one| vec![one])
        }
    }

    d.deserialize_option(OneOrMany(std::marker::PhantomData))
}

fn nullable_vec<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_many_and_nulls() {
        let one = br#"{"CaseItem":{"CaseType":1,"BookingResourceList":null},"Resources":{"Id":"a"},"CaseParticipants":null}"#;
        let e = CaseActionEvent::parse(one).unwrap();
        assert_eq!(e.resources.len(), 1);
        assert!(e.case_participants.is_empty());
        assert_eq!(e.kind(), CaseKind::Booking);
        let many = br#"{"CaseItem":{"GroupCaseProperties":{}},"Resources":[{"Id":"a"},{"Id":"b"}],"Unknown":1}"#;
        let e = CaseActionEvent::parse(many).unwrap();
        assert_eq!(e.resources.len(), 2);
        assert_eq!(e.kind(), CaseKind::Event);
    }

    #[test]
    fn bad_bodies() {
        assert!(matches!(
            CaseActionEvent::parse(b"  "),
            Err(EventError::Empty)
        ));
        assert!(matches!(
            CaseActionEvent::parse(b"not json"),
            Err(EventError::Json(_))
        ));
        assert!(matches!(
            CaseActionEvent::parse(b"{}"),
            Err(EventError::NoCaseItem)
        ));
    }

    #[test]
    fn timestamps() {
        assert!(parse_time("2024-05-08T08:15:00Z").is_some());
        assert!(parse_time("2024-05-07T19:26:41.68Z").is_some());
        assert_eq!(
            parse_time("0001-01-01T00:00:00").unwrap().timestamp(),
            -62135596800
        );
        assert!(parse_time("garbage").is_none());
    }
}
