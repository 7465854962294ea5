//! Load-time checks of a plugin's templates: what handlebars may see of them. The text is
//! checked before it is parsed (raw output, escapes, nesting), the parsed template is
//! walked (partials, helpers, decorators, depth), and the plugin's templates together are
//! checked as a graph (unknown partials, cycles, how far partials expand).

use handlebars::template::{DecoratorTemplate, HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{JsonValue, Path};
use std::collections::BTreeMap;
use std::fmt;

/// How deep blocks, subexpressions and partials may nest, counted together along any path
/// from a template to its innermost element (partials included).
pub const MAX_DEPTH: usize = 24;
/// How many block tags (`{{#`, `{{^`, `{{else`) one template may have. Counted in the text
/// before parsing, so this also bounds how deep the parser could ever recurse.
pub const MAX_BLOCK_TAGS: usize = 256;
/// How many `(` one template may have (subexpressions), counted in the text before parsing.
pub const MAX_PARENS: usize = 2048;
/// How many elements a template may expand to with its partials inlined.
pub const MAX_EXPANDED: u64 = 50_000;
/// The helpers a plugin template may call.
pub const HELPERS: &[&str] = &[
    "if",
    "unless",
    "each",
    "with",
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "and",
    "or",
    "not",
    "len",
    "csrf_field",
    "extension_slot",
];

/// A rule a plugin template breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `{{{x}}}`, `{{& x}}` or a raw block: output that is not HTML-escaped.
    RawOutput,
    /// `\{{`: an escaped mustache (it would hide tags from the nesting check).
    EscapedMustache,
    /// Markup the host never serves from a plugin, named.
    Markup(&'static str),
    /// Blocks nested deeper than [`MAX_DEPTH`] (counted in the text before parsing).
    TooDeep {
        /// The cap.
        limit: usize,
    },
    /// More than `MAX_BLOCK_TAGS` block tags or `MAX_PARENS` parentheses.
    TooManyTags {
        /// What was counted.
        what: &'static str,
        /// The cap.
        limit: usize,
    },
    /// A partial that is not one of the plugin's own templates (of the same kind).
    UnknownPartial(String),
    /// A partial whose name is computed at render time (`{{> (lookup ...)}}`).
    DynamicPartial,
    /// A partial block `{{#> x}}...{{/x}}` or `{{> @partial-block}}`.
    PartialBlock,
    /// A decorator, such as an inline partial `{{#*inline "x"}}`.
    Decorator(String),
    /// Partials that include each other, in order.
    PartialCycle(Vec<String>),
    /// A helper that is not on the allow-list ([`HELPERS`]).
    UnknownHelper(String),
    /// Partials that expand to more than [`MAX_EXPANDED`] elements.
    ExpandsTooFar {
        /// The cap.
        limit: u64,
    },
    /// The template does not parse.
    Parse(String),
    /// A template name other than letters, digits, `_`, `-` and `.`.
    Name,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::RawOutput => f.write_str("raw output: uses `{{{...}}}`, `{{&...}}` or a raw block; plugin templates may only output escaped data"),
            Rule::EscapedMustache => f.write_str("escaped mustache: `\\{{` is not allowed in plugin templates"),
            Rule::Markup(what) => write!(f, "markup: uses {what}; plugin templates may only output escaped data"),
            Rule::TooDeep { limit } => write!(f, "nesting depth: blocks, subexpressions and partials nest deeper than {limit}"),
            Rule::TooManyTags { what, limit } => write!(f, "nesting depth: more than {limit} {what}"),
            Rule::UnknownPartial(name) => write!(f, "unknown partial: `{{{{> {name}}}}}` is not one of this plugin's templates"),
            Rule::DynamicPartial => f.write_str("dynamic partial: a partial's name must be written out, not computed"),
            Rule::PartialBlock => f.write_str("partial block: `{{#> ...}}` and `@partial-block` are not allowed"),
            Rule::Decorator(name) => write!(f, "decorator: `{{{{*{name}}}}}` (inline partials included) is not allowed; put the partial in its own template"),
            Rule::PartialCycle(path) => write!(f, "partial cycle: {}", path.join(" > ")),
            Rule::UnknownHelper(name) => write!(f, "unknown helper: `{name}` is not one of {}", HELPERS.join(", ")),
            Rule::ExpandsTooFar { limit } => write!(f, "partial expansion: partials expand to more than {limit} elements"),
            Rule::Parse(message) => write!(f, "does not parse: {message}"),
            Rule::Name => f.write_str("template name: only letters, digits, `_`, `-` and `.` (not first)"),
        }
    }
}

/// Checks a plugin template's name: plain, so that the partial names the check resolves
/// are the ones handlebars resolves.
pub fn check_name(name: &str) -> Result<(), Rule> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
    if name.is_empty() || name.len() > 100 || name.starts_with('.') || !name.chars().all(plain) {
        return Err(Rule::Name);
    }
    Ok(())
}

/// Checks the text of a plugin template, before handlebars parses it.
pub fn check_text(source: &str) -> Result<(), Rule> {
    let lower = source.to_ascii_lowercase();
    let markup = [
        ("<script", "a <script> element"),
        ("javascript:", "a javascript: URL"),
        ("<iframe", "an <iframe>"),
        ("<object", "an <object>"),
        ("<embed", "an <embed>"),
        ("srcdoc", "a srcdoc attribute"),
    ];
    if lower.contains("{{{") {
        return Err(Rule::RawOutput);
    }
    if source.contains("\\{{") {
        return Err(Rule::EscapedMustache);
    }
    for (needle, what) in markup {
        if lower.contains(needle) {
            return Err(Rule::Markup(what));
        }
    }
    if let Some(handler) = event_handler(&lower) {
        return Err(Rule::Markup(handler));
    }
    check_nesting(source)
}

/// The first inline event handler attribute (`<a onclick=...>`), if any.
fn event_handler(lower: &str) -> Option<&'static str> {
    let bytes = lower.as_bytes();
    for (i, _) in lower.match_indices("on") {
        let before = if i == 0 { b' ' } else { bytes[i - 1] };
        let rest = &lower[i + 2..];
        let name_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let after = rest[name_len..].trim_start();
        if before.is_ascii_whitespace()
            && name_len > 0
            && after.starts_with('=')
            && lower[..i].rfind('<') > lower[..i].rfind('>')
        {
            return Some("an inline event handler (`on...=`)");
        }
    }
    None
}

/// Counts block tags and parentheses in the text, context-free (so a tag inside a string
/// literal counts too: the counts only ever overestimate), and tracks the nesting of
/// block tags. Handlebars' parser recurses per nested block; it never sees a template
/// whose tags could nest past these caps.
fn check_nesting(source: &str) -> Result<(), Rule> {
    if source.bytes().filter(|b| *b == b'(').count() > MAX_PARENS {
        return Err(Rule::TooManyTags { what: "parentheses", limit: MAX_PARENS });
    }
    let (mut tags, mut depth) = (0usize, 0usize);
    let mut rest = source;
    while let Some(at) = rest.find("{{") {
        rest = &rest[at + 2..];
        let tag = rest.trim_start_matches([' ', '\t', '\r', '\n', '~']);
        let tag = tag.trim_start_matches([' ', '\t', '\r', '\n']);
        if tag.starts_with('#') || tag.starts_with('^') || tag.starts_with("else") {
            tags += 1;
            if tags > MAX_BLOCK_TAGS {
                return Err(Rule::TooManyTags { what: "block tags", limit: MAX_BLOCK_TAGS });
            }
        }
        if tag.starts_with('#') {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(Rule::TooDeep { limit: MAX_DEPTH });
            }
        } else if tag.starts_with('/') {
            depth = depth.saturating_sub(1);
        }
    }
    Ok(())
}

/// What one parsed template refers to.
#[derive(Debug, Default)]
pub struct Walked {
    /// Partials, by name, with how often each is included.
    pub partials: BTreeMap<String, u64>,
    /// Its elements, nested ones included, partials not expanded.
    pub elements: u64,
    /// The deepest nesting of blocks and subexpressions, and at each partial the depth
    /// it sits at.
    pub depth: usize,
    /// `(depth, partial)` for every partial inclusion.
    pub partial_depths: Vec<(usize, String)>,
}

/// Walks a parsed template: refuses raw output, dynamic partials, partial blocks,
/// decorators and helpers off the allow-list; collects partials, size and depth.
pub fn walk(template: &Template) -> Result<Walked, Rule> {
    let mut walked = Walked::default();
    walk_template(template, 0, &mut walked)?;
    Ok(walked)
}

fn walk_template(template: &Template, depth: usize, walked: &mut Walked) -> Result<(), Rule> {
    if depth > MAX_DEPTH {
        return Err(Rule::TooDeep { limit: MAX_DEPTH });
    }
    walked.depth = walked.depth.max(depth);
    for element in &template.elements {
        walked.elements += 1;
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::HtmlExpression(_) => return Err(Rule::RawOutput),
            TemplateElement::Expression(helper) | TemplateElement::HelperBlock(helper) => {
                walk_helper(helper, depth, walked)?;
            }
            TemplateElement::DecoratorExpression(d) | TemplateElement::DecoratorBlock(d) => {
                return Err(Rule::Decorator(static_name(&d.name).unwrap_or_else(|| "(...)".into())));
            }
            TemplateElement::PartialBlock(_) => return Err(Rule::PartialBlock),
            TemplateElement::PartialExpression(partial) => walk_partial(partial, depth, walked)?,
            _ => return Err(Rule::Parse("an element this host does not know".into())),
        }
    }
    Ok(())
}

fn walk_helper(helper: &HelperTemplate, depth: usize, walked: &mut Walked) -> Result<(), Rule> {
    let calls = helper.block || !helper.params.is_empty() || !helper.hash.is_empty();
    match &helper.name {
        Parameter::Name(name) if calls && !HELPERS.contains(&name.as_str()) => {
            return Err(Rule::UnknownHelper(name.clone()));
        }
        Parameter::Path(path) if calls && !HELPERS.contains(&raw(path)) => {
            return Err(Rule::UnknownHelper(raw(path).to_owned()));
        }
        Parameter::Subexpression(_) | Parameter::Literal(_) if calls => {
            return Err(Rule::UnknownHelper("(computed)".into()));
        }
        _ => {}
    }
    walk_parameter(&helper.name, depth, walked)?;
    for param in helper.params.iter().chain(helper.hash.values()) {
        walk_parameter(param, depth, walked)?;
    }
    for body in [&helper.template, &helper.inverse].into_iter().flatten() {
        walk_template(body, depth + 1, walked)?;
    }
    Ok(())
}

fn walk_parameter(param: &Parameter, depth: usize, walked: &mut Walked) -> Result<(), Rule> {
    if let Parameter::Subexpression(sub) = param {
        if depth + 1 > MAX_DEPTH {
            return Err(Rule::TooDeep { limit: MAX_DEPTH });
        }
        walked.depth = walked.depth.max(depth + 1);
        match sub.element.as_ref() {
            TemplateElement::Expression(helper) | TemplateElement::HelperBlock(helper) => {
                walk_helper(helper, depth + 1, walked)?;
            }
            TemplateElement::HtmlExpression(_) => return Err(Rule::RawOutput),
            _ => return Err(Rule::UnknownHelper("(subexpression)".into())),
        }
    }
    Ok(())
}

fn walk_partial(partial: &DecoratorTemplate, depth: usize, walked: &mut Walked) -> Result<(), Rule> {
    let name = static_name(&partial.name).ok_or(Rule::DynamicPartial)?;
    if name == "@partial-block" || partial.template.is_some() {
        return Err(Rule::PartialBlock);
    }
    for param in partial.params.iter().chain(partial.hash.values()) {
        walk_parameter(param, depth, walked)?;
    }
    *walked.partials.entry(name.clone()).or_default() += 1;
    walked.partial_depths.push((depth, name));
    Ok(())
}

/// The name a partial or decorator is written with, unless it is computed.
fn static_name(param: &Parameter) -> Option<String> {
    match param {
        Parameter::Name(name) => Some(name.clone()),
        Parameter::Path(path) => Some(raw(path).to_owned()),
        Parameter::Literal(JsonValue::String(name)) => Some(name.clone()),
        _ => None,
    }
}

fn raw(path: &Path) -> &str {
    match path {
        Path::Relative((_, raw)) | Path::Local((_, _, raw)) => raw,
    }
}

/// What the graph check learns: per template, how many elements it expands to.
pub type Expanded = BTreeMap<String, u64>;

/// Checks a plugin's templates (of one kind) together: every partial is one of them, no
/// cycles, depth with partials at most [`MAX_DEPTH`], expansion at most [`MAX_EXPANDED`].
/// Returns the refused template's name with the rule, or each template's expanded size.
pub fn check_graph(templates: &BTreeMap<String, Walked>) -> Result<Expanded, (String, Rule)> {
    for (name, walked) in templates {
        if let Some(unknown) = walked.partials.keys().find(|p| !templates.contains_key(*p)) {
            return Err((name.clone(), Rule::UnknownPartial(unknown.clone())));
        }
    }
    let mut expanded = Expanded::new();
    let mut depths = BTreeMap::new();
    for name in templates.keys() {
        let mut path = Vec::new();
        visit(name, templates, &mut path, &mut expanded, &mut depths).map_err(|rule| (name.clone(), rule))?;
    }
    Ok(expanded)
}

/// Depth-first: the expanded size and full depth of `name`, refusing cycles on the way.
fn visit(
    name: &str,
    templates: &BTreeMap<String, Walked>,
    path: &mut Vec<String>,
    expanded: &mut Expanded,
    depths: &mut BTreeMap<String, usize>,
) -> Result<(u64, usize), Rule> {
    if let (Some(size), Some(depth)) = (expanded.get(name), depths.get(name)) {
        return Ok((*size, *depth));
    }
    // Every hop adds to the depth: a longer chain is refused before it recurses further.
    if path.len() > MAX_DEPTH {
        return Err(Rule::TooDeep { limit: MAX_DEPTH });
    }
    if path.iter().any(|p| p == name) {
        let mut cycle = path.clone();
        cycle.push(name.to_owned());
        return Err(Rule::PartialCycle(cycle));
    }
    let Some(walked) = templates.get(name) else {
        return Err(Rule::UnknownPartial(name.to_owned()));
    };
    path.push(name.to_owned());
    let mut size = walked.elements;
    let mut depth = walked.depth;
    for (partial, times) in &walked.partials {
        let (inner, _) = visit(partial, templates, path, expanded, depths)?;
        size = size.saturating_add(inner.saturating_mul(*times));
    }
    for (at, partial) in &walked.partial_depths {
        let (_, inner) = visit(partial, templates, path, expanded, depths)?;
        depth = depth.max(at + 1 + inner);
    }
    path.pop();
    if size > MAX_EXPANDED {
        return Err(Rule::ExpandsTooFar { limit: MAX_EXPANDED });
    }
    if depth > MAX_DEPTH {
        return Err(Rule::TooDeep { limit: MAX_DEPTH });
    }
    expanded.insert(name.to_owned(), size);
    depths.insert(name.to_owned(), depth);
    Ok((size, depth))
}
