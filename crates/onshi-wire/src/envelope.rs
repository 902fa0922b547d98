//! An `XmlMsg` envelope (`MessageHeader` + `MessageBody`) declared once per message type.
//!
//! [`message!`] gives each message type the same four entry points, so every message is
//! read and written by the same hardened code as the single check: size and DOCTYPE
//! checks, both encodings, depth limit, `CharacterCodeIdentifier` forced to the encoding
//! written, and the JSON form.

use crate::WireError;
use crate::input::Node;

pub(crate) const ROOT: &str = "XmlMsg";
pub(crate) const HEADER: &str = "MessageHeader";
pub(crate) const BODY: &str = "MessageBody";

pub(crate) fn required<'n, 'a>(
    parent: &'n Node<'a>,
    name: &'static str,
) -> Result<&'n Node<'a>, WireError> {
    parent.child(name).ok_or(WireError::MissingElement(name))
}

/// See the module documentation. `$cap` is the expected XML size (a capacity hint).
macro_rules! message {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { header: $h:ty, body: $b:ty, capacity: $cap:expr $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            /// `MessageHeader`.
            pub header: $h,
            /// `MessageBody`.
            pub body: $b,
        }

        impl $name {
            fn from_root(root: &$crate::input::Node<'_>) -> Result<Self, $crate::WireError> {
                use $crate::record::Record as _;
                let header = <$h>::from_node($crate::envelope::required(root, $crate::envelope::HEADER)?)?;
                let body = <$b>::from_node($crate::envelope::required(root, $crate::envelope::BODY)?)?;
                Ok($name { header, body })
            }

            fn write<S: $crate::output::Sink>(&self, sink: &mut S) {
                use $crate::record::Record as _;
                sink.open($crate::envelope::ROOT);
                sink.open($crate::envelope::HEADER);
                self.header.write_fields(sink);
                sink.close($crate::envelope::HEADER);
                sink.open($crate::envelope::BODY);
                self.body.write_fields(sink);
                sink.close($crate::envelope::BODY);
                sink.close($crate::envelope::ROOT);
            }

            /// Decodes the message from an XML file (UTF-8 or Shift_JIS); returns it with
            /// the encoding it was in.
            pub fn decode_xml(
                bytes: &[u8],
                limits: &$crate::Limits,
            ) -> Result<(Self, $crate::Encoding), $crate::WireError> {
                let (text, encoding) = $crate::input::decode_xml_text(bytes, limits)?;
                let root = $crate::input::parse_xml(&text, limits, $crate::envelope::ROOT)?;
                Ok((Self::from_root(&root)?, encoding))
            }

            /// Decodes the message from its JSON form (`{"XmlMsg":{…}}`, UTF-8).
            pub fn decode_json(
                bytes: &[u8],
                limits: &$crate::Limits,
            ) -> Result<Self, $crate::WireError> {
                let value = $crate::input::parse_json_value(bytes, limits)?;
                let root = $crate::input::json_root(&value, $crate::envelope::ROOT)?;
                Self::from_root(&root)
            }

            /// Encodes the message as an XML file in `enc`. A `CharacterCodeIdentifier`
            /// in the header is written as `enc`'s code, whatever the field holds.
            pub fn encode_xml(&self, enc: $crate::Encoding) -> Vec<u8> {
                let mut sink = $crate::output::XmlSink::new(enc, $cap);
                sink.force_character_code(enc.character_code_identifier());
                self.write(&mut sink);
                $crate::output::finish_xml(sink.into_string(), enc)
            }

            /// Encodes the message in its JSON form (fields written as given).
            pub fn encode_json(&self) -> Vec<u8> {
                let mut sink = $crate::output::JsonSink::new($cap);
                self.write(&mut sink);
                sink.finish()
            }
        }
    };
}
