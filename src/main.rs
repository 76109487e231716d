//! The command line (SPEC §8): serve, render, check, deliveries, show, replay.

use std::{path::PathBuf, process::ExitCode};

mod args;

use args::{Command, TemplatesCommand};
use torrow_hooks::{
    cli,
    hook::{Kind, Outcome},
    http::Answer,
    i18n::{error_text, Lang, Text},
    store::State,
    t, telemetry, App, Settings,
};

fn main() -> ExitCode {
    // The settings are read before the command line is parsed: their language is its language.
    let config = config_argument();
    let loaded = Settings::load(config.as_deref());
    let lang = match &loaded {
        Ok(settings) => settings.server.language,
        Err(_) => language_from_environment(),
    };
    let cli = args::parse(lang);
    let loaded = if cli.config == config {
        loaded
    } else {
        Settings::load(cli.config.as_deref())
    };
    let settings = match loaded {
        Ok(s) => s,
        Err(e) => {
            eprintln!("torrow-hooks: {}", e.text().render(lang));
            return ExitCode::from(1);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings))
}

async fn run(command: Command, settings: Settings) -> ExitCode {
    let lang = settings.server.language;
    let _ = LANG.set(lang);
    let say = |text: Text| text.render(lang);
    // A command that reads the outbox must read the service's, never start an empty one.
    let looks_up = matches!(
        &command,
        Command::Deliveries { .. }
            | Command::Show { .. }
            | Command::Replay { .. }
            | Command::Templates {
                action: TemplatesCommand::Export { .. }
            }
    );
    if looks_up {
        if let Err(e) = outbox_exists(&settings) {
            return fail(e);
        }
    }
    match command {
        Command::Serve => serve(settings).await,
        Command::NewOutbox => match cli::new_outbox(&settings) {
            Ok(said) => {
                println!("{}", say(said));
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Render {
            url,
            channel,
            event,
        } => {
            let (channel, query) = match split_url(&url, channel) {
                Ok(parts) => parts,
                Err(e) => return usage(&say(e)),
            };
            let app = match App::build(settings).await {
                Ok(app) => app,
                Err(e) => return fail(e),
            };
            let body = match std::fs::read(&event) {
                Ok(b) => b,
                Err(e) => return fail(anyhow::anyhow!("{}: {e}", event.display())),
            };
            match app.render_for_cli(&channel, &query, &body).await {
                Ok((recipient, text, warnings)) => {
                    println!(
                        "{}",
                        say(t!("mail-recipient-recipient", recipient = recipient))
                    );
                    if !warnings.is_empty() {
                        println!("{}", say(t!("cli-warnings-warnings", warnings = warnings)));
                    }
                    println!();
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(outcome) => exit_with(outcome, lang),
            }
        }
        Command::Check { url, channel } => {
            let (channel, query) = match split_url(&url, channel) {
                Ok(parts) => parts,
                Err(e) => return usage(&say(e)),
            };
            let app = match App::build(settings).await {
                Ok(app) => app,
                Err(e) => return fail(e),
            };
            let answer = app.check(&channel, &query).await;
            exit_with(answer, lang)
        }
        Command::Deliveries { state, limit } => {
            let state = match state.as_deref().map(|s| (s, State::named(s))) {
                None => None,
                Some((_, Some(state))) => Some(state),
                Some((s, None)) => {
                    eprintln!(
                        "torrow-hooks: {}",
                        say(t!(
                            "cli-state-name-use-pending-sending",
                            name = format!("{s:?}")
                        ))
                    );
                    return ExitCode::from(2);
                }
            };
            let app = match App::build(settings).await {
                Ok(app) => app,
                Err(e) => return fail(e),
            };
            match app.delivery.list(state, limit, lang).await {
                Ok(list) if list.is_empty() => {
                    println!("{}", say(t!("cli-deliveries")));
                    ExitCode::SUCCESS
                }
                Ok(list) => {
                    print!("{}", cli::deliveries_table(&list, lang));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e.into()),
            }
        }
        Command::Show { id } => {
            let app = match App::build(settings).await {
                Ok(app) => app,
                Err(e) => return fail(e),
            };
            match app.delivery.show(&id, lang).await {
                Ok(Some(shown)) => {
                    print!("{}", cli::delivery(&shown, lang));
                    ExitCode::SUCCESS
                }
                Ok(None) => {
                    eprintln!(
                        "torrow-hooks: {}",
                        say(t!(
                            "cli-delivery-id-see-torrow-hooks",
                            id = format!("{id:?}")
                        ))
                    );
                    ExitCode::from(1)
                }
                Err(e) => fail(e.into()),
            }
        }
        Command::Templates { action } => templates(action, settings).await,
        Command::TestMail { address } => {
            let app = match App::build(settings).await {
                Ok(app) => app,
                Err(e) => return fail(e),
            };
            match app.mailer.send_test(&address).await {
                Ok(done) => {
                    println!("{}", say(done));
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    eprintln!("torrow-hooks: {}", say(why));
                    ExitCode::from(1)
                }
            }
        }
        Command::Replay { id, all_dead } => {
            if id.is_none() && !all_dead {
                eprintln!("torrow-hooks: {}", say(t!("cli-give-deliveryid-all-dead")));
                return ExitCode::from(2);
            }
            let app = match App::build(settings).await {
                Ok(app) => app,
                Err(e) => return fail(e),
            };
            match app
                .store
                .replay(id.as_deref(), torrow_hooks::store::now_ms())
                .await
            {
                Ok(ids) if ids.is_empty() => {
                    match id {
                        Some(id) => match app.store.get(&id).await {
                            Ok(Some(r)) => eprintln!(
                                "torrow-hooks: {}",
                                say(t!(
                                    "cli-delivery-id-state-only-dead",
                                    id = id.as_str(),
                                    state = r.state.text()
                                ))
                            ),
                            _ => eprintln!(
                                "torrow-hooks: {}",
                                say(t!(
                                    "cli-delivery-id-see-torrow-hooks",
                                    id = format!("{id:?}")
                                ))
                            ),
                        },
                        None => {
                            eprintln!("torrow-hooks: {}", say(t!("cli-dead-delivery-send-again")))
                        }
                    }
                    ExitCode::from(1)
                }
                Ok(ids) => {
                    for id in &ids {
                        println!("{}", say(t!("cli-id-queued-sent-again", id = id.as_str())));
                    }
                    println!(
                        "{}",
                        say(t!("cli-n-queued-running-service-sends", n = ids.len()))
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e.into()),
            }
        }
    }
}

async fn templates(action: TemplatesCommand, settings: Settings) -> ExitCode {
    let lang = settings.server.language;
    let say = |text: Text| text.render(lang);
    if let TemplatesCommand::Check { dir } = &action {
        let dir = dir
            .clone()
            .unwrap_or_else(|| settings.templates.dir.clone());
        let problems = torrow_hooks::editor::check_folder(&dir, &settings.links);
        for problem in problems.iter().cloned() {
            eprintln!("{}", say(problem));
        }
        if problems.is_empty() {
            println!(
                "{}",
                say(t!(
                    "editor-dir-every-template-renders-every",
                    dir = dir.display().to_string()
                ))
            );
            return ExitCode::SUCCESS;
        }
        return ExitCode::from(1);
    }
    // Before the service ever ran there is no outbox, so no console versions: the files alone.
    if matches!(action, TemplatesCommand::List) && outbox_exists(&settings).is_err() {
        return match torrow_hooks::editor::file_list(&settings, lang) {
            Ok(list) => {
                println!("{}", say(t!("cli-templates-files-only")));
                print_templates(&list, lang);
                ExitCode::SUCCESS
            }
            Err(e) => fail(anyhow::anyhow!("{}", say(e))),
        };
    }
    let app = match App::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(e),
    };
    match action {
        TemplatesCommand::List => {
            print_templates(&app.template_list(lang), lang);
            ExitCode::SUCCESS
        }
        TemplatesCommand::Export { dir } => match app.export_templates(&dir) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(anyhow::anyhow!("{}: {e}", dir.display())),
        },
        TemplatesCommand::Check { .. } => unreachable!("handled above"),
    }
}

/// `templates list`: locale, name, where its text comes from, and a problem if it has one.
fn print_templates(list: &[torrow_hooks::editor::Listed], lang: torrow_hooks::i18n::Lang) {
    let say = |text: Text| text.render(lang);
    for listed in list {
        let origin = match listed.serving {
            torrow_hooks::render::Origin::File => say(t!("editor-file")),
            torrow_hooks::render::Origin::Console { version, saved_at } => say(t!(
                "editor-edited-console-date-version-version",
                date = chrono::DateTime::from_timestamp_millis(saved_at)
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default(),
                version = version
            )),
        };
        println!("{:<8} {:<20} {origin}", listed.locale, listed.name);
        if let Some(problem) = &listed.problem {
            println!("         {problem}");
        }
    }
}

/// The SQLite outbox the settings name exists (PostgreSQL is not looked at here).
fn outbox_exists(settings: &Settings) -> anyhow::Result<()> {
    let delivery = &settings.delivery;
    if delivery.postgres_url().is_some() {
        return Ok(());
    }
    let path = delivery.sqlite_path();
    if path.exists() {
        return Ok(());
    }
    let shown = std::path::absolute(&path).unwrap_or(path);
    Err(t!(
        "cli-no-outbox-at",
        path = shown.display().to_string(),
        file = torrow_hooks::settings::SYSTEM_SETTINGS
    )
    .into())
}

async fn serve(settings: Settings) -> ExitCode {
    telemetry::init_logs(&settings.log);
    telemetry::init_metrics();
    let lang = settings.server.language;
    let running = match torrow_hooks::start(settings).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    println!(
        "{}",
        t!("cli-listening", addr = running.addr.to_string()).render(lang)
    );
    tracing::info!(addr = %running.addr, "listening");
    let signal = match stop_signal() {
        Ok(signal) => signal,
        Err(e) => return fail(e),
    };
    signal.await;
    match running.shutdown().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(stranded) => {
            tracing::error!(
                deliveries = stranded.deliveries,
                "stopped, and {}",
                stranded.why.render(lang)
            );
            eprintln!("torrow-hooks: {}", stranded.why.render(lang));
            ExitCode::from(1)
        }
    }
}

/// Resolves at SIGTERM (`systemctl stop`, `docker stop`) or SIGINT (Ctrl-C).
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "stopping");
    })
}

/// `https://host/webhook/wappi?a=b` → (`wappi`, `a=b`). A bare query (`a=b`, `?a=b`) needs
/// `--channel`; a URL whose path names no channel is refused, never guessed.
fn split_url(url: &str, channel: Option<String>) -> Result<(String, String), Text> {
    let url = url.trim();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let named = path
        .split('/')
        .skip_while(|s| *s != "webhook" && *s != "preview")
        .nth(1)
        .filter(|c| !c.is_empty());
    match (named, channel) {
        (Some(named), Some(given)) if named != given => Err(t!(
            "cli-url-names-channel-but-channel",
            a = format!("{named:?}"),
            b = format!("{given:?}")
        )),
        (Some(named), _) => Ok((named.to_string(), query.to_string())),
        (None, Some(given)) if !path.contains('/') => {
            // A bare query: everything is parameters.
            let query = if query.is_empty() { path } else { query };
            Ok((given, query.trim_start_matches('?').to_string()))
        }
        (None, Some(given)) => Ok((given, query.to_string())),
        (None, None) => Err(t!(
            "cli-url-needs-whole-hook-url",
            url = format!("{:?}", torrow_hooks::params::quote(url))
        )),
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("torrow-hooks: {message}");
    ExitCode::from(2)
}

/// Prints the outcome as the JSON a browser would get; exits 0 when fine, 2 on wrong
/// parameters, 1 on anything else.
fn exit_with(outcome: Outcome, lang: Lang) -> ExitCode {
    let kind = outcome.kind;
    println!("{}", Answer::from(outcome).to_json(lang));
    match kind {
        k if k.is_success() => ExitCode::SUCCESS,
        Kind::WrongParameters | Kind::UnknownChannel => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

/// `--config PATH` (or `--config=PATH`) of the command line, read before clap parses it.
fn config_argument() -> Option<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    let mut config = None;
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy().into_owned();
        if arg == "--config" {
            config = args.next().map(PathBuf::from);
        } else if let Some(path) = arg.strip_prefix("--config=") {
            config = Some(PathBuf::from(path));
        }
    }
    config
}

/// The language when the settings cannot be read: `HOOKS_SERVER__LANGUAGE`, else Russian.
fn language_from_environment() -> Lang {
    match std::env::var("HOOKS_SERVER__LANGUAGE")
        .as_deref()
        .map(str::trim)
    {
        Ok("en") => Lang::En,
        _ => Lang::default(),
    }
}

/// The operator's language, once the settings are read.
static LANG: std::sync::OnceLock<Lang> = std::sync::OnceLock::new();

fn fail(e: anyhow::Error) -> ExitCode {
    let lang = LANG.get().copied().unwrap_or_default();
    eprintln!("torrow-hooks: {}", error_text(&e, lang));
    ExitCode::from(1)
}
