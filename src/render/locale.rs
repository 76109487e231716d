//! `templates/<locale>/locale.toml`: the locale's default names and how it writes dates, durations,
//! money and measures.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone};
use serde::Deserialize;

use crate::event::CaseKind;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locale {
    /// Default `resource_name`.
    pub resource_name: String,
    /// `timezone_name` when the `timezone` parameter is left at its default.
    pub default_timezone_name: String,
    /// chrono `strftime` format of a date and time, e.g. `%d.%m.%Y %H:%M`.
    pub datetime_format: String,
    /// Separator of the two decimals of money amounts.
    pub decimal_separator: String,
    pub booking: KindNames,
    pub event: KindNames,
    pub order: KindNames,
    pub duration: DurationWords,
    /// Measure words by OKEI code, e.g. `796 = "шт."`.
    #[serde(default)]
    pub measures: BTreeMap<String, String>,
    /// Word put before an amount whose measure is unknown (`кол-во 2`); empty: the bare number.
    #[serde(default)]
    pub amount_label: String,
    /// How a currency is written, by ISO code (`RUB = "₽"`); a code not listed is shown as is.
    #[serde(default)]
    pub currencies: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindNames {
    pub case_type_name: String,
    pub detail_section_name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurationWords {
    pub day: String,
    pub hour: String,
    pub minute: String,
}

impl Locale {
    pub fn names(&self, kind: CaseKind) -> &KindNames {
        match kind {
            CaseKind::Booking => &self.booking,
            CaseKind::Event => &self.event,
            CaseKind::Order => &self.order,
        }
    }

    pub fn datetime<Tz: TimeZone>(&self, t: &DateTime<Tz>) -> String
    where
        Tz::Offset: std::fmt::Display,
    {
        t.format(&self.datetime_format).to_string()
    }

    /// `1 ч. 30 мин.` / `2 d 3 h`: days, hours and minutes, zero parts left out; "" for nothing.
    pub fn duration(&self, seconds: i64) -> String {
        let minutes = (seconds + 30) / 60;
        if minutes <= 0 {
            return String::new();
        }
        let parts = [
            (minutes / 1440, &self.duration.day),
            (minutes % 1440 / 60, &self.duration.hour),
            (minutes % 60, &self.duration.minute),
        ];
        parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, word)| format!("{n} {word}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `950` for whole amounts, else two decimals with the locale's separator (`950,50`).
    pub fn money(&self, amount: f64) -> String {
        let cents = (amount * 100.0).round() as i64;
        if cents % 100 == 0 {
            format!("{}", cents / 100)
        } else {
            let sign = if cents < 0 { "-" } else { "" };
            let cents = cents.abs();
            format!(
                "{sign}{}{}{:02}",
                cents / 100,
                self.decimal_separator,
                cents % 100
            )
        }
    }

    /// `1` for whole amounts, else up to three decimals.
    pub fn amount(&self, amount: f64) -> String {
        if amount.fract() == 0.0 {
            format!("{amount:.0}")
        } else {
            let text = format!("{amount:.3}");
            text.trim_end_matches('0')
                .replace('.', &self.decimal_separator)
        }
    }

    pub fn measure(&self, code: Option<i64>) -> String {
        code.and_then(|c| self.measures.get(&c.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// `2 шт.`, or `кол-во 2` when the measure is unknown; "" without an amount.
    pub fn quantity(&self, amount: &str, measure: &str) -> String {
        match (amount, measure, self.amount_label.as_str()) {
            ("", _, _) => String::new(),
            (a, "", "") => a.to_string(),
            (a, "", label) => format!("{label} {a}"),
            (a, m, _) => format!("{a} {m}"),
        }
    }

    /// `₽` for `RUB` where the locale says so; the ISO code otherwise.
    pub fn currency(&self, code: &str) -> String {
        self.currencies
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_string())
    }

    /// Every problem that would make this locale unusable, e.g. a format chrono cannot print.
    pub fn problems(&self) -> Vec<crate::i18n::Text> {
        use chrono::format::{Item, StrftimeItems};
        let mut problems = Vec::new();
        if StrftimeItems::new(&self.datetime_format).any(|i| matches!(i, Item::Error)) {
            problems.push(crate::t!(
                "locale-datetime-format-invalid",
                value = format!("{:?}", self.datetime_format)
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ru() -> Locale {
        toml::from_str(include_str!("../../templates/ru-RU/locale.toml")).unwrap()
    }

    fn en() -> Locale {
        toml::from_str(include_str!("../../templates/en-US/locale.toml")).unwrap()
    }

    #[test]
    fn durations() {
        assert_eq!(ru().duration(900), "15 мин.");
        assert_eq!(ru().duration(5400), "1 ч. 30 мин.");
        assert_eq!(ru().duration(2 * 86400 + 3 * 3600), "2 дн. 3 ч.");
        assert_eq!(en().duration(5400), "1 h 30 min");
        assert_eq!(en().duration(0), "");
    }

    #[test]
    fn money() {
        assert_eq!(ru().money(950.0), "950");
        assert_eq!(ru().money(950.5), "950,50");
        assert_eq!(en().money(950.5), "950.50");
    }

    #[test]
    fn currencies_and_quantities() {
        assert_eq!(ru().currency("RUB"), "₽");
        assert_eq!(ru().currency("XTS"), "XTS");
        assert_eq!(en().currency("RUB"), "RUB");
        assert_eq!(ru().quantity("2", ""), "кол-во 2");
        assert_eq!(ru().quantity("1", "шт."), "1 шт.");
        assert_eq!(en().quantity("2", ""), "qty 2");
        assert_eq!(en().quantity("", "pcs"), "");
    }

    #[test]
    fn dates() {
        let t = chrono::Utc.with_ymd_and_hms(2024, 5, 8, 11, 15, 0).unwrap();
        assert_eq!(ru().datetime(&t), "08.05.2024 11:15");
        assert_eq!(en().datetime(&t), "5/8/2024 11:15 AM");
        assert!(ru().problems().is_empty());
    }
}
