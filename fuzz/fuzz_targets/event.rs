//! Any request body: event parsing, recipient lookup and rendering with the shipped templates
//! in every locale. Nothing may panic; a parsed event either renders or fails with an error.
//! Whatever serde reads as an event, `parse` (which passes over the members no message reads)
//! reads the same.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use torrow_hooks::event::CaseActionEvent;
use torrow_hooks::render::{samples, Templates};

fn templates() -> &'static Templates {
    static TEMPLATES: OnceLock<Templates> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        let links = torrow_hooks::Settings::with_overrides("").unwrap().links;
        Templates::load(&dir, std::time::Duration::from_secs(3600), &links).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let parsed = CaseActionEvent::parse(data);
    let plain = serde_json::from_slice::<CaseActionEvent>(data);
    if let Some(plain) = plain.ok().filter(|plain| plain.case_item.is_some()) {
        let event = parsed.as_ref().expect("serde reads an event with a case, so parse does");
        assert_eq!(event.event_type, plain.event_type);
        assert_eq!(event.case_item, plain.case_item);
        assert_eq!(event.service, plain.service);
        assert_eq!(event.resources, plain.resources);
        assert_eq!(event.case_participants, plain.case_participants);
    }
    let Ok(event) = parsed else {
        return;
    };
    let _ = event.is_well_formed();
    let _ = torrow_hooks::recipient::from_event(&event, "RU");
    for locale in templates().locale_names() {
        for phone in [false, true] {
            let options = samples::options(&locale, phone);
            let _ = templates().render_here(&event, &options);
        }
    }
});
