//! `portal plugin new NAME`: a plugin crate that builds, passes `portal plugin check` and
//! passes its own test at once: a manifest, one page, one menu entry behind one ability
//! (off by default), a request file for `portal plugin run`, and a test that runs the
//! built module through the portal's real runtime. As a member of the portal's workspace
//! (`plugins/NAME`, the default) or as a crate of its own (`--standalone`).

use crate::cli::NewArgs;
use std::path::{Path, PathBuf};

/// Why the plugin could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// The name cannot be a plugin id.
    #[error(
        "`{0}` cannot be a plugin id: use lowercase letters, digits and `_`, starting with a letter (e.g. `hello` or `book_club`)"
    )]
    Id(String),
    /// The name is refused by the manifest's rules (e.g. it names a portal table).
    #[error("{0}")]
    Refused(String),
    /// The folder exists.
    #[error("{} exists already; choose another name or --dir", .0.display())]
    Exists(PathBuf),
    /// The portal's source tree was not found.
    #[error("{0}")]
    NoPortal(String),
    /// The workspace could not take the member.
    #[error("{0}")]
    Workspace(String),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What `portal plugin new` made.
#[derive(Debug, Clone)]
pub struct Created {
    /// The plugin id.
    pub id: String,
    /// The crate's folder.
    pub dir: PathBuf,
    /// The crate's name (`{id}-plugin`).
    pub crate_name: String,
    /// A crate of its own, not a workspace member.
    pub standalone: bool,
    /// The files written, in order.
    pub files: Vec<PathBuf>,
    /// The command that builds its module.
    pub build: String,
    /// The command that runs its test.
    pub test: String,
    /// What could not be done automatically, if anything.
    pub note: Option<String>,
}

impl Created {
    /// The manifest.
    pub fn manifest(&self) -> PathBuf {
        self.dir.join(format!("{}.toml", self.id))
    }

    /// What `portal plugin new` prints: the files and the next commands.
    pub fn next_steps(&self) -> String {
        let kind = if self.standalone { "a crate of its own" } else { "a member of the portal's workspace" };
        let mut out = format!(
            "created plugin `{}` in {} ({kind}, crate {}):\n",
            self.id,
            self.dir.display(),
            self.crate_name
        );
        for f in &self.files {
            out.push_str(&format!("  {}\n", f.display()));
        }
        if let Some(note) = &self.note {
            out.push_str(&format!("note: {note}\n"));
        }
        let manifest = self.manifest();
        let id = &self.id;
        out.push_str(&format!(
            "next (`portal` is `cargo run --release -p host --bin portal --` in the portal's folder):\n\
             \x20 {}                # build wasm/{id}.wasm\n\
             \x20 portal plugin check {}\n\
             \x20 {}                # runs it through the real runtime\n\
             \x20 portal plugin run {} --request {}\n\
             then add \"{}\" to [plugins] manifests in portal.toml, start the portal, and\n\
             \x20 portal abilities grant --community riverside {id}.use everyone\n\
             \"{}\" is in the avatar menu; the page is /c/riverside/{id}. The guide: docs/plugin-authors.md\n",
            self.build,
            manifest.display(),
            self.test,
            manifest.display(),
            self.dir.join("requests/index.json").display(),
            manifest.display(),
            display_name(id),
        ));
        out
    }
}

/// Whether `id` has the shape of a plugin id.
fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && id.len() <= 40
        && !id.ends_with('_')
}

/// "book_club" -> "Book club".
fn display_name(id: &str) -> String {
    let spaced = id.replace('_', " ");
    let mut chars = spaced.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// "book_club" -> "BookClub".
fn type_name(id: &str) -> String {
    id.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The portal's source tree: `--portal`, else the current folder if it is one, else where
/// this binary was built from.
fn portal_root(given: Option<&Path>) -> Result<PathBuf, NewError> {
    let is_portal = |p: &Path| p.join("plugin-api/Cargo.toml").exists() && p.join("host/Cargo.toml").exists();
    let candidates: Vec<PathBuf> = match given {
        Some(p) => vec![p.to_owned()],
        None => {
            let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            std::env::current_dir().into_iter().chain(std::iter::once(built_from)).collect()
        }
    };
    candidates.iter().find(|p| is_portal(p)).and_then(|p| p.canonicalize().ok()).ok_or_else(|| {
        NewError::NoPortal(format!(
            "the portal's source tree (with plugin-api/ and host/) is not at {}; give it with --portal",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or ")
        ))
    })
}

fn write(path: &Path, text: &str, files: &mut Vec<PathBuf>) -> Result<(), NewError> {
    let io = |source| NewError::Io { path: path.to_owned(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)?;
    files.push(path.to_owned());
    Ok(())
}

/// Adds `member` to the `members = [...]` line of the workspace's Cargo.toml.
fn add_member(root: &Path, member: &str) -> Result<(), NewError> {
    let path = root.join("Cargo.toml");
    let io = |source| NewError::Io { path: path.clone(), source };
    let text = std::fs::read_to_string(&path).map_err(io)?;
    let mut done = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if !done && line.trim_start().starts_with("members = [") && line.trim_end().ends_with(']') {
                done = true;
                let body = line.trim_end().trim_end_matches(']').trim_end().trim_end_matches(',');
                format!("{body}, \"{member}\"]")
            } else {
                line.to_owned()
            }
        })
        .collect();
    if !done {
        return Err(NewError::Workspace(format!(
            "{} has no one-line `members = [...]`; add \"{member}\" to its members by hand",
            path.display()
        )));
    }
    std::fs::write(&path, lines.join("\n") + "\n").map_err(io)
}

/// Creates the plugin crate that `args` describe.
pub fn create(args: &NewArgs) -> Result<Created, NewError> {
    let id = args.name.as_str();
    if !valid_id(id) {
        return Err(NewError::Id(id.to_owned()));
    }
    if let Some(reserved) = crate::db::plugin_store::reserved_name_clash(id) {
        return Err(NewError::Refused(format!(
            "plugin id `{id}` clashes with `{reserved}`, a table of the portal or of SQLite (a plugin's tables are named `{id}_...`); choose another"
        )));
    }
    let root = portal_root(args.portal.as_deref())?;
    let dir = args.dir.join(id);
    if dir.exists() {
        return Err(NewError::Exists(dir));
    }
    let crate_name = format!("{}-plugin", id.replace('_', "-"));
    let absolute = |p: &Path| std::env::current_dir().map(|cwd| cwd.join(p)).unwrap_or_else(|_| p.to_owned());
    let member = if args.standalone {
        None
    } else {
        let parent = absolute(&args.dir);
        std::fs::create_dir_all(&parent).map_err(|source| NewError::Io { path: parent.clone(), source })?;
        let parent = parent.canonicalize().map_err(|source| NewError::Io { path: parent.clone(), source })?;
        let relative = parent.strip_prefix(&root).map_err(|_| {
            NewError::Workspace(format!(
                "{} is outside the portal's workspace at {}: create it inside (e.g. --dir plugins) or add --standalone",
                parent.display(),
                root.display()
            ))
        })?;
        Some(relative.join(id).to_string_lossy().replace('\\', "/"))
    };
    let build = match &member {
        Some(m) => format!("scripts/build-plugins.sh {m}"),
        None => format!("{} {}", root.join("scripts/build-plugins.sh").display(), absolute(&dir).display()),
    };
    let test = match &member {
        Some(_) => format!("cargo test -p {crate_name}"),
        None => format!("cargo test --manifest-path {}", absolute(&dir).join("Cargo.toml").display()),
    };
    let fill = |template: &str| {
        template
            .replace("%ID%", id)
            .replace("%NAME%", &display_name(id))
            .replace("%TYPE%", &type_name(id))
            .replace("%CRATE%", &crate_name)
            .replace("%PLUGIN_API%", &root.join("plugin-api").display().to_string())
            .replace("%HOST%", &root.join("host").display().to_string())
            .replace("%BUILD%", &build)
    };
    let mut files = Vec::new();
    let cargo = if member.is_some() {
        include_str!("template/Cargo.workspace.toml.txt")
    } else {
        include_str!("template/Cargo.standalone.toml.txt")
    };
    write(&dir.join("Cargo.toml"), &fill(cargo), &mut files)?;
    write(&dir.join(format!("{id}.toml")), &fill(include_str!("template/manifest.toml.txt")), &mut files)?;
    write(&dir.join("src/lib.rs"), &fill(include_str!("template/lib.rs.txt")), &mut files)?;
    write(&dir.join("templates/index.hbs"), &fill(include_str!("template/index.hbs.txt")), &mut files)?;
    write(&dir.join("requests/index.json"), &fill(include_str!("template/request.json.txt")), &mut files)?;
    write(&dir.join("tests/runtime.rs"), &fill(include_str!("template/test.rs.txt")), &mut files)?;
    write(&dir.join(".gitignore"), include_str!("template/gitignore.txt"), &mut files)?;
    // The generated manifest passes the portal's own checks, or nothing is left behind.
    if let Err(e) = crate::plugins::manifest::load(&dir.join(format!("{id}.toml"))) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(NewError::Refused(e.to_string()));
    }
    let mut note = None;
    match &member {
        Some(m) => {
            add_member(&root, m)?;
            note = record_in_lockfile(&root.join("Cargo.toml"));
        }
        None => {
            let lock = root.join("Cargo.lock");
            if lock.exists() {
                let target = dir.join("Cargo.lock");
                std::fs::copy(&lock, &target)
                    .map_err(|source| NewError::Io { path: target.clone(), source })?;
                files.push(target);
            }
        }
    }
    Ok(Created { id: id.to_owned(), dir, crate_name, standalone: member.is_none(), files, build, test, note })
}

/// Records the new member in Cargo.lock (offline: every dependency is there already), so
/// `--locked` builds keep working. Returns a note when cargo could not do it.
fn record_in_lockfile(manifest: &Path) -> Option<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["metadata", "--offline", "--format-version", "1", "--manifest-path"])
        .arg(manifest)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => None,
        _ => Some(format!(
            "Cargo.lock does not list the new crate yet; run `cargo metadata --format-version 1 --manifest-path {}` once",
            manifest.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_id("hello") && valid_id("book_club2"));
        for bad in ["", "Hello", "2x", "a-b", "a_", "é"] {
            assert!(!valid_id(bad), "{bad}");
        }
        assert_eq!(display_name("book_club"), "Book club");
        assert_eq!(type_name("book_club"), "BookClub");
    }

    #[test]
    fn a_new_member_joins_the_one_line_members_list() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"host\", \"plugin-api\"]\nresolver = \"3\"\n",
        )
        .unwrap();
        add_member(dir.path(), "plugins/hello").unwrap();
        let text = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
        assert!(text.contains("members = [\"host\", \"plugin-api\", \"plugins/hello\"]"), "{text}");
    }
}
