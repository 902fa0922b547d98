//! The central verification service (`onshi central serve`).
//!
//! Facilities call it over mutual TLS; their client certificate names them. Handlers are
//! thin: parse the message ([`onshi_wire`]), parse the card data into domain types and
//! decide ([`engine`]), record the answer in the history ([`onshi_store`]), render it.
//! Every error goes through one mapping ([`error::CheckError`]).

mod bulk;
mod card;
pub mod card_client;
pub mod client;
mod consent;
pub mod deferred;
pub mod engine;
pub mod error;
pub mod history;
pub mod insurer;
pub mod insurer_plan;
pub mod insurer_rows;
pub mod medfile;
pub mod medical;
pub mod metrics;
mod patient;
pub mod provision;
mod reference;
mod server;
mod tls;

pub use server::{CentralConfig, FACILITY_CACHE_SECONDS, RunningCentral, metrics_router, start};
pub use tls::Peer;
