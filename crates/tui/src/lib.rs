//! `confab chat`: Confab in a terminal.
//!
//! - [`app`]: the state of the screen and what input and client events do
//!   to it. No terminal in it, so tests drive it directly.
//! - [`ui`]: draws an [`app::App`] and its client with ratatui.
//! - [`term`]: the real terminal and the event loop around the client
//!   driver from `confab_client::native`.
//! - [`notify`]: the bell and desktop notifications for DMs and mentions.
//! - [`input`]: the line editor. Slash commands are parsed by
//!   `confab_client::commands` (the browser uses the same parser) and
//!   `:shortcode:` emoji come from `confab_client::emoji`.

pub mod app;
pub mod input;
pub mod notify;
pub mod term;
pub mod ui;

pub use app::App;
pub use confab_client::commands;
pub use term::{Options, run};
