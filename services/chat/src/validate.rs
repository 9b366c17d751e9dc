//! Input checks shared by the REST routes and the WebSocket frames.

use gewebe_platform::FieldError;

use crate::error::Error;

pub const MAX_BODY_CHARS: usize = 4_000;

/// A message body: trimmed, 1–4,000 characters, no control characters but newline.
pub fn body(raw: &str) -> Result<String, Error> {
    let body = raw.trim();
    let chars = body.chars().count();
    if chars == 0 || chars > MAX_BODY_CHARS {
        return Err(Error::field(
            "body",
            "length",
            format!("must be 1 to {MAX_BODY_CHARS} characters after trimming"),
        ));
    }
    if body.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::field(
            "body",
            "control_character",
            "must not contain control characters other than newline",
        ));
    }
    Ok(body.to_owned())
}

/// An optional title: trimmed, 1–`max` characters, no control characters.
pub fn title(raw: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let title = raw.trim();
    let chars = title.chars().count();
    if chars == 0 || chars > max {
        errors.push(FieldError::new(
            "title",
            "length",
            format!("must be 1 to {max} characters"),
        ));
    } else if title.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "title",
            "control_character",
            "must not contain control characters",
        ));
    }
    title.to_owned()
}

/// A page size: 1–`max`, `default` when absent.
pub fn limit(raw: Option<i64>, default: i64, max: i64) -> Result<i64, Error> {
    match raw {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(Error::bad_request(
            "invalid_limit",
            format!("limit must be 1 to {max}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bodies_are_trimmed_and_bounded_and_control_characters_refused() {
        assert_eq!(
            super::body("  hi\nthere ").ok().as_deref(),
            Some("hi\nthere")
        );
        assert!(super::body("   ").is_err());
        assert!(super::body(&"x".repeat(4_001)).is_err());
        assert!(super::body(&"ü".repeat(4_000)).is_ok());
        for bad in ["a\tb", "a\rb", "a\u{0}b", "a\u{7f}b", "a\u{85}b"] {
            assert!(super::body(bad).is_err(), "{bad:?}");
        }
    }
}
