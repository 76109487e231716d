//! The command line's words: the commands and their arguments, with every help text, heading and
//! error in the operator's language from the catalogues (`locales/*/cli.ftl`, ids `usage-*`).

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};
use torrow_hooks::i18n::{Lang, Text};
use torrow_hooks::t;

#[derive(Parser)]
#[command(name = "torrow-hooks", version)]
pub struct Cli {
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    Serve,
    Render {
        #[arg(long, value_name = "HOOK_URL")]
        url: String,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        event: PathBuf,
    },
    Check {
        #[arg(long, value_name = "HOOK_URL")]
        url: String,
        #[arg(long)]
        channel: Option<String>,
    },
    Deliveries {
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    Show {
        id: String,
    },
    TestMail {
        address: String,
    },
    Templates {
        #[command(subcommand)]
        action: TemplatesCommand,
    },
    Replay {
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all_dead: bool,
    },
    NewOutbox,
}

#[derive(Subcommand)]
pub enum TemplatesCommand {
    List,
    Check { dir: Option<PathBuf> },
    Export { dir: PathBuf },
}

/// What each command and argument is for: (command path, argument or "" for the command, text).
fn helps() -> Vec<(&'static str, &'static str, Text)> {
    vec![
        ("", "", t!("usage-about")),
        ("", "config", t!("usage-config")),
        ("serve", "", t!("usage-serve")),
        ("render", "", t!("usage-render")),
        ("render", "url", t!("usage-url")),
        ("render", "channel", t!("usage-channel")),
        ("render", "event", t!("usage-event")),
        ("check", "", t!("usage-check")),
        ("check", "url", t!("usage-url")),
        ("check", "channel", t!("usage-channel")),
        ("deliveries", "", t!("usage-deliveries")),
        ("deliveries", "state", t!("usage-state")),
        ("deliveries", "limit", t!("usage-limit")),
        ("show", "", t!("usage-show")),
        ("show", "id", t!("usage-id")),
        ("test-mail", "", t!("usage-test-mail")),
        ("test-mail", "address", t!("usage-address")),
        ("templates", "", t!("usage-templates")),
        ("templates list", "", t!("usage-templates-list")),
        ("templates check", "", t!("usage-templates-check")),
        ("templates check", "dir", t!("usage-templates-dir")),
        ("templates export", "", t!("usage-templates-export")),
        ("templates export", "dir", t!("usage-templates-dir")),
        ("replay", "", t!("usage-replay")),
        ("replay", "id", t!("usage-replay-id")),
        ("replay", "all_dead", t!("usage-all-dead")),
        ("new-outbox", "", t!("usage-new-outbox")),
    ]
}

/// The command line described in `lang`.
pub fn command(lang: Lang) -> clap::Command {
    let say = |text: Text| text.render(lang);
    let template = format!(
        "{{about-with-newline}}\n{}: {{usage}}\n\n{{all-args}}{{after-help}}",
        say(t!("usage-heading-usage"))
    );
    let mut cmd = Cli::command()
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .global(true)
                .help(say(t!("usage-help"))),
        )
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help(say(t!("usage-version"))),
        );
    for (path, arg, text) in helps() {
        let help = say(text);
        cmd = at(cmd, path, &|c| match arg {
            "" => c.about(help.clone()),
            _ => c.mut_arg(arg, |a| a.help(help.clone())),
        });
    }
    for (path, arg, name) in value_names() {
        let name = say(name);
        cmd = at(cmd, path, &|c| {
            c.mut_arg(arg, |a| a.value_name(name.clone()))
        });
    }
    let mut cmd = localize(cmd, &template, lang);
    cmd.build();
    with_usage(cmd, &say(t!("usage-options-word")))
}

/// What stands for each argument's value.
fn value_names() -> Vec<(&'static str, &'static str, Text)> {
    vec![
        ("", "config", t!("usage-value-file")),
        ("render", "url", t!("usage-value-url")),
        ("render", "channel", t!("usage-value-channel")),
        ("render", "event", t!("usage-value-event")),
        ("check", "url", t!("usage-value-url")),
        ("check", "channel", t!("usage-value-channel")),
        ("deliveries", "state", t!("usage-value-state")),
        ("deliveries", "limit", t!("usage-value-limit")),
        ("show", "id", t!("usage-value-id")),
        ("test-mail", "address", t!("usage-value-address")),
        ("templates check", "dir", t!("usage-value-dir")),
        ("templates export", "dir", t!("usage-value-dir")),
        ("replay", "id", t!("usage-value-id")),
    ]
}

/// Applies `f` to the command at `path` ("" the root, "templates check" a nested one).
fn at(cmd: clap::Command, path: &str, f: &dyn Fn(clap::Command) -> clap::Command) -> clap::Command {
    match path.split_once(' ') {
        _ if path.is_empty() => f(cmd),
        Some((first, rest)) => cmd.mut_subcommand(first, |sub| at(sub, rest, f)),
        None => cmd.mut_subcommand(path, f),
    }
}

/// Each usage line with the options placeholder in the reader's words.
fn with_usage(mut cmd: clap::Command, options: &str) -> clap::Command {
    let usage = cmd.render_usage().to_string();
    let usage = usage
        .trim_start_matches("Usage:")
        .trim()
        .replace("[OPTIONS]", &format!("[{options}]"));
    let mut cmd = cmd.override_usage(usage);
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let options = options.to_string();
        cmd = cmd.mut_subcommand(&name, move |sub| with_usage(sub, &options));
    }
    cmd
}

/// Headings and the help layout, on the command and every subcommand.
fn localize(cmd: clap::Command, template: &str, lang: Lang) -> clap::Command {
    let options = t!("usage-heading-options").render(lang);
    let cmd = cmd
        .help_template(template.to_string())
        .subcommand_help_heading(t!("usage-heading-commands").render(lang))
        .subcommand_value_name(t!("usage-command").render(lang))
        .mut_args(move |a| a.help_heading(options.clone()));
    let template = template.to_string();
    cmd.mut_subcommands(move |sub| localize(sub, &template, lang))
}

/// The parsed command line; help, the version and errors are printed in `lang` and exit.
pub fn parse(lang: Lang) -> Cli {
    let mut cmd = command(lang);
    let matches = match cmd.try_get_matches_from_mut(std::env::args_os()) {
        Ok(m) => m,
        Err(e) => exit_with(e, &mut cmd, lang),
    };
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => exit_with(e, &mut cmd, lang),
    }
}

fn exit_with(e: clap::Error, cmd: &mut clap::Command, lang: Lang) -> ! {
    match e.kind() {
        ErrorKind::DisplayHelp => e.exit(),
        ErrorKind::DisplayVersion => {
            println!("torrow-hooks {}", env!("CARGO_PKG_VERSION"));
            std::process::exit(0)
        }
        _ => {}
    }
    eprintln!("torrow-hooks: {}", error_text(&e).render(lang));
    eprintln!();
    eprintln!(
        "{}: {}",
        t!("usage-heading-usage").render(lang),
        cmd.render_usage()
            .to_string()
            .trim_start_matches("Usage:")
            .trim()
    );
    eprintln!();
    eprintln!("{}", t!("usage-more").render(lang));
    std::process::exit(2)
}

/// A clap error in our words; clap's own words only when it names nothing we know.
fn error_text(e: &clap::Error) -> Text {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(list)) => list.join(", "),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let arg = context(ContextKind::InvalidArg);
    match e.kind() {
        ErrorKind::UnknownArgument => t!("usage-error-unknown-argument", arg = arg),
        ErrorKind::InvalidSubcommand => {
            t!(
                "usage-error-unknown-command",
                arg = context(ContextKind::InvalidSubcommand)
            )
        }
        ErrorKind::MissingRequiredArgument => t!("usage-error-missing", arg = arg),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => t!(
            "usage-error-invalid-value",
            value = context(ContextKind::InvalidValue),
            arg = arg
        ),
        ErrorKind::ArgumentConflict => t!(
            "usage-error-conflict",
            arg = arg,
            other = context(ContextKind::PriorArg)
        ),
        ErrorKind::NoEquals | ErrorKind::TooFewValues => t!("usage-error-value-missing", arg = arg),
        _ => t!(
            "usage-error-other",
            why = e
                .render()
                .to_string()
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        ),
    }
}
