//! vmon-analyze: symbolizes, unwinds, aggregates and renders `.vmt` captures.
//!
//! Pipeline: [`load`] decodes the inputs, [`ingest::analyze`] merges and
//! filters them, unwinds raw user stacks (vmon-unwind), symbolizes every
//! unique address once ([`symbolize`]) and yields an [`analysis::Analysis`]
//! on integer ids; [`aggregate::Aggregates`] counts it; [`output`],
//! [`summary`], [`report`] and [`tables`] render it: the text summary, the
//! JSON and the HTML report from one typed view computed once (the
//! crate-private `view`, which also says once what every output shows the
//! same way); [`pprof`], [`perf_script`] and [`speedscope`] export it;
//! [`artifacts`] writes the tables, report, exports and CI gate.
//! The long phases report their counts to a [`progress::Progress`].
//! ARCHITECTURE.md draws the stages.

pub mod aggregate;
pub mod analysis;
pub mod artifacts;
pub mod escape;
pub mod gates;
pub mod ingest;
mod intern;
pub mod load;
pub mod output;
pub mod perf_script;
pub mod pprof;
pub mod progress;
pub mod report;
pub mod speedscope;
pub mod summary;
pub mod symbolize;
#[doc(hidden)]
pub mod symbolize_addrs;
pub mod tables;
mod view;
