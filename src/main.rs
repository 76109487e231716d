//! The command line (SPEC §8): serve, render, check, deliveries, show, replay.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use torrow_hooks::{
    cli,
    hook::{Kind, Outcome},
    http::Answer,
    i18n::{tr, Lang},
    store::State,
    telemetry, App, Settings,
};

#[derive(Parser)]
#[command(
    name = "torrow-hooks",
    version,
    about = "Torrow WebHook notifications through Wappi and other channels"
)]
struct Cli {
    /// Settings file (default: Settings.toml in the working directory, if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the message (and recipient) a hook URL would send for an event; sends nothing.
    Render {
        /// The hook URL as given to Torrow: http(s)://<host>/webhook/<channel>?<parameters>.
        /// A bare query string needs --channel.
        #[arg(long, value_name = "HOOK_URL")]
        url: String,
        /// The channel, when --url is only a query string.
        #[arg(long)]
        channel: Option<String>,
        /// A Torrow event (JSON file).
        #[arg(long)]
        event: PathBuf,
    },
    /// Check a hook URL (parameters and credentials) and print the JSON answer.
    Check {
        /// The hook URL as given to Torrow: http(s)://<host>/webhook/<channel>?<parameters>.
        /// A bare query string needs --channel.
        #[arg(long, value_name = "HOOK_URL")]
        url: String,
        /// The channel, when --url is only a query string.
        #[arg(long)]
        channel: Option<String>,
    },
    /// List recent deliveries, newest first (recipients masked).
    Deliveries {
        /// Only deliveries in this state: pending, sending, sent, failed or dead.
        #[arg(long)]
        state: Option<String>,
        /// How many at most (up to 500).
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Show one delivery: state, every attempt with its time and error, the text.
    Show {
        /// The DeliveryId (from an answer, a failure email or `deliveries`).
        id: String,
    },
    /// Send dead or failed deliveries again (a running service picks them up at once).
    /// Sends a test email to ADDRESS through mail.smtp_url and explains a failure.
    TestMail { address: String },
    /// The message templates: list, check a folder, export the live versions.
    Templates {
        #[command(subcommand)]
        action: TemplatesCommand,
    },
    Replay {
        /// The DeliveryId to send again.
        id: Option<String>,
        /// Every dead delivery.
        #[arg(long, conflicts_with = "id")]
        all_dead: bool,
    },
}

#[derive(Subcommand)]
enum TemplatesCommand {
    /// Every template of every locale, and where its text comes from (file or console).
    List,
    /// Checks a templates folder against the built-in samples without starting the service
    /// (default: templates.dir); exits 1 with file:line:column for each problem.
    Check { dir: Option<PathBuf> },
    /// Writes the live templates (console versions included) as files under DIR.
    Export { dir: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("torrow-hooks: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings))
}

async fn run(command: Command, settings: Settings) -> ExitCode {
    let lang = settings.server.language;
    let _ = LANG.set(lang);
    let say = |text: &str| tr(lang, text);
    // A command that reads the outbox must read the service's, never start an empty one.
    let looks_up = matches!(
        &command,
        Command::Deliveries { .. }
            | Command::Show { .. }
            | Command::Replay { .. }
            | Command::Templates {
                action: TemplatesCommand::List | TemplatesCommand::Export { .. }
            }
    );
    if looks_up {
        if let Err(e) = outbox_exists(&settings) {
            return fail(e);
        }
    }
    match command {
        Command::Serve => serve(settings).await,
        Command::Render {
            url,
            channel,
            event,
        } => {
            let (channel, query) = match split_url(&url, channel) {
                Ok(parts) => parts,
                Err(e) => return usage(&say(&e)),
            };
            let app = match App::build(settings).await {
                Ok(app) => app,
                Err(e) => return fail(e),
            };
            let body = match std::fs::read(&event) {
                Ok(b) => b,
                Err(e) => return fail(anyhow::anyhow!("{}: {e}", event.display())),
            };
            match app.render_for_cli(&channel, &query, &body) {
                Ok((recipient, text, warnings)) => {
                    println!("{}", say(&format!("Recipient: {recipient}")));
                    if !warnings.is_empty() {
                        println!("{}", say(&format!("Warnings: {warnings}")));
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
                Err(e) => return usage(&say(&e)),
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
                        "torrow-hooks: no state {s:?}: use pending, sending, sent, failed or dead"
                    );
                    return ExitCode::from(2);
                }
            };
            let app = match App::build(settings).await {
                Ok(app) => app,
                Err(e) => return fail(e),
            };
            match app.delivery.list(state, limit).await {
                Ok(list) if list.is_empty() => {
                    println!("{}", say("No deliveries."));
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
            match app.delivery.show(&id).await {
                Ok(Some(shown)) => {
                    print!("{}", cli::delivery(&shown, lang));
                    ExitCode::SUCCESS
                }
                Ok(None) => {
                    eprintln!(
                        "torrow-hooks: {}",
                        say(&format!(
                            "no delivery {id:?} (see `torrow-hooks deliveries`)"
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
                    println!("{}", say(&done));
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    eprintln!("torrow-hooks: {}", say(&why));
                    ExitCode::from(1)
                }
            }
        }
        Command::Replay { id, all_dead } => {
            if id.is_none() && !all_dead {
                eprintln!("torrow-hooks: {}", say("give a DeliveryId or --all-dead"));
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
                                say(&format!(
                                    "delivery {id} is {}: only dead or failed deliveries are sent again",
                                    r.state.as_str()
                                ))
                            ),
                            _ => eprintln!(
                                "torrow-hooks: {}",
                                say(&format!(
                                    "no delivery {id:?} (see `torrow-hooks deliveries`)"
                                ))
                            ),
                        },
                        None => eprintln!(
                            "torrow-hooks: {}",
                            say("no dead delivery to send again")
                        ),
                    }
                    ExitCode::from(1)
                }
                Ok(ids) => {
                    for id in &ids {
                        println!("{}", say(&format!("{id}: queued to be sent again")));
                    }
                    println!(
                        "{}",
                        say(&format!(
                            "{} queued; a running service sends them at its next look at the outbox (delivery.poll_interval). Follow with `torrow-hooks show <id>`.",
                            ids.len()
                        ))
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
    let say = |text: &str| tr(lang, text);
    if let TemplatesCommand::Check { dir } = &action {
        let dir = dir
            .clone()
            .unwrap_or_else(|| settings.templates.dir.clone());
        let problems = torrow_hooks::editor::check_folder(&dir, &settings.links);
        for problem in &problems {
            eprintln!("{}", say(problem));
        }
        if problems.is_empty() {
            println!(
                "{}",
                say(&format!(
                    "{}: every template renders every sample",
                    dir.display()
                ))
            );
            return ExitCode::SUCCESS;
        }
        return ExitCode::from(1);
    }
    let app = match App::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(e),
    };
    match action {
        TemplatesCommand::List => {
            for t in app.template_list() {
                let origin = match t.serving {
                    torrow_hooks::render::Origin::File => say("file"),
                    torrow_hooks::render::Origin::Console { version, saved_at } => say(&format!(
                        "edited in the console on {} (version {version})",
                        chrono::DateTime::from_timestamp_millis(saved_at)
                            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                            .unwrap_or_default()
                    )),
                };
                println!("{:<8} {:<20} {origin}", t.locale, t.name);
                if let Some(problem) = t.problem {
                    println!("         {}", say(&problem));
                }
            }
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
    anyhow::bail!(
        "no outbox at {} (delivery.database): these are not the service's settings; give them with --config, e.g. torrow-hooks --config {} deliveries",
        shown.display(),
        torrow_hooks::settings::SYSTEM_SETTINGS
    )
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
        tr(
            lang,
            &format!("torrow-hooks listening on http://{}", running.addr)
        )
    );
    tracing::info!(addr = %running.addr, "listening");
    let signal = match stop_signal() {
        Ok(signal) => signal,
        Err(e) => return fail(e),
    };
    signal.await;
    running.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
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
fn split_url(url: &str, channel: Option<String>) -> Result<(String, String), String> {
    let url = url.trim();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let named = path
        .split('/')
        .skip_while(|s| *s != "webhook" && *s != "preview")
        .nth(1)
        .filter(|c| !c.is_empty());
    match (named, channel) {
        (Some(named), Some(given)) if named != given => Err(format!(
            "--url names the channel {named:?} but --channel says {given:?}"
        )),
        (Some(named), _) => Ok((named.to_string(), query.to_string())),
        (None, Some(given)) if !path.contains('/') => {
            // A bare query: everything is parameters.
            let query = if query.is_empty() { path } else { query };
            Ok((given, query.trim_start_matches('?').to_string()))
        }
        (None, Some(given)) => Ok((given, query.to_string())),
        (None, None) => Err(format!(
            "--url needs the whole hook URL, e.g. https://hooks.example.com/webhook/wappi?cascadeId=…&apiToken=…, \
             or a query string with --channel <name>; got {:?}",
            torrow_hooks::params::quote(url)
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
    println!("{}", Answer::from(outcome).translated(lang).to_json());
    match kind {
        k if k.is_success() => ExitCode::SUCCESS,
        Kind::WrongParameters | Kind::UnknownChannel => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

/// The operator's language, once the settings are read (errors before that stay in English).
static LANG: std::sync::OnceLock<Lang> = std::sync::OnceLock::new();

fn fail(e: anyhow::Error) -> ExitCode {
    let lang = LANG.get().copied().unwrap_or(Lang::En);
    eprintln!("torrow-hooks: {}", tr(lang, &format!("{e:#}")));
    ExitCode::from(1)
}
