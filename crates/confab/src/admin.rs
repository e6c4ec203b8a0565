//! `confab admin`: administration working directly on a data directory (the
//! SQLite database allows this while the server runs). It finds the data
//! directory as `confab serve` does: `--data-dir`, `CONFAB_DATA_DIR`, the
//! config file's `data_dir` (`--config`, `CONFAB_CONFIG`), `./confab-data`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use confab_proto::{Limits, Role};
use confab_server::services::accounts::create_user;
use confab_store::SqliteStore;

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// The server's TOML config file (as for `confab serve`)
    #[arg(long, env = "CONFAB_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// The server's data directory [default: the config file's, else ./confab-data]
    #[arg(long, env = "CONFAB_DATA_DIR", value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a user (use --admin for the first administrator). The password
    /// comes from CONFAB_PASSWORD, or a prompt.
    CreateUser {
        name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Copy the database to FILE (a new file), consistent while the server
    /// runs, and check the copy. Restore: stop the server, put the copy in
    /// place of `confab.db` in the data directory, start it.
    Backup {
        /// Where the copy goes; must not exist yet.
        file: PathBuf,
    },
}

pub async fn run(args: AdminArgs) -> Result<()> {
    let config = crate::serve::resolve(&crate::serve::ServeArgs {
        config: args.config,
        data_dir: args.data_dir,
        ..Default::default()
    })?;
    let data_dir = &config.data_dir;
    match args.command {
        AdminCommand::CreateUser { name, admin } => {
            let limits = Limits::default();
            // Checked before asking for a password, as well as by the service.
            limits.check_username(&name).map_err(anyhow::Error::msg)?;
            let password = match std::env::var("CONFAB_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let p = rpassword::prompt_password(format!("password for {name}: "))?;
                    if rpassword::prompt_password("again: ")? != p {
                        bail!("the passwords differ");
                    }
                    p
                }
            };
            if !config.db_path().exists() {
                eprintln!(
                    "no Confab database in {} yet: making a new one there",
                    data_dir.display()
                );
            }
            confab_server::make_data_dir(data_dir)?;
            let store = SqliteStore::open(config.db_path())?;
            let role = if admin { Role::Admin } else { Role::Member };
            // The same service that registration uses.
            create_user(&store, &limits, &name, password, role).await?;
            println!(
                "created {} `{name}` in {}",
                role.as_str(),
                data_dir.display()
            );
            Ok(())
        }
        AdminCommand::Backup { file } => {
            let db = config.db_path();
            let info = tokio::task::spawn_blocking(move || {
                confab_store::sqlite::backup(&db, &file).map(|i| (i, file))
            })
            .await
            .context("the backup task")?;
            let (info, file) = info?;
            println!(
                "backed up {} users and {} messages to {} ({} KiB); integrity check ok",
                info.users,
                info.messages,
                file.display(),
                info.bytes.div_ceil(1024)
            );
            Ok(())
        }
    }
}
