//! Input rules for accounts, reported as field errors (422).

use gewebe_platform::FieldError;

/// Trims, lower-cases the domain (the local part is case-sensitive by RFC 5321), and checks the shape.
pub fn email(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let trimmed = raw.trim();
    let normalised = match trimmed.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => trimmed.to_owned(),
    };
    let valid = normalised.len() <= 254
        && normalised.rsplit_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !normalised
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        errors.push(FieldError::new(
            "email",
            "invalid_email",
            "must be an e-mail address like name@example.org",
        ));
    }
    normalised
}

pub fn password(raw: &str, errors: &mut Vec<FieldError>) {
    let n = raw.chars().count();
    if !(8..=1024).contains(&n) {
        errors.push(FieldError::new(
            "password",
            "invalid_length",
            "must be 8 to 1024 characters",
        ));
    }
}

pub fn display_name(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let name = raw.trim().to_owned();
    let n = name.chars().count();
    if !(1..=100).contains(&n) {
        errors.push(FieldError::new(
            "display_name",
            "invalid_length",
            "must be 1 to 100 characters",
        ));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "display_name",
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_their_domain_lower_cased() {
        let mut errors = Vec::new();
        assert_eq!(
            email("  Alice.B@Example.ORG ", &mut errors),
            "Alice.B@example.org"
        );
        assert!(errors.is_empty());
        for bad in [
            "",
            "no-at",
            "@example.org",
            "a@b",
            "a b@example.org",
            "a@.org",
        ] {
            let mut errors = Vec::new();
            email(bad, &mut errors);
            assert_eq!(errors.len(), 1, "{bad:?}");
        }
    }
}
