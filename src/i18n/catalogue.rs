//! The catalogues: Project Fluent files, `locales/en/*.ftl` and `locales/ru/*.ftl`, built into
//! the binary. Each message id is in both languages with the same arguments; `cargo test`
//! checks that, renders every message in both, and checks that every id the code uses exists.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use fluent_syntax::ast;

use super::text::Arg;
use super::Lang;

/// The catalogue files: their names once, and each language's files built into the binary.
macro_rules! catalogue_files {
    ($($name:literal),* $(,)?) => {
        /// The catalogue files of one language, by name.
        pub const FILES: &[&str] = &[$($name),*];
        const ENGLISH_SOURCES: &[&str] =
            &[$(include_str!(concat!("../../locales/en/", $name, ".ftl"))),*];
        const RUSSIAN_SOURCES: &[&str] =
            &[$(include_str!(concat!("../../locales/ru/", $name, ".ftl"))),*];
    };
}

catalogue_files!(
    "answers",
    "params",
    "channels",
    "mail",
    "cli",
    "store",
    "templates",
    "console"
);

pub struct Catalogue {
    pub bundle: FluentBundle<FluentResource>,
    /// Each message's arguments, by id.
    pub variables: HashMap<String, BTreeSet<String>>,
}

static ENGLISH: LazyLock<Catalogue> =
    LazyLock::new(|| Catalogue::load("en", ENGLISH_SOURCES).expect("locales/en is valid"));
static RUSSIAN: LazyLock<Catalogue> =
    LazyLock::new(|| Catalogue::load("ru", RUSSIAN_SOURCES).expect("locales/ru is valid"));

pub fn of(lang: Lang) -> &'static Catalogue {
    match lang {
        Lang::En => &ENGLISH,
        Lang::Ru => &RUSSIAN,
    }
}

impl Catalogue {
    pub fn load(lang: &str, sources: &[&str]) -> Result<Catalogue, String> {
        let id: unic_langid::LanguageIdentifier = lang.parse().map_err(|e| format!("{e}"))?;
        let mut bundle = FluentBundle::new_concurrent(vec![id]);
        bundle.set_use_isolating(false);
        let mut variables = HashMap::new();
        for (source, file) in sources.iter().zip(FILES) {
            let resource = FluentResource::try_new(source.to_string())
                .map_err(|(_, e)| format!("locales/{lang}/{file}.ftl: {e:?}"))?;
            for entry in resource.entries() {
                if let ast::Entry::Message(m) = entry {
                    let mut names = BTreeSet::new();
                    if let Some(value) = &m.value {
                        pattern_variables(value, &mut names);
                    }
                    variables.insert(m.id.name.to_string(), names);
                }
            }
            bundle
                .add_resource(resource)
                .map_err(|e| format!("locales/{lang}/{file}.ftl: {e:?}"))?;
        }
        Ok(Catalogue { bundle, variables })
    }
}

fn pattern_variables(pattern: &ast::Pattern<&str>, names: &mut BTreeSet<String>) {
    for element in &pattern.elements {
        if let ast::PatternElement::Placeable { expression } = element {
            expression_variables(expression, names);
        }
    }
}

fn expression_variables(expression: &ast::Expression<&str>, names: &mut BTreeSet<String>) {
    match expression {
        ast::Expression::Select { selector, variants } => {
            inline_variables(selector, names);
            for variant in variants {
                pattern_variables(&variant.value, names);
            }
        }
        ast::Expression::Inline(inline) => inline_variables(inline, names),
    }
}

fn inline_variables(inline: &ast::InlineExpression<&str>, names: &mut BTreeSet<String>) {
    match inline {
        ast::InlineExpression::VariableReference { id } => {
            names.insert(id.name.to_string());
        }
        ast::InlineExpression::Placeable { expression } => expression_variables(expression, names),
        ast::InlineExpression::FunctionReference { arguments, .. } => {
            for a in &arguments.positional {
                inline_variables(a, names);
            }
        }
        _ => {}
    }
}

/// Writes message `id` in `lang` with `args` to `out`. A message missing in `lang` is written in
/// English; one missing in both (a stored text of an older version) as its id and arguments.
/// In debug builds (every test), arguments other than the message's own are a panic.
pub fn format(
    lang: Lang,
    id: &str,
    args: &[(std::borrow::Cow<'static, str>, Arg)],
    out: &mut String,
) {
    let catalogue = of(lang);
    let (catalogue, message) = match catalogue.bundle.get_message(id) {
        Some(m) => (catalogue, m),
        None => match ENGLISH.bundle.get_message(id) {
            Some(m) => (&*ENGLISH, m),
            None => {
                // The catalogue tests keep the code's ids known; this is a row stored by a
                // version whose message has since been renamed.
                tracing::warn!(id, "a text names a message no catalogue has");
                out.push_str(id);
                for (name, value) in args {
                    out.push_str(&format!(" {name}={}", arg_text(lang, value)));
                }
                return;
            }
        },
    };
    #[cfg(debug_assertions)]
    if let Some(expected) = catalogue.variables.get(id) {
        let given: BTreeSet<String> = args.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(&given, expected, "the arguments of message {id}");
    }
    let Some(pattern) = message.value() else {
        return;
    };
    let mut fluent_args = FluentArgs::with_capacity(args.len());
    for (name, value) in args {
        let value = match value {
            Arg::Number(n) => FluentValue::from(*n),
            Arg::Text(t) => FluentValue::from(t.render(lang)),
        };
        fluent_args.set(name.as_ref(), value);
    }
    let mut errors = Vec::new();
    let text = catalogue
        .bundle
        .format_pattern(pattern, Some(&fluent_args), &mut errors);
    debug_assert!(errors.is_empty(), "message {id}: {errors:?}");
    out.push_str(&text);
}

/// Every message whose id starts with `prefix`, by the rest of its id, in `lang`; each argument
/// is left as `{name}` for the page's script to fill in.
pub fn page_texts(lang: Lang, prefix: &str) -> std::collections::BTreeMap<String, String> {
    let catalogue = of(lang);
    catalogue
        .variables
        .iter()
        .filter_map(|(id, names)| {
            let key = id.strip_prefix(prefix)?;
            let args: Vec<(std::borrow::Cow<'static, str>, Arg)> = names
                .iter()
                .map(|n| {
                    let placeholder = super::Text::verbatim(format!("{{{n}}}"));
                    (std::borrow::Cow::Owned(n.clone()), Arg::Text(placeholder))
                })
                .collect();
            let mut out = String::new();
            format(lang, id, &args, &mut out);
            Some((key.to_string(), out))
        })
        .collect()
}

fn arg_text(lang: Lang, arg: &Arg) -> String {
    match arg {
        Arg::Number(n) => n.to_string(),
        Arg::Text(t) => t.render(lang),
    }
}
