//! The facility terminal (資格確認端末). So far: the file interface through which receipt
//! computers and EMRs exchange `XmlMsg` files with the system ([`files`]).

pub mod files;
pub mod outage;
pub mod relay;
pub mod rest;
