//! EC2 egress of a created VPC: NAT gateways, Elastic IPs, default routes of the private tables and
//! VPC endpoints. NAT gateways are found by VPC (the stack's only), endpoints and addresses by the
//! `webstack.io/uid` tag; every create writes the tags in the call itself.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{DomainType, Filter, ResourceType, VpcEndpointType};

use super::ec2::{by_uid, tag_map, tag_spec};
use super::{AwsError, TagMap, classify, deleted};
use crate::model::egress::{Endpoint, ObservedAddress, ObservedEndpoint, ObservedNatGateway};
use crate::model::ownership::COMPONENT;

/// The VPC's NAT gateways that carry a component tag (deleted ones left out), with their tags.
pub async fn nat_gateways(c: &Client, vpc: &str) -> Result<Vec<ObservedNatGateway>, AwsError> {
    let out = c
        .describe_nat_gateways()
        .filter(Filter::builder().name("vpc-id").values(vpc).build())
        .send()
        .await
        .map_err(|e| classify("DescribeNatGateways", e))?;
    let mut found: Vec<ObservedNatGateway> = out
        .nat_gateways()
        .iter()
        .filter_map(|n| {
            let tags = tag_map(n.tags());
            let state = n.state().map(|s| s.as_str().to_string()).unwrap_or_default();
            if state == "deleted" {
                return None;
            }
            Some(ObservedNatGateway {
                id: n.nat_gateway_id()?.into(),
                component: tags.get(COMPONENT)?.clone(),
                state,
                subnet_id: n.subnet_id().unwrap_or_default().into(),
                tags,
            })
        })
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// The stack's Elastic IPs (by uid tag).
pub async fn addresses(c: &Client, uid: &str) -> Result<Vec<ObservedAddress>, AwsError> {
    let out = c
        .describe_addresses()
        .filters(by_uid(uid))
        .send()
        .await
        .map_err(|e| classify("DescribeAddresses", e))?;
    let mut found: Vec<ObservedAddress> = out
        .addresses()
        .iter()
        .filter_map(|a| {
            let tags = tag_map(a.tags());
            Some(ObservedAddress {
                allocation_id: a.allocation_id()?.into(),
                component: tags.get(COMPONENT)?.clone(),
                association_id: a.association_id().map(String::from),
                tags,
            })
        })
        .collect();
    found.sort_by(|a, b| a.allocation_id.cmp(&b.allocation_id));
    Ok(found)
}

/// The stack's VPC endpoints (by uid tag), deleted ones left out.
pub async fn endpoints(c: &Client, uid: &str) -> Result<Vec<ObservedEndpoint>, AwsError> {
    let out = c
        .describe_vpc_endpoints()
        .filters(by_uid(uid))
        .send()
        .await
        .map_err(|e| classify("DescribeVpcEndpoints", e))?;
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let mut found: Vec<ObservedEndpoint> = out
        .vpc_endpoints()
        .iter()
        .filter_map(|e| {
            let tags = tag_map(e.tags());
            let state = e.state().map(|s| s.as_str().to_lowercase()).unwrap_or_default();
            if state == "deleted" {
                return None;
            }
            Some(ObservedEndpoint {
                id: e.vpc_endpoint_id()?.into(),
                endpoint: Endpoint::from_component(tags.get(COMPONENT)?)?,
                state,
                route_table_ids: sorted(e.route_table_ids()),
                subnet_ids: sorted(e.subnet_ids()),
                security_group_ids: sorted(
                    &e.groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(String::from))
                        .collect::<Vec<_>>(),
                ),
                tags,
            })
        })
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// Allocates an Elastic IP for a NAT gateway (tags in the call). AllocateAddress takes no client
/// token: a copy a retried call makes is found by its tags and released.
pub async fn allocate_address(c: &Client, tags: &TagMap) -> Result<String, AwsError> {
    let out = c
        .allocate_address()
        .domain(DomainType::Vpc)
        .tag_specifications(tag_spec(ResourceType::ElasticIp, tags))
        .send()
        .await
        .map_err(|e| classify("AllocateAddress", e))?;
    Ok(out.allocation_id().unwrap_or_default().into())
}

/// Releases an Elastic IP, tolerating one already gone. AWS refuses while a NAT gateway holds it.
pub async fn release_address(c: &Client, allocation_id: &str) -> Result<(), AwsError> {
    deleted(
        "ReleaseAddress",
        c.release_address().allocation_id(allocation_id).send().await,
        &["InvalidAllocationID.NotFound"],
    )
}

/// Creates a public NAT gateway in `subnet` with the Elastic IP `allocation_id`.
pub async fn create_nat_gateway(
    c: &Client,
    subnet: &str,
    allocation_id: &str,
    tags: &TagMap,
) -> Result<String, AwsError> {
    let out = c
        .create_nat_gateway()
        .subnet_id(subnet)
        .allocation_id(allocation_id)
        .client_token(super::token())
        .tag_specifications(tag_spec(ResourceType::Natgateway, tags))
        .send()
        .await
        .map_err(|e| classify("CreateNatGateway", e))?;
    Ok(out
        .nat_gateway()
        .and_then(|n| n.nat_gateway_id())
        .unwrap_or_default()
        .into())
}

pub async fn delete_nat_gateway(c: &Client, id: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteNatGateway",
        c.delete_nat_gateway().nat_gateway_id(id).send().await,
        &["NatGatewayNotFound"],
    )
}

/// Removes the `0.0.0.0/0` route of `table`, tolerating one already gone.
pub async fn delete_default_route(c: &Client, table: &str) -> Result<(), AwsError> {
    deleted(
        "DeleteRoute",
        c.delete_route()
            .route_table_id(table)
            .destination_cidr_block("0.0.0.0/0")
            .send()
            .await,
        &["InvalidRoute.NotFound"],
    )
}

/// Where an endpoint attaches: route tables (gateway) or subnets and a group (interface).
#[derive(Clone, Debug, Default)]
pub struct Attachment {
    pub route_tables: Vec<String>,
    pub subnets: Vec<String>,
    pub security_group: Option<String>,
}

/// Creates a gateway (S3) or interface endpoint with private DNS, as `endpoint` is.
pub async fn create_endpoint(
    c: &Client,
    vpc: &str,
    endpoint: Endpoint,
    region: &str,
    at: &Attachment,
    tags: &TagMap,
) -> Result<String, AwsError> {
    let mut req = c
        .create_vpc_endpoint()
        .vpc_id(vpc)
        .service_name(endpoint.service_name(region))
        .client_token(super::token())
        .tag_specifications(tag_spec(ResourceType::VpcEndpoint, tags));
    req = if endpoint.gateway() {
        req.vpc_endpoint_type(VpcEndpointType::Gateway)
            .set_route_table_ids(Some(at.route_tables.clone()))
    } else {
        req.vpc_endpoint_type(VpcEndpointType::Interface)
            .set_subnet_ids(Some(at.subnets.clone()))
            .set_security_group_ids(at.security_group.clone().map(|g| vec![g]))
            .private_dns_enabled(true)
    };
    let out = req.send().await.map_err(|e| classify("CreateVpcEndpoint", e))?;
    Ok(out
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .unwrap_or_default()
        .into())
}

/// Sets an endpoint's route tables, subnets and group to `want` (adding and removing the difference
/// to what it has).
pub async fn modify_endpoint(c: &Client, have: &ObservedEndpoint, want: &Attachment) -> Result<(), AwsError> {
    let minus = |a: &[String], b: &[String]| -> Vec<String> { a.iter().filter(|x| !b.contains(x)).cloned().collect() };
    let mut req = c.modify_vpc_endpoint().vpc_endpoint_id(&have.id);
    if have.endpoint.gateway() {
        req = req
            .set_add_route_table_ids(Some(minus(&want.route_tables, &have.route_table_ids)))
            .set_remove_route_table_ids(Some(minus(&have.route_table_ids, &want.route_tables)));
    } else {
        let groups: Vec<String> = want.security_group.iter().cloned().collect();
        req = req
            .set_add_subnet_ids(Some(minus(&want.subnets, &have.subnet_ids)))
            .set_remove_subnet_ids(Some(minus(&have.subnet_ids, &want.subnets)))
            .set_add_security_group_ids(Some(minus(&groups, &have.security_group_ids)))
            .set_remove_security_group_ids(Some(minus(&have.security_group_ids, &groups)));
    }
    req.send().await.map_err(|e| classify("ModifyVpcEndpoint", e))?;
    Ok(())
}

/// Deletes an endpoint. DeleteVpcEndpoints reports per-endpoint failures in `Unsuccessful` (an
/// unknown id among them), not as an error.
pub async fn delete_endpoint(c: &Client, id: &str) -> Result<(), AwsError> {
    let out = c
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await
        .map_err(|e| classify("DeleteVpcEndpoints", e))?;
    if let Some(failed) = out.unsuccessful().iter().find_map(|u| u.error())
        && !failed.code().is_some_and(|c| c.contains("NotFound"))
    {
        return Err(AwsError {
            operation: "DeleteVpcEndpoints",
            code: failed.code().unwrap_or("Unsuccessful").into(),
            message: failed.message().unwrap_or_default().into(),
            request_id: "-".into(),
            // A dependency (an interface still in use) clears with time.
            class: crate::model::RetryClass::Transient,
        });
    }
    Ok(())
}
