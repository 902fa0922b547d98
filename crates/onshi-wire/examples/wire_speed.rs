//! Rough speed check of the hot path: decode a request + encode a result.
//!
//! `cargo run --release -p onshi-wire --example wire_speed`. Prints microseconds per
//! operation; no benchmarking framework needed. The central service's budget is well
//! under 30 µs for decode + encode together.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use onshi_wire::siquc01::*;
use onshi_wire::{Encoding, Limits};

fn time(label: &str, n: u32, mut f: impl FnMut()) {
    for _ in 0..n / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("{label:<48} {us:>8.2} µs/op");
}

fn main() {
    let n = 100_000;
    let limits = Limits::default();
    let req_utf8 = encode_request_xml(&common::request(), Encoding::Utf8);
    let req_sjis = encode_request_xml(&common::request(), Encoding::ShiftJis);
    let req_json = encode_request_json(&common::request());
    let typical = common::typical_response();
    let full = common::full_response();
    let full_utf8 = encode_response_xml(&full, Encoding::Utf8);

    time("decode request XML (UTF-8)", n, || {
        black_box(decode_request_xml(black_box(&req_utf8), &limits).unwrap());
    });
    time("decode request XML (Shift_JIS)", n, || {
        black_box(decode_request_xml(black_box(&req_sjis), &limits).unwrap());
    });
    time("decode request JSON", n, || {
        black_box(decode_request_json(black_box(&req_json), &limits).unwrap());
    });
    time("encode typical response XML (UTF-8)", n, || {
        black_box(encode_response_xml(black_box(&typical), Encoding::Utf8));
    });
    time("encode full response XML (UTF-8)", n, || {
        black_box(encode_response_xml(black_box(&full), Encoding::Utf8));
    });
    time("encode full response XML (Shift_JIS)", n, || {
        black_box(encode_response_xml(black_box(&full), Encoding::ShiftJis));
    });
    time("encode full response JSON", n, || {
        black_box(encode_response_json(black_box(&full)));
    });
    time("decode full response XML (UTF-8)", n / 10, || {
        black_box(decode_response_xml(black_box(&full_utf8), &limits).unwrap());
    });
    time("HOT PATH: decode req XML + encode full res XML", n, || {
        let (req, enc) = decode_request_xml(black_box(&req_utf8), &limits).unwrap();
        black_box(&req);
        black_box(encode_response_xml(black_box(&full), enc));
    });
    time(
        "HOT PATH: decode req SJIS + encode full res SJIS",
        n,
        || {
            let (req, enc) = decode_request_xml(black_box(&req_sjis), &limits).unwrap();
            black_box(&req);
            black_box(encode_response_xml(black_box(&full), enc));
        },
    );
    time(
        "HOT PATH: decode req JSON + encode full res JSON",
        n,
        || {
            let req = decode_request_json(black_box(&req_json), &limits).unwrap();
            black_box(&req);
            black_box(encode_response_json(black_box(&full)));
        },
    );
}
