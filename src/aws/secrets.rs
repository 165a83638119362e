//! Secrets Manager: the secrets holding a stack's database and cache credentials. A password is
//! generated here, once, from the OS's cryptographic generator, and stored before anything uses it.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::Tag;

use super::{AwsError, TagMap, classify, deleted};
use crate::model::data::{ObservedSecret, Sensitive};

/// The characters of a generated password: letters, digits and the few symbols both RDS and
/// ElastiCache AUTH accept (RDS refuses `/`, `@`, `"` and space; ElastiCache allows only
/// `!&#$^<>-` besides letters and digits).
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!&#$^<>-";

/// A 40-character password from the OS's cryptographic generator (rejection sampling: uniform).
pub fn generate_password() -> Result<Sensitive, AwsError> {
    let mut out = String::with_capacity(40);
    let limit = 256 - (256 % ALPHABET.len());
    while out.len() < 40 {
        let mut buf = [0u8; 64];
        getrandom::fill(&mut buf).map_err(|e| AwsError::invalid_request("GeneratePassword", e))?;
        for b in buf {
            if (b as usize) < limit && out.len() < 40 {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(Sensitive::new(out))
}

fn sm_tags(tags: &TagMap) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The secret named `name` with its value, if it exists (one being deleted counts as gone).
pub async fn find(c: &Client, name: &str) -> Result<Option<ObservedSecret>, AwsError> {
    let described = match c.describe_secret().secret_id(name).send().await {
        Ok(d) => d,
        Err(e) => {
            let e = classify("DescribeSecret", e);
            return if e.code == "ResourceNotFoundException" {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    if described.deleted_date().is_some() {
        return Ok(None);
    }
    let value = c
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .map_err(|e| classify("GetSecretValue", e))?;
    let (fields, password) = parse(value.secret_string());
    Ok(Some(ObservedSecret {
        arn: described.arn().unwrap_or_default().to_string(),
        name: name.to_string(),
        tags: described
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
        fields,
        password,
    }))
}

/// The secret's value only (a steady-state re-check: one call; tags are not read).
pub async fn find_value(c: &Client, name: &str) -> Result<Option<ObservedSecret>, AwsError> {
    let value = match c.get_secret_value().secret_id(name).send().await {
        Ok(v) => v,
        Err(e) => {
            let e = classify("GetSecretValue", e);
            // A secret scheduled for deletion answers InvalidRequestException: gone as well.
            return if e.code == "ResourceNotFoundException" || e.code == "InvalidRequestException" {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    let (fields, password) = parse(value.secret_string());
    Ok(Some(ObservedSecret {
        arn: value.arn().unwrap_or_default().to_string(),
        name: name.to_string(),
        tags: TagMap::new(),
        fields,
        password,
    }))
}

/// The JSON fields of a secret's value, the password apart.
fn parse(text: Option<&str>) -> (std::collections::BTreeMap<String, String>, Sensitive) {
    let json: serde_json::Value = text.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    let mut fields = std::collections::BTreeMap::new();
    let mut password = Sensitive::default();
    if let Some(map) = json.as_object() {
        for (k, v) in map {
            let text = v.as_str().map(String::from).unwrap_or_else(|| v.to_string());
            if k == "password" {
                password = Sensitive::new(text);
            } else {
                fields.insert(k.clone(), text);
            }
        }
    }
    (fields, password)
}

/// Creates the secret. `token` (derived from the owner's uid) makes a retried call return the
/// same secret instead of a second one.
pub async fn create(
    c: &Client,
    name: &str,
    description: &str,
    value: &Sensitive,
    token: &str,
    tags: &TagMap,
) -> Result<(), AwsError> {
    c.create_secret()
        .name(name)
        .description(description)
        .client_request_token(token)
        .secret_string(value.expose())
        .set_tags(Some(sm_tags(tags)))
        .send()
        .await
        .map_err(|e| classify("CreateSecret", e))?;
    Ok(())
}

/// Stores a new value (the password kept; host, port and url filled in).
pub async fn put(c: &Client, name: &str, value: &Sensitive) -> Result<(), AwsError> {
    c.put_secret_value()
        .secret_id(name)
        .secret_string(value.expose())
        .send()
        .await
        .map_err(|e| classify("PutSecretValue", e))?;
    Ok(())
}

pub async fn tag(c: &Client, name: &str, tags: &TagMap) -> Result<(), AwsError> {
    c.tag_resource()
        .secret_id(name)
        .set_tags(Some(sm_tags(tags)))
        .send()
        .await
        .map_err(|e| classify("TagResource", e))?;
    Ok(())
}

pub async fn untag(c: &Client, name: &str, keys: &[&str]) -> Result<(), AwsError> {
    c.untag_resource()
        .secret_id(name)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map_err(|e| classify("UntagResource", e))?;
    Ok(())
}

/// Deletes the secret at once (no recovery window: it describes a resource that is gone).
pub async fn delete(c: &Client, name: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteSecret",
        c.delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await,
        &["ResourceNotFoundException"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_random_and_of_the_alphabet() {
        let (a, b) = (generate_password().unwrap(), generate_password().unwrap());
        assert_eq!(a.expose().len(), 40);
        assert_ne!(a, b);
        assert!(a.expose().bytes().all(|c| ALPHABET.contains(&c)));
        assert!(!a.expose().contains(['/', '@', '"', ' ']));
    }
}
