//! Test fixtures shared by the parts' tests: a desired stack from a spec, and the observed state
//! of a stack that matches it exactly.

use std::collections::BTreeMap;

use crate::model::TagMap;
use crate::model::stack::*;
use crate::webstack::validate::tests::{owner, spec, zones};
use crate::webstack::validate::validate;

pub(crate) fn desired(yaml: &str) -> DesiredStack {
    validate(&spec(yaml), owner(), &zones(), &BTreeMap::new()).expect("valid spec")
}

/// The observed state of a stack that matches `d` exactly, as AWS would report it.
/// NAT gateways `nat-<i>` with Elastic IPs `eipalloc-<i>`, private tables `rtb-private-<zone>`
/// routing to them, and endpoints `vpce-<service>` attached as they should be.
fn converged_egress(
    d: &DesiredStack,
    egress: &crate::model::egress::DesiredEgress,
    subnets: &[DesiredSubnet],
    o: &mut ObservedStack,
) {
    use crate::model::egress::*;
    let zones = subnets.iter().filter(|s| !s.public).count();
    let subnet_id = |c: &str| {
        subnets
            .iter()
            .position(|s| s.component == c)
            .map(|i| format!("subnet-{i}"))
            .unwrap()
    };
    for i in egress.nat.gateways(zones) {
        o.egress.addresses.push(ObservedAddress {
            allocation_id: format!("eipalloc-{i}"),
            component: address_component(i),
            association_id: Some(format!("eipassoc-{i}")),
            tags: d.tags_for(&address_component(i)),
        });
        o.egress.nat_gateways.push(ObservedNatGateway {
            id: format!("nat-{i}"),
            component: nat_component(i),
            state: "available".into(),
            subnet_id: subnet_id(&format!("subnet/public/{i}")),
            tags: d.tags_for(&nat_component(i)),
        });
    }
    let mut tables = Vec::new();
    for z in 0..zones {
        let c = private_table_component(z);
        tables.push(format!("rtb-private-{z}"));
        o.route_tables.push(ObservedRouteTable {
            id: format!("rtb-private-{z}"),
            tags: d.tags_for(&c),
            component: c,
            default_route: egress.nat.route_for(z).map(|i| format!("nat-{i}")),
            associated_subnets: vec![subnet_id(&format!("subnet/private/{z}"))],
            association_ids: vec![format!("rtbassoc-private-{z}")],
        });
    }
    let mut private: Vec<String> = (0..zones).map(|z| subnet_id(&format!("subnet/private/{z}"))).collect();
    private.sort();
    for e in &egress.endpoints {
        o.egress.endpoints.push(ObservedEndpoint {
            id: format!("vpce-{}", e.service()),
            endpoint: *e,
            state: "available".into(),
            route_table_ids: if e.gateway() { tables.clone() } else { Vec::new() },
            subnet_ids: if e.gateway() { Vec::new() } else { private.clone() },
            security_group_ids: if e.gateway() {
                Vec::new()
            } else {
                vec!["sg-endpoints".into()]
            },
            tags: d.tags_for(&e.component()),
        });
    }
}

pub(crate) fn converged(d: &DesiredStack) -> ObservedStack {
    let mut o = ObservedStack::default();
    o.data.subnet_groups_read = true;
    if let DesiredNetwork::Create { cidr, subnets, egress } = &d.network {
        o.vpc = Some(ObservedVpc {
            id: "vpc-1".into(),
            cidr: cidr.to_string(),
            managed: true,
            tags: TagMap::new(),
        });
        o.internet_gateway = Some(ObservedGateway {
            id: "igw-1".into(),
            attached_vpc: Some("vpc-1".into()),
            tags: TagMap::new(),
        });
        for (i, s) in subnets.iter().enumerate() {
            o.subnets.push(ObservedSubnet {
                id: format!("subnet-{i}"),
                vpc_id: "vpc-1".into(),
                cidr: s.cidr.to_string(),
                availability_zone: s.availability_zone.clone(),
                component: Some(s.component.clone()),
                tags: d.tags_for(&s.component),
            });
        }
        let public = subnets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.public)
            .map(|(i, _)| format!("subnet-{i}"));
        o.route_tables.push(ObservedRouteTable {
            id: "rtb-1".into(),
            tags: d.tags_for(PUBLIC_ROUTE_TABLE),
            component: PUBLIC_ROUTE_TABLE.into(),
            default_route: Some("igw-1".into()),
            association_ids: subnets
                .iter()
                .enumerate()
                .filter(|(_, s)| s.public)
                .map(|(i, _)| format!("rtbassoc-{i}"))
                .collect(),
            associated_subnets: public.collect(),
        });
        converged_egress(d, egress, subnets, &mut o);
    }
    let id = |r: SgRole| format!("sg-{}", r.component().trim_start_matches("sg/"));
    for g in &d.security_groups {
        let ingress = g
            .ingress
            .iter()
            .map(|r| RawIngress {
                from_port: r.from_port,
                to_port: r.to_port,
                cidr: match &r.source {
                    Source::Cidr(c) => Some(c.clone()),
                    _ => None,
                },
                group_id: match &r.source {
                    Source::Group(role) => Some(id(*role)),
                    _ => None,
                },
            })
            .collect();
        o.security_groups.push(ObservedSecurityGroup {
            id: id(g.role),
            role: g.role,
            ingress,
            tags: d.tags_for(g.role.component()),
        });
    }
    if let Some(lb) = &d.load_balancer {
        o.load_balancer = Some(ObservedLoadBalancer {
            arn: "arn:lb".into(),
            dns_name: "lb.example".into(),
            canonical_hosted_zone_id: "ZLB".into(),
            dualstack: false,
            internal: lb.internal,
            idle_timeout_seconds: Some(lb.idle_timeout_seconds),
            tags: d.tags_for("load-balancer"),
            vpc_id: "vpc-1".into(),
            security_groups: vec![id(SgRole::LoadBalancer)],
            state: "active".into(),
        });
        for l in &lb.listeners {
            o.listeners.push(ObservedListener {
                arn: format!("arn:listener/{}", l.port),
                port: l.port,
                https: l.https,
                certificate_arn: l.certificate_arn.clone(),
                ssl_policy: l
                    .ssl_policy
                    .clone()
                    .or_else(|| l.https.then(|| "ELBSecurityPolicy-2016-08".into())),
                default_action: Some(l.default_action.clone()),
            });
        }
    }
    o.cluster = Some(ObservedCluster {
        arn: "arn:cluster".into(),
        name: d.cluster.name.clone(),
        active: true,
        container_insights: d.cluster.container_insights,
        tags: d.tags_for("cluster"),
        capacity_providers: Default::default(),
    });
    if let Some(db) = &d.database {
        use crate::model::data::*;
        let endpoint = ("db.example".to_string(), db.port);
        let secret = ObservedSecret {
            arn: "arn:secret".into(),
            name: db.secret_name.clone(),
            tags: d.tags_for("database"),
            fields: [("host", "db.example"), ("port", "5432"), ("url", "postgres://")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            password: Sensitive::new("pw"),
        };
        o.data.db_subnet_group = crate::webstack::shared::private_subnets(d, &o).map(|subnets| ObservedSubnetGroup {
            name: db.subnet_group.clone(),
            arn: "arn:db-subnet-group".into(),
            subnets,
            tags: d.tags_for("database"),
        });
        o.data.database = Some(ObservedDatabase {
            identifier: db.identifier.clone(),
            arn: "arn:db".into(),
            status: "available".into(),
            endpoint: Some(endpoint.clone()),
            instance_class: db.instance_class.clone(),
            storage_gib: db.storage_gib,
            multi_az: db.multi_az,
            backup_retention_days: db.backup_retention_days,
            deletion_protection: db.deletion_protection,
            pending: false,
            tags: d.tags_for("database"),
        });
        o.data.db_connection = Some(digest_of(&database_connection(db, &secret, &endpoint)));
        o.data.db_secret = Some(secret);
    }
    if let Some(c) = &d.cache {
        use crate::model::data::*;
        let endpoint = ("cache.example".to_string(), 6379);
        let secret = ObservedSecret {
            arn: "arn:cache-secret".into(),
            name: c.secret_name.clone(),
            tags: d.tags_for("cache"),
            fields: [("host", "cache.example"), ("port", "6379"), ("url", "rediss://")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            password: Sensitive::new("token"),
        };
        o.data.cache_subnet_group =
            crate::webstack::shared::private_subnets(d, &o).map(|subnets| ObservedSubnetGroup {
                name: c.subnet_group.clone(),
                arn: "arn:cache-subnet-group".into(),
                subnets,
                tags: d.tags_for("cache"),
            });
        o.data.cache = Some(ObservedCache {
            replication_group: c.replication_group.clone(),
            arn: "arn:cache".into(),
            status: "available".into(),
            endpoint: Some(endpoint.clone()),
            node_type: c.node_type.clone(),
            num_nodes: c.num_nodes,
            automatic_failover: c.num_nodes > 1,
            tags: d.tags_for("cache"),
        });
        o.data.cache_connection = Some(digest_of(&cache_connection(&secret, &endpoint)));
        o.data.cache_secret = Some(secret);
    }
    let role = crate::webstack::parts::role::desired_role(d, &o);
    o.execution_role = Some(role.observed(format!("arn:aws:iam::123456789012:role/{}", role.name)));
    o
}

/// The whole stack's deletion plan for `policy`, with `data` as the spec says of the database.
pub(crate) fn cleanup(
    o: &ObservedStack,
    policy: crate::api::DeletionPolicy,
    data: crate::model::data::DataCleanup,
) -> Vec<crate::webstack::parts::Step> {
    let how = crate::webstack::shared::Cleanup {
        retain: policy == crate::api::DeletionPolicy::Retain,
        data,
        keep_network: false,
        force_registries: false,
    };
    crate::webstack::parts::plan_cleanup(o, how)
}
