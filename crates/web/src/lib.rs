//! Confab in the browser: Leptos (client-side rendering) over the shared
//! client core, built to wasm32 by the server's build script and embedded
//! in the `confab` binary.
//!
//! - [`view`] and [`picker`]: what the message view and the emoji picker
//!   show, as plain functions (tested on the host).
//! - `idb` (browser only): the core's `Cache` kept in memory and written
//!   through to IndexedDB, so the history and the outbox survive a reload.
//! - `driver` (browser only): the WebSocket, reconnects and timers around
//!   the core.
//! - `files` (browser only): uploads (tus over `fetch`) and downloads
//!   (SHA-256 checked) for the driver, images fetched with the token.
//! - `live` (browser only): live streams over WebRTC, host and viewer.
//! - `ui` (browser only): the Leptos components, one module per part of
//!   the screen.

pub mod picker;
pub mod view;

#[cfg(target_arch = "wasm32")]
mod driver;
#[cfg(target_arch = "wasm32")]
mod files;
#[cfg(target_arch = "wasm32")]
mod idb;
#[cfg(target_arch = "wasm32")]
mod live;
#[cfg(target_arch = "wasm32")]
mod ui;

/// Entry point, called by the page's script once the module is loaded.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    ui::start();
}
