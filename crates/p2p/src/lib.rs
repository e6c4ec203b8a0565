//! `confab node`: chat with no server. Each node is the home of the users
//! registered on it; users find each other by name through a Kademlia DHT
//! of signed records, and home nodes talk directly (request-response over
//! noise-encrypted connections, so a node's peer id is proven). A node
//! keeps an outbox, so a message to someone offline waits until their node
//! is back, and each message is kept once by its receiver.
//!
//! Layout: `wire` (what nodes say), `state` (SQLite), `identity` (the
//! node's key), `console` (the command line), `client` (the Confab client
//! protocol on localhost, an embedded server mirroring the node), `node`
//! (the swarm and the event loop that ties them).

mod client;
mod console;
mod identity;
mod node;
mod password;
mod state;
pub mod wire;

use std::path::PathBuf;

use anyhow::{Context, Result};
/// The libp2p this node is built on, for tools and tests that speak to nodes.
pub use libp2p;
pub use libp2p::Multiaddr;

/// How a node starts.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: Vec<Multiaddr>,
    pub data_dir: PathBuf,
    pub bootstrap: Vec<Multiaddr>,
    pub mdns: bool,
    /// Where the Confab client protocol is served (TLS), for `confab chat`.
    pub client: std::net::SocketAddr,
}

/// Runs a node until `quit`, SIGINT or SIGTERM, reading commands from
/// standard input and printing to standard output.
pub async fn run(options: Options) -> Result<()> {
    make_private_dir(&options.data_dir)?;
    let key = identity::load_or_create(&options.data_dir)?;
    let state = state::State::open(&options.data_dir)?;
    let (served, link) = client::start(&options.data_dir, options.client).await?;
    let mut node = node::Node::start(&options, key, state, link)?;
    node.announce_listening(&format!(
        "client={} web=http://{}/ fingerprint={}",
        served.addr, served.web, served.fingerprint
    ))
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    console::spawn(tx);
    let result = node.run(rx).await;
    served.stop().await;
    result
}

fn make_private_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private", dir.display()))?;
    }
    Ok(())
}
