//! What each query parameter is, for validation, `/api/channels` and the docs: its name, whether
//! it is required and secret, and a one-line help in Russian and English.

use serde::Serialize;

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

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Help {
    pub ru: &'static str,
    pub en: &'static str,
}

impl Param {
    /// An optional, non-secret parameter.
    pub const fn optional(name: &'static str, ru: &'static str, en: &'static str) -> Param {
        Param {
            name,
            required: false,
            secret: false,
            help: Help { ru, en },
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
    Param::optional(
        "errorEmail",
        "Адрес для писем об ошибках доставки",
        "Address for delivery failure reports",
    ),
    Param::optional(
        "message",
        "Текст в начале сообщения (до 4000 символов)",
        "Text at the start of the message (up to 4,000 characters)",
    )
    .kind(Kind::Multiline),
    Param::optional(
        "phone",
        "Постоянный получатель: ему уходит только message",
        "A fixed recipient: only message is sent to it",
    ),
    Param::optional(
        "resource_name",
        "Заголовок списка услуг/ресурсов",
        "Heading of the list of services/resources",
    ),
    Param::optional(
        "detail_section_name",
        "Заголовок раздела деталей",
        "Heading of the details section",
    ),
    Param::optional(
        "case_type_name",
        "Название вида записи («запись», «заказ»…)",
        "Name of the case kind (\"booking\", \"order\"…)",
    ),
    Param::optional(
        "hide_detail_section",
        "Скрыть раздел деталей (true/false)",
        "Hide the details section (true/false)",
    )
    .kind(Kind::Flag(false)),
    Param::optional(
        "hide_resource_description",
        "Скрыть описания ресурсов",
        "Hide resource descriptions",
    )
    .kind(Kind::Flag(false)),
    Param::optional(
        "hide_order_duration",
        "Скрыть продолжительность",
        "Hide the duration",
    )
    .kind(Kind::Flag(false)),
    Param::optional("hide_address", "Скрыть адрес", "Hide the address").kind(Kind::Flag(false)),
    Param::optional(
        "hide_service_name",
        "Скрыть название услуги",
        "Hide the service name",
    )
    .kind(Kind::Flag(false)),
    Param::optional(
        "hide_order_description",
        "Скрыть описание записи",
        "Hide the case description",
    )
    .kind(Kind::Flag(false)),
    Param::optional("hide_url", "Скрыть ссылки", "Hide the links").kind(Kind::Flag(false)),
    Param::optional(
        "hide_contact_info",
        "Скрыть контактную информацию (по умолчанию true)",
        "Hide the contact information (default true)",
    )
    .kind(Kind::Flag(true)),
    Param::optional(
        "template",
        "Шаблон сообщения: message (запись), changed, reminder, cancelled, payment, staff или свой",
        "Message template: message (a booking), changed, reminder, cancelled, payment, staff or your own",
    )
    .kind(Kind::Template),
    Param::optional(
        "date_locales",
        "Язык и формат дат: папка в templates/ (ru-RU, en-US)",
        "Language and date format: a folder under templates/ (ru-RU, en-US)",
    )
    .kind(Kind::Locale),
    Param::optional(
        "timezone",
        "Часовой пояс IANA или participant",
        "IANA time zone, or participant",
    )
    .kind(Kind::Timezone),
    Param::optional(
        "timezone_name",
        "Подпись часового пояса («Мск»)",
        "Label of the time zone (\"MSK\")",
    ),
    Param::optional(
        "sign_text",
        "Текст в конце сообщения (до 1000 символов)",
        "Text at the end of the message (up to 1,000 characters)",
    )
    .kind(Kind::Multiline),
];
