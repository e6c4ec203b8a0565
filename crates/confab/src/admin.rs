//! `confab admin`: the same administration two ways.
//!
//! - With `--server HOST:PORT`, over the protocol on a running server, as
//!   the admin logged in on that profile (`confab login ADMIN --server ...`
//!   first): everything, including `stats`, `broadcast` and `shutdown`.
//! - Without it, directly on a data directory (the server may be stopped,
//!   or running: SQLite allows both), found as `confab serve` finds it:
//!   `--data-dir`, `CONFAB_DATA_DIR`, the config file's `data_dir`
//!   (`--config`, `CONFAB_CONFIG`), `./confab-data`. Connected users are
//!   not told of changes made this way until they reconnect.
//!
//! Both call the server's `services::admin`, which records every change in
//! the audit log.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use confab_proto::{Limits, Request, Role, ServerBody};
use confab_server::services::admin::{By, Offline};
use confab_store::SqliteStore;

use crate::script::ProfileArgs;

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Administer a running server over the protocol (host:port of its TLS
    /// listener), as the admin logged in on the profile
    #[arg(long, short = 's', global = true, value_name = "HOST:PORT")]
    server: Option<String>,
    /// The profile to use with --server [default: named after the server]
    #[arg(long, global = true, requires = "server")]
    profile: Option<String>,
    /// The server's TOML config file (as for `confab serve`)
    #[arg(long, env = "CONFAB_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// The server's data directory [default: the config file's, else ./confab-data]
    #[arg(long, env = "CONFAB_DATA_DIR", value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Print the answer as JSON
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a user (use --admin for an administrator). The password
    /// comes from CONFAB_PASSWORD, or a prompt.
    CreateUser {
        name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// List accounts whose name contains QUERY (all without one).
    Users {
        query: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Change a user's role, or disable (ban) or enable the account.
    User {
        name: String,
        #[arg(long, value_parser = ["admin", "member"])]
        role: Option<String>,
        /// Disable (ban) the account: no logins, sessions ended.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
    },
    /// Delete an account (its messages stay, under `deleted-<id>`).
    DeleteUser { name: String },
    /// Set a user's password (CONFAB_PASSWORD, or a prompt); ends their sessions.
    ResetPassword { name: String },
    /// End every session of a user.
    Revoke { name: String },
    /// Every channel, private ones included.
    Channels,
    /// Delete a channel (by the number `channels` shows).
    DeleteChannel { conv: u64 },
    /// Give a channel a new owner.
    ChannelOwner { conv: u64, user: String },
    /// The server's counters now (--server only).
    Stats,
    /// The audit log, newest first.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Entries older than this id.
        #[arg(long)]
        before: Option<i64>,
    },
    /// An invitation token, for registration by invitation.
    Invite {
        #[arg(long, default_value_t = 1)]
        uses: u32,
        #[arg(long, default_value_t = 168)]
        hours: u32,
    },
    /// A notice to everyone connected (--server only).
    Broadcast { text: Vec<String> },
    /// Stop the server, telling everyone why (--server only).
    Shutdown { reason: Vec<String> },
    /// Copy the database to FILE (a new file), consistent while the server
    /// runs, and check the copy. Restore: stop the server, put the copy in
    /// place of `confab.db` in the data directory, start it.
    Backup {
        /// Where the copy goes; must not exist yet.
        file: PathBuf,
    },
}

fn password_for(name: &str) -> Result<String> {
    match std::env::var("CONFAB_PASSWORD") {
        Ok(p) => Ok(p),
        Err(_) => {
            let p = rpassword::prompt_password(format!("password for {name}: "))?;
            if rpassword::prompt_password("again: ")? != p {
                bail!("the passwords differ");
            }
            Ok(p)
        }
    }
}

fn role(s: &str) -> Role {
    if s == "admin" {
        Role::Admin
    } else {
        Role::Member
    }
}

pub async fn run(args: AdminArgs) -> Result<()> {
    let json = args.json;
    let body = match args.server.clone() {
        Some(server) => remote(&args, server).await?,
        None => local(args).await?,
    };
    print(&body, json)
}

/// Over the protocol, on a running server.
async fn remote(args: &AdminArgs, server: String) -> Result<ServerBody> {
    let at = ProfileArgs {
        server,
        profile: args.profile.clone(),
        trust: None,
    };
    let req = match &args.command {
        AdminCommand::CreateUser { name, admin } => Request::AdminUserCreate {
            name: name.clone(),
            password: password_for(name)?,
            role: Some(if *admin { Role::Admin } else { Role::Member }),
        },
        AdminCommand::Users { query, limit } => Request::AdminUsers {
            query: query.clone().unwrap_or_default(),
            limit: Some(*limit),
        },
        AdminCommand::User {
            name,
            role: r,
            disable,
            enable,
        } => Request::AdminUserUpdate {
            name: name.clone(),
            role: r.as_deref().map(role),
            disabled: (*disable || *enable).then_some(*disable),
        },
        AdminCommand::DeleteUser { name } => Request::AdminUserDelete { name: name.clone() },
        AdminCommand::ResetPassword { name } => Request::AdminUserPassword {
            name: name.clone(),
            password: password_for(name)?,
        },
        AdminCommand::Revoke { name } => Request::AdminUserRevoke { name: name.clone() },
        AdminCommand::Channels => Request::AdminChannels {},
        AdminCommand::DeleteChannel { conv } => Request::AdminChannelDelete { conv: *conv },
        AdminCommand::ChannelOwner { conv, user } => Request::AdminChannelOwner {
            conv: *conv,
            user: user.clone(),
        },
        AdminCommand::Stats => Request::AdminStats {},
        AdminCommand::Audit { limit, before } => Request::AdminAudit {
            before: *before,
            limit: Some(*limit),
        },
        AdminCommand::Invite { uses, hours } => Request::AdminInvite {
            uses: Some(*uses),
            hours: Some(*hours),
        },
        AdminCommand::Broadcast { text } => Request::AdminBroadcast {
            text: text.join(" "),
        },
        AdminCommand::Shutdown { reason } => Request::AdminShutdown {
            reason: reason.join(" "),
        },
        AdminCommand::Backup { .. } => {
            bail!(
                "`backup` works on the data directory: run it on the server's machine without --server"
            )
        }
    };
    crate::script::admin_request(&at, req).await
}

/// Directly on a data directory.
async fn local(args: AdminArgs) -> Result<ServerBody> {
    let config = crate::serve::resolve(&crate::serve::ServeArgs {
        config: args.config,
        data_dir: args.data_dir,
        ..Default::default()
    })?;
    let data_dir = &config.data_dir;
    let db = config.db_path();
    if let AdminCommand::Backup { file } = args.command {
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
        return Ok(ServerBody::Ok {});
    }
    let creating = matches!(args.command, AdminCommand::CreateUser { .. });
    if !db.exists() {
        if !creating {
            bail!(
                "no Confab database in {} (give --data-dir or --config, or --server for a running server)",
                data_dir.display()
            );
        }
        eprintln!(
            "no Confab database in {} yet: making a new one there",
            data_dir.display()
        );
    }
    confab_server::make_data_dir(data_dir)?;
    let store = SqliteStore::open(&db)?;
    let limits = Limits::default();
    let admin = Offline {
        store: &store,
        limits: &limits,
        by: By::local(),
    };
    Ok(match args.command {
        AdminCommand::CreateUser {
            name,
            admin: is_admin,
        } => {
            // Checked before asking for a password, as well as by the service.
            limits.check_username(&name).map_err(anyhow::Error::msg)?;
            let password = password_for(&name)?;
            let role = if is_admin { Role::Admin } else { Role::Member };
            admin.create_user(&name, password, role).await?;
            println!(
                "created {} `{name}` in {}",
                role.as_str(),
                data_dir.display()
            );
            return Ok(ServerBody::Ok {});
        }
        AdminCommand::Users { query, limit } => ServerBody::AdminUsers {
            users: admin.users(query.as_deref().unwrap_or(""), limit).await?,
        },
        AdminCommand::User {
            name,
            role: r,
            disable,
            enable,
        } => {
            let disabled = (disable || enable).then_some(disable);
            admin
                .update_user(&name, r.as_deref().map(role), disabled)
                .await?;
            ServerBody::Ok {}
        }
        AdminCommand::DeleteUser { name } => {
            admin.delete_user(&name).await?;
            ServerBody::Ok {}
        }
        AdminCommand::ResetPassword { name } => {
            let password = password_for(&name)?;
            admin.set_password(&name, password).await?;
            ServerBody::Ok {}
        }
        AdminCommand::Revoke { name } => {
            admin.revoke(&name).await?;
            ServerBody::Ok {}
        }
        AdminCommand::Channels => ServerBody::AdminChannels {
            channels: admin.channels().await?,
        },
        AdminCommand::DeleteChannel { conv } => {
            admin.channel_delete(conv).await?;
            ServerBody::Ok {}
        }
        AdminCommand::ChannelOwner { conv, user } => {
            admin.channel_owner(conv, &user).await?;
            ServerBody::Ok {}
        }
        AdminCommand::Audit { limit, before } => ServerBody::AdminAudit {
            entries: admin.audit(before, limit).await?,
        },
        AdminCommand::Invite { uses, hours } => {
            let (token, expires_ms) = admin.invite(uses, hours).await?;
            ServerBody::AdminInvite { token, expires_ms }
        }
        AdminCommand::Stats | AdminCommand::Broadcast { .. } | AdminCommand::Shutdown { .. } => {
            bail!(
                "this needs the running server: give --server HOST:PORT (and log in as an admin on that profile)"
            )
        }
        AdminCommand::Backup { .. } => unreachable!("handled above"),
    })
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn print(body: &ServerBody, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(body)?);
        return Ok(());
    }
    match body {
        ServerBody::Ok {} => println!("done"),
        ServerBody::AdminUsers { users } => {
            println!(
                "{:<24} {:<7} {:<9} {:>8}  created",
                "name", "role", "state", "sessions"
            );
            for u in users {
                let state = if u.disabled {
                    "disabled"
                } else if u.online {
                    "online"
                } else {
                    "-"
                };
                println!(
                    "{:<24} {:<7} {:<9} {:>8}  {}",
                    u.name,
                    u.role.as_str(),
                    state,
                    u.sessions,
                    time(u.created_ms)
                );
            }
        }
        ServerBody::AdminChannels { channels } => {
            println!(
                "{:>6}  {:<24} {:<8} {:<16} {:>7} {:>9}",
                "conv", "name", "kind", "owner", "members", "messages"
            );
            for c in channels {
                println!(
                    "{:>6}  {:<24} {:<8} {:<16} {:>7} {:>9}",
                    c.conv,
                    c.name,
                    if c.private { "private" } else { "public" },
                    c.owner.as_deref().unwrap_or("-"),
                    c.members,
                    c.last_seq
                );
            }
        }
        ServerBody::AdminAudit { entries } => {
            for e in entries {
                println!(
                    "{:>6}  {}  {:<16} {:<14} {:<16} {:<15} {}",
                    e.id,
                    time(e.ts_ms),
                    e.actor.as_deref().unwrap_or("-"),
                    e.action,
                    e.target.as_deref().unwrap_or("-"),
                    e.client.as_deref().unwrap_or("-"),
                    e.detail.as_deref().unwrap_or("")
                );
            }
        }
        ServerBody::AdminStats { stats } => {
            println!("{}", serde_json::to_string_pretty(stats)?);
        }
        ServerBody::AdminInvite { token, expires_ms } => {
            println!(
                "invitation: {token}\nvalid until {}; register with `confab login --register NAME --invite {token}`",
                time(*expires_ms)
            );
        }
        other => println!("{}", serde_json::to_string(other)?),
    }
    Ok(())
}
