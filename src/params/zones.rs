//! Russia's time zones by their Russian names, with their offset from Moscow (`МСК+2`), for the
//! console's time-zone list. Moscow time itself is also accepted as `MSK` / `МСК`.

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

/// IANA zone → the city Russians name it by.
const RUSSIA: &[(&str, &str)] = &[
    ("Europe/Kaliningrad", "Калининград"),
    ("Europe/Moscow", "Москва"),
    ("Europe/Kirov", "Киров"),
    ("Europe/Volgograd", "Волгоград"),
    ("Europe/Samara", "Самара"),
    ("Europe/Saratov", "Саратов"),
    ("Europe/Ulyanovsk", "Ульяновск"),
    ("Europe/Astrakhan", "Астрахань"),
    ("Asia/Yekaterinburg", "Екатеринбург"),
    ("Asia/Omsk", "Омск"),
    ("Asia/Novosibirsk", "Новосибирск"),
    ("Asia/Barnaul", "Барнаул"),
    ("Asia/Tomsk", "Томск"),
    ("Asia/Novokuznetsk", "Новокузнецк"),
    ("Asia/Krasnoyarsk", "Красноярск"),
    ("Asia/Irkutsk", "Иркутск"),
    ("Asia/Chita", "Чита"),
    ("Asia/Yakutsk", "Якутск"),
    ("Asia/Khandyga", "Хандыга"),
    ("Asia/Vladivostok", "Владивосток"),
    ("Asia/Ust-Nera", "Усть-Нера"),
    ("Asia/Magadan", "Магадан"),
    ("Asia/Sakhalin", "Сахалин"),
    ("Asia/Srednekolymsk", "Среднеколымск"),
    ("Asia/Kamchatka", "Петропавловск-Камчатский"),
    ("Asia/Anadyr", "Анадырь"),
];

/// Each of Russia's zones with its Russian label, e.g. `("Asia/Yekaterinburg",
/// "Екатеринбург (МСК+2)")`, east of Moscow in order.
pub fn russian_names() -> Vec<(&'static str, String)> {
    let now = chrono::Utc::now().naive_utc();
    let offset = |tz: Tz| tz.offset_from_utc_datetime(&now).fix().local_minus_utc();
    let moscow = offset(chrono_tz::Europe::Moscow);
    let mut zones: Vec<(i32, &'static str, String)> = RUSSIA
        .iter()
        .filter_map(|(zone, city)| {
            let tz: Tz = zone.parse().ok()?;
            let hours = (offset(tz) - moscow) / 3600;
            let label = match hours {
                0 => format!("{city} (МСК)"),
                h if h > 0 => format!("{city} (МСК+{h})"),
                h => format!("{city} (МСК−{})", -h),
            };
            Some((hours, *zone, label))
        })
        .collect();
    zones.sort_by_key(|(hours, _, _)| *hours);
    zones.into_iter().map(|(_, z, l)| (z, l)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn russia_by_moscow_offsets() {
        let names = super::russian_names();
        let label = |zone: &str| names.iter().find(|(z, _)| *z == zone).unwrap().1.clone();
        assert_eq!(label("Europe/Moscow"), "Москва (МСК)");
        assert_eq!(label("Europe/Kaliningrad"), "Калининград (МСК−1)");
        assert_eq!(label("Asia/Yekaterinburg"), "Екатеринбург (МСК+2)");
        assert_eq!(label("Asia/Kamchatka"), "Петропавловск-Камчатский (МСК+9)");
        assert_eq!(names.len(), super::RUSSIA.len());
    }
}
