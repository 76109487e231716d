//! Any template source: the render guard's rules, the rewrite that puts every loop and `~` under
//! the render budget, and the positions it maps back. Nothing may panic; a position is always in
//! the source; a source that Tera compiles and the guard lets through still compiles once
//! rewritten, and renders (or fails) within the budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torrow_hooks::render::{budget, guard};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    if source.chars().count() > guard::MAX_SOURCE_CHARS {
        return;
    }
    let assigned = guard::assigned_names([source]);
    let breach = guard::check(source, &assigned);
    if let Some(breach) = &breach {
        assert!(breach.offset <= source.len());
        let _ = guard::line_column(source, breach.offset);
    }
    let rewritten = guard::Instrumented::new(source);
    for offset in (0..=rewritten.text.len()).step_by(7) {
        assert!(rewritten.original_offset(offset) <= source.len());
    }
    if breach.is_some() {
        return;
    }
    let tera = |text: &str| {
        let mut tera = tera::Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        budget::register(&mut tera);
        tera.add_raw_template("t", text).ok().map(|()| tera)
    };
    if tera(source).is_none() {
        return;
    }
    let compiled = tera(&rewritten.text).expect("a template that compiles still does, rewritten");
    let _budget = budget::Budget::start();
    let mut text = budget::CappedText::default();
    let _ = compiled.render_to("t", &tera::Context::new(), &mut text);
});
