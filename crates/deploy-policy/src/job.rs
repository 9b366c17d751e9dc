//! A Nomad job file as a small tree of blocks, read with hcl-rs. Expressions stay unevaluated
//! (Nomad evaluates them); the helpers below resolve what the rules need: literals, `var.x`
//! through the variable's default, durations and template bodies.

use std::path::{Path, PathBuf};

use hcl::{Block, BlockLabel, Body, Expression, Structure, TemplateExpr, expr::TraversalOperator};

/// One block: its type (`group`), labels (`"auth"`), attributes and nested blocks.
/// `dynamic "group" { content { … } }` is flattened into a `group` block labelled `<dynamic>`.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: String,
    pub labels: Vec<String>,
    pub attrs: Vec<(String, Expression)>,
    pub children: Vec<Node>,
}

impl Node {
    fn from_body(kind: &str, labels: Vec<String>, body: &Body) -> Self {
        let mut node = Node {
            kind: kind.to_owned(),
            labels,
            attrs: Vec::new(),
            children: Vec::new(),
        };
        for s in body {
            match s {
                Structure::Attribute(a) => node.attrs.push((a.key.to_string(), a.expr.clone())),
                Structure::Block(b) => node.children.push(Self::from_block(b)),
            }
        }
        node
    }

    fn from_block(b: &Block) -> Self {
        let labels: Vec<String> = b.labels.iter().map(label_str).collect();
        if b.identifier.as_str() == "dynamic" {
            let kind = labels.first().cloned().unwrap_or_default();
            let content = b.body.iter().find_map(|s| match s {
                Structure::Block(c) if c.identifier.as_str() == "content" => Some(&c.body),
                _ => None,
            });
            return match content {
                Some(body) => Self::from_body(&kind, vec!["<dynamic>".to_owned()], body),
                None => Self::from_body(&kind, vec!["<dynamic>".to_owned()], &Body::default()),
            };
        }
        Self::from_body(b.identifier.as_str(), labels, &b.body)
    }

    pub fn label(&self) -> &str {
        self.labels.first().map_or("", String::as_str)
    }

    pub fn attr(&self, name: &str) -> Option<&Expression> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn blocks<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.kind == kind)
    }

    pub fn block(&self, kind: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.kind == kind)
    }
}

fn label_str(l: &BlockLabel) -> String {
    match l {
        BlockLabel::Identifier(i) => i.to_string(),
        BlockLabel::String(s) => s.clone(),
    }
}

/// A `variable "name" { … }` block.
#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub default: Option<Expression>,
    /// The validation conditions, formatted back to HCL text.
    pub conditions: Vec<String>,
}

/// A parsed job file.
#[derive(Debug, Clone)]
pub struct JobFile {
    pub path: PathBuf,
    /// The file's top level: variables, locals and the job block.
    pub root: Node,
    pub variables: Vec<Variable>,
}

impl JobFile {
    pub fn parse(path: &Path, text: &str) -> Result<Self, String> {
        let body = hcl::parse(text).map_err(|e| format!("{}: {e}", path.display()))?;
        let root = Node::from_body("file", Vec::new(), &body);
        let variables = root
            .blocks("variable")
            .map(|v| Variable {
                name: v.label().to_owned(),
                default: v.attr("default").cloned(),
                conditions: v
                    .blocks("validation")
                    .filter_map(|b| b.attr("condition"))
                    .map(|c| hcl::format::to_string(c).unwrap_or_default())
                    .collect(),
            })
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            root,
            variables,
        })
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(path, &text)
    }

    pub fn job(&self) -> Option<&Node> {
        self.root.block("job")
    }

    /// The job's name (its label), or the file name when there is no job block.
    pub fn name(&self) -> String {
        self.job().map_or_else(
            || {
                self.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            },
            |j| j.label().to_owned(),
        )
    }

    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// `var.x` → the variable's name.
    pub fn var_ref(expr: &Expression) -> Option<String> {
        let Expression::Traversal(t) = expr else {
            return None;
        };
        let Expression::Variable(root) = &t.expr else {
            return None;
        };
        match (root.as_str(), t.operators.as_slice()) {
            ("var", [TraversalOperator::GetAttr(name)]) => Some(name.to_string()),
            _ => None,
        }
    }

    /// A literal, or `var.x` resolved through its default: the value Nomad sees when the SRE
    /// passes nothing else.
    pub fn resolve<'a>(&'a self, expr: &'a Expression) -> Option<&'a Expression> {
        match Self::var_ref(expr) {
            Some(name) => self.variable(&name)?.default.as_ref(),
            None => Some(expr),
        }
    }

    pub fn number(&self, expr: &Expression) -> Option<f64> {
        match self.resolve(expr)? {
            Expression::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub fn boolean(&self, expr: &Expression) -> Option<bool> {
        match self.resolve(expr)? {
            Expression::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// The text of a string or template expression (a heredoc's body), unevaluated.
pub fn text(expr: &Expression) -> Option<String> {
    match expr {
        Expression::String(s) => Some(s.clone()),
        Expression::TemplateExpr(t) => Some(match t.as_ref() {
            TemplateExpr::QuotedString(s) => s.clone(),
            TemplateExpr::Heredoc(h) => h.template.clone(),
        }),
        _ => None,
    }
}

/// `file("path")` → the path.
pub fn file_arg(expr: &Expression) -> Option<String> {
    match expr {
        Expression::FuncCall(f) if f.name.name.as_str() == "file" => f.args.first().and_then(text),
        _ => None,
    }
}

/// A Nomad duration (`"35s"`, `"5m"`, `"1h30m"`) in seconds.
pub fn duration_secs(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.trim().chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        any = true;
    }
    (any && num.is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_secs("35s"), Some(35.0));
        assert_eq!(duration_secs("1h30m"), Some(5400.0));
        assert_eq!(duration_secs("250ms"), Some(0.25));
        assert_eq!(duration_secs("10"), None);
        assert_eq!(duration_secs("5x"), None);
    }
}
