//! validate: turns a WebStack spec into a typed, checked [`DesiredStack`]. Nothing after this step
//! reads the raw spec. Errors name the field and say what to change; they cause no AWS call.
//! Two checks need what AWS holds and run before the plan: an adopted network must exist as
//! named, and an adopted load balancer must fit the spec.

use std::collections::{BTreeMap, BTreeSet};

use super::parts::data::secret_name;
use crate::api::{
    CacheSpec, DatabaseDeletionPolicy, DatabaseEngine, DatabaseSpec, DeletionPolicy, HttpProtocol, LoadBalancerScheme,
    WebStackSpec,
};
use crate::model::cidr::Ipv4Net;
use crate::model::data::{DataDeletion, DesiredCache, DesiredDatabase, database_identifier, engine_port};
use crate::model::egress::{DesiredEgress, Endpoint, NatMode};
use crate::model::execution::{DesiredRole, role_name};
use crate::model::stack::{
    DesiredCluster, DesiredListener, DesiredLoadBalancer, DesiredNetwork, DesiredSecurityGroup, DesiredStack,
    DesiredSubnet, Ingress, ObservedStack, SgRole, Source, StackKey, load_balancer_name,
};
use crate::model::tenancy::{self, Violation};
use crate::model::{InvalidSpec, ListenerAction, Owner, Ownership, invalid};
use crate::reconcile::spec::{action, cluster_name};

/// Validates a spec. `zones` are the region's available zones, in order; `target_groups` maps
/// TargetGroup resource names to ARNs (those not ready are absent: their listeners are pending).
pub fn validate(
    spec: &WebStackSpec,
    owner: Owner,
    zones: &[String],
    target_groups: &BTreeMap<String, String>,
) -> Result<DesiredStack, InvalidSpec> {
    let network = network(spec, zones)?;
    let load_balancer = spec
        .load_balancer
        .as_ref()
        .map(|lb| load_balancer(lb, &owner, target_groups))
        .transpose()?;
    let security_groups = security_groups(spec, &owner);
    let cluster = DesiredCluster {
        name: cluster_name(spec, &owner),
        container_insights: spec.cluster.as_ref().is_some_and(|c| c.container_insights),
    };
    let registries = super::parts::registries::desired(spec, &owner)?;
    Ok(DesiredStack {
        tags: spec.tags.clone(),
        network,
        security_groups,
        load_balancer,
        cluster,
        external_load_balancer: None,
        database: spec.database.as_ref().map(|db| database(db, spec, &owner)),
        cache: spec.cache.as_ref().map(|c| cache(c, &owner)),
        capacity: spec.cluster.as_ref().and_then(|c| c.capacity.as_ref()).map(|c| {
            crate::model::capacity::DesiredCapacity {
                name: crate::model::capacity::capacity_name(&owner),
                instance_type: c.instance_type.clone(),
                min_size: c.min_size,
                max_size: c.max_size,
                cluster: cluster_name(spec, &owner),
            }
        }),
        children: Vec::new(),
        dns: None,
        // The region and the services are the controller's to fill in (see WebStackReconciler::validate).
        execution_role: DesiredRole {
            name: role_name(&owner),
            region: String::new(),
            services: Vec::new(),
            repositories: registries.repositories.iter().map(|r| r.aws_name.clone()).collect(),
        },
        flow_logs: flow_logs(spec, &owner),
        registries,
        alarms: spec
            .alarms
            .as_ref()
            .map(|a| super::parts::alarms::desired(a, spec, &owner)),
        owner,
    })
}

/// `network.flowLogs` when enabled: on the adopted VPC, or on the created one once it exists (the
/// planner fills it in). The region is the controller's to fill in, as for the execution role.
fn flow_logs(spec: &WebStackSpec, owner: &Owner) -> Option<crate::model::flowlogs::DesiredFlowLogs> {
    let f = spec.network.flow_logs.as_ref().filter(|f| f.enabled)?;
    Some(crate::model::flowlogs::DesiredFlowLogs {
        vpc_id: spec.network.vpc_id.clone(),
        log_group: crate::model::flowlogs::log_group_name(owner),
        region: String::new(),
        retention_days: f.retention_days,
        traffic_type: f.traffic_type.as_str(),
        role_name: crate::model::flowlogs::role_name(owner),
    })
}

fn database(db: &DatabaseSpec, spec: &WebStackSpec, owner: &Owner) -> DesiredDatabase {
    let engine = match db.engine {
        DatabaseEngine::Postgres => "postgres",
        DatabaseEngine::Mysql => "mysql",
    };
    let identifier = database_identifier(owner);
    // The stack's Retain keeps everything; the database's own policy applies otherwise.
    let deletion = match (spec.deletion_policy, db.deletion_policy) {
        (DeletionPolicy::Retain, _) | (_, DatabaseDeletionPolicy::Retain) => DataDeletion::Retain,
        (_, DatabaseDeletionPolicy::Delete) => DataDeletion::Delete,
        (_, DatabaseDeletionPolicy::Snapshot) => DataDeletion::Snapshot,
    };
    DesiredDatabase {
        subnet_group: identifier.clone(),
        identifier,
        engine: engine.into(),
        engine_version: db.engine_version.clone(),
        instance_class: db.instance_class.clone(),
        storage_gib: db.allocated_storage_gib,
        multi_az: db.multi_az,
        backup_retention_days: db.backup_retention_days,
        deletion_protection: db.deletion_protection,
        database_name: db.database_name.clone(),
        username: db.master_username.clone(),
        port: engine_port(engine),
        secret_name: secret_name(owner, "database"),
        connection_secret: db
            .connection_secret_name
            .clone()
            .unwrap_or_else(|| format!("{}-db", owner.name)),
        deletion,
    }
}

fn cache(c: &CacheSpec, owner: &Owner) -> DesiredCache {
    let name = owner.rds_name("ws", 40);
    DesiredCache {
        subnet_group: name.clone(),
        replication_group: name,
        node_type: c.node_type.clone(),
        num_nodes: c.num_nodes,
        secret_name: secret_name(owner, "cache"),
        connection_secret: c
            .connection_secret_name
            .clone()
            .unwrap_or_else(|| format!("{}-cache", owner.name)),
    }
}

/// How to find a stack's resources, from the spec alone (no validation): deletion never depends
/// on a spec being valid.
pub fn stack_key(spec: &WebStackSpec, owner: Owner) -> StackKey {
    StackKey {
        adopted_vpc: spec.network.vpc_id.clone(),
        adopted_subnets: spec
            .network
            .public_subnet_ids
            .iter()
            .chain(&spec.network.private_subnet_ids)
            .cloned()
            .collect(),
        known_vpc: None,
        load_balancer_name: load_balancer_name(&owner),
        external_load_balancer: None,
        cluster_name: cluster_name(spec, &owner),
        every_copy: false,
        role_name: role_name(&owner),
        owner,
    }
}

fn network(spec: &WebStackSpec, zones: &[String]) -> Result<DesiredNetwork, InvalidSpec> {
    let n = &spec.network;
    if let Some(vpc_id) = &n.vpc_id {
        if n.public_subnet_ids.is_empty() || n.private_subnet_ids.is_empty() {
            return Err(invalid(
                "spec.network",
                "vpcId requires publicSubnetIds and privateSubnetIds",
            ));
        }
        return Ok(DesiredNetwork::Adopt {
            vpc_id: vpc_id.clone(),
            public_subnet_ids: n.public_subnet_ids.clone(),
            private_subnet_ids: n.private_subnet_ids.clone(),
        });
    }
    let raw = n
        .cidr
        .as_deref()
        .ok_or_else(|| invalid("spec.network", "set either vpcId or cidr"))?;
    let cidr: Ipv4Net = raw.parse().map_err(|e: String| invalid("spec.network.cidr", e))?;
    if !(16..=24).contains(&cidr.prefix()) {
        return Err(invalid(
            "spec.network.cidr",
            format!("a VPC CIDR must be /16 to /24, not /{}", cidr.prefix()),
        ));
    }
    let azs = usize::try_from(n.availability_zones).unwrap_or(0);
    if azs == 0 || azs > zones.len() {
        return Err(invalid(
            "spec.network.availabilityZones",
            format!(
                "{azs} availability zones asked for, the region has {} ({})",
                zones.len(),
                zones.join(", ")
            ),
        ));
    }
    // Sixteen equal blocks (a /16 gives /20s; a /24 gives /28s, AWS's smallest). Zone i takes block
    // 2i (public) and 2i+1 (private), so a zone's subnets never depend on how many zones there
    // are: adding a zone later leaves the others as they are. (Up to 8 zones fit; the schema allows 6.)
    let prefix = cidr.prefix() + 4;
    let mut subnets = Vec::new();
    for (i, zone) in zones.iter().take(azs).enumerate() {
        for (public, block) in [(true, 2 * i), (false, 2 * i + 1)] {
            let kind = if public { "public" } else { "private" };
            let block = cidr
                .subnet(prefix, block as u32)
                .ok_or_else(|| invalid("spec.network.cidr", "subnet does not fit"))?;
            subnets.push(DesiredSubnet {
                component: format!("subnet/{kind}/{i}"),
                cidr: block,
                availability_zone: zone.clone(),
                public,
            });
        }
    }
    Ok(DesiredNetwork::Create {
        cidr,
        subnets,
        egress: egress(n),
    })
}

/// NAT gateways `single` and the S3 gateway endpoint unless the spec says otherwise.
pub fn egress(n: &crate::api::NetworkSpec) -> DesiredEgress {
    use crate::api::{NatGateways, VpcEndpoint};
    let nat = match n.nat_gateways.unwrap_or_default() {
        NatGateways::Single => NatMode::Single,
        NatGateways::PerZone => NatMode::PerZone,
        NatGateways::None => NatMode::None,
    };
    let listed = n.vpc_endpoints.clone().unwrap_or_else(|| vec![VpcEndpoint::S3]);
    let endpoints = listed
        .into_iter()
        .flat_map(|e| match e {
            VpcEndpoint::S3 => vec![Endpoint::S3],
            VpcEndpoint::Ecr => vec![Endpoint::EcrApi, Endpoint::EcrDkr],
            VpcEndpoint::Logs => vec![Endpoint::Logs],
            VpcEndpoint::Secretsmanager => vec![Endpoint::SecretsManager],
        })
        .collect();
    DesiredEgress { nat, endpoints }
}

fn security_groups(spec: &WebStackSpec, owner: &Owner) -> Vec<DesiredSecurityGroup> {
    let mut lb = BTreeSet::new();
    if let Some(spec_lb) = &spec.load_balancer {
        for l in &spec_lb.listeners {
            for c in &spec_lb.allowed_cidrs {
                lb.insert(Ingress {
                    from_port: l.port,
                    to_port: l.port,
                    source: Source::Cidr(c.clone()),
                });
            }
        }
    }
    let services = BTreeSet::from([
        Ingress {
            from_port: 0,
            to_port: 65535,
            source: Source::Group(SgRole::LoadBalancer),
        },
        Ingress {
            from_port: 0,
            to_port: 65535,
            source: Source::Group(SgRole::Services),
        },
    ]);
    let mut groups = vec![
        sg(
            owner,
            SgRole::LoadBalancer,
            "load balancer: allowedCidrs on listener ports",
            lb,
        ),
        sg(
            owner,
            SgRole::Services,
            "services: all TCP from the load balancer and from each other",
            services,
        ),
    ];
    let mut data_ports = BTreeSet::new();
    if let Some(db) = &spec.database {
        data_ports.insert(match db.engine {
            DatabaseEngine::Postgres => 5432,
            DatabaseEngine::Mysql => 3306,
        });
    }
    if spec.cache.is_some() {
        data_ports.insert(6379);
    }
    if spec.network.vpc_id.is_none() && egress(&spec.network).interface_endpoints() {
        let https = Ingress {
            from_port: 443,
            to_port: 443,
            source: Source::Group(SgRole::Services),
        };
        groups.push(sg(
            owner,
            SgRole::Endpoints,
            "VPC interface endpoints: HTTPS from services",
            BTreeSet::from([https]),
        ));
    }
    if !data_ports.is_empty() {
        let ingress = data_ports
            .into_iter()
            .map(|p| Ingress {
                from_port: p,
                to_port: p,
                source: Source::Group(SgRole::Services),
            })
            .collect();
        groups.push(sg(
            owner,
            SgRole::Database,
            "database and cache: engine ports from services",
            ingress,
        ));
    }
    groups
}

fn sg(owner: &Owner, role: SgRole, what: &str, ingress: BTreeSet<Ingress>) -> DesiredSecurityGroup {
    let suffix = role.component().trim_start_matches("sg/");
    DesiredSecurityGroup {
        role,
        name: owner.aws_name(&format!("ws-{suffix}"), 255),
        description: format!("webstack {}/{} {what}", owner.namespace, owner.name),
        ingress,
    }
}

fn load_balancer(
    lb: &crate::api::LoadBalancerSpec,
    owner: &Owner,
    target_groups: &BTreeMap<String, String>,
) -> Result<DesiredLoadBalancer, InvalidSpec> {
    let mut ports = BTreeSet::new();
    let mut listeners = Vec::new();
    for (i, l) in lb.listeners.iter().enumerate() {
        let field = format!("spec.loadBalancer.listeners[{i}]");
        if !ports.insert(l.port) {
            return Err(invalid(
                format!("{field}.port"),
                format!("port {} is used by another listener", l.port),
            ));
        }
        let https = l.protocol == HttpProtocol::Https;
        if https && l.certificate_arn.as_deref().unwrap_or_default().is_empty() {
            return Err(invalid(
                format!("{field}.certificateArn"),
                "an HTTPS listener needs certificateArn",
            ));
        }
        let not_found = ListenerAction::not_found();
        let missing = l
            .default_action
            .iter()
            .flat_map(|a| a.forward.iter().flat_map(|f| &f.target_groups))
            .find(|t| !target_groups.contains_key(&t.name))
            .map(|t| t.name.clone());
        let default_action = match (&l.default_action, &missing) {
            (None, _) | (Some(_), Some(_)) => not_found,
            (Some(a), None) => action(a, &format!("{field}.defaultAction"), target_groups)?,
        };
        listeners.push(DesiredListener {
            name: l.name.clone(),
            port: l.port,
            https,
            certificate_arn: l.certificate_arn.clone().filter(|_| https),
            ssl_policy: l.ssl_policy.clone().filter(|_| https),
            default_action,
            pending: missing,
        });
    }
    Ok(DesiredLoadBalancer {
        name: load_balancer_name(owner),
        internal: lb.scheme == LoadBalancerScheme::Internal,
        idle_timeout_seconds: lb.idle_timeout_seconds,
        listeners,
    })
}

/// An adopted network must exist as the spec names it: the VPC, and each subnet inside that VPC.
/// (Checked after observing, before any mutation.)
pub fn check_adopted(desired: &DesiredStack, observed: &ObservedStack) -> Result<(), InvalidSpec> {
    let DesiredNetwork::Adopt {
        vpc_id,
        public_subnet_ids,
        private_subnet_ids,
    } = &desired.network
    else {
        return Ok(());
    };
    if observed.vpc.as_ref().is_none_or(|v| &v.id != vpc_id) {
        return Err(invalid(
            "spec.network.vpcId",
            format!("VPC {vpc_id} does not exist in this region"),
        ));
    }
    for (list, ids) in [
        ("publicSubnetIds", public_subnet_ids),
        ("privateSubnetIds", private_subnet_ids),
    ] {
        for (i, id) in ids.iter().enumerate() {
            let field = format!("spec.network.{list}[{i}]");
            match observed.subnets.iter().find(|s| &s.id == id) {
                None => return Err(invalid(field, format!("subnet {id} does not exist in this region"))),
                Some(s) if &s.vpc_id != vpc_id => {
                    return Err(invalid(
                        field,
                        format!("subnet {id} is in {}, not in {vpc_id}", s.vpc_id),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// A load balancer adopted through `webstack.io/external-id` must fit the spec: there is a
/// `spec.loadBalancer`, the load balancer is in the stack's VPC and has the scheme asked for (a
/// scheme change would otherwise replace someone's load balancer).
pub fn check_external_load_balancer(desired: &DesiredStack, observed: &ObservedStack) -> Result<(), InvalidSpec> {
    const FIELD: &str = "metadata.annotations[webstack.io/external-id]";
    if desired.external_load_balancer.is_none() {
        return Ok(());
    }
    let Some(want) = &desired.load_balancer else {
        return Err(invalid(
            "spec.loadBalancer",
            "webstack.io/external-id adopts a load balancer: spec.loadBalancer is required",
        ));
    };
    let Some(lb) = &observed.load_balancer else {
        return Ok(());
    };
    if let Some(vpc) = observed.vpc.as_ref().filter(|v| v.id != lb.vpc_id) {
        return Err(invalid(
            FIELD,
            format!(
                "load balancer {} is in {}, the stack's VPC is {}",
                lb.arn, lb.vpc_id, vpc.id
            ),
        ));
    }
    if lb.internal != want.internal {
        let scheme = |internal: bool| if internal { "internal" } else { "internet-facing" };
        return Err(invalid(
            "spec.loadBalancer.scheme",
            format!(
                "the adopted load balancer is {}; set scheme: {} (it is never replaced)",
                scheme(lb.internal),
                scheme(lb.internal)
            ),
        ));
    }
    Ok(())
}

/// `webstack.io/external-id` is immutable once the stack uses a load balancer (also refused at
/// admission by the chart's policy): a changed or removed annotation would leave the load balancer
/// in use behind, tagged as the stack's. `recorded` is the load balancer in status, `name` the one
/// the stack would create.
pub fn check_external_id(annotation: Option<&str>, recorded: Option<&str>, name: &str) -> Result<(), Violation> {
    let Some(recorded) = recorded else {
        return Ok(());
    };
    // arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>
    let recorded_name = recorded.split('/').nth(2).unwrap_or_default();
    let message = match annotation {
        Some(a) if a != recorded => format!("cannot change once set: the stack uses load balancer {recorded}"),
        None if recorded_name != name => {
            format!("cannot be removed: the stack uses the adopted load balancer {recorded}")
        }
        _ => return Ok(()),
    };
    Err(Violation {
        field: "metadata.annotations[webstack.io/external-id]".into(),
        message,
        rule: "external-id-immutable",
        origin: tenancy::DEFAULTS.into(),
    })
}

/// Adoption is what an administrator allows: an adopted VPC, and a load balancer named by
/// `webstack.io/external-id` until it is the stack's, must carry `webstack.io/adoptable` with the
/// namespace and no operator tags ([`tenancy::check_adoptable`]); the tags are those observe read.
pub fn check_adoption(desired: &DesiredStack, observed: &ObservedStack) -> Result<(), Violation> {
    let ns = &desired.owner.namespace;
    if let (DesiredNetwork::Adopt { vpc_id, .. }, Some(vpc)) = (&desired.network, &observed.vpc) {
        tenancy::check_adoptable("spec.network.vpcId", "VPC", vpc_id, &vpc.tags, ns)?;
    }
    if let (Some(arn), Some(lb)) = (&desired.external_load_balancer, &observed.load_balancer)
        && desired.owner.ownership(&lb.tags) != Ownership::Ours
    {
        let field = "metadata.annotations[webstack.io/external-id]";
        tenancy::check_adoptable(field, "load balancer", arn, &lb.tags, ns)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
pub(crate) mod tests;
