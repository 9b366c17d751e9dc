//! Renders the subset of Go templates the jobs use, against a fake Nomad (a service catalogue and
//! Variables), so a test can feed the result into a service's real configuration parser.
//!
//! Supported: text with `{{- -}}` trimming, comments, `if`/`else`/`end`, `range [$i, $x :=]`
//! (with `else`), `with`, `$x := pipeline`, `.Field`, `$x.Field`, string and integer literals, and
//! the functions `nomadVar`, `nomadService`, `env`, `eq`, `ne`, `not`, `split`, `printf` (`%s`,
//! `%d`) and `index`. Anything else is an error, never a silent empty string.

use std::collections::BTreeMap;

mod tree;

use tree::{Node, lex, parse};

/// A template value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Bool(b) => *b,
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    fn text(&self) -> String {
        match self {
            Value::Nil => "<no value>".into(),
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::List(_) | Value::Map(_) => format!("{self:?}"),
        }
    }
}

/// What `nomadService`, `nomadVar` and `env` answer.
#[derive(Debug, Clone, Default)]
pub struct FakeNomad {
    /// service name → `(address, port)` of each instance.
    pub services: BTreeMap<String, Vec<(String, u16)>>,
    /// Variable path → its items.
    pub variables: BTreeMap<String, BTreeMap<String, String>>,
    pub env: BTreeMap<String, String>,
}

struct Scope<'a> {
    nomad: &'a FakeNomad,
    vars: Vec<(String, Value)>,
}

fn words(pipe: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = pipe.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
        } else if chars[i] == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(chars[start..i.min(chars.len())].iter().collect());
        } else if chars[i] == '(' {
            let (start, mut depth) = (i, 0);
            while i < chars.len() {
                depth += match chars[i] {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                i += 1;
                if depth == 0 {
                    break;
                }
            }
            out.push(chars[start..i].iter().collect());
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        }
    }
    if out.iter().any(|w| w == "|") {
        return Err(format!("pipes are not supported by this renderer: {pipe}"));
    }
    Ok(out)
}

fn field(v: &Value, path: &str) -> Value {
    path.split('.')
        .filter(|p| !p.is_empty())
        .fold(v.clone(), |v, p| match v {
            Value::Map(m) => m.get(p).cloned().unwrap_or(Value::Nil),
            _ => Value::Nil,
        })
}

impl Scope<'_> {
    fn var(&self, name: &str) -> Result<Value, String> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("undefined variable {name}"))
    }

    fn term(&self, w: &str, dot: &Value) -> Result<Value, String> {
        if let Some(s) = w.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            return Ok(Value::Str(s.replace("\\\"", "\"")));
        }
        if let Some(inner) = w.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
            return self.eval(inner, dot);
        }
        if let Ok(i) = w.parse::<i64>() {
            return Ok(Value::Int(i));
        }
        if w == "." {
            return Ok(dot.clone());
        }
        if let Some(path) = w.strip_prefix('.') {
            return Ok(field(dot, path));
        }
        if w.starts_with('$') {
            let (name, path) = w.split_once('.').unwrap_or((w, ""));
            return Ok(field(&self.var(name)?, path));
        }
        Err(format!("unknown term {w}"))
    }

    fn eval(&self, pipe: &str, dot: &Value) -> Result<Value, String> {
        let ws = words(pipe)?;
        let Some(head) = ws.first() else {
            return Err("empty pipeline".into());
        };
        let args = |n: usize| -> Result<Vec<Value>, String> {
            let a: Vec<Value> = ws[1..]
                .iter()
                .map(|w| self.term(w, dot))
                .collect::<Result<_, _>>()?;
            if a.len() < n {
                return Err(format!("{head} needs {n} arguments"));
            }
            Ok(a)
        };
        let nomad = self.nomad;
        Ok(match head.as_str() {
            "nomadService" => {
                let name = args(1)?[0].text();
                Value::List(
                    nomad
                        .services
                        .get(&name)
                        .into_iter()
                        .flatten()
                        .map(|(a, p)| {
                            Value::Map(BTreeMap::from([
                                ("Address".to_owned(), Value::Str(a.clone())),
                                ("Port".to_owned(), Value::Int(i64::from(*p))),
                                ("Name".to_owned(), Value::Str(name.clone())),
                            ]))
                        })
                        .collect(),
                )
            }
            "nomadVar" => {
                let path = args(1)?[0].text();
                match nomad.variables.get(&path) {
                    Some(items) => Value::Map(
                        items
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                            .collect(),
                    ),
                    None => return Err(format!("no Nomad Variable at {path}")),
                }
            }
            "env" => Value::Str(
                nomad
                    .env
                    .get(&args(1)?[0].text())
                    .cloned()
                    .unwrap_or_default(),
            ),
            "eq" => {
                let a = args(2)?;
                Value::Bool(a[1..].iter().any(|b| *b == a[0]))
            }
            "ne" => {
                let a = args(2)?;
                Value::Bool(a[0] != a[1])
            }
            "not" => Value::Bool(!args(1)?[0].truthy()),
            "split" => {
                let a = args(2)?;
                Value::List(
                    a[1].text()
                        .split(&a[0].text())
                        .map(|s| Value::Str(s.to_owned()))
                        .collect(),
                )
            }
            "index" => {
                let a = args(2)?;
                match (&a[0], &a[1]) {
                    (Value::List(l), Value::Int(i)) => l
                        .get(usize::try_from(*i).unwrap_or(usize::MAX))
                        .cloned()
                        .unwrap_or(Value::Nil),
                    (Value::Map(m), k) => m.get(&k.text()).cloned().unwrap_or(Value::Nil),
                    _ => Value::Nil,
                }
            }
            "printf" => {
                let a = args(1)?;
                let mut out = a[0].text();
                for v in &a[1..] {
                    let pos = out
                        .find("%s")
                        .or_else(|| out.find("%d"))
                        .ok_or("printf: too many arguments")?;
                    out.replace_range(pos..pos + 2, &v.text());
                }
                Value::Str(out)
            }
            _ if ws.len() == 1 => self.term(head, dot)?,
            other => {
                return Err(format!(
                    "function {other} is not supported by this renderer"
                ));
            }
        })
    }

    fn run(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Out(p) => {
                    let v = self.eval(p, dot)?;
                    if v == Value::Nil {
                        return Err(format!("{{{{ {p} }}}} has no value"));
                    }
                    out.push_str(&v.text());
                }
                Node::Assign(v, p) => {
                    let val = self.eval(p, dot)?;
                    self.vars.push((v.clone(), val));
                }
                Node::If(p, a, b) => {
                    let branch = if self.eval(p, dot)?.truthy() { a } else { b };
                    self.run(branch, dot, out)?;
                }
                Node::With(p, a, b) => {
                    let v = self.eval(p, dot)?;
                    if v.truthy() {
                        self.run(a, &v, out)?;
                    } else {
                        self.run(b, dot, out)?;
                    }
                }
                Node::Range(vars, p, body, els) => {
                    let items = match self.eval(p, dot)? {
                        Value::List(l) => l,
                        Value::Nil => Vec::new(),
                        other => return Err(format!("range over {other:?}")),
                    };
                    if items.is_empty() {
                        self.run(els, dot, out)?;
                    }
                    for (i, item) in items.iter().enumerate() {
                        let mark = self.vars.len();
                        match vars.as_slice() {
                            [] => {}
                            [x] => self.vars.push((x.clone(), item.clone())),
                            [k, x] => {
                                self.vars
                                    .push((k.clone(), Value::Int(i64::try_from(i).unwrap_or(0))));
                                self.vars.push((x.clone(), item.clone()));
                            }
                            _ => return Err("range declares at most two variables".into()),
                        }
                        self.run(body, item, out)?;
                        self.vars.truncate(mark);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Renders `src` against `nomad`.
pub fn render(src: &str, nomad: &FakeNomad) -> Result<String, String> {
    let items = lex(src)?;
    let mut pos = 0;
    let (nodes, stop) = parse(&items, &mut pos)?;
    if let Some(s) = stop {
        return Err(format!("unexpected {s}"));
    }
    let mut out = String::new();
    Scope {
        nomad,
        vars: Vec::new(),
    }
    .run(&nodes, &Value::Nil, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_patterns_the_jobs_use() {
        let mut n = FakeNomad::default();
        n.services.insert(
            "db".into(),
            vec![("10.0.0.5".into(), 5432), ("10.0.0.6".into(), 5432)],
        );
        n.variables.insert(
            "nomad/jobs/x".into(),
            BTreeMap::from([("PW".to_owned(), "s3cret".to_owned())]),
        );
        let t = "{{ with nomadVar \"nomad/jobs/x\" -}}\n{{- $pw := .PW -}}\n{{- range $i, $s := nomadService \"db\" }}{{ if eq $i 0 -}}\nURL=postgres://u:{{ $pw }}@{{ $s.Address }}:{{ $s.Port }}/g\n{{ end }}{{ end -}}\n{{- end }}";
        assert_eq!(
            render(t, &n).unwrap(),
            "URL=postgres://u:s3cret@10.0.0.5:5432/g\n"
        );
        let t = "to{{ range nomadService \"none\" }} {{ .Address }}{{ else }} 127.0.0.1:9{{ end }}";
        assert_eq!(render(t, &n).unwrap(), "to 127.0.0.1:9");
        assert!(
            render(
                "{{ with nomadVar \"nomad/jobs/x\" }}{{ .MISSING }}{{ end }}",
                &n
            )
            .is_err()
        );
    }
}
