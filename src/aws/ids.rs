//! The AWS identifiers in a text, and the ones each reconcile touches.
//!
//! Drift events (`--events`) name resources the way CloudTrail does: ids (`sg-…`), ARNs, and bare
//! names (`roleName`, `bucketName`, `alarmName`). To know which object an event is about, every
//! request and response of a reconcile is scanned (only while events are on) and what it names is
//! remembered as that object's: [`collecting`] gathers them, [`scan`] finds them. Matching is by
//! value, so a new event name needs no table; an identifier two objects touch (a stack's VPC, read
//! by its TargetGroups) reconciles both.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether requests and responses are scanned at all (drift events on).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns collection on (the events pipeline runs).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether collection is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

tokio::task_local! {
    static SEEN: RefCell<Named>;
}

/// Where an AWS call went: whose credentials, which region, and whether the service is global
/// (IAM, Route 53, CloudFront: their events arrive in us-east-1 whatever the region of the call).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Place {
    /// With the operator's own credentials (not a namespace's assumed role).
    pub own: bool,
    pub global: bool,
    pub region: String,
}

/// What a reconcile's AWS calls named, and where they went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Named {
    pub ids: BTreeSet<String>,
    pub places: BTreeSet<Place>,
}

/// Runs `f`, returning with its output the identifiers named by the AWS requests and responses it
/// made, and the places it called (empty when collection is off).
pub async fn collecting<F: std::future::Future>(f: F) -> (F::Output, Named) {
    if !enabled() {
        return (f.await, Named::default());
    }
    SEEN.scope(RefCell::new(Named::default()), async {
        let out = f.await;
        (out, SEEN.with(|s| std::mem::take(&mut *s.borrow_mut())))
    })
    .await
}

/// Adds where a request of the current reconcile goes to its places.
pub(crate) fn note_place(place: impl FnOnce() -> Place) {
    if !enabled() {
        return;
    }
    let _ = SEEN.try_with(|seen| {
        seen.borrow_mut().places.insert(place());
    });
}

/// Adds the identifiers in `bytes` (a request's URI or body, a response's body) to the current
/// reconcile's. URL-encoded text (query protocols' bodies) is decoded first.
pub(crate) fn note(bytes: &[u8]) {
    if !enabled() || bytes.is_empty() {
        return;
    }
    let _ = SEEN.try_with(|seen| {
        let text = percent_encoding::percent_decode(bytes).decode_utf8_lossy();
        scan(&text, &mut seen.borrow_mut().ids);
    });
}

/// Adds to `out` every identifier in `text`:
/// - ARNs (`arn:aws…`), and the names in their resource part after its type (`service/shop/web`
///   gives `shop` and `web`; `arn:aws:s3:::site` gives `site`; an IAM ARN only its last, not its
///   path), at least 4 characters; AWS-owned ARNs (account
///   `aws` or none: managed policies, public parameters) are skipped;
/// - EC2-style ids: lowercase letters, `-`, 8 or 17 hex digits (`vpc-0a1b…`, `sgr-…`);
/// - Route 53 zone ids after `/hostedzone/`.
pub fn scan(text: &str, out: &mut BTreeSet<String>) {
    for token in text.split(|c: char| !is_arn_char(c)) {
        let mut rest = token;
        while let Some(at) = rest.find("arn:aws") {
            let arn = &rest[at..];
            let end = arn[1..].find("arn:aws").map_or(arn.len(), |e| e + 1);
            arn_names(arn[..end].trim_end_matches(['.', ':', '*', '/']), out);
            rest = &arn[end..];
        }
        if let Some(at) = token.find("/hostedzone/") {
            let zone: String = token[at + 12..]
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            if zone.len() >= 4 {
                out.insert(zone);
            }
        }
        for word in token.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if is_ec2_id(word) {
                out.insert(word.to_string());
            }
        }
    }
}

fn is_arn_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":/_-.+=@*".contains(c)
}

/// An ARN and the names in its resource part.
fn arn_names(arn: &str, out: &mut BTreeSet<String>) {
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, service, _region, account, resource] = fields[..] else {
        return;
    };
    if account == "aws" || (account.is_empty() && !arn.starts_with("arn:aws:s3:")) || resource.is_empty() {
        return;
    }
    out.insert(arn.to_string());
    let segments: Vec<&str> = resource.split(['/', ':']).collect();
    // IAM paths (`role/webstack/…`) are shared by many: only the name counts.
    let names = match segments.len() {
        1 => &segments[..],
        n if service == "iam" => &segments[n - 1..],
        _ => &segments[1..],
    };
    for name in names {
        if name.len() >= 4 && *name != "*" {
            out.insert((*name).to_string());
        }
    }
}

/// `vpc-0123abcd`, `subnet-0123456789abcdef0`, `eipalloc-…`.
fn is_ec2_id(word: &str) -> bool {
    let Some((prefix, hex)) = word.split_once('-') else {
        return false;
    };
    !prefix.is_empty()
        && prefix.len() <= 12
        && prefix.bytes().all(|b| b.is_ascii_lowercase())
        && (hex.len() == 8 || hex.len() == 17)
        && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<String> {
        let mut out = BTreeSet::new();
        scan(text, &mut out);
        out.into_iter().collect()
    }

    #[test]
    fn ec2_ids_in_xml_and_query_text() {
        assert_eq!(
            ids("<groupId>sg-0123456789abcdef0</groupId><vpcId>vpc-1a2b3c4d</vpcId>"),
            ["sg-0123456789abcdef0", "vpc-1a2b3c4d"]
        );
        assert_eq!(
            ids("Action=DescribeSubnets&SubnetId.1=subnet-0a1b2c3d4e5f60718"),
            ["subnet-0a1b2c3d4e5f60718"]
        );
        // Not ids: uppercase, wrong length, no prefix, words.
        assert!(ids("SG-0123ABCD vpc-123 -deadbeef us-east-1a available backing-up").is_empty());
    }

    #[test]
    fn arns_and_their_names() {
        assert_eq!(
            ids(r#"{"roleArn":"arn:aws:iam::123456789012:role/webstack/shop-exec"}"#),
            ["arn:aws:iam::123456789012:role/webstack/shop-exec", "shop-exec"]
        );
        assert_eq!(ids("arn:aws:s3:::shop-site"), ["arn:aws:s3:::shop-site", "shop-site"]);
        assert_eq!(
            ids("<AlarmArn>arn:aws:cloudwatch:us-east-1:123456789012:alarm:shop-5xx</AlarmArn>"),
            ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:shop-5xx", "shop-5xx"]
        );
        // The log group ARN's `:*` is not part of the name.
        assert_eq!(
            ids("arn:aws:logs:us-east-1:123456789012:log-group:/ecs/shop:*"),
            ["arn:aws:logs:us-east-1:123456789012:log-group:/ecs/shop", "shop"]
        );
        // AWS-owned ARNs name nothing of a stack's.
        assert!(ids("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy").is_empty());
        // Short segments (`app`) are not names.
        assert_eq!(
            ids("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/0123456789abcdef"),
            [
                "0123456789abcdef",
                "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/0123456789abcdef",
            ]
        );
    }

    #[test]
    fn url_encoded_arns_and_zones() {
        let mut out = BTreeSet::new();
        let text = percent_encoding::percent_decode(b"RuleArn=arn%3Aaws%3Aelasticloadbalancing%3Aus-east-1%3A1%3Alistener-rule%2Fapp%2Fshop%2Fabc1%2Fdef2%2F99ff").decode_utf8_lossy().into_owned();
        scan(&text, &mut out);
        assert!(out.contains("arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/shop/abc1/def2/99ff"));
        assert!(out.contains("shop") && out.contains("99ff") && !out.contains("app"));
        assert_eq!(ids("<Id>/hostedzone/Z0123456789ABC</Id>"), ["Z0123456789ABC"]);
    }

    #[tokio::test]
    async fn collecting_is_scoped_to_the_reconcile_and_off_unless_enabled() {
        let place = || Place {
            own: false,
            global: false,
            region: "eu-west-1".into(),
        };
        let ((), none) = collecting(async {
            note(b"vpc-1a2b3c4d");
            note_place(place);
        })
        .await;
        assert_eq!(none, Named::default());
        enable();
        let ((), seen) = collecting(async {
            note(b"vpc-1a2b3c4d");
            note_place(place);
            note_place(place);
        })
        .await;
        assert_eq!(seen.ids.into_iter().collect::<Vec<_>>(), ["vpc-1a2b3c4d"]);
        assert_eq!(seen.places.into_iter().collect::<Vec<_>>(), [place()]);
        // Outside a reconcile nothing is gathered (and nothing fails).
        note(b"vpc-1a2b3c4d");
        note_place(place);
    }
}
