//! The field-by-field API reference, `docs/api-reference.md`, generated from the CRDs themselves
//! (`webstack-operator crds --reference`), so that it has one source with `crds/`: the doc comments of
//! `src/api/` become the schemas' descriptions, and this module renders those schemas.
//!
//! Per kind: group, version, names, scope and printer columns; then every field of `spec` and
//! `status`, one table row each, with its path, type, whether it is required, its default, its
//! validation (enum values, pattern, bounds, lengths, item counts, list type, and the CEL rules of
//! `x-kubernetes-validations` by their messages) and its description. A field whose schema has no
//! description says so instead of getting one here. Pure: it reads the CRDs as JSON values.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// Where the reference is checked in, relative to the repository root.
pub const REFERENCE_PATH: &str = "docs/api-reference.md";

/// The command that regenerates it (also named in the file's header and in the stale-file test).
pub const REGENERATE: &str = "cargo run -- crds --reference > docs/api-reference.md";

/// What a field without a description shows in the description column.
pub const NO_DESCRIPTION: &str = "*(no description)*";

/// The reference of every CRD of the operator ([`super::crds`]), as Markdown.
pub fn reference_markdown() -> Result<String, serde_json::Error> {
    let crds = super::crds()
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(render(&crds))
}

/// Renders the reference of these CustomResourceDefinitions (as JSON values).
pub fn render(crds: &[Value]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "<!-- GENERATED from the CRDs by `webstack-operator crds --reference`: do not edit. -->\n\
         # API reference\n\
         \n\
         Every field of every kind, generated from the CRD schemas (the same source as\n\
         [`crds/webstack-operator.yaml`](../crds/webstack-operator.yaml)): a description is the doc\n\
         comment of the Rust type in `src/api/`. To change one, change the doc comment, then regenerate\n\
         `crds/` (see [development](development.md#regenerating-crds-and-this-reference)) and this file:\n\
         \n\
         ```sh\n\
         {REGENERATE}\n\
         ```\n\
         \n\
         The unit test `checked_in_reference_is_current` fails while this file differs from the\n\
         generated one. The guides in [docs/](README.md) say what the operator does with each field.\n\
         \n\
         How to read the tables: a path is relative to the object (`spec.network.cidr`); `[]` stands\n\
         for every item of a list and `*` for every value of a map. *Required* means required whenever\n\
         its parent is present. *Default* is what the API server writes when the field is absent.\n\
         *Validation* is enforced by the API server: enum values, pattern, bounds, lengths, item counts,\n\
         list types, and the CEL rules (`x-kubernetes-validations`) by their message, shown on the field\n\
         the rule names. A field whose schema has no description shows {NO_DESCRIPTION}.\n\
         \n"
    ));
    for crd in crds {
        let kind = str_at(crd, &["spec", "names", "kind"]);
        let _ = writeln!(out, "- [{kind}](#{})", slug(kind));
    }
    for crd in crds {
        render_crd(&mut out, crd);
    }
    out
}

fn render_crd(out: &mut String, crd: &Value) {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let kind = str_at(crd, &["spec", "names", "kind"]);
    let group = str_at(crd, &["spec", "group"]);
    let plural = str_at(names, &["plural"]);
    let versions = spec["versions"].as_array().map(Vec::as_slice).unwrap_or_default();
    for version in versions {
        let name = str_at(version, &["name"]);
        let schema = &version["schema"]["openAPIV3Schema"];
        let _ = writeln!(out, "\n## {kind}\n");
        if let Some(text) = schema.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{}\n", prose(text));
        }
        let short = names["shortNames"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(code)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "none".to_string());
        let mut subresources: Vec<&str> = version["subresources"]
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        subresources.sort_unstable();
        let mut served = Vec::new();
        if version["served"].as_bool() == Some(true) {
            served.push("served");
        }
        if version["storage"].as_bool() == Some(true) {
            served.push("storage");
        }
        let _ = writeln!(out, "| | |\n| --- | --- |");
        let _ = writeln!(out, "| apiVersion | {} |", code(&format!("{group}/{name}")));
        let _ = writeln!(out, "| kind | {} |", code(kind));
        let _ = writeln!(
            out,
            "| plural, singular | {}, {} |",
            code(plural),
            code(str_at(names, &["singular"]))
        );
        let _ = writeln!(out, "| short names | {short} |");
        let _ = writeln!(out, "| scope | {} |", str_at(spec, &["scope"]));
        if !served.is_empty() {
            let _ = writeln!(out, "| version | {} |", served.join(", "));
        }
        if !subresources.is_empty() {
            let _ = writeln!(out, "| subresources | {} |", subresources.join(", "));
        }
        if let Some(columns) = version["additionalPrinterColumns"].as_array().filter(|c| !c.is_empty()) {
            let _ = writeln!(
                out,
                "\nPrinter columns of `kubectl get {plural}` (those of priority above 0 only with `-o wide`):\n"
            );
            let _ = writeln!(
                out,
                "| column | type | JSONPath | shown | description |\n| --- | --- | --- | --- | --- |"
            );
            for column in columns {
                let shown = match column["priority"].as_i64().unwrap_or(0) {
                    0 => "always".to_string(),
                    p => format!("`-o wide` (priority {p})"),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {shown} | {} |",
                    cell(str_at(column, &["name"])),
                    cell(str_at(column, &["type"])),
                    code(str_at(column, &["jsonPath"])),
                    column["description"].as_str().map(cell).unwrap_or_default(),
                );
            }
        }
        let required = required_of(schema);
        let root_rules = rules_of(schema);
        if !root_rules.is_empty() {
            let _ = writeln!(out, "\nValidation of the whole object: {}", root_rules.join("; "));
        }
        if let Some(props) = schema["properties"].as_object() {
            for (field, prop) in props {
                if matches!(field.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let _ = writeln!(out, "\n### {kind} {field}\n");
                let mut rows = Vec::new();
                collect(field, prop, required.contains(&field.as_str()), &mut rows);
                attach_rules(&mut rows);
                let _ = writeln!(
                    out,
                    "| field | type | required | default | validation | description |\n\
                     | --- | --- | --- | --- | --- | --- |"
                );
                for row in &rows {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} |",
                        code(&row.path),
                        cell(&row.type_),
                        if row.required { "yes" } else { "" },
                        row.default.as_deref().map(code).unwrap_or_default(),
                        row.validation.join("<br>"),
                        row.description
                            .as_deref()
                            .map(cell)
                            .unwrap_or_else(|| NO_DESCRIPTION.to_string()),
                    );
                }
            }
        }
    }
}

/// One field of a schema, flattened into a table row.
struct Row {
    path: String,
    type_: String,
    required: bool,
    default: Option<String>,
    /// Rendered Markdown cell fragments.
    validation: Vec<String>,
    description: Option<String>,
    /// CEL rules of this object that name a field below it (`fieldPath`): moved to that field's row
    /// when it has one. (target path, rendered rule)
    pending_rules: Vec<(String, String)>,
}

/// Appends the row of `schema` at `path` and the rows of every field below it.
fn collect(path: &str, schema: &Value, required: bool, rows: &mut Vec<Row>) {
    let mut validation = constraints(schema);
    let mut pending_rules = Vec::new();
    split_rules(path, schema, &mut validation, &mut pending_rules);
    // The items of a list (and the values of a map) have no row of their own: what constrains them
    // is shown on the list's row, and their fields are listed below it as `path[].field`.
    let mut element = schema;
    let mut element_path = path.to_string();
    let mut prefix = String::new();
    loop {
        let (next, suffix, what) = if let Some(items) = element.get("items").filter(|i| i.is_object()) {
            (items, "[]", "each item")
        } else if let Some(values) = element
            .get("additionalProperties")
            .filter(|v| v.is_object() && element.get("properties").is_none())
        {
            (values, ".*", "each value")
        } else {
            break;
        };
        element = next;
        element_path.push_str(suffix);
        prefix = if prefix.is_empty() {
            what.to_string()
        } else {
            format!("{prefix}, {what}")
        };
        let mut inner = constraints(element);
        split_rules(&element_path, element, &mut inner, &mut pending_rules);
        validation.extend(inner.into_iter().map(|v| format!("{prefix}: {v}")));
    }
    rows.push(Row {
        path: path.to_string(),
        type_: type_of(schema),
        required,
        default: schema.get("default").map(value_text),
        validation,
        description: schema
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.trim().is_empty())
            .map(str::to_string),
        pending_rules,
    });
    if let Some(props) = element.get("properties").and_then(Value::as_object) {
        let required = required_of(element);
        for (field, prop) in props {
            collect(
                &format!("{element_path}.{field}"),
                prop,
                required.contains(&field.as_str()),
                rows,
            );
        }
    }
}

/// CEL rules of `schema` (at `path`): those naming a field below it are set aside for that field's
/// row, the others go to `validation`.
fn split_rules(path: &str, schema: &Value, validation: &mut Vec<String>, pending: &mut Vec<(String, String)>) {
    for rule in schema["x-kubernetes-validations"].as_array().into_iter().flatten() {
        let text = rule_text(rule);
        match rule["fieldPath"].as_str().filter(|f| simple_field_path(f)) {
            Some(field) => pending.push((format!("{path}{field}"), text)),
            None => validation.push(text),
        }
    }
}

/// Moves every CEL rule that names a field to that field's row; a rule whose field has no row stays
/// on the object it belongs to, with the field it names.
fn attach_rules(rows: &mut [Row]) {
    let index: BTreeMap<String, usize> = rows.iter().enumerate().map(|(i, r)| (r.path.clone(), i)).collect();
    for i in 0..rows.len() {
        for (target, text) in std::mem::take(&mut rows[i].pending_rules) {
            match index.get(&target) {
                Some(&j) => rows[j].validation.push(text),
                None => {
                    let field = target.strip_prefix(&rows[i].path).unwrap_or(&target).to_string();
                    rows[i].validation.push(format!("{} {text}", code(&field)));
                }
            }
        }
    }
}

/// `.a.b`: a path of plain field names (what [`attach_rules`] can resolve to a row).
fn simple_field_path(field_path: &str) -> bool {
    field_path.strip_prefix('.').is_some_and(|rest| {
        rest.split('.')
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    })
}

/// A CEL rule as shown: its message (or message expression, or the rule itself when it has neither).
fn rule_text(rule: &Value) -> String {
    let mut text = if let Some(message) = rule["message"].as_str() {
        format!("CEL: {}", cell(message))
    } else if let Some(expression) = rule["messageExpression"].as_str() {
        format!("CEL: message {}", code(expression))
    } else {
        format!("CEL: {}", code(str_at(rule, &["rule"])))
    };
    if let Some(reason) = rule["reason"].as_str() {
        let _ = write!(text, " (reason {})", code(reason));
    }
    text
}

/// The rendered CEL rules of a schema, whatever field they name (for the root object).
fn rules_of(schema: &Value) -> Vec<String> {
    schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rule| match rule["fieldPath"].as_str() {
            Some(field) => format!("{} {}", code(field), rule_text(rule)),
            None => rule_text(rule),
        })
        .collect()
}

/// The schema's own constraints (not its CEL rules), as cell fragments.
fn constraints(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(values) = schema["enum"].as_array() {
        let listed: Vec<String> = values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| code(&value_text(v)))
            .collect();
        let null = if values.iter().any(Value::is_null) {
            " (or null)"
        } else {
            ""
        };
        out.push(format!("one of {}{null}", listed.join(", ")));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        out.push(format!("pattern {}", code(pattern)));
    }
    let exclusive = |key: &str| schema[key].as_bool() == Some(true);
    if let Some(range) = bounds(
        schema.get("minimum"),
        schema.get("maximum"),
        exclusive("exclusiveMinimum"),
        exclusive("exclusiveMaximum"),
    ) {
        out.push(range);
    }
    if let Some(multiple) = schema.get("multipleOf") {
        out.push(format!("a multiple of {}", number_text(multiple)));
    }
    if let Some(range) = bounds(schema.get("minLength"), schema.get("maxLength"), false, false) {
        out.push(format!("length {range}"));
    }
    if let Some(range) = bounds(schema.get("minItems"), schema.get("maxItems"), false, false) {
        out.push(format!("items {range}"));
    }
    if let Some(range) = bounds(schema.get("minProperties"), schema.get("maxProperties"), false, false) {
        out.push(format!("entries {range}"));
    }
    match schema["x-kubernetes-list-type"].as_str() {
        Some("map") => {
            let keys: Vec<String> = schema["x-kubernetes-list-map-keys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(code)
                .collect();
            out.push(format!("list type `map`: items unique by {}", keys.join(" + ")));
        }
        Some("set") => out.push("list type `set`: items unique".to_string()),
        Some(other) => out.push(format!("list type {}", code(other))),
        None => {}
    }
    out
}

/// `1 to 100`, `≥ 1`, `< 5`, or nothing.
fn bounds(min: Option<&Value>, max: Option<&Value>, exclusive_min: bool, exclusive_max: bool) -> Option<String> {
    let min = min.filter(|v| v.is_number()).map(number_text);
    let max = max.filter(|v| v.is_number()).map(number_text);
    match (min, max) {
        (Some(min), Some(max)) if !exclusive_min && !exclusive_max => Some(format!("{min} to {max}")),
        (min, max) => {
            let mut parts = Vec::new();
            if let Some(min) = min {
                parts.push(format!("{} {min}", if exclusive_min { ">" } else { "≥" }));
            }
            if let Some(max) = max {
                parts.push(format!("{} {max}", if exclusive_max { "<" } else { "≤" }));
            }
            (!parts.is_empty()).then(|| parts.join(", "))
        }
    }
}

/// A number without a meaningless `.0` (the schema stores every bound as a float).
fn number_text(value: &Value) -> String {
    match value.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => value.to_string(),
    }
}

/// `string`, `integer (int32)`, `[]string`, `map[string]string`, `object`, ...
fn type_of(schema: &Value) -> String {
    if schema["x-kubernetes-int-or-string"].as_bool() == Some(true) {
        return "int-or-string".to_string();
    }
    let format = schema["format"].as_str().map(|f| format!(" ({f})")).unwrap_or_default();
    match schema["type"].as_str() {
        Some("array") => format!("[]{}", schema.get("items").map(type_of).unwrap_or_else(|| "any".into())),
        Some("object") => match schema.get("additionalProperties").filter(|v| v.is_object()) {
            Some(values) if schema.get("properties").is_none() => format!("map[string]{}", type_of(values)),
            _ => "object".to_string(),
        },
        Some(other) => format!("{other}{format}"),
        None if schema["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true) => "any".to_string(),
        None => "any".to_string(),
    }
}

fn required_of(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// A value as a user writes it: strings bare (but `""`), everything else as compact JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(_) => number_text(value),
        other => other.to_string(),
    }
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    path.iter().fold(value, |v, key| &v[*key]).as_str().unwrap_or_default()
}

/// A code span for a table cell: fenced with enough backticks, `|` escaped (GitHub's tables split
/// on it even inside code), on one line.
fn code(text: &str) -> String {
    let text = text.replace('\n', " ").replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    if longest == 0 {
        return format!("`{text}`");
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {text} {fence}")
}

/// Descriptive text for a table cell: one line (paragraphs joined by `<br>`), `|` escaped, and
/// `<`/`>` outside code spans escaped so that `<stack>` stays visible rather than becoming HTML.
fn cell(text: &str) -> String {
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    escape(&paragraphs.join("<br>"))
}

/// Descriptive text outside a table: whitespace kept as written, `<`/`>` outside code escaped.
fn prose(text: &str) -> String {
    escape_markup(text, false)
}

fn escape(text: &str) -> String {
    escape_markup(text, true)
}

fn escape_markup(text: &str, in_table: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        // `<br>` is the paragraph break `cell` inserts: keep it.
        if !in_code && in_table && rest.starts_with("<br>") {
            out.push_str("<br>");
            rest = &rest[4..];
            continue;
        }
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '|' if in_table => out.push_str("\\|"),
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            _ => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as `-`.
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CHECKED_IN: &str = include_str!("../../docs/api-reference.md");

    #[test]
    fn checked_in_reference_is_current() {
        let generated = reference_markdown().expect("render the reference");
        assert!(
            generated == CHECKED_IN,
            "{REFERENCE_PATH} is stale: run `{REGENERATE}` (after `cargo run -- crds > crds/webstack-operator.yaml`)"
        );
    }

    fn crd(schema: Value) -> Value {
        json!({
            "spec": {
                "group": "example.io",
                "names": {"kind": "Thing", "plural": "things", "singular": "thing", "shortNames": ["th"]},
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1",
                    "served": true,
                    "storage": true,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Ready", "type": "string", "jsonPath": ".status.ready"},
                        {"name": "Wide", "type": "string", "jsonPath": ".status.wide", "priority": 1}
                    ],
                    "schema": {"openAPIV3Schema": schema}
                }]
            }
        })
    }

    fn row<'a>(doc: &'a str, path: &str) -> &'a str {
        let start = format!("| `{path}` |");
        doc.lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("no row {path} in:\n{doc}"))
    }

    #[test]
    fn renders_every_field_with_type_default_validation_and_description() {
        let doc = render(&[crd(json!({
            "description": "A thing.",
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {
                    "description": "What is wanted.",
                    "type": "object",
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "integer", "format": "int32", "minimum": 1.0, "maximum": 6.0,
                                 "description": "How many."},
                        "mode": {"type": "string", "enum": ["a|b", "c", null], "default": "c", "nullable": true,
                                 "description": "A mode, e.g. `<a>` or <b>."},
                        "names": {"type": "array", "maxItems": 3, "x-kubernetes-list-type": "set",
                                  "items": {"type": "string", "pattern": "^[a-z]+$"}},
                        "tags": {"type": "object", "additionalProperties": {"type": "string"},
                                 "description": "Tags.\n\nMore tags."},
                        "ports": {"type": "array", "description": "Ports.",
                                  "items": {"type": "object", "required": ["port"],
                                            "properties": {"port": {"type": "integer", "description": "A port."}},
                                            "x-kubernetes-validations": [{"rule": "self.port > 0",
                                                                          "message": "port must be positive",
                                                                          "fieldPath": ".port"}]}}
                    },
                    "x-kubernetes-validations": [
                        {"rule": "self.size == oldSelf.size", "message": "size cannot change", "fieldPath": ".size"},
                        {"rule": "has(self.mode)", "message": "mode is needed"},
                        {"rule": "true", "fieldPath": ".missing"}
                    ]
                }
            }
        }))]);
        assert!(doc.contains("- [Thing](#thing)"), "{doc}");
        assert!(doc.contains("| apiVersion | `example.io/v1` |"), "{doc}");
        assert!(doc.contains("| short names | `th` |"), "{doc}");
        assert!(
            doc.contains("| Wide | string | `.status.wide` | `-o wide` (priority 1) |  |"),
            "{doc}"
        );
        assert!(doc.contains("\n### Thing spec\n"), "{doc}");
        assert!(!doc.contains("`apiVersion`") && !doc.contains("`metadata`"), "{doc}");
        assert_eq!(
            row(&doc, "spec"),
            "| `spec` | object | yes |  | CEL: mode is needed<br>`.missing` CEL: `true` | What is wanted. |"
        );
        assert_eq!(
            row(&doc, "spec.size"),
            "| `spec.size` | integer (int32) | yes |  | 1 to 6<br>CEL: size cannot change | How many. |"
        );
        assert_eq!(
            row(&doc, "spec.mode"),
            "| `spec.mode` | string |  | `c` | one of `a\\|b`, `c` (or null) | A mode, e.g. `<a>` or &lt;b&gt;. |"
        );
        assert_eq!(
            row(&doc, "spec.names"),
            format!(
                "| `spec.names` | []string |  |  | items ≤ 3<br>list type `set`: items unique<br>each item: pattern \
                 `^[a-z]+$` | {NO_DESCRIPTION} |"
            )
        );
        assert_eq!(
            row(&doc, "spec.tags"),
            "| `spec.tags` | map[string]string |  |  |  | Tags.<br>More tags. |"
        );
        assert_eq!(row(&doc, "spec.ports"), "| `spec.ports` | []object |  |  |  | Ports. |");
        assert_eq!(
            row(&doc, "spec.ports[].port"),
            "| `spec.ports[].port` | integer | yes |  | CEL: port must be positive | A port. |"
        );
    }

    #[test]
    fn every_kind_and_field_of_the_crds_is_in_the_reference() {
        let doc = reference_markdown().expect("render");
        for crd in super::super::crds() {
            let kind = &crd.spec.names.kind;
            assert!(doc.contains(&format!("\n## {kind}\n")), "{kind}");
            assert!(doc.contains(&format!("\n### {kind} spec\n")), "{kind} spec");
            assert!(doc.contains(&format!("\n### {kind} status\n")), "{kind} status");
        }
        for path in [
            "spec.network.natGateways",
            "spec.services[].container.containers[].image",
            "spec.loadBalancer.listeners[].defaultAction.fixedResponse.statusCode",
            "status.conditions[].type",
        ] {
            row(&doc, path);
        }
        assert!(row(&doc, "spec.region").contains("CEL: region cannot change"));
    }

    #[test]
    fn slugs_are_githubs() {
        assert_eq!(slug("WebStack spec"), "webstack-spec");
        assert_eq!(
            slug("Regenerating `crds/` and this reference"),
            "regenerating-crds-and-this-reference"
        );
        assert_eq!(
            slug("Calls per reconcile (steady state)"),
            "calls-per-reconcile-steady-state"
        );
    }
}
