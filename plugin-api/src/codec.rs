//! The one place that turns wire types into bytes and back (JSON, UTF-8). Swapping the
//! encoding is a change of this module only.

use serde::{Serialize, de::DeserializeOwned};
use std::fmt;

/// Bytes that are not a valid encoding of the expected type, or a value that cannot be
/// encoded.
#[derive(Debug)]
pub struct CodecError(serde_json::Error);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid payload: {}", self.0)
    }
}

impl std::error::Error for CodecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Encodes a wire value.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(value).map_err(CodecError)
}

/// Decodes a wire value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    serde_json::from_slice(bytes).map_err(CodecError)
}
