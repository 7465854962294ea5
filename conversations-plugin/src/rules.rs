//! The pure rules of Conversations (no host calls), so they unit-test natively: message
//! length after trimming, and how many participants a conversation may have.

/// Why a message body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Nothing but whitespace.
    Empty,
    /// More characters than the community allows.
    TooLong {
        /// Characters after trimming.
        chars: usize,
        /// The limit.
        max: usize,
    },
}

impl BodyError {
    /// The message shown to the participant.
    pub fn message(&self) -> String {
        match self {
            BodyError::Empty => "Write a message before sending.".to_owned(),
            BodyError::TooLong { chars, max } => {
                format!("Messages can be at most {max} characters; this one has {chars}.")
            }
        }
    }
}

/// Trims `body` and checks it has 1 to `max` characters (Unicode scalar values, not bytes).
pub fn validate_body(body: &str, max: usize) -> Result<&str, BodyError> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return Err(BodyError::Empty);
    }
    let chars = trimmed.chars().count();
    if chars > max {
        return Err(BodyError::TooLong { chars, max });
    }
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_trimmed_and_counted_in_characters() {
        assert_eq!(validate_body("  hi  ", 1000), Ok("hi"));
        assert_eq!(validate_body(" \n\t ", 1000), Err(BodyError::Empty));
        assert_eq!(validate_body("", 1000), Err(BodyError::Empty));
        let thousand = "é".repeat(1000);
        assert!(validate_body(&format!("  {thousand}  "), 1000).is_ok());
        let too_long = "😀".repeat(1001);
        assert_eq!(validate_body(&too_long, 1000), Err(BodyError::TooLong { chars: 1001, max: 1000 }));
        assert_eq!(validate_body("x", 1), Ok("x"));
    }
}
