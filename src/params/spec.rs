//! What each query parameter is, for validation, `/api/channels` and the docs: its name, whether
//! it is required and secret, and a one-line help (a message of the catalogues,
//! `locales/*/params.ftl`, ids `param-help-*`).

use serde::Serialize;

use crate::i18n::{Lang, Text};

/// One query parameter of a hook URL.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Param {
    pub name: &'static str,
    pub required: bool,
    /// A credential: masked in logs, answers, stored summaries and emails.
    pub secret: bool,
    pub help: Help,
    /// A former name, still accepted: the console shows it only when a pasted URL has it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub legacy: bool,
    /// How the console asks for it.
    #[serde(flatten)]
    pub kind: Kind,
}

/// What sort of value a parameter takes (the console picks its form control by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "default", rename_all = "lowercase")]
pub enum Kind {
    /// One line of text.
    Text,
    /// Text with line breaks (`%0A` in the URL).
    Multiline,
    /// `true` or `false`, with its default.
    Flag(bool),
    /// A template folder name.
    Locale,
    /// An IANA time zone name, or `participant`.
    Timezone,
    /// A template name (`message`, `reminder`…).
    Template,
}

/// A parameter's one-line help: the id of its message in the catalogues. `/api/channels` gives
/// it in every language the console speaks (`{"ru": …, "en": …}`).
#[derive(Debug, Clone, Copy)]
pub struct Help(pub &'static str);

impl Help {
    pub fn text(self) -> Text {
        Text::message(self.0)
    }
}

impl Serialize for Help {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("ru", &self.text().render(Lang::Ru))?;
        map.serialize_entry("en", &self.text().render(Lang::En))?;
        map.end()
    }
}

impl Param {
    /// An optional, non-secret parameter.
    pub const fn optional(name: &'static str, help: &'static str) -> Param {
        Param {
            name,
            required: false,
            secret: false,
            help: Help(help),
            legacy: false,
            kind: Kind::Text,
        }
    }

    pub const fn legacy(self) -> Param {
        Param {
            legacy: true,
            ..self
        }
    }

    pub const fn kind(self, kind: Kind) -> Param {
        Param { kind, ..self }
    }

    pub const fn required(self) -> Param {
        Param {
            required: true,
            ..self
        }
    }

    pub const fn secret(self) -> Param {
        Param {
            secret: true,
            ..self
        }
    }
}

/// The formatting parameters every channel takes (see README, "Parameters").
pub const COMMON: &[Param] = &[
    Param::optional("errorEmail", "param-help-erroremail"),
    Param::optional("message", "param-help-message").kind(Kind::Multiline),
    Param::optional("phone", "param-help-phone"),
    Param::optional("resource_name", "param-help-resource-name"),
    Param::optional("detail_section_name", "param-help-detail-section-name"),
    Param::optional("case_type_name", "param-help-case-type-name"),
    Param::optional("hide_detail_section", "param-help-hide-detail-section")
        .kind(Kind::Flag(false)),
    Param::optional(
        "hide_resource_description",
        "param-help-hide-resource-description",
    )
    .kind(Kind::Flag(false)),
    Param::optional("hide_order_duration", "param-help-hide-order-duration")
        .kind(Kind::Flag(false)),
    Param::optional("hide_address", "param-help-hide-address").kind(Kind::Flag(false)),
    Param::optional("hide_service_name", "param-help-hide-service-name").kind(Kind::Flag(false)),
    Param::optional(
        "hide_order_description",
        "param-help-hide-order-description",
    )
    .kind(Kind::Flag(false)),
    Param::optional("hide_url", "param-help-hide-url").kind(Kind::Flag(false)),
    Param::optional("hide_contact_info", "param-help-hide-contact-info").kind(Kind::Flag(true)),
    Param::optional("template", "param-help-template").kind(Kind::Template),
    Param::optional("date_locales", "param-help-date-locales").kind(Kind::Locale),
    Param::optional("timezone", "param-help-timezone").kind(Kind::Timezone),
    Param::optional("timezone_name", "param-help-timezone-name"),
    Param::optional("sign_text", "param-help-sign-text").kind(Kind::Multiline),
];
