//! `confab node`: a serverless peer-to-peer node (crate `confab-p2p`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct NodeArgs {
    /// Address to listen on, as a multiaddr (repeatable; port 0 picks one)
    #[arg(long, value_name = "ADDR", default_value = "/ip4/0.0.0.0/tcp/7072")]
    listen: Vec<confab_p2p::Multiaddr>,
    /// Where the node keeps its identity, users and messages
    #[arg(
        long,
        value_name = "DIR",
        env = "CONFAB_NODE_DIR",
        default_value = "confab-node"
    )]
    data_dir: PathBuf,
    /// A node to join the network through: an address another node printed
    /// (repeatable)
    #[arg(long, value_name = "ADDR")]
    bootstrap: Vec<confab_p2p::Multiaddr>,
    /// Find nodes on the local network by mDNS
    #[arg(long)]
    mdns: bool,
    /// Where `confab chat` and the scripting commands connect (TLS); the
    /// browser client is served on the same IP, on a port printed at start
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7073")]
    client: std::net::SocketAddr,
}

pub async fn run(args: NodeArgs) -> Result<()> {
    confab_p2p::run(confab_p2p::Options {
        listen: args.listen,
        data_dir: args.data_dir,
        bootstrap: args.bootstrap,
        mdns: args.mdns,
        client: args.client,
    })
    .await
}
