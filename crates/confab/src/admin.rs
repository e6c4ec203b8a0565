//! `confab admin`: administration working directly on a data directory (the
//! SQLite database allows this while the server runs).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use confab_proto::{Limits, Role};
use confab_server::services::accounts::create_user;
use confab_store::SqliteStore;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a user (use --admin for the first administrator). The password
    /// comes from CONFAB_PASSWORD, or a prompt.
    CreateUser {
        name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// The server's data directory [default: ./confab-data]
        #[arg(
            long,
            env = "CONFAB_DATA_DIR",
            value_name = "DIR",
            default_value = "confab-data"
        )]
        data_dir: PathBuf,
    },
}

pub async fn run(cmd: AdminCommand) -> Result<()> {
    match cmd {
        AdminCommand::CreateUser {
            name,
            admin,
            data_dir,
        } => {
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
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            let store = SqliteStore::open(data_dir.join("confab.db"))?;
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
    }
}
