//! No decoder panics, whatever the bytes: arbitrary input and mutations of valid
//! messages, with the default and with tiny limits.
#![allow(clippy::unwrap_used)]

mod common;

use onshi_wire::siquc01::*;
use onshi_wire::{Encoding, Limits};
use proptest::prelude::*;

fn feed_all(bytes: &[u8]) {
    for limits in [
        Limits::default(),
        Limits {
            max_bytes: 4096,
            max_depth: 3,
        },
    ] {
        let _ = decode_request_xml(bytes, &limits);
        let _ = decode_request_json(bytes, &limits);
        let _ = decode_response_xml(bytes, &limits);
        let _ = decode_response_json(bytes, &limits);
        let _ = onshi_wire::muquc::UploadRequest::decode_xml(bytes, &limits);
        let _ = onshi_wire::muquc::UploadRequest::decode_json(bytes, &limits);
        let _ = onshi_wire::muquc::ResultResponse::decode_xml(bytes, &limits);
        let _ = onshi_wire::muquc::ResultRequest::decode_xml(bytes, &limits);
        let _ = onshi_wire::muquc::BulkConfirmUnit::from_json(bytes, &limits);
        let _ = onshi_wire::siimm::Request::decode_xml(bytes, &limits);
        let _ = onshi_wire::siimm::Request::decode_json(bytes, &limits);
    }
}

fn seeds() -> Vec<Vec<u8>> {
    vec![
        encode_request_xml(&common::request(), Encoding::Utf8),
        encode_request_xml(&common::request(), Encoding::ShiftJis),
        encode_request_json(&common::request()),
        encode_response_xml(&common::full_response(), Encoding::Utf8),
        encode_response_xml(&common::full_response(), Encoding::ShiftJis),
        encode_response_json(&common::full_response()),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..8),
        Just(b"<".to_vec()),
        Just(b"</".to_vec()),
        Just(b"/>".to_vec()),
        Just(b"&".to_vec()),
        Just(b"&#x1F600;".to_vec()),
        Just(b"&#99999999;".to_vec()),
        Just(b"<![CDATA[".to_vec()),
        Just(b"<!--".to_vec()),
        Just(b"<?".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"{".to_vec()),
        Just(b"[".to_vec()),
        Just(b"\\".to_vec()),
        Just(vec![0x81]),
        Just(vec![0xEF, 0xBB, 0xBF]),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), interesting).prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match m {
        Mutation::Flip(i, b) => {
            if let Some(x) = bytes.get_mut(i % len) {
                *x ^= b | 1;
            }
        }
        Mutation::Insert(i, v) => {
            let at = i % (bytes.len() + 1);
            bytes.splice(at..at, v.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let at = i % len;
            let end = (at + n).min(bytes.len());
            if at < end {
                bytes.drain(at..end);
            }
        }
        Mutation::Truncate(i) => bytes.truncate(i % len),
        Mutation::Duplicate(i, n) => {
            let at = i % len;
            let end = (at + n).min(bytes.len());
            if at < end {
                let part = bytes[at..end].to_vec();
                bytes.splice(at..at, part);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        feed_all(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(<[/!?]?[A-Za-z]{0,6}>?|&[#x0-9a-z]{0,5};?|[{}\\[\\]\":,]|[^<&]{0,4}){0,64}") {
        feed_all(text.as_bytes());
        let doc = format!("<XmlMsg>{text}</XmlMsg>");
        feed_all(doc.as_bytes());
    }

    #[test]
    fn mutated_messages_never_panic(seed in 0usize..6, ms in proptest::collection::vec(mutation(), 1..6)) {
        let mut bytes = seeds()[seed].clone();
        for m in &ms {
            apply(&mut bytes, m);
        }
        feed_all(&bytes);
    }
}
