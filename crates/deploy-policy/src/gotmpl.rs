//! A small checker for the Go templates in Nomad `template` blocks.
//!
//! How far it goes: it finds every action between the delimiters (honouring `{{-`/`-}}` and
//! comments), tokenises it (strings, raw strings, numbers, `$vars`, `.Field` chains, parentheses,
//! pipes, `:=`), checks that parentheses balance, that control structures (`if`, `range`, `with`,
//! `define`, `block`, `else`, `end`) nest and close, that `if`/`range`/`with` have a pipeline, and
//! that every function called is one Nomad's template engine provides (Go's builtins plus the
//! consul-template functions Nomad enables; `plugin` and `writeToFile` are on Nomad's default
//! deny list, and Vault/Consul lookups are refused because this cluster uses neither). It does not
//! type-check arguments or evaluate anything.

/// Go text/template builtins.
const GO_BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];

/// consul-template functions available in Nomad templates (Nomad-native lookups plus the helpers).
const NOMAD_FUNCS: &[&str] = &[
    "nomadService",
    "nomadServices",
    "nomadVar",
    "nomadVarList",
    "nomadVarExists",
    "env",
    "envOrDefault",
    "file",
    "base64Decode",
    "base64Encode",
    "base64URLDecode",
    "base64URLEncode",
    "byKey",
    "byTag",
    "contains",
    "containsAll",
    "containsAny",
    "containsNone",
    "containsNotAll",
    "explode",
    "explodeMap",
    "executeTemplate",
    "in",
    "indent",
    "join",
    "loop",
    "parseBool",
    "parseFloat",
    "parseInt",
    "parseJSON",
    "parseUint",
    "parseYAML",
    "regexMatch",
    "regexReplaceAll",
    "replaceAll",
    "sha256Hex",
    "md5sum",
    "split",
    "splitToMap",
    "timestamp",
    "toJSON",
    "toJSONPretty",
    "toLower",
    "toTitle",
    "toTOML",
    "toUpper",
    "toYAML",
    "trimSpace",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "sockaddr",
    "add",
    "subtract",
    "multiply",
    "divide",
    "modulo",
    "minimum",
    "maximum",
    "spew_dump",
    "spew_sdump",
];

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Field,
    Var,
    Lit,
    Open,
    Close,
    Pipe,
    Assign,
    Comma,
}

fn tokenize(action: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let chars: Vec<char> = action.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '"' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') => i += 2,
                        Some('"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                toks.push(Tok::Lit);
            }
            '`' | '\'' => {
                let close = c;
                i += 1;
                while chars.get(i).is_some_and(|&d| d != close) {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err("unterminated raw string or character".into());
                }
                i += 1;
                toks.push(Tok::Lit);
            }
            '(' => {
                toks.push(Tok::Open);
                i += 1;
            }
            ')' => {
                toks.push(Tok::Close);
                i += 1;
            }
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Assign);
                i += 2;
            }
            '=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            '.' | '$' => {
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_alphanumeric() || *d == '_' || *d == '.')
                {
                    i += 1;
                }
                toks.push(if c == '.' { Tok::Field } else { Tok::Var });
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '.')
                {
                    i += 1;
                }
                toks.push(Tok::Lit);
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_alphanumeric() || *d == '_')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                // `.Field` chains after an identifier or paren: `(index . 0).Address`
                while chars.get(i) == Some(&'.') {
                    i += 1;
                    while chars
                        .get(i)
                        .is_some_and(|d| d.is_alphanumeric() || *d == '_')
                    {
                        i += 1;
                    }
                }
                toks.push(Tok::Ident(word));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(toks)
}

/// The actions of `text` between `left` and `right`, trim markers and comments removed.
fn actions<'a>(text: &'a str, left: &str, right: &str) -> Result<Vec<&'a str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(left) {
        let after = &rest[start + left.len()..];
        // A right delimiter inside a string literal does not end the action.
        let mut end = None;
        let mut in_str: Option<char> = None;
        let bytes: Vec<(usize, char)> = after.char_indices().collect();
        let mut k = 0;
        while k < bytes.len() {
            let (idx, ch) = bytes[k];
            match in_str {
                Some(q) if ch == '\\' && q == '"' => k += 1,
                Some(q) if ch == q => in_str = None,
                None if ch == '"' || ch == '`' => in_str = Some(ch),
                None if after[idx..].starts_with(right) => {
                    end = Some(idx);
                    break;
                }
                Some(_) | None => {}
            }
            k += 1;
        }
        let Some(end) = end else {
            return Err(format!("unclosed action starting {:?}", head(after)));
        };
        let mut body = after[..end].trim();
        // Trim markers need whitespace next to them (`{{- x -}}`); `{{-3}}` is the number -3.
        if let Some(b) = body.strip_prefix('-')
            && (b.is_empty() || b.starts_with(char::is_whitespace))
        {
            body = b;
        }
        if let Some(b) = body.strip_suffix('-')
            && (b.is_empty() || b.ends_with(char::is_whitespace))
        {
            body = b;
        }
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            out.push(body);
        }
        rest = &after[end + right.len()..];
    }
    Ok(out)
}

fn head(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Checks one template body; `Err` names the first problem found.
pub fn check(text: &str, left: &str, right: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    for action in actions(text, left, right)? {
        let toks = tokenize(action).map_err(|e| format!("{e} in {{{{ {action} }}}}"))?;
        let mut depth = 0i32;
        for t in &toks {
            match t {
                Tok::Open => depth += 1,
                Tok::Close => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return Err(format!("unbalanced ')' in {{{{ {action} }}}}"));
            }
        }
        if depth != 0 {
            return Err(format!("unbalanced '(' in {{{{ {action} }}}}"));
        }
        let first = match toks.first() {
            Some(Tok::Ident(w)) => Some(w.as_str()),
            None => return Err("empty action".into()),
            _ => None,
        };
        let mut fn_toks: &[Tok] = &toks;
        match first {
            Some(k @ ("if" | "range" | "with")) => {
                if toks.len() < 2 {
                    return Err(format!("{k} without a pipeline"));
                }
                stack.push(k.to_owned());
                fn_toks = &toks[1..];
            }
            Some(k @ ("define" | "block")) => {
                stack.push(k.to_owned());
                fn_toks = &toks[1..];
            }
            Some("else") => {
                if !matches!(
                    stack.last().map(String::as_str),
                    Some("if" | "range" | "with")
                ) {
                    return Err("else outside if/range/with".into());
                }
                fn_toks = match toks.get(1) {
                    Some(Tok::Ident(w)) if w == "if" || w == "with" => &toks[2..],
                    _ => &toks[1..],
                };
            }
            Some("end") => {
                if stack.pop().is_none() {
                    return Err("end without an open block".into());
                }
                fn_toks = &[];
            }
            Some("template" | "break" | "continue") => fn_toks = &toks[1..],
            _ => {}
        }
        for t in fn_toks {
            if let Tok::Ident(w) = t {
                let known = GO_BUILTINS.contains(&w.as_str())
                    || NOMAD_FUNCS.contains(&w.as_str())
                    || matches!(w.as_str(), "true" | "false" | "nil");
                if KEYWORDS.contains(&w.as_str()) || !known {
                    return Err(format!(
                        "{w:?} is not a function Nomad templates provide, in {{{{ {action} }}}}"
                    ));
                }
            }
        }
    }
    match stack.last() {
        Some(open) => Err(format!("{open} is never closed with end")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn ok(t: &str) -> Result<(), String> {
        check(t, "{{", "}}")
    }

    #[test]
    fn accepts_what_the_jobs_use() {
        ok(r#"{{ with nomadVar "nomad/jobs/x" -}} A={{ .A }} {{- end }}"#).unwrap();
        ok(r#"{{ range $i, $s := nomadService "x" }}{{ if eq $i 0 }}{{ $s.Address }}{{ end }}{{ else }}none{{ end }}"#).unwrap();
        ok(r#"{{- /* a comment */ -}}{{ if ne (env "NOMAD_IP_x") "1.2.3.4" }}y{{ end }}"#).unwrap();
        ok(r#"{{ range split "," "a,b" }}{{ printf "gewebe-%s" . }}{{ end }}"#).unwrap();
    }

    #[test]
    fn rejects_broken_templates() {
        assert!(ok("{{ if .A }}x").unwrap_err().contains("never closed"));
        assert!(
            ok("x{{ end }}")
                .unwrap_err()
                .contains("without an open block")
        );
        assert!(
            ok(r#"{{ vault "secret/x" }}"#)
                .unwrap_err()
                .contains("vault")
        );
        assert!(ok(r#"{{ writeToFile "/etc/x" "y" }}"#).is_err());
        assert!(ok("{{ .A ").unwrap_err().contains("unclosed"));
        assert!(ok("{{ len (.A }}").unwrap_err().contains("unbalanced"));
        assert!(ok(r#"{{ printf "x }}"#).is_err());
        assert!(ok("{{ else }}").is_err());
    }
}
