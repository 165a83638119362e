//! The dependency policy of `deny.toml`, checked on every `cargo test`: banned crates (the AWS SDK's
//! legacy HTTPS stack: ring, rustls 0.21, hyper 0.14; any second TLS implementation) and licences
//! (every crate's SPDX expression satisfied by the allow-list) over what cargo builds for any platform
//! (`cargo tree --target all`, features as resolved), sources (crates.io only) over all of
//! `Cargo.lock`. Several versions of one crate are printed as warnings. `cargo deny check` reads the
//! same file and adds the advisory database (see deny.toml).
//!
//! `Cargo.lock` can list a crate nothing builds: an optional dependency named only by a weak feature
//! (`ring?/alloc` in rustls-webpki) is locked but not compiled (cargo issue 10801). Such entries
//! are printed, not refused.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

use crate::harness::repo_root;

fn read_toml(file: &str) -> toml::Table {
    let text = std::fs::read_to_string(repo_root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    text.parse().unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn strings(table: &toml::Table, section: &str, key: &str) -> Vec<String> {
    let list = table[section][key]
        .as_array()
        .unwrap_or_else(|| panic!("deny.toml: [{section}] {key} is not a list"));
    list.iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("deny.toml: [{section}] {key}: {v:?} is not a string"))
                .to_string()
        })
        .collect()
}

/// `Cargo.lock`'s packages: (name, version, source).
fn locked() -> Vec<(String, String, Option<String>)> {
    let lock = read_toml("Cargo.lock");
    lock["package"]
        .as_array()
        .expect("Cargo.lock has packages")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
                p.get("source").and_then(|s| s.as_str()).map(String::from),
            )
        })
        .collect()
}

/// What cargo builds for any platform (normal, build and dev dependencies, features as resolved):
/// (name, version) pairs.
fn built() -> BTreeSet<(String, String)> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "--target",
            "all",
            "-e",
            "normal,build,dev",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .current_dir(repo_root())
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.strip_prefix('v')?;
            Some((name.to_string(), version.to_string()))
        })
        .collect()
}

/// A version's numeric part (`0.9.34+deprecated` → [0, 9, 34]).
fn numbers(version: &str) -> Vec<u64> {
    version
        .split(['+', '-'])
        .next()
        .unwrap_or_default()
        .split('.')
        .map(|n| n.parse().unwrap_or_else(|_| panic!("version {version}")))
        .collect()
}

/// Whether `version` meets a requirement of deny.toml's form (`<0.23`, `>=1.2.3`, `=0.1.0`).
fn meets(version: &str, requirement: &str) -> bool {
    let (op, bound) = ["<=", ">=", "<", ">", "="]
        .iter()
        .find_map(|op| requirement.strip_prefix(op).map(|rest| (*op, rest)))
        .unwrap_or_else(|| panic!("deny.toml: unsupported version requirement {requirement:?}"));
    let (v, b) = (numbers(version), numbers(bound));
    // Compare on the bound's precision: `<0.23` is below 0.23.0.
    let v: Vec<u64> = (0..b.len()).map(|i| v.get(i).copied().unwrap_or(0)).collect();
    match op {
        "<" => v < b,
        "<=" => v <= b,
        ">" => v > b,
        ">=" => v >= b,
        _ => v == b,
    }
}

#[test]
fn requirement_forms() {
    assert!(meets("0.21.12", "<0.23"));
    assert!(!meets("0.23.46", "<0.23"));
    assert!(meets("0.14.32", "<1"));
    assert!(!meets("1.12.0", "<1"));
    assert!(meets("0.9.34+deprecated", ">=0.9.34"));
    assert!(meets("1.0.0", "=1"));
}

#[test]
fn no_banned_crate_and_crates_io_only() {
    let policy = read_toml("deny.toml");
    let packages = locked();
    let built = built();
    assert!(built.contains(&(
        "tokio".to_string(),
        packages.iter().find(|p| p.0 == "tokio").unwrap().1.clone()
    )));
    let mut banned = Vec::new();
    for spec in strings(&policy, "bans", "deny") {
        let (name, requirement) = match spec.split_once([':', '@']) {
            Some((name, req)) if spec.contains('@') => (name.to_string(), Some(format!("={req}"))),
            Some((name, req)) => (name.to_string(), Some(req.to_string())),
            None => (spec.clone(), None),
        };
        for (n, v) in &built {
            if *n == name && requirement.as_deref().is_none_or(|r| meets(v, r)) {
                banned.push(format!(
                    "{n} {v} (deny.toml: \"{spec}\"; `cargo tree -i {n}@{v}` shows who brings it)"
                ));
            }
        }
    }
    assert!(banned.is_empty(), "banned crates in Cargo.lock:\n{}", banned.join("\n"));

    let registries: BTreeSet<String> = strings(&policy, "sources", "allow-registry")
        .into_iter()
        .map(|r| format!("registry+{r}"))
        .collect();
    let foreign: Vec<String> = packages
        .iter()
        .filter_map(|(n, v, source)| {
            let s = source.as_ref()?;
            (!registries.contains(s)).then(|| format!("{n} {v} from {s}"))
        })
        .collect();
    assert!(
        foreign.is_empty(),
        "crates from outside crates.io:\n{}",
        foreign.join("\n")
    );

    for (n, v, _) in packages
        .iter()
        .filter(|(n, v, _)| !built.contains(&(n.clone(), v.clone())))
    {
        eprintln!("note: {n} {v} is in Cargo.lock but built for no platform (a weak optional dependency)");
    }
    let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (n, v) in &built {
        versions.entry(n).or_default().push(v);
    }
    for (name, vs) in versions.iter().filter(|(_, vs)| vs.len() > 1) {
        eprintln!("warning: several versions of {name}: {}", vs.join(", "));
    }
}

/// Whether an SPDX expression is satisfied by `allowed`: one side of each OR, both of each AND
/// (`WITH` exceptions are part of the licence's name; the legacy `/` is an OR).
fn satisfied(expression: &str, allowed: &BTreeSet<String>) -> bool {
    let spaced = expression.replace('(', " ( ").replace(')', " ) ").replace('/', " OR ");
    let mut tokens: Vec<String> = Vec::new();
    for word in spaced.split_whitespace() {
        match tokens.last_mut() {
            Some(last) if word == "WITH" || last.ends_with(" WITH") => {
                last.push(' ');
                last.push_str(word);
            }
            _ => tokens.push(word.to_string()),
        }
    }
    let mut at = 0;
    let result = or(&tokens, &mut at, allowed);
    assert_eq!(at, tokens.len(), "cannot read the licence expression {expression:?}");
    result
}

fn or(tokens: &[String], at: &mut usize, allowed: &BTreeSet<String>) -> bool {
    let mut any = and(tokens, at, allowed);
    while tokens.get(*at).is_some_and(|t| t == "OR") {
        *at += 1;
        any |= and(tokens, at, allowed);
    }
    any
}

fn and(tokens: &[String], at: &mut usize, allowed: &BTreeSet<String>) -> bool {
    let mut all = term(tokens, at, allowed);
    while tokens.get(*at).is_some_and(|t| t == "AND") {
        *at += 1;
        all &= term(tokens, at, allowed);
    }
    all
}

fn term(tokens: &[String], at: &mut usize, allowed: &BTreeSet<String>) -> bool {
    let token = tokens.get(*at).cloned().unwrap_or_default();
    *at += 1;
    if token == "(" {
        let inner = or(tokens, at, allowed);
        assert_eq!(
            tokens.get(*at).map(String::as_str),
            Some(")"),
            "unbalanced licence expression"
        );
        *at += 1;
        inner
    } else {
        allowed.contains(&token)
    }
}

#[test]
fn licence_expressions() {
    let allowed: BTreeSet<String> = ["MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception"]
        .map(String::from)
        .into();
    assert!(satisfied("MIT OR Apache-2.0", &allowed));
    assert!(satisfied("(MIT OR Apache-2.0) AND Unicode-3.0 OR MIT", &allowed));
    assert!(!satisfied("(MIT OR Apache-2.0) AND Unicode-3.0", &allowed));
    assert!(satisfied("Apache-2.0 WITH LLVM-exception OR GPL-3.0", &allowed));
    assert!(satisfied("MIT/Apache-2.0", &allowed));
    assert!(!satisfied("GPL-3.0-only", &allowed));
}

#[test]
fn every_crate_has_an_allowed_licence() {
    let policy = read_toml("deny.toml");
    let allowed: BTreeSet<String> = strings(&policy, "licenses", "allow").into_iter().collect();
    // The manifests of every locked crate (all platforms), as cargo resolved them.
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(repo_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let built = built();
    let mut refused = Vec::new();
    let mut used = BTreeSet::new();
    for p in metadata["packages"].as_array().expect("packages") {
        let (name, version) = (p["name"].as_str().unwrap(), p["version"].as_str().unwrap());
        if !built.contains(&(name.to_string(), version.to_string())) {
            continue;
        }
        match p["license"].as_str() {
            Some(expression) if satisfied(expression, &allowed) => {
                used.insert(expression.to_string());
            }
            Some(expression) => refused.push(format!("{name} {version}: {expression}")),
            None => refused.push(format!("{name} {version}: no SPDX licence in its manifest")),
        }
    }
    assert!(
        refused.is_empty(),
        "licences deny.toml does not allow:\n{}",
        refused.join("\n")
    );
    eprintln!("licence expressions in use: {used:?}");
}
