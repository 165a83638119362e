//! apply: executes planned steps in order. Ids of resources created by earlier steps feed later
//! ones; every create writes the ownership tags in the create call itself, so a crash between a
//! create and the status write never leads to a duplicate (the next observe finds it by tag or name).

use std::collections::BTreeMap;

use super::capacity_io::{self, CapacityApply};
use super::data_io::{self, DataApply};
use super::role::{COMPONENT as ROLE, RoleStep};
use super::step::{PUBLIC_ROUTE_TABLE, Step};
use crate::aws::ec2::DeleteKind;
use crate::aws::{AwsError, Clients, TagMap, ec2, ecs, elbv2};
use crate::model::ListenerAction;
use crate::model::Owner;
use crate::model::egress::index_of;
use crate::model::ownership::{OWNERSHIP_KEYS, select};
use crate::model::stack::{DesiredNetwork, DesiredStack, Ingress, ObservedStack, RawIngress, SgRole, Source};
use crate::reconcile::Blocked;

/// Ids known so far: observed ones, then created ones.
#[derive(Clone, Debug, Default)]
struct Ids {
    vpc: Option<String>,
    igw: Option<String>,
    table: Option<String>,
    /// By component (`subnet/private/0`).
    subnets: BTreeMap<String, String>,
    groups: BTreeMap<SgRole, String>,
    lb: Option<String>,
    /// Private route tables by component (`rtb/private/0`).
    tables: BTreeMap<String, String>,
    /// NAT gateways (live) and Elastic IPs by index.
    nats: BTreeMap<usize, String>,
    addresses: BTreeMap<usize, String>,
    /// The flow logs' delivery role.
    flow_log_role: Option<String>,
    /// The topic the alarms notify (created by an earlier step of this pass).
    alarm_topic: Option<String>,
}

/// Why a step could not run.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A prerequisite is missing (an earlier step did not produce it).
    #[error("cannot {step}: {missing} is not known yet")]
    Missing { step: String, missing: &'static str },
    /// A data step stopped (waiting on RDS, a conflict, deletion protection).
    #[error(transparent)]
    Blocked(#[from] Blocked),
}

fn need<'a>(v: &'a Option<String>, step: &Step, missing: &'static str) -> Result<&'a str, ApplyError> {
    v.as_deref().ok_or_else(|| ApplyError::Missing {
        step: step.to_string(),
        missing,
    })
}

/// What data steps need besides AWS: the Kubernetes client (connection Secrets) and the stack's owner.
/// What steps on Kubernetes objects (connection Secrets, children) need.
pub struct DataEnv<'a> {
    pub kube: &'a kube::Client,
    pub owner: &'a Owner,
}

/// Runs `steps`; calls `done` after each one that succeeded (for Events). `desired` is needed by
/// create and modify steps; deletion runs without it.
pub async fn apply(
    clients: &Clients,
    env: &DataEnv<'_>,
    desired: Option<&DesiredStack>,
    observed: &ObservedStack,
    steps: &[Step],
    done: &mut (dyn FnMut(&Step) + Send),
) -> Result<(), ApplyError> {
    let mut ids = Ids {
        vpc: observed.vpc.as_ref().map(|v| v.id.clone()),
        igw: observed.internet_gateway.as_ref().map(|g| g.id.clone()),
        table: observed
            .route_tables
            .iter()
            .find(|t| t.component == PUBLIC_ROUTE_TABLE)
            .map(|t| t.id.clone()),
        subnets: observed
            .subnets
            .iter()
            .filter_map(|s| Some((s.component.clone()?, s.id.clone())))
            .collect(),
        groups: observed
            .security_groups
            .iter()
            .map(|g| (g.role, g.id.clone()))
            .collect(),
        lb: observed.load_balancer.as_ref().map(|l| l.arn.clone()),
        tables: observed
            .route_tables
            .iter()
            .map(|t| (t.component.clone(), t.id.clone()))
            .collect(),
        nats: observed
            .egress
            .nat_gateways
            .iter()
            .filter(|n| n.live())
            .filter_map(|n| Some((index_of(&n.component, "nat")?, n.id.clone())))
            .collect(),
        addresses: observed
            .egress
            .addresses
            .iter()
            .filter_map(|a| index_of(&a.component, "eip"))
            .filter_map(|i| Some((i, observed.egress.address(i)?.allocation_id.clone())))
            .collect(),
        flow_log_role: observed.flow_logs.role.as_ref().map(|r| r.arn.clone()),
        alarm_topic: super::alarms_io::initial_topic(desired.and_then(|d| d.alarms.as_ref()), &observed.alarms),
    };
    match desired.map(|d| &d.network) {
        Some(DesiredNetwork::Adopt { vpc_id, .. }) => ids.vpc = Some(vpc_id.clone()),
        // Subnets whose tags were removed by hand are matched by CIDR, as the planner does.
        Some(DesiredNetwork::Create { subnets, .. }) => {
            for s in subnets {
                if let Some(o) = super::plan::match_subnet(s, observed) {
                    ids.subnets.insert(s.component.clone(), o.id.clone());
                }
            }
        }
        None => {}
    }
    for step in steps {
        run(clients, env, desired, observed, &mut ids, step).await?;
        done(step);
    }
    Ok(())
}

fn tags(desired: &DesiredStack, component: &str) -> TagMap {
    desired.tags_for(component)
}

fn raw(rules: &[Ingress], ids: &Ids, step: &Step) -> Result<Vec<RawIngress>, ApplyError> {
    rules
        .iter()
        .map(|r| {
            let (cidr, group_id) = match &r.source {
                Source::Cidr(c) => (Some(c.clone()), None),
                Source::Group(role) => (
                    None,
                    Some(need(&ids.groups.get(role).cloned(), step, "a security group")?.to_string()),
                ),
                Source::OtherGroup(g) => (None, Some(g.clone())),
            };
            Ok(RawIngress {
                from_port: r.from_port,
                to_port: r.to_port,
                cidr,
                group_id,
            })
        })
        .collect()
}

/// The private subnets as known at this point, sorted.
fn private_subnets(desired: Option<&DesiredStack>, ids: &Ids) -> Vec<String> {
    let mut subnets: Vec<String> = match desired.map(|d| &d.network) {
        Some(DesiredNetwork::Adopt { private_subnet_ids, .. }) => private_subnet_ids.clone(),
        _ => ids
            .subnets
            .iter()
            .filter(|(component, _)| component.starts_with("subnet/private/"))
            .map(|(_, id)| id.clone())
            .collect(),
    };
    subnets.sort();
    subnets
}

/// A capacity step, with the private subnets and the services group as known at this point.
async fn run_capacity(
    clients: &Clients,
    env: &DataEnv<'_>,
    desired: Option<&DesiredStack>,
    observed: &ObservedStack,
    ids: &Ids,
    step: &super::capacity::CapacityStep,
) -> Result<(), ApplyError> {
    let cluster = desired
        .map(|d| d.cluster.name.clone())
        .or_else(|| observed.cluster.as_ref().map(|c| c.name.clone()))
        .unwrap_or_default();
    let a = CapacityApply {
        clients,
        owner: env.owner,
        desired: desired.and_then(|d| d.capacity.as_ref()),
        observed: &observed.capacity,
        tags: desired.map(|d| d.tags_for("capacity")).unwrap_or_default(),
        subnets: private_subnets(desired, ids),
        security_group: ids.groups.get(&SgRole::Services).cloned(),
        cluster,
    };
    Box::pin(capacity_io::apply(&a, step)).await?;
    Ok(())
}

/// A step of the task execution role.
async fn run_role(
    clients: &Clients,
    desired: Option<&DesiredStack>,
    observed: &ObservedStack,
    step: &Step,
    r: &RoleStep,
) -> Result<(), ApplyError> {
    use crate::aws::iam;
    use crate::model::execution::{policy, trust_policy};
    let c = &clients.iam;
    let desired = || {
        desired.ok_or_else(|| ApplyError::Missing {
            step: step.to_string(),
            missing: "the desired state",
        })
    };
    match r {
        RoleStep::CreateRole { name } => {
            iam::create_role(c, name, &trust_policy(), &tags(desired()?, ROLE)).await?;
        }
        RoleStep::PutRolePolicy { name } => {
            let d = desired()?;
            let document = policy(&d.execution_role, &super::role::stack_secrets(observed));
            iam::put_policy(c, name, &document).await?;
        }
        RoleStep::UpdateTrust { name } => iam::update_trust(c, name, &trust_policy()).await?,
        RoleStep::RestoreRoleTags { name, keys } => {
            iam::tag_role(c, name, &select(&tags(desired()?, ROLE), keys)).await?
        }
        RoleStep::DeleteRole { name } => iam::delete_role(c, name).await?,
        RoleStep::UntagRole { name } => iam::untag_role(c, name, &OWNERSHIP_KEYS).await?,
    }
    Ok(())
}

/// A repository's step, with its tags (by its name in the spec).
async fn run_registry(
    clients: &Clients,
    desired: Option<&DesiredStack>,
    observed: &ObservedStack,
    r: &super::registry::RegistryStep,
) -> Result<(), Blocked> {
    let registries = desired.map(|d| &d.registries);
    let name = registries
        .and_then(|d| d.repositories.iter().find(|x| x.aws_name == r.repository()))
        .map(|x| x.name.clone());
    let tags = match (desired, name) {
        (Some(d), Some(n)) => d.tags_for(&crate::model::registry::component(&n)),
        _ => TagMap::new(),
    };
    super::registry_io::apply(clients, registries, &observed.registries, &tags, r).await
}

/// A data step, with the private subnets and the database group as known at this point.
async fn run_data(
    clients: &Clients,
    env: &DataEnv<'_>,
    desired: Option<&DesiredStack>,
    observed: &ObservedStack,
    ids: &Ids,
    step: &super::data::DataStep,
) -> Result<(), ApplyError> {
    let subnets = private_subnets(desired, ids);
    let component = if step.is_cache() { "cache" } else { "database" };
    let a = DataApply {
        clients,
        kube: env.kube,
        owner: env.owner,
        database: desired.and_then(|x| x.database.as_ref()),
        cache: desired.and_then(|x| x.cache.as_ref()),
        observed: &observed.data,
        tags: desired.map(|x| x.tags_for(component)).unwrap_or_default(),
        subnets,
        security_group: ids.groups.get(&SgRole::Database).cloned(),
    };
    Box::pin(data_io::apply(&a, step)).await?;
    Ok(())
}

async fn run(
    clients: &Clients,
    env: &DataEnv<'_>,
    desired: Option<&DesiredStack>,
    observed: &ObservedStack,
    ids: &mut Ids,
    step: &Step,
) -> Result<(), ApplyError> {
    if let Step::Data(d) = step {
        return Box::pin(run_data(clients, env, desired, observed, ids, d)).await;
    }
    if let Step::Capacity(c) = step {
        return Box::pin(run_capacity(clients, env, desired, observed, ids, c)).await;
    }
    if let Step::Egress(e) = step {
        let mut a = super::egress_io::EgressApply {
            clients,
            desired,
            observed: &observed.egress,
            vpc: ids.vpc.as_deref(),
            subnets: &ids.subnets,
            groups: &ids.groups,
            tables: &mut ids.tables,
            nats: &mut ids.nats,
            addresses: &mut ids.addresses,
        };
        return super::egress_io::apply(&mut a, e).await.map_err(|err| match err {
            super::egress_io::EgressError::Aws(e) => ApplyError::Aws(e),
            super::egress_io::EgressError::Missing(missing) => ApplyError::Missing {
                step: step.to_string(),
                missing,
            },
            super::egress_io::EgressError::Waiting(w) => ApplyError::Blocked(Blocked::waiting(w)),
        });
    }
    if let Step::Role(r) = step {
        return run_role(clients, desired, observed, step, r).await;
    }
    if let Step::Dns(d) = step {
        return Ok(super::dns_io::apply(clients, &env.owner.uid, d).await?);
    }
    if let Step::FlowLogs(f) = step {
        let a = super::flowlogs_io::FlowLogApply {
            clients,
            desired,
            observed: &observed.flow_logs,
            vpc: ids.vpc.as_deref(),
        };
        return Ok(Box::pin(super::flowlogs_io::apply(&a, &mut ids.flow_log_role, f)).await?);
    }
    if let Step::Registry(r) = step {
        return Ok(run_registry(clients, desired, observed, r).await?);
    }
    if let Step::Alarms(a) = step {
        let mut x = super::alarms_io::AlarmsApply {
            clients,
            desired: desired.and_then(|d| d.alarms.as_ref()),
            observed: &observed.alarms,
            load_balancer: super::alarms::load_balancer(desired, observed),
            tags: desired
                .map(|d| d.tags_for(super::alarms::COMPONENT))
                .unwrap_or_default(),
            topic: ids.alarm_topic.clone(),
        };
        Box::pin(super::alarms_io::apply(&mut x, a)).await?;
        ids.alarm_topic = x.topic;
        return Ok(());
    }
    if let Step::Child(c) = step {
        let children = desired.map(|d| d.children.as_slice()).unwrap_or_default();
        return Ok(super::children::apply(env.kube, env.owner, children, c).await?);
    }
    let (ec2c, elb, ecsc) = (&clients.ec2, &clients.elbv2, &clients.ecs);
    let desired = || {
        desired.ok_or_else(|| ApplyError::Missing {
            step: step.to_string(),
            missing: "the desired state",
        })
    };
    match step {
        Step::CreateVpc { cidr } => ids.vpc = Some(ec2::create_vpc(ec2c, cidr, &tags(desired()?, "vpc")).await?),
        Step::CreateInternetGateway => {
            ids.igw = Some(ec2::create_internet_gateway(ec2c, &tags(desired()?, "igw")).await?)
        }
        Step::AttachInternetGateway => {
            ec2::attach_internet_gateway(
                ec2c,
                need(&ids.igw, step, "the gateway")?,
                need(&ids.vpc, step, "the VPC")?,
            )
            .await?;
        }
        Step::CreateSubnet {
            component,
            cidr,
            availability_zone,
        } => {
            let vpc = need(&ids.vpc, step, "the VPC")?;
            let id = ec2::create_subnet(ec2c, vpc, cidr, availability_zone, &tags(desired()?, component)).await?;
            ids.subnets.insert(component.clone(), id);
        }
        Step::CreateRouteTable { component } => {
            let vpc = need(&ids.vpc, step, "the VPC")?;
            ids.table = Some(ec2::create_route_table(ec2c, vpc, &tags(desired()?, component)).await?);
        }
        Step::CreateDefaultRoute => {
            let igw = ec2::RouteTarget::InternetGateway(need(&ids.igw, step, "the gateway")?);
            ec2::set_default_route(ec2c, need(&ids.table, step, "the route table")?, igw).await?;
        }
        Step::AssociateRouteTable { subnet_component } => {
            let subnet = need(&ids.subnets.get(subnet_component).cloned(), step, "the subnet")?.to_string();
            ec2::associate_route_table(ec2c, need(&ids.table, step, "the route table")?, &subnet).await?;
        }
        Step::CreateSecurityGroup { role } => {
            let g = desired()?
                .security_groups
                .iter()
                .find(|g| g.role == *role)
                .expect("planned from desired");
            let vpc = need(&ids.vpc, step, "the VPC")?;
            let id =
                ec2::create_security_group(ec2c, vpc, &g.name, &g.description, &tags(desired()?, role.component()))
                    .await?;
            ids.groups.insert(*role, id);
        }
        Step::AuthorizeIngress { role, rules } => {
            let group = need(&ids.groups.get(role).cloned(), step, "the security group")?.to_string();
            ec2::authorize_ingress(ec2c, &group, &raw(rules, ids, step)?).await?;
        }
        Step::RevokeIngress { role, rules } => {
            let group = need(&ids.groups.get(role).cloned(), step, "the security group")?.to_string();
            ec2::revoke_ingress(ec2c, &group, &raw(rules, ids, step)?).await?;
        }
        Step::CreateLoadBalancer { name } => {
            let lb = desired()?.load_balancer.as_ref().expect("planned from desired");
            let subnets = lb_subnets(desired()?, ids, lb.internal);
            let group = need(
                &ids.groups.get(&SgRole::LoadBalancer).cloned(),
                step,
                "the load balancer group",
            )?
            .to_string();
            let created = elbv2::create_load_balancer(
                elb,
                name,
                lb.internal,
                &subnets,
                &group,
                &tags(desired()?, "load-balancer"),
            )
            .await?;
            ids.lb = Some(created.arn);
        }
        Step::ModifyIdleTimeout { to, .. } => {
            elbv2::set_idle_timeout(elb, need(&ids.lb, step, "the load balancer")?, *to).await?
        }
        Step::CreateListener { name, .. } => {
            let l = desired()?
                .load_balancer
                .iter()
                .flat_map(|lb| &lb.listeners)
                .find(|l| &l.name == name)
                .expect("planned");
            let lb = need(&ids.lb, step, "the load balancer")?;
            elbv2::create_listener(elb, lb, l, &tags(desired()?, &format!("listener/{name}"))).await?;
        }
        Step::ModifyListener { arn, name, .. } => {
            let l = desired()?
                .load_balancer
                .iter()
                .flat_map(|lb| &lb.listeners)
                .find(|l| &l.name == name)
                .expect("planned");
            elbv2::modify_listener(elb, arn, l).await?;
        }
        Step::DeleteListener { arn, .. } => elbv2::delete_listener(elb, arn).await?,
        Step::SetLoadBalancerSecurityGroups { arn } => {
            let group = need(
                &ids.groups.get(&SgRole::LoadBalancer).cloned(),
                step,
                "the load balancer group",
            )?
            .to_string();
            elbv2::set_security_groups(elb, arn, &[group]).await?;
        }
        Step::RestoreTags { component, id, keys } => {
            let missing = select(&tags(desired()?, component), keys);
            match component.as_str() {
                "load-balancer" => elbv2::add_tags(elb, id, &missing).await?,
                "cluster" => ecs::tag(ecsc, id, &missing).await?,
                _ => ec2::tag(ec2c, id, &missing).await?,
            }
        }
        Step::DeleteLoadBalancer { arn } => {
            elbv2::delete_load_balancer(elb, arn).await?;
            ids.lb = None;
        }
        Step::CreateCluster { name } => {
            ecs::create_cluster(
                ecsc,
                name,
                desired()?.cluster.container_insights,
                &tags(desired()?, "cluster"),
            )
            .await?;
        }
        Step::UpdateClusterSettings { container_insights } => {
            ecs::set_container_insights(ecsc, &desired()?.cluster.name, *container_insights).await?;
        }
        Step::DeleteSecurityGroup { id, .. } => ec2::delete(ec2c, DeleteKind::SecurityGroup, id).await?,
        Step::DeleteSubnet { id } => ec2::delete(ec2c, DeleteKind::Subnet, id).await?,
        Step::DisassociateRouteTable { association_id } => ec2::disassociate_route_table(ec2c, association_id).await?,
        Step::DeleteRouteTable { id } => ec2::delete(ec2c, DeleteKind::RouteTable, id).await?,
        Step::DetachInternetGateway { id, vpc_id } => ec2::detach_internet_gateway(ec2c, id, vpc_id).await?,
        Step::DeleteInternetGateway { id } => ec2::delete(ec2c, DeleteKind::InternetGateway, id).await?,
        Step::DeleteVpc { id } => ec2::delete(ec2c, DeleteKind::Vpc, id).await?,
        Step::DeleteCluster { arn } => ecs::delete_cluster(ecsc, arn).await?,
        Step::AdoptLoadBalancer { arn } => elbv2::add_tags(elb, arn, &tags(desired()?, "load-balancer")).await?,
        Step::ReleaseListener { arn, .. } => elbv2::set_default_action(elb, arn, &ListenerAction::deleting()).await?,
        Step::UntagEc2 { ids } => ec2::untag(ec2c, ids, &OWNERSHIP_KEYS).await?,
        Step::UntagLoadBalancer { arns } => elbv2::untag(elb, arns, &OWNERSHIP_KEYS).await?,
        Step::UntagCluster { arn } => ecs::untag(ecsc, arn, &OWNERSHIP_KEYS).await?,
        Step::Data(_)
        | Step::Capacity(_)
        | Step::Child(_)
        | Step::Egress(_)
        | Step::Role(_)
        | Step::FlowLogs(_)
        | Step::Registry(_)
        | Step::Alarms(_)
        | Step::Dns(_) => {} // run above
    }
    Ok(())
}

/// Public subnets for an internet-facing load balancer, private ones for an internal one.
fn lb_subnets(desired: &DesiredStack, ids: &Ids, internal: bool) -> Vec<String> {
    match &desired.network {
        DesiredNetwork::Adopt {
            public_subnet_ids,
            private_subnet_ids,
            ..
        } => {
            if internal {
                private_subnet_ids.clone()
            } else {
                public_subnet_ids.clone()
            }
        }
        DesiredNetwork::Create { subnets, .. } => subnets
            .iter()
            .filter(|s| s.public != internal)
            .filter_map(|s| ids.subnets.get(&s.component).cloned())
            .collect(),
    }
}
