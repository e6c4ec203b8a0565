//! `confab`: one binary for the server and its tools. This file only parses
//! the command line and dispatches; each subcommand lives in its own module.

mod admin;
mod files;
mod node;
mod script;
mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "confab",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("CONFAB_COMMIT"), ")"),
    about = "Confab: self-hosted chat. `confab serve` runs the server."
)]
struct Cli {
    /// Log lines as `text` or `json` (one object per line)
    #[arg(
        long,
        global = true,
        env = "CONFAB_LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    /// Append log lines to FILE instead of standard error
    #[arg(long, global = true, env = "CONFAB_LOG_FILE", value_name = "FILE")]
    log_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (TLS for native clients, HTTP + WebSocket for browsers).
    Serve(serve::ServeArgs),
    /// Administration on a server's data directory.
    Admin(admin::AdminArgs),
    /// A serverless peer-to-peer node: friends, messages and conferences
    /// with no server; commands on standard input.
    Node(node::NodeArgs),
    /// Measure a chat server (Confab or IRC) under load.
    Bench(confab_bench::Args),
    /// The terminal client: chat in this terminal [default server: localhost:7070].
    Chat(script::ChatArgs),
    /// Log in (or --register) to a server and keep the session in a profile.
    Login(script::LoginArgs),
    /// Send a message to #channel or @user (queued if the server is down).
    Send(script::SendArgs),
    /// Upload a file to #channel, @user or &group, with a progress bar (resumes).
    Upload(files::UploadArgs),
    /// Download a file by its id, checking its SHA-256 (resumes).
    Download(files::DownloadArgs),
    /// Print the newest messages of #channel or @user.
    History(script::HistoryArgs),
    /// Print messages as they arrive.
    Tail(script::TailArgs),
    /// List your friends (with presence), friend requests and blocks.
    Friends(script::FriendsArgs),
    /// Ask someone to be your friend, or answer or withdraw a request.
    Friend(script::FriendArgs),
    /// Block a user: no direct messages or friend requests from them.
    Block(script::UserArgs),
    /// Unblock a user.
    Unblock(script::UserArgs),
    /// Print the protocol's JSON Schema.
    Schema,
    /// Check the server's settings.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff), e.g. `confab man > confab.1`.
    Man,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective settings of `confab serve` with the same flags,
    /// variables and config file, and where each came from.
    Check(serve::ServeArgs),
}

fn main() -> Result<()> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    // In `chat`, log lines would scribble over the screen; the terminal
    // client reports its troubles in its status line instead.
    if !matches!(cli.command, Command::Chat(_)) {
        init_logging(cli.log_format, cli.log_file.as_deref())?;
    }
    // The printing commands stop quietly when their reader does
    // (`confab admin users | head`). The server, the terminal client and
    // the load generator print nothing that a pipe would cut.
    if !matches!(
        cli.command,
        Command::Serve(_) | Command::Chat(_) | Command::Bench(_)
    ) {
        quiet_on_closed_stdout();
    }
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Chat(args) => runtime.block_on(confab_tui::run(args.options())),
        Command::Serve(args) => runtime.block_on(serve::run(args)),
        Command::Admin(cmd) => runtime.block_on(admin::run(cmd)),
        Command::Bench(args) => runtime.block_on(confab_bench::run(args)),
        Command::Node(args) => runtime.block_on(node::run(args)),
        Command::Login(args) => runtime.block_on(script::login(args)),
        Command::Send(args) => {
            let code = runtime.block_on(script::send(args))?;
            std::process::exit(code);
        }
        Command::Upload(args) => runtime.block_on(files::upload(args)),
        Command::Download(args) => runtime.block_on(files::download(args)),
        Command::History(args) => runtime.block_on(script::history(args)),
        Command::Tail(args) => runtime.block_on(script::tail(args)),
        Command::Friends(args) => runtime.block_on(script::friends(args)),
        Command::Friend(args) => runtime.block_on(script::friend(args)),
        Command::Block(args) => runtime.block_on(script::block(args, true)),
        Command::Unblock(args) => runtime.block_on(script::block(args, false)),
        Command::Config(ConfigCommand::Check(args)) => {
            let sub = matches
                .subcommand_matches("config")
                .and_then(|m| m.subcommand_matches("check"))
                .expect("parsed as config check");
            print!("{}", serve::check(&args, sub)?);
            Ok(())
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "confab", &mut out);
            print_all(&out)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            print_all(&out)
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&confab_proto::schema::json_schema())?
            );
            Ok(())
        }
    }
}

/// Writes to stdout; a reader that stopped early (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// Printing commands stop quietly when their reader goes away
/// (`confab admin users | head`), as Unix tools do, instead of reporting a
/// panic: Rust ignores SIGPIPE, so the write fails and `println!` panics
/// with this message. (Restoring the signal instead would also end the
/// process when a server closes a socket mid-write: vectored writes to
/// sockets raise it.)
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Logs go to stderr or a file, as text (coloured only on a terminal) or
/// JSON; `CONFAB_LOG` filters them (`info` by default).
fn init_logging(format: LogFormat, file: Option<&std::path::Path>) -> Result<()> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONFAB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, ansi) = match file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("opening the log file {}: {e}", path.display()))?;
            (
                tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::sync::Mutex::new(f)),
                false,
            )
        }
        None => (
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder.with_ansi(ansi).init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks its definitions only when a command is parsed; this
    /// checks every subcommand's at once.
    #[test]
    fn command_line_definitions_are_consistent() {
        super::Cli::command().debug_assert();
    }
}
