//! Route 53 records left for a namespace: in every hosted zone, the operator's ownership records
//! (`_webstack-<type>.<name>` TXT records whose `webstack.io/owner` names the namespace) and the
//! records they stand for. Route 53 records carry no tags: the ownership record is the only mark.

use aws_config::SdkConfig;

/// Every record set of a zone (all pages).
pub async fn record_sets(r53: &aws_sdk_route53::Client, zone: &str) -> Vec<aws_sdk_route53::types::ResourceRecordSet> {
    let mut out = Vec::new();
    let mut next: Option<(String, aws_sdk_route53::types::RrType)> = None;
    loop {
        let mut request = r53.list_resource_record_sets().hosted_zone_id(zone);
        if let Some((name, kind)) = next.take() {
            request = request.start_record_name(name).start_record_type(kind);
        }
        let page = request.send().await.unwrap();
        out.extend(page.resource_record_sets().iter().cloned());
        match (page.is_truncated(), page.next_record_name(), page.next_record_type()) {
            (true, Some(n), Some(t)) => next = Some((n.to_string(), t.clone())),
            _ => return out,
        }
    }
}

/// `kind id` of every Route 53 record still claimed for `ns`.
pub async fn leftovers(config: &SdkConfig, ns: &str) -> Vec<String> {
    let mut left = Vec::new();
    let r53 = aws_sdk_route53::Client::new(config);
    let zones = r53.list_hosted_zones().send().await.unwrap();
    for zone in zones.hosted_zones() {
        let records = record_sets(&r53, zone.id()).await;
        let owner = format!("webstack.io/owner={ns}/");
        for txt in records.iter().filter(|r| r.r#type().as_str() == "TXT") {
            let Some(rest) = txt.name().strip_prefix("_webstack-") else {
                continue;
            };
            if !txt.resource_records().iter().any(|v| v.value().contains(&owner)) {
                continue;
            }
            left.push(format!("Route 53 ownership record {} in {}", txt.name(), zone.id()));
            let (kind, name) = rest.split_once('.').unwrap_or_default();
            for r in records
                .iter()
                .filter(|r| r.name() == name && r.r#type().as_str().eq_ignore_ascii_case(kind))
            {
                left.push(format!(
                    "Route 53 record {} {} in {}",
                    r.r#type().as_str(),
                    r.name(),
                    zone.id()
                ));
            }
        }
    }
    left
}
