//! The Markdown of the repository holds together: every relative link of `README.md`, `docs/`,
//! `deploy/README.md` and the chart's README points at a file or folder of the repository, every
//! `#anchor` at a heading of its file, and every page of `docs/` is in its index.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::reference::slug;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn docs_pages(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read docs/") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            docs_pages(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// The Markdown files whose links are checked.
fn markdown_files() -> Vec<PathBuf> {
    let root = root();
    let mut files = vec![
        root.join("README.md"),
        root.join("deploy/README.md"),
        root.join("charts/webstack-operator/README.md"),
    ];
    docs_pages(&root.join("docs"), &mut files);
    files.sort();
    files
}

/// The lines of a Markdown text outside fenced code blocks.
fn prose_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// A line without its code spans.
fn without_code(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// The targets of the inline links (`[text](target)`) of a Markdown text.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let line = without_code(line);
        let mut rest = line.as_str();
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let Some(end) = rest.find(')') else { break };
            targets.push(rest[..end].trim().to_string());
            rest = &rest[end..];
        }
    }
    targets
}

/// The anchors GitHub gives the headings of a Markdown text (a repeated one gets `-1`, `-2`, ...).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in prose_lines(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading.trim().trim_end_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

#[test]
fn relative_links_and_anchors_resolve() {
    let root = root().canonicalize().expect("repository root");
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).expect("read markdown");
        let shown = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let linked = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a file's folder").join(path)
            };
            let Ok(linked) = linked.canonicalize() else {
                broken.push(format!("{shown}: ({target}): no such file"));
                continue;
            };
            if !linked.starts_with(&root) {
                broken.push(format!("{shown}: ({target}): outside the repository"));
                continue;
            }
            if let Some(anchor) = anchor {
                let heads = std::fs::read_to_string(&linked)
                    .map(|t| anchors(&t))
                    .unwrap_or_default();
                if !heads.contains(anchor) {
                    broken.push(format!("{shown}: ({target}): no heading with that anchor"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_docs_page_is_in_the_index() {
    let docs = root().join("docs");
    let index = std::fs::read_to_string(docs.join("README.md")).expect("docs/README.md");
    let linked: BTreeSet<PathBuf> = link_targets(&index)
        .iter()
        .map(|t| docs.join(t.split('#').next().unwrap_or_default()))
        .collect();
    let mut pages = Vec::new();
    docs_pages(&docs, &mut pages);
    let missing: Vec<_> = pages
        .iter()
        .filter(|p| !p.ends_with("docs/README.md") && !linked.contains(*p))
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "pages of docs/ missing from docs/README.md: {missing:#?}"
    );
}

#[test]
fn links_and_anchors_are_read_as_github_does() {
    let text = "# Top\n\n[a](x.md#b) `[not](a link)`\n\n```\n# not a heading\n[no](link)\n```\n## Top\n### `iam:PassRole` and roles\n";
    assert_eq!(link_targets(text), ["x.md#b"]);
    assert_eq!(
        anchors(text),
        ["top", "top-1", "iampassrole-and-roles"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}
