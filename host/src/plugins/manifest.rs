//! Loads a plugin manifest: parse the TOML into [`ManifestFile`], then validate it into a
//! [`PluginManifest`]. Every error names the file, the line and column, the field and
//! what was expected.

use plugin_api::manifest::{ManifestFile, SettingSpec, parse_duration};
use plugin_api::{ABI_VERSION, AbilityName, Capability};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// A manifest problem, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// The manifest file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The field, e.g. `abilities[1].name`; empty for the whole file.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": field `{}`: {}", self.field, self.message)
        }
    }
}

/// A route of a validated manifest.
pub type RouteSpec = plugin_api::manifest::RouteSpec;
/// A slot item of a validated manifest.
pub type SlotSpec = plugin_api::manifest::SlotSpec;

/// A job with its interval resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The job's name.
    pub name: String,
    /// Where the interval comes from.
    pub interval: JobInterval,
    /// The ability that switches the job on in a community.
    pub ability: AbilityName,
}

/// Where a job's interval comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobInterval {
    /// A fixed number of seconds.
    Fixed(u64),
    /// A `duration` setting (overridable per community).
    Setting(String),
}

/// A manifest that passed validation, with its wasm path resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginManifest {
    /// Where it was read from.
    pub file: PathBuf,
    /// The raw fields (validated).
    pub raw: ManifestFile,
    /// The module's absolute path.
    pub wasm_path: PathBuf,
    /// The declared capabilities.
    pub capabilities: BTreeSet<Capability>,
    /// Jobs with their intervals resolved.
    pub jobs: Vec<JobSpec>,
}

impl PluginManifest {
    /// The plugin id.
    pub fn id(&self) -> &str {
        &self.raw.id
    }
    /// The plugin's declared version.
    pub fn version(&self) -> &str {
        &self.raw.version
    }
    /// Whether the manifest declares `capability`.
    pub fn allows(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }
    /// Whether `name` is one of the plugin's abilities.
    pub fn declares_ability(&self, name: &str) -> bool {
        self.raw.abilities.iter().any(|a| a.name.as_str() == name)
    }
}

/// Reads, parses and validates the manifest at `path`.
pub fn load(path: &Path) -> Result<PluginManifest, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
        file: path.to_owned(),
        line: None,
        column: None,
        field: String::new(),
        message: format!("cannot read the manifest: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and validates manifest `text` as if read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<PluginManifest, ManifestError> {
    let raw = parse_file(path, text)?;
    validate(path, text, raw)
}

fn parse_file(path: &Path, text: &str) -> Result<ManifestFile, ManifestError> {
    let located = |span: Option<std::ops::Range<usize>>, field: String, message: String| {
        let (line, column) = span.map_or((None, None), |s| {
            let (l, c) = line_col(text, s.start);
            (Some(l), Some(c))
        });
        ManifestError { file: path.to_owned(), line, column, field, message }
    };
    let de = toml::de::Deserializer::parse(text)
        .map_err(|e| located(e.span(), String::new(), e.message().to_owned()))?;
    serde_path_to_error::deserialize::<_, ManifestFile>(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        let inner = e.into_inner();
        let message = explain(inner.message());
        located(inner.span(), field, message)
    })
}

/// Makes serde's wording clearer for operators ("expected one of" is kept).
fn explain(message: &str) -> String {
    message.trim().replace("variant", "value")
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// One step of a field path.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// The span of the field at `path` in the TOML text (the key if it has one).
fn span_of(text: &str, path: &[Seg<'_>]) -> Option<std::ops::Range<usize>> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut value: &DeValue<'_> = &DeValue::Table(root.get_ref().clone());
    let mut span = root.span();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                let table = value.as_table()?;
                let (key, v) = table.iter().find(|(key, _)| key.get_ref() == k)?;
                span = key.span();
                value = v.get_ref();
            }
            Seg::Index(i) => {
                let item = value.as_array()?.get(*i)?;
                span = item.span();
                value = item.get_ref();
            }
        }
    }
    Some(span)
}

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Validator<'_> {
    fn error(&self, path: &[Seg<'_>], message: impl Into<String>) -> ManifestError {
        let field = path
            .iter()
            .enumerate()
            .map(|(n, seg)| match seg {
                Seg::Key(k) if n == 0 => (*k).to_owned(),
                Seg::Key(k) => format!(".{k}"),
                Seg::Index(i) => format!("[{i}]"),
            })
            .collect::<String>();
        let (line, column) = span_of(self.text, path).map_or((None, None), |s| {
            let (l, c) = line_col(self.text, s.start);
            (Some(l), Some(c))
        });
        ManifestError { file: self.path.to_owned(), line, column, field, message: message.into() }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 40
}

fn is_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// A path relative to the manifest and inside its folder, or why not.
fn resolve_wasm(manifest: &Path, wasm: &str) -> Result<PathBuf, String> {
    let rel = Path::new(wasm);
    if wasm.is_empty() {
        return Err("expected a path to the .wasm file, relative to the manifest".into());
    }
    if rel.is_absolute() || rel.has_root() {
        return Err(format!("`{wasm}` is absolute; expected a path relative to the manifest"));
    }
    if rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(format!("`{wasm}` leaves the manifest's folder; expected a path inside it (no `..`)"));
    }
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let dir = std::path::absolute(dir).map_err(|e| e.to_string())?;
    Ok(dir.join(rel))
}

/// Whether following `start`'s requirements leads back to `start`.
fn requires_itself(abilities: &[plugin_api::manifest::AbilitySpec], start: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![start];
    while let Some(name) = todo.pop() {
        let Some(spec) = abilities.iter().find(|a| a.name.as_str() == name) else { continue };
        for needed in &spec.requires {
            if needed.as_str() == start {
                return true;
            }
            if seen.insert(needed.as_str()) {
                todo.push(needed.as_str());
            }
        }
    }
    false
}

fn validate(path: &Path, text: &str, raw: ManifestFile) -> Result<PluginManifest, ManifestError> {
    let v = Validator { path, text };
    if !is_identifier(&raw.id) {
        return Err(v.error(
            &[Seg::Key("id")],
            format!(
                "`{}` is not a plugin id; expected lowercase letters, digits and `_`, starting with a letter",
                raw.id
            ),
        ));
    }
    if raw.id == "portal" {
        return Err(v.error(
            &[Seg::Key("id")],
            "plugin id `portal` is reserved: the portal's own events are named `portal.*`; choose another id",
        ));
    }
    if let Some(reserved) = crate::db::plugin_store::reserved_name_clash(&raw.id) {
        return Err(v.error(
            &[Seg::Key("id")],
            format!(
                "plugin id `{}` clashes with `{reserved}`, a table of the portal or of SQLite: a plugin id may not equal, prefix or be prefixed by one; choose another id",
                raw.id
            ),
        ));
    }
    if raw.name.trim().is_empty() {
        return Err(v.error(&[Seg::Key("name")], "expected a display name"));
    }
    if !is_version(&raw.version) {
        return Err(v.error(
            &[Seg::Key("version")],
            format!("`{}` is not a version; expected MAJOR.MINOR.PATCH such as 0.1.0", raw.version),
        ));
    }
    if raw.abi_version != ABI_VERSION {
        return Err(v.error(
            &[Seg::Key("abi_version")],
            format!(
                "the plugin is built for ABI {}, but this portal speaks ABI {ABI_VERSION}",
                raw.abi_version
            ),
        ));
    }
    let wasm_path = resolve_wasm(path, &raw.wasm).map_err(|m| v.error(&[Seg::Key("wasm")], m))?;

    let mut capabilities = BTreeSet::new();
    for (i, cap) in raw.capabilities.iter().enumerate() {
        if !capabilities.insert(*cap) {
            return Err(
                v.error(&[Seg::Key("capabilities"), Seg::Index(i)], format!("`{cap}` is listed twice"))
            );
        }
    }

    let prefix = format!("{}.", raw.id);
    let mut abilities = BTreeSet::new();
    for (i, ability) in raw.abilities.iter().enumerate() {
        let at = [Seg::Key("abilities"), Seg::Index(i), Seg::Key("name")];
        let name = ability.name.as_str();
        let rest = name.strip_prefix(&prefix).unwrap_or_default();
        if !is_identifier(rest) {
            return Err(v.error(
                &at,
                format!(
                    "`{name}` is not a valid ability name; expected `{prefix}<name>` with a lowercase name"
                ),
            ));
        }
        if !abilities.insert(name) {
            return Err(v.error(&at, format!("duplicate ability `{name}`; each ability is declared once")));
        }
    }
    let known_ability = |name: &AbilityName| abilities.contains(name.as_str());
    let undeclared = |name: &AbilityName| {
        format!("`{name}` is not declared in [[abilities]]; expected one of: {}", list(&abilities))
    };
    for (i, ability) in raw.abilities.iter().enumerate() {
        for (j, needed) in ability.requires.iter().enumerate() {
            let at = [Seg::Key("abilities"), Seg::Index(i), Seg::Key("requires"), Seg::Index(j)];
            if !known_ability(needed) {
                return Err(v.error(&at, undeclared(needed)));
            }
            if requires_itself(&raw.abilities, ability.name.as_str()) {
                return Err(v.error(
                    &at,
                    format!("`{}` requires itself (through `{needed}`); requirements may not go round in a circle", ability.name),
                ));
            }
        }
    }

    let mut keys = BTreeSet::new();
    for (i, slot) in raw.slots.iter().enumerate() {
        if !is_identifier(&slot.key) {
            return Err(v.error(
                &[Seg::Key("slots"), Seg::Index(i), Seg::Key("key")],
                format!("`{}` is not a valid key; expected lowercase letters, digits and `_`", slot.key),
            ));
        }
        if !keys.insert(slot.key.as_str()) {
            return Err(v.error(
                &[Seg::Key("slots"), Seg::Index(i), Seg::Key("key")],
                format!("duplicate slot key `{}`", slot.key),
            ));
        }
        if !known_ability(&slot.ability) {
            return Err(
                v.error(&[Seg::Key("slots"), Seg::Index(i), Seg::Key("ability")], undeclared(&slot.ability))
            );
        }
        if let Some(link) = &slot.link {
            check_local_path(link)
                .map_err(|m| v.error(&[Seg::Key("slots"), Seg::Index(i), Seg::Key("link")], m))?;
        }
        let icons = slot.slot == plugin_api::SlotName::HeaderIcons;
        if icons && (slot.icon.is_none() || slot.link.is_none()) {
            return Err(v.error(
                &[Seg::Key("slots"), Seg::Index(i), Seg::Key("slot")],
                "a `header.icons` item needs an `icon` (envelope, bell or flag) and a `link`",
            ));
        }
        if !icons && slot.icon.is_some() {
            return Err(v.error(
                &[Seg::Key("slots"), Seg::Index(i), Seg::Key("icon")],
                format!("only `header.icons` items have an icon, not `{}` items", slot.slot),
            ));
        }
    }

    if raw.slots_cache_seconds > plugin_api::manifest::MAX_SLOTS_CACHE_SECONDS {
        return Err(v.error(
            &[Seg::Key("slots_cache_seconds")],
            format!(
                "{} is too long; expected 0 (ask at every page) to {} seconds",
                raw.slots_cache_seconds,
                plugin_api::manifest::MAX_SLOTS_CACHE_SECONDS
            ),
        ));
    }

    let mut routes = BTreeSet::new();
    let mut paths = BTreeSet::new();
    for (i, route) in raw.routes.iter().enumerate() {
        let at = |field| [Seg::Key("routes"), Seg::Index(i), Seg::Key(field)];
        if !is_identifier(&route.name) {
            return Err(v.error(&at("name"), format!("`{}` is not a valid route name", route.name)));
        }
        if !routes.insert(route.name.as_str()) {
            return Err(v.error(&at("name"), format!("duplicate route name `{}`", route.name)));
        }
        check_route_path(&route.path).map_err(|m| v.error(&at("path"), m))?;
        if !paths.insert((route.method as u8, route.path.as_str())) {
            return Err(v.error(&at("path"), format!("{:?} {} is declared twice", route.method, route.path)));
        }
        if !known_ability(&route.ability) {
            return Err(v.error(&at("ability"), undeclared(&route.ability)));
        }
        if route.writes && route.method != plugin_api::HttpMethod::Get {
            return Err(v.error(&at("writes"), "only GET routes take `writes`; POST routes can always write"));
        }
        if let Some(setting) = &route.rate_limit
            && !matches!(raw.settings.get(setting), Some(SettingSpec::Integer { min, .. }) if *min >= 1)
        {
            return Err(v.error(
                &at("rate_limit"),
                format!("`{setting}` is not an `integer` setting with `min` of at least 1 in [settings]"),
            ));
        }
    }

    for (name, setting) in &raw.settings {
        let at = [Seg::Key("settings"), Seg::Key(name.as_str())];
        if !is_identifier(name) {
            return Err(v.error(&at, format!("`{name}` is not a valid setting name")));
        }
        match setting {
            SettingSpec::Integer { default, min, max, .. } if !(min <= default && default <= max) => {
                return Err(v.error(&at, format!("default {default} is outside min {min} ..= max {max}")));
            }
            SettingSpec::Duration { default, .. } if parse_duration(default).is_none() => {
                return Err(v.error(
                    &at,
                    format!("default `{default}` is not a duration; expected e.g. 30s, 5m, 2h, 1d"),
                ));
            }
            SettingSpec::Url { default, .. }
                if !(default.is_empty()
                    || default.starts_with("https://")
                    || default.starts_with("http://")) =>
            {
                return Err(v.error(&at, format!("default `{default}` is not an http(s) URL")));
            }
            _ => {}
        }
    }

    let mut jobs = Vec::new();
    let mut job_names = BTreeSet::new();
    for (i, job) in raw.jobs.iter().enumerate() {
        let at = |field| [Seg::Key("jobs"), Seg::Index(i), Seg::Key(field)];
        if !is_identifier(&job.name) || !job_names.insert(job.name.as_str()) {
            return Err(v.error(&at("name"), format!("`{}` is not a valid, unique job name", job.name)));
        }
        if !known_ability(&job.ability) {
            return Err(v.error(&at("ability"), undeclared(&job.ability)));
        }
        let interval = match (&job.interval, &job.interval_setting) {
            (Some(text), None) => JobInterval::Fixed(parse_duration(text).ok_or_else(|| {
                v.error(&at("interval"), format!("`{text}` is not a duration; expected e.g. 30s, 5m, 2h, 1d"))
            })?),
            (None, Some(setting)) => match raw.settings.get(setting) {
                Some(SettingSpec::Duration { .. }) => JobInterval::Setting(setting.clone()),
                _ => {
                    return Err(v.error(
                        &at("interval_setting"),
                        format!("`{setting}` is not a `duration` setting in [settings]"),
                    ));
                }
            },
            _ => {
                return Err(v.error(
                    &[Seg::Key("jobs"), Seg::Index(i)],
                    "expected exactly one of `interval` and `interval_setting`",
                ));
            }
        };
        jobs.push(JobSpec { name: job.name.clone(), interval, ability: job.ability.clone() });
    }

    validate_extensions(&v, &raw, &capabilities, &mut keys, &known_ability, &undeclared)?;

    let mut prefs = BTreeSet::new();
    for (i, pref) in raw.preferences.iter().enumerate() {
        if !is_identifier(&pref.key) || !prefs.insert(pref.key.as_str()) {
            return Err(v.error(
                &[Seg::Key("preferences"), Seg::Index(i), Seg::Key("key")],
                format!("`{}` is not a valid, unique preference key", pref.key),
            ));
        }
    }

    Ok(PluginManifest { file: path.to_owned(), wasm_path, capabilities, jobs, raw })
}

/// Whether `name` is `{plugin}.{local}` with both parts identifiers.
fn is_full_name(name: &str) -> bool {
    name.split_once('.').is_some_and(|(plugin, local)| is_identifier(plugin) && is_identifier(local))
}

/// The ABI 1.2 sections: events, subscriptions, extension points, implementations and
/// extension slots. What they name in OTHER plugins is checked when plugins are loaded
/// together ([`crate::extensions::Index::build`]).
fn validate_extensions<'r>(
    v: &Validator<'_>,
    raw: &'r ManifestFile,
    capabilities: &BTreeSet<Capability>,
    keys: &mut BTreeSet<&'r str>,
    known_ability: &dyn Fn(&AbilityName) -> bool,
    undeclared: &dyn Fn(&AbilityName) -> String,
) -> Result<(), ManifestError> {
    use plugin_api::manifest::{ExtensionKind, MAX_CHECK_CPU_MS};
    let own = |name: &str| name.strip_prefix(&format!("{}.", raw.id)).is_some_and(is_identifier);
    let not_own = |what: &str, name: &str| {
        format!(
            "`{name}` is not a valid {what} name; expected `{}.` followed by lowercase letters, digits and `_`",
            raw.id
        )
    };
    let needs = |capability: Capability, section: &str| {
        (!capabilities.contains(&capability)).then(|| {
            v.error(
                &[Seg::Key(section)],
                format!("declaring {section} needs the `{capability}` capability; add \"{capability}\" to `capabilities`"),
            )
        })
    };
    let mut events = BTreeSet::new();
    for (i, event) in raw.events.iter().enumerate() {
        let at = |field| [Seg::Key("events"), Seg::Index(i), Seg::Key(field)];
        if !own(&event.name) {
            return Err(v.error(&at("name"), not_own("event", &event.name)));
        }
        if !events.insert(event.name.as_str()) {
            return Err(v.error(&at("name"), format!("event `{}` is declared twice", event.name)));
        }
        if event.description.trim().is_empty() {
            return Err(v.error(&at("description"), "expected one line saying what happened"));
        }
        if event.payload.trim().is_empty() {
            return Err(v.error(&at("payload"), "expected the Rust type that documents the payload"));
        }
    }
    if !raw.events.is_empty()
        && let Some(err) = needs(Capability::Events, "events")
    {
        return Err(err);
    }
    let mut subscribed = BTreeSet::new();
    for (i, sub) in raw.subscriptions.iter().enumerate() {
        let at = |field| [Seg::Key("subscriptions"), Seg::Index(i), Seg::Key(field)];
        if !is_full_name(&sub.event) {
            return Err(v.error(
                &at("event"),
                format!("`{}` is not an event name; expected e.g. `conversations.message_posted`", sub.event),
            ));
        }
        if !subscribed.insert(sub.event.as_str()) {
            return Err(v.error(&at("event"), format!("`{}` is subscribed to twice", sub.event)));
        }
        if !known_ability(&sub.ability) {
            return Err(v.error(&at("ability"), undeclared(&sub.ability)));
        }
    }
    let mut points = BTreeSet::new();
    for (i, point) in raw.extension_points.iter().enumerate() {
        let at = |field| [Seg::Key("extension_points"), Seg::Index(i), Seg::Key(field)];
        if !own(&point.name) {
            return Err(v.error(&at("name"), not_own("extension point", &point.name)));
        }
        if !points.insert(point.name.as_str()) {
            return Err(v.error(&at("name"), format!("extension point `{}` is declared twice", point.name)));
        }
        if point.description.trim().is_empty() {
            return Err(v.error(&at("description"), "expected one line for operators and authors"));
        }
        match point.kind {
            ExtensionKind::Check => {
                if point.on_failure.is_none() {
                    return Err(v.error(
                        &[Seg::Key("extension_points"), Seg::Index(i)],
                        "a check point needs `on_failure`, what an implementer's failure means: `allow` (fail open) or `refuse` (fail closed)",
                    ));
                }
                if point.cpu_ms.is_some_and(|ms| ms == 0 || ms > MAX_CHECK_CPU_MS) {
                    return Err(
                        v.error(&at("cpu_ms"), format!("expected 1 to {MAX_CHECK_CPU_MS} milliseconds"))
                    );
                }
                if !point.params.is_empty() {
                    return Err(v.error(&at("params"), "only a `slot` extension point has params"));
                }
                if let Some(err) = needs(Capability::Checks, "extension_points") {
                    return Err(err);
                }
            }
            ExtensionKind::Slot => {
                if point.on_failure.is_some() || point.cpu_ms.is_some() || point.subject.is_some() {
                    return Err(v.error(
                        &[Seg::Key("extension_points"), Seg::Index(i)],
                        "`on_failure`, `cpu_ms` and `subject` belong to a `check` point, not a `slot`",
                    ));
                }
                let mut seen = BTreeSet::new();
                for (j, param) in point.params.iter().enumerate() {
                    if !is_identifier(param) || !seen.insert(param.as_str()) {
                        return Err(v.error(
                            &[Seg::Key("extension_points"), Seg::Index(i), Seg::Key("params"), Seg::Index(j)],
                            format!("`{param}` is not a valid, unique parameter name"),
                        ));
                    }
                }
            }
        }
    }
    if !raw.implements.is_empty()
        && let Some(err) = needs(Capability::Checks, "implements")
    {
        return Err(err);
    }
    let mut implemented = BTreeSet::new();
    for (i, imp) in raw.implements.iter().enumerate() {
        let at = |field| [Seg::Key("implements"), Seg::Index(i), Seg::Key(field)];
        if !is_full_name(&imp.point) {
            return Err(v.error(
                &at("point"),
                format!(
                    "`{}` is not a check point name; expected e.g. `conversations.check_message`",
                    imp.point
                ),
            ));
        }
        if !implemented.insert(imp.point.as_str()) {
            return Err(v.error(&at("point"), format!("`{}` is implemented twice", imp.point)));
        }
        if !known_ability(&imp.ability) {
            return Err(v.error(&at("ability"), undeclared(&imp.ability)));
        }
    }
    for (i, slot) in raw.extension_slots.iter().enumerate() {
        let at = |field| [Seg::Key("extension_slots"), Seg::Index(i), Seg::Key(field)];
        if !is_full_name(&slot.point) {
            return Err(v.error(
                &at("point"),
                format!("`{}` is not a slot name; expected e.g. `conversations.message_actions`", slot.point),
            ));
        }
        if !is_identifier(&slot.key) || !keys.insert(slot.key.as_str()) {
            return Err(v.error(
                &at("key"),
                format!("`{}` is not a valid key unique among the manifest's slot items", slot.key),
            ));
        }
        if slot.label.trim().is_empty() {
            return Err(v.error(&at("label"), "expected the visible text"));
        }
        if !known_ability(&slot.ability) {
            return Err(v.error(&at("ability"), undeclared(&slot.ability)));
        }
        check_local_path(&slot.link).map_err(|m| v.error(&at("link"), m))?;
    }
    Ok(())
}

fn list(names: &BTreeSet<&str>) -> String {
    if names.is_empty() {
        return "(none declared)".to_owned();
    }
    names.iter().copied().collect::<Vec<_>>().join(", ")
}

/// A path inside the community: starts with `/`, no scheme, no `//`, no `..`.
fn check_local_path(link: &str) -> Result<(), String> {
    if !link.starts_with('/') || link.starts_with("//") || link.contains("..") || link.contains('\\') {
        return Err(format!("`{link}` is not a path inside the community; expected e.g. /conversations"));
    }
    Ok(())
}

fn check_route_path(path: &str) -> Result<(), String> {
    check_local_path(path)?;
    for segment in path.split('/').skip(1) {
        let ok = if let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            is_identifier(param)
        } else {
            segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !ok {
            return Err(format!(
                "segment `{segment}` of `{path}` is invalid; expected letters, digits, `-`, `_` or a parameter like {{id}}"
            ));
        }
    }
    Ok(())
}

/// Setting defaults of a manifest as a map, e.g. for the request context.
pub fn default_settings(raw: &ManifestFile) -> BTreeMap<String, plugin_api::SettingValue> {
    use plugin_api::SettingValue;
    raw.settings
        .iter()
        .map(|(name, spec)| {
            let value = match spec {
                SettingSpec::Integer { default, .. } => SettingValue::Int(*default),
                SettingSpec::Boolean { default, .. } => SettingValue::Bool(*default),
                SettingSpec::Duration { default, .. } => {
                    SettingValue::Int(parse_duration(default).map_or(0, |s| s as i64))
                }
                SettingSpec::Url { default, .. } => SettingValue::Text(default.clone()),
            };
            (name.clone(), value)
        })
        .collect()
}
