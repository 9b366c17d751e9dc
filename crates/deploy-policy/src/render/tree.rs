//! Template text → a tree of text, output and control nodes.

#[derive(Debug)]
pub(super) enum Node {
    Text(String),
    Out(String),
    Assign(String, String),
    If(String, Vec<Node>, Vec<Node>),
    Range(Vec<String>, String, Vec<Node>, Vec<Node>),
    With(String, Vec<Node>, Vec<Node>),
}

/// Splits into text and actions, applying trim markers and dropping comments.
pub(super) fn lex(src: &str) -> Result<Vec<(bool, String)>, String> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_owned();
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("unclosed action")?;
        let mut body = &after[..end];
        if let Some(b) = body
            .strip_prefix('-')
            .filter(|b| b.starts_with(char::is_whitespace))
        {
            text.truncate(text.trim_end().len());
            body = b;
        }
        let trim_right =
            body.ends_with('-') && body[..body.len() - 1].ends_with(char::is_whitespace);
        if trim_right {
            body = &body[..body.len() - 1];
        }
        out.push((false, text));
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            out.push((true, body.to_owned()));
        }
        rest = &after[end + 2..];
        if trim_right {
            rest = rest.trim_start();
        }
    }
    out.push((false, rest.to_owned()));
    Ok(out)
}

pub(super) fn parse(
    items: &[(bool, String)],
    pos: &mut usize,
) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while *pos < items.len() {
        let (is_action, s) = &items[*pos];
        *pos += 1;
        if !is_action {
            nodes.push(Node::Text(s.clone()));
            continue;
        }
        let (kw, rest) = s
            .split_once(char::is_whitespace)
            .unwrap_or((s.as_str(), ""));
        let rest = rest.trim().to_owned();
        match kw {
            "end" | "else" => return Ok((nodes, Some(kw.to_owned()))),
            "if" | "range" | "with" => {
                let (body, stop) = parse(items, pos)?;
                let els = match stop.as_deref() {
                    Some("else") => parse(items, pos)?.0,
                    Some("end") => Vec::new(),
                    _ => return Err(format!("{kw} without end")),
                };
                nodes.push(match kw {
                    "if" => Node::If(rest, body, els),
                    "with" => Node::With(rest, body, els),
                    _ => match rest.split_once(":=") {
                        Some((vars, pipe)) => Node::Range(
                            vars.split(',').map(|v| v.trim().to_owned()).collect(),
                            pipe.trim().to_owned(),
                            body,
                            els,
                        ),
                        None => Node::Range(Vec::new(), rest, body, els),
                    },
                });
            }
            _ if s.starts_with('$') && s.contains(":=") => {
                let (v, p) = s.split_once(":=").unwrap_or_default();
                nodes.push(Node::Assign(v.trim().to_owned(), p.trim().to_owned()));
            }
            _ => nodes.push(Node::Out(s.clone())),
        }
    }
    Ok((nodes, None))
}
