//! The REST form of the file interface, over real HTTP against a real central.
#![allow(clippy::unwrap_used)]

use onshi_core::Clock;
use onshi_terminal::outage::Outbox;
use onshi_terminal::relay::Relay;
use onshi_testkit::{TestApp, spawn_app};
use onshi_wire::{Encoding, Limits, siquc01};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serve(app: &TestApp, with_outbox: bool) -> SocketAddr {
    let cert = app.facility_cert(&app.clinic().code);
    let mut relay = Relay::new(app.client_with(Some(&cert)));
    if with_outbox {
        let dir = app.dir.path().join("oqs");
        std::fs::create_dir_all(&dir).unwrap();
        let outbox = Arc::new(Outbox::open(&dir.join("terminal.sqlite")).unwrap());
        relay = relay.with_outbox(outbox, app.clock.clone() as Arc<dyn Clock>);
    }
    let router = onshi_terminal::rest::router(Arc::new(relay));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// One HTTP/1.1 POST; returns status, headers (lower-case names) and body.
async fn post(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn request(app: &TestApp, case: &str) -> siquc01::Request {
    app.check_request(case, "REST-1")
}

#[tokio::test]
async fn single_checks_are_answered_in_the_format_and_encoding_they_came_in() {
    let app = spawn_app().await;
    let addr = serve(&app, false).await;
    let limits = Limits::default();

    let req = request(&app, "rare_kanji");
    let (status, h, body) = post(
        addr,
        "/api/v1/OQSsiquc01",
        "application/xml",
        &siquc01::encode_request_xml(&req, Encoding::ShiftJis),
    )
    .await;
    assert_eq!(status, 200);
    assert!(header(&h, "content-type").unwrap().contains("Shift_JIS"));
    let (res, enc) = siquc01::decode_response_xml(&body, &limits).unwrap();
    assert_eq!(enc, Encoding::ShiftJis);
    assert_eq!(res.header.segment_of_result, "1");
    assert_eq!(
        res.header.arbitrary_file_identifier.as_deref(),
        Some("REST-1")
    );
    assert_eq!(
        res.body.results[0].name.as_deref(),
        Some(app.sample("rare_kanji").name.as_str())
    );

    let (status, h, body) = post(
        addr,
        "/api/v1/OQSsiquc01",
        "application/json",
        &siquc01::encode_request_json(&request(&app, "lost")),
    )
    .await;
    assert_eq!(status, 200);
    assert!(header(&h, "content-type").unwrap().contains("json"));
    let res = siquc01::decode_response_json(&body, &limits).unwrap();
    assert_eq!(res.body.qualification_validity.as_deref(), Some("2"));
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_400_with_the_code_central_would_give() {
    let app = spawn_app().await;
    let addr = serve(&app, false).await;
    let (status, _, body) = post(
        addr,
        "/api/v1/OQSsiquc01",
        "application/xml",
        b"<XmlMsg><Mess",
    )
    .await;
    assert_eq!(status, 400);
    let (res, _) = siquc01::decode_response_xml(&body, &Limits::default()).unwrap();
    assert_eq!(res.header.segment_of_result, "9");
    assert_eq!(res.header.error_code.as_deref(), Some("ONS1001"));
    assert!(!res.header.error_message.unwrap().is_empty());

    let (status, _, body) = post(addr, "/api/v1/OQSsiquc01", "application/json", b"{").await;
    assert_eq!(status, 400);
    let res = siquc01::decode_response_json(&body, &Limits::default()).unwrap();
    assert_eq!(res.header.error_code.as_deref(), Some("ONS1006"));

    let (status, _, _) = post(addr, "/api/v1/OQSnothing01", "application/xml", b"<x/>").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn while_central_is_down_single_checks_are_provisional_and_queued() {
    let mut app = spawn_app().await;
    let addr = serve(&app, true).await;
    let xml = siquc01::encode_request_xml(&request(&app, "valid"), Encoding::Utf8);
    let (status, _, _) = post(addr, "/api/v1/OQSsiquc01", "application/xml", &xml).await;
    assert_eq!(status, 200);
    app.stop_central().await;
    let (status, h, body) = post(addr, "/api/v1/OQSsiquc01", "application/xml", &xml).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "x-onshi-provisional"), Some("1"));
    assert!(
        header(&h, "x-onshi-reconciled")
            .unwrap()
            .starts_with("res/reconciled/OQSsiquc01res_rest")
    );
    let (res, _) = siquc01::decode_response_xml(&body, &Limits::default()).unwrap();
    assert_eq!(res.body.processing_result_code.as_deref(), Some("ONS0190"));

    // Bulk needs central.
    let (status, _, body) = post(addr, "/api/v1/OQSmuquc01", "application/xml", b"<XmlMsg/>").await;
    assert_eq!(status, 503);
    let (res, _) = siquc01::decode_response_xml(&body, &Limits::default()).unwrap();
    assert_eq!(res.header.error_code.as_deref(), Some("ONS9100"));
}
