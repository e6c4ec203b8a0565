//! End-to-end tests: a real server on port 0, real TLS, real WebSocket,
//! real SQLite. One binary with a module per area, to keep link time down.

mod accounts;
mod acme;
mod admin;
mod bad_input;
mod bridge;
mod chat;
mod features;
mod files;
mod first_run;
mod groups;
mod https;
mod lifecycle;
mod load;
mod metrics;
mod rates;
mod social;
mod streams;
mod udp;
mod web;
