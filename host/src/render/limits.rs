//! Rendering limits for plugin templates: a render runs under a [`Budget`] (output bytes,
//! work steps, wall-clock time); the output goes through a writer that fails past the
//! cap, and `each`, the one helper that multiplies work, is the host's own metered copy.
//! A limit that trips fails that render only.

use super::check::Expanded;
use super::csrf::{CSRF_PLACEHOLDER, csrf_field};
use handlebars::template::{Template, TemplateElement};
use handlebars::{
    BlockContext, BlockParams, Context, Handlebars, Helper, HelperDef, HelperResult, JsonValue, Output,
    RenderContext, RenderError, RenderErrorReason, Renderable, to_json,
};
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most one plugin render may write: the plugin payload cap.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// The most work steps one plugin render may take: each `each` iteration costs the
/// elements of its body, partials expanded.
pub const MAX_WORK: u64 = 250_000;
/// The longest one plugin render may run.
pub const MAX_TIME: Duration = Duration::from_millis(500);

/// A limit that stopped a render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Limit {
    /// The output would pass [`MAX_OUTPUT_BYTES`].
    #[error("output limit: the rendered template would be larger than {bytes} bytes")]
    Output {
        /// The cap.
        bytes: usize,
    },
    /// The work would pass [`MAX_WORK`].
    #[error("work limit: the rendered template would take more than {steps} steps")]
    Work {
        /// The cap.
        steps: u64,
    },
    /// The render ran past [`MAX_TIME`].
    #[error("time limit: rendering took longer than {ms} ms")]
    Time {
        /// The cap.
        ms: u128,
    },
}

/// What one plugin call may spend on rendering (an email's two parts share one).
pub struct Budget {
    deadline: Instant,
    work: Cell<u64>,
    written: Cell<usize>,
    tripped: Cell<Option<Limit>>,
}

impl Budget {
    /// A fresh budget, from now.
    pub fn new() -> Rc<Budget> {
        Rc::new(Budget {
            deadline: Instant::now() + MAX_TIME,
            work: Cell::new(0),
            written: Cell::new(0),
            tripped: Cell::new(None),
        })
    }

    /// The limit that tripped, if one did.
    pub fn tripped(&self) -> Option<Limit> {
        self.tripped.get()
    }

    fn trip(&self, limit: Limit) -> RenderError {
        if self.tripped.get().is_none() {
            self.tripped.set(Some(limit));
        }
        RenderErrorReason::Other(limit.to_string()).into()
    }

    fn in_time(&self) -> Result<(), RenderError> {
        if Instant::now() > self.deadline {
            return Err(self.trip(Limit::Time { ms: MAX_TIME.as_millis() }));
        }
        Ok(())
    }

    fn charge(&self, steps: u64) -> Result<(), RenderError> {
        let spent = self.work.get().saturating_add(steps);
        self.work.set(spent);
        if spent > MAX_WORK {
            return Err(self.trip(Limit::Work { steps: MAX_WORK }));
        }
        self.in_time()
    }
}

thread_local! {
    /// The budget of the render running on this thread: helpers are shared by every
    /// render, so this is how `each` finds the one it charges.
    static CURRENT: RefCell<Option<Rc<Budget>>> = const { RefCell::new(None) };
}

/// Installs a budget for this thread until dropped, then puts back the one before.
struct Installed(Option<Rc<Budget>>);

impl Installed {
    fn new(budget: &Rc<Budget>) -> Installed {
        Installed(CURRENT.with(|c| c.replace(Some(budget.clone()))))
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let before = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = before);
    }
}

fn current() -> Result<Rc<Budget>, RenderError> {
    CURRENT
        .with(|c| c.borrow().clone())
        .ok_or_else(|| RenderErrorReason::Other("a plugin template rendered without a budget".into()).into())
}

/// The output of one render, failing past [`MAX_OUTPUT_BYTES`] (all renders of a budget
/// together) or past the deadline.
struct Capped<'a> {
    buf: Vec<u8>,
    budget: &'a Budget,
}

impl std::io::Write for Capped<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.budget.written.get().saturating_add(bytes.len());
        self.budget.written.set(written);
        if written > MAX_OUTPUT_BYTES {
            let limit = Limit::Output { bytes: MAX_OUTPUT_BYTES };
            self.budget.trip(limit);
            return Err(std::io::Error::other(limit.to_string()));
        }
        if self.budget.in_time().is_err() {
            return Err(std::io::Error::other(Limit::Time { ms: MAX_TIME.as_millis() }.to_string()));
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why a plugin render failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderFailure {
    /// The plugin has no template of that name.
    #[error("plugin `{plugin}` has no template `{template}`")]
    NoTemplate {
        /// The plugin.
        plugin: String,
        /// The template it asked for.
        template: String,
    },
    /// A render limit tripped.
    #[error("plugin `{plugin}`: template `{template}`: {limit}")]
    Limit {
        /// The plugin.
        plugin: String,
        /// The template.
        template: String,
        /// Which limit.
        limit: Limit,
    },
    /// Handlebars failed (a helper's argument, strict mode, ...).
    #[error("plugin `{plugin}`: template `{template}`: {source}")]
    Template {
        /// The plugin.
        plugin: String,
        /// The template.
        template: String,
        /// The cause.
        source: RenderError,
    },
    /// A host template (an email layout) failed.
    #[error("host template: {0}")]
    Host(#[from] RenderError),
}

impl RenderFailure {
    /// What the plugin author can do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            RenderFailure::NoTemplate { .. } => {
                "answer `render` with the name of a template that Describe returns"
            }
            RenderFailure::Limit { .. } => {
                "render less: paginate lists, and do not loop over a list inside a loop over it"
            }
            RenderFailure::Template { .. } => {
                "send the data the template expects (`portal plugin run` prints the data and the rendered page)"
            }
            RenderFailure::Host(_) => "this is the portal's fault: report it with the log",
        }
    }
}

/// Renders `template` of `plugin` from `registry` under `budget`.
pub fn render_capped<T: Serialize>(
    budget: &Rc<Budget>,
    registry: &Handlebars<'static>,
    plugin: &str,
    template: &str,
    data: &T,
) -> Result<String, RenderFailure> {
    let names = || (plugin.to_owned(), template.to_owned());
    if !registry.has_template(template) {
        let (plugin, template) = names();
        return Err(RenderFailure::NoTemplate { plugin, template });
    }
    let _installed = Installed::new(budget);
    let mut out = Capped { buf: Vec::new(), budget };
    let result = registry.render_to_write(template, data, &mut out);
    if let Some(limit) = budget.tripped() {
        let (plugin, template) = names();
        return Err(RenderFailure::Limit { plugin, template, limit });
    }
    if let Err(source) = result {
        let (plugin, template) = names();
        return Err(RenderFailure::Template { plugin, template, source });
    }
    String::from_utf8(out.buf).map_err(|e| {
        let (plugin, template) = names();
        RenderFailure::Template { plugin, template, source: RenderErrorReason::Other(e.to_string()).into() }
    })
}

/// The elements `template` renders, nested ones included, partials expanded.
fn cost(template: &Template, expanded: &Expanded) -> u64 {
    let mut steps = 0u64;
    for element in &template.elements {
        steps = steps.saturating_add(1);
        match element {
            TemplateElement::HelperBlock(helper) | TemplateElement::Expression(helper) => {
                for body in [&helper.template, &helper.inverse].into_iter().flatten() {
                    steps = steps.saturating_add(cost(body, expanded));
                }
            }
            TemplateElement::PartialExpression(partial) => {
                let name = match &partial.name {
                    handlebars::template::Parameter::Name(name) => expanded.get(name),
                    _ => None,
                };
                steps = steps.saturating_add(name.copied().unwrap_or(super::check::MAX_EXPANDED));
            }
            _ => {}
        }
    }
    steps
}

/// `each`, as handlebars has it, charging the budget before it starts for every iteration
/// (one step plus the elements of the body, partials expanded), and checking the deadline
/// before each iteration.
pub struct MeteredEach {
    /// The expanded size of each of the plugin's templates, for partials in a body.
    pub expanded: Arc<Expanded>,
}

impl HelperDef for MeteredEach {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let budget = current()?;
        let value = h.param(0).ok_or(RenderErrorReason::ParamNotFoundForIndex("each", 0))?;
        let Some(body) = h.template() else { return Ok(()) };
        let step = 1 + cost(body, &self.expanded);
        let items: Vec<(JsonValue, &JsonValue)> = match value.value() {
            JsonValue::Array(list) if !list.is_empty() || h.inverse().is_none() => {
                list.iter().enumerate().map(|(i, v)| (to_json(i), v)).collect()
            }
            JsonValue::Object(map) if !map.is_empty() || h.inverse().is_none() => {
                map.iter().map(|(k, v)| (to_json(k), v)).collect()
            }
            _ => {
                budget.charge(1)?;
                return match h.inverse() {
                    Some(inverse) => inverse.render(r, ctx, rc, out),
                    None => Ok(()),
                };
            }
        };
        let keyed = value.value().is_object();
        let base_path = value.context_path();
        let mut block = BlockContext::new();
        match base_path {
            Some(path) => block.base_path_mut().clone_from(path),
            None => block.set_base_value(value.value().clone()),
        }
        let len = items.len();
        budget.charge(step.saturating_mul(u64::try_from(len).unwrap_or(u64::MAX)))?;
        rc.push_block(block);
        for (i, (key, item)) in items.into_iter().enumerate() {
            budget.in_time()?;
            if let Some(block) = rc.block_mut() {
                block.set_local_var("first", to_json(i == 0));
                block.set_local_var("last", to_json(i + 1 == len));
                block.set_local_var("index", to_json(i));
                if keyed {
                    block.set_local_var("key", key.clone());
                }
                let relative = match &key {
                    JsonValue::String(k) => k.clone(),
                    other => other.to_string(),
                };
                match base_path {
                    Some(path) if i == 0 => {
                        let mut full = path.clone();
                        full.push(relative);
                        *block.base_path_mut() = full;
                    }
                    Some(_) => {
                        if let Some(last) = block.base_path_mut().last_mut() {
                            *last = relative;
                        }
                    }
                    None => block.set_base_value(item.clone()),
                }
                let params = if let Some(name) = h.block_param() {
                    let mut params = BlockParams::new();
                    add_param(&mut params, name, base_path.is_some(), item)?;
                    Some(params)
                } else if let Some((name, key_name)) = h.block_param_pair() {
                    let mut params = BlockParams::new();
                    add_param(&mut params, name, base_path.is_some(), item)?;
                    params.add_value(key_name, key.clone())?;
                    Some(params)
                } else {
                    None
                };
                if let Some(params) = params {
                    block.set_block_params(params);
                }
            }
            body.render(r, ctx, rc, out)?;
        }
        rc.pop_block();
        Ok(())
    }
}

fn add_param<'rc>(
    params: &mut BlockParams<'rc>,
    name: &'rc str,
    by_path: bool,
    item: &JsonValue,
) -> Result<(), RenderError> {
    if by_path { params.add_path(name, Vec::new()) } else { params.add_value(name, item.clone()) }
}

/// `{{csrf_field}}`: the hidden form field that carries the CSRF token.
pub struct CsrfField;

impl HelperDef for CsrfField {
    fn call<'reg: 'rc, 'rc>(
        &self,
        _: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        out.write(&csrf_field(CSRF_PLACEHOLDER))?;
        Ok(())
    }
}

/// Longest value of an `extension_slot` parameter.
const MAX_PARAM_LEN: usize = 64;

/// `{{extension_slot "conversations.message_actions" conversation=7 message=42}}`: the
/// items other plugins put in one of the rendering plugin's slots (the host sets them in
/// `portal.extensions`, for the viewer's abilities and the plugins not switched off), as
/// host markup: a list of links whose `{param}` placeholders are replaced by the
/// placement's parameters (integers or short words; anything else is an error). A slot
/// nobody fills renders nothing.
pub struct ExtensionSlot;

impl HelperDef for ExtensionSlot {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let name = h.param(0).and_then(|p| p.value().as_str()).ok_or_else(|| {
            RenderErrorReason::Other("extension_slot needs the slot's name in quotes".into())
        })?;
        let items = ctx
            .data()
            .get("portal")
            .and_then(|p| p.get("extensions"))
            .and_then(|e| e.get(name))
            .and_then(JsonValue::as_array);
        let Some(items) = items.filter(|items| !items.is_empty()) else { return Ok(()) };
        let mut params = Vec::new();
        for (key, value) in h.hash() {
            let text = match value.value() {
                JsonValue::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                JsonValue::String(s)
                    if !s.is_empty()
                        && s.len() <= MAX_PARAM_LEN
                        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
                {
                    s.clone()
                }
                other => {
                    return Err(RenderErrorReason::Other(format!(
                        "extension_slot `{name}`: parameter `{key}` is {other}; expected an integer or a short word (letters, digits, - and _)"
                    ))
                    .into());
                }
            };
            params.push((format!("{{{key}}}"), text));
        }
        out.write(&format!(
            "<ul class=\"extension-slot\" aria-label=\"{}\">",
            handlebars::html_escape(name)
        ))?;
        for item in items {
            let (Some(label), Some(link)) =
                (item.get("label").and_then(JsonValue::as_str), item.get("link").and_then(JsonValue::as_str))
            else {
                continue;
            };
            let mut href = link.to_owned();
            for (placeholder, value) in &params {
                href = href.replace(placeholder.as_str(), value);
            }
            if href.contains('{') {
                // A placeholder this placement does not give: the item is left out.
                continue;
            }
            out.write(&format!(
                "<li><a class=\"extension-action\" href=\"{}\">{}</a></li>",
                handlebars::html_escape(&href),
                handlebars::html_escape(label)
            ))?;
        }
        out.write("</ul>")?;
        Ok(())
    }
}
