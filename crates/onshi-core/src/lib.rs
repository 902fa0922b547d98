//! Domain types and rules of onshi, with no I/O.
//!
//! Everything here is a pure function or a type that can only hold a valid value
//! ("parse, don't validate"): an [`ids::InsurerNumber`] exists only with a correct check
//! digit, a [`date::Ymd`] only as a real calendar date. Servers, the store and the wire
//! format build on these types; none of them re-implements a rule that lives here.

pub mod burden;
pub mod card;
pub mod clock;
pub mod codes;
pub mod date;
pub mod ids;
pub mod medical;
pub mod model;
pub mod registry;
pub mod text;

pub use clock::{Clock, FixedClock, SystemClock};
pub use date::{JstDateTime, Ymd};
