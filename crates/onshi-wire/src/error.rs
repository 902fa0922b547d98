//! Decode errors, with stable machine codes and Japanese messages.
//!
//! The central service answers a bad request with `code()` (for programs and logs) and
//! `message_ja()` (for the receipt-computer operator); both are part of the API and
//! must not change casually.

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input is larger than [`crate::Limits::max_bytes`].
    #[error("input too large: {size} bytes (limit {max})")]
    TooLarge {
        /// Input size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The XML is not well-formed (or is not a single `XmlMsg` document).
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// The input contains `<!DOCTYPE` or `<!ENTITY`.
    #[error("DOCTYPE/ENTITY declarations are not allowed")]
    DoctypeForbidden,
    /// The bytes do not decode cleanly in the declared encoding.
    #[error("input does not match its declared encoding {declared}: {reason}")]
    EncodingMismatch {
        /// The encoding label as declared.
        declared: String,
        /// What went wrong.
        reason: String,
    },
    /// The declared encoding is neither UTF-8 nor Shift_JIS.
    #[error("unsupported encoding: {0}")]
    UnsupportedEncoding(String),
    /// The bytes are not valid in the assumed encoding (UTF-8 when nothing is declared,
    /// and always for JSON).
    #[error("invalid bytes: {0}")]
    InvalidBytes(String),
    /// A required element is absent or empty.
    #[error("missing required element {0}")]
    MissingElement(&'static str),
    /// The root element (or the JSON top-level key) is not the expected one.
    #[error("wrong root element: expected {expected}, found {found}")]
    WrongRoot {
        /// The expected root name.
        expected: &'static str,
        /// The name found.
        found: String,
    },
    /// Nesting is deeper than [`crate::Limits::max_depth`].
    #[error("nesting too deep")]
    TooDeep,
    /// The JSON is not well-formed or does not have the `XmlMsg` shape.
    #[error("malformed JSON: {0}")]
    Json(String),
}

impl WireError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::TooLarge { .. } => "XML_TOO_LARGE",
            WireError::Malformed(_) => "XML_MALFORMED",
            WireError::DoctypeForbidden => "XML_DOCTYPE",
            WireError::EncodingMismatch { .. } => "XML_ENCODING",
            WireError::UnsupportedEncoding(_) => "XML_ENCODING_UNSUPPORTED",
            WireError::InvalidBytes(_) => "XML_INVALID_BYTES",
            WireError::MissingElement(_) => "XML_MISSING_ELEMENT",
            WireError::WrongRoot { .. } => "XML_WRONG_ROOT",
            WireError::TooDeep => "XML_TOO_DEEP",
            WireError::Json(_) => "JSON_MALFORMED",
        }
    }

    /// A message for the operator, in Japanese.
    pub fn message_ja(&self) -> String {
        match self {
            WireError::TooLarge { size, max } => {
                format!("電文が大きすぎます（{size}バイト、上限{max}バイト）")
            }
            WireError::Malformed(detail) => format!("XMLの形式が正しくありません: {detail}"),
            WireError::DoctypeForbidden => "DOCTYPE宣言・ENTITY宣言は使用できません".to_string(),
            WireError::EncodingMismatch { declared, reason } => {
                format!("宣言された文字コード（{declared}）で電文を読み取れません: {reason}")
            }
            WireError::UnsupportedEncoding(label) => format!(
                "対応していない文字コードです: {label}（UTF-8またはShift_JISを指定してください）"
            ),
            WireError::InvalidBytes(detail) => {
                format!("文字コードとして正しくないバイト列があります: {detail}")
            }
            WireError::MissingElement(name) => format!("必須項目がありません: {name}"),
            WireError::WrongRoot { expected, found } => {
                format!("ルート要素が正しくありません（期待値: {expected}、実際: {found}）")
            }
            WireError::TooDeep => "電文の入れ子が深すぎます".to_string(),
            WireError::Json(detail) => format!("JSONの形式が正しくありません: {detail}"),
        }
    }
}
