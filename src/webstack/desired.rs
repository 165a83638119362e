//! validate: turns a WebStack spec into a typed, checked [`DesiredStack`]. Nothing after this step
//! reads the raw spec. Errors name the field and say what to change; they cause no AWS call.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{
    Action, ContentType, DatabaseEngine, HttpProtocol, LoadBalancerScheme, RedirectStatusCode, Tags, WebStackSpec,
};
use crate::cidr::Ipv4Net;
use crate::ownership::Owner;

/// A spec the operator cannot act on: the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidSpec {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> InvalidSpec {
    InvalidSpec {
        field: field.into(),
        message: message.into(),
    }
}

/// Everything the stack should be, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredStack {
    pub owner: Owner,
    pub tags: Tags,
    pub network: DesiredNetwork,
    pub security_groups: Vec<DesiredSecurityGroup>,
    pub load_balancer: Option<DesiredLoadBalancer>,
    pub cluster: DesiredCluster,
}

/// Adopt a VPC or create one.
#[derive(Clone, Debug, PartialEq)]
pub enum DesiredNetwork {
    Adopt {
        vpc_id: String,
        public_subnet_ids: Vec<String>,
        private_subnet_ids: Vec<String>,
    },
    Create {
        cidr: Ipv4Net,
        subnets: Vec<DesiredSubnet>,
    },
}

/// A subnet to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredSubnet {
    /// `subnet/public/<i>` or `subnet/private/<i>`.
    pub component: String,
    pub cidr: Ipv4Net,
    pub availability_zone: String,
    pub public: bool,
}

/// The three security groups of a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SgRole {
    LoadBalancer,
    Services,
    Database,
}

impl SgRole {
    pub const ALL: [SgRole; 3] = [SgRole::LoadBalancer, SgRole::Services, SgRole::Database];

    /// The `webstack.io/component` tag value.
    pub fn component(self) -> &'static str {
        match self {
            SgRole::LoadBalancer => "sg/load-balancer",
            SgRole::Services => "sg/services",
            SgRole::Database => "sg/database",
        }
    }

    pub fn from_component(c: &str) -> Option<SgRole> {
        SgRole::ALL.into_iter().find(|r| r.component() == c)
    }
}

/// Where ingress traffic may come from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Cidr(String),
    /// One of the stack's own groups.
    Group(SgRole),
    /// A group that is not one of the stack's (only ever observed, never desired).
    OtherGroup(String),
}

/// One TCP ingress permission.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ingress {
    pub from_port: i32,
    pub to_port: i32,
    pub source: Source,
}

/// A security group and exactly the ingress it should have.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredSecurityGroup {
    pub role: SgRole,
    pub name: String,
    pub description: String,
    pub ingress: BTreeSet<Ingress>,
}

/// The load balancer.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredLoadBalancer {
    pub name: String,
    pub internal: bool,
    pub idle_timeout_seconds: i32,
    pub listeners: Vec<DesiredListener>,
}

/// A listener.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredListener {
    pub name: String,
    pub port: i32,
    pub https: bool,
    pub certificate_arn: Option<String>,
    pub ssl_policy: Option<String>,
    pub default_action: ListenerAction,
    /// Forwards to a TargetGroup that is not ready yet (named here): the listener is neither
    /// created, changed nor deleted until it is, while the rest of the stack converges.
    pub pending: Option<String>,
}

/// A listener's default action as AWS sees it (forward targets resolved to ARNs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenerAction {
    Fixed {
        status_code: String,
        content_type: Option<String>,
        message_body: Option<String>,
    },
    Redirect {
        protocol: String,
        port: String,
        host: String,
        path: String,
        query: String,
        status_code: String,
    },
    /// Target group ARNs and weights, sorted by ARN.
    Forward { target_groups: Vec<(String, i32)> },
}

/// The ECS cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredCluster {
    pub name: String,
    pub container_insights: bool,
}

impl DesiredStack {
    /// TargetGroups that listeners wait for.
    pub fn pending(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .load_balancer
            .iter()
            .flat_map(|lb| &lb.listeners)
            .filter_map(|l| l.pending.clone())
            .collect();
        names.dedup();
        names
    }

    /// Every tag a resource of `component` carries: ownership tags, a Name, the stack's tags.
    pub fn tags_for(&self, component: &str) -> crate::aws::TagMap {
        let name = format!("{}-{}", self.owner.aws_name("ws", 200), component.replace('/', "-"));
        self.owner.tags(&self.tags, component, &name)
    }

    /// How to find this stack's resources.
    pub fn key(&self) -> super::observe::StackKey {
        super::observe::StackKey {
            owner: self.owner.clone(),
            adopted_vpc: match &self.network {
                DesiredNetwork::Adopt { vpc_id, .. } => Some(vpc_id.clone()),
                DesiredNetwork::Create { .. } => None,
            },
            adopted_subnets: match &self.network {
                DesiredNetwork::Adopt {
                    public_subnet_ids,
                    private_subnet_ids,
                    ..
                } => public_subnet_ids.iter().chain(private_subnet_ids).cloned().collect(),
                DesiredNetwork::Create { .. } => Vec::new(),
            },
            known_vpc: None,
            load_balancer_name: load_balancer_name(&self.owner),
            external_load_balancer: None,
            cluster_name: self.cluster.name.clone(),
        }
    }
}

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
    Ok(DesiredStack {
        tags: spec.tags.clone(),
        network,
        security_groups,
        load_balancer,
        cluster,
        owner,
    })
}

/// The ECS cluster's name: the spec's, else derived from namespace, name and uid.
pub fn cluster_name(spec: &WebStackSpec, owner: &Owner) -> String {
    spec.cluster
        .as_ref()
        .and_then(|c| c.name.clone())
        .unwrap_or_else(|| owner.aws_name("ws", 255))
}

/// The load balancer's deterministic name (32 characters at most).
pub fn load_balancer_name(owner: &Owner) -> String {
    owner.aws_name("ws", 32)
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
    Ok(DesiredNetwork::Create { cidr, subnets })
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
        let not_found = ListenerAction::Fixed {
            status_code: "404".into(),
            content_type: Some("text/plain".into()),
            message_body: Some("not found".into()),
        };
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

/// Resolves an [`Action`] of the spec. A forward to a TargetGroup that is not ready is an error of
/// its own kind: see [`unresolved_target_groups`].
pub fn action(
    a: &Action,
    field: &str,
    target_groups: &BTreeMap<String, String>,
) -> Result<ListenerAction, InvalidSpec> {
    match (&a.forward, &a.fixed_response, &a.redirect) {
        (Some(f), None, None) => {
            let mut tgs = Vec::new();
            for (i, t) in f.target_groups.iter().enumerate() {
                let arn = target_groups.get(&t.name).ok_or_else(|| {
                    invalid(
                        format!("{field}.forward.targetGroups[{i}]"),
                        format!("TargetGroup {} is not ready", t.name),
                    )
                })?;
                tgs.push((arn.clone(), t.weight.unwrap_or(1)));
            }
            tgs.sort();
            Ok(ListenerAction::Forward { target_groups: tgs })
        }
        (None, Some(f), None) => Ok(ListenerAction::Fixed {
            status_code: f.status_code.to_string(),
            content_type: f.content_type.map(|c| content_type(c).to_string()),
            message_body: f.message_body.clone(),
        }),
        (None, None, Some(r)) => Ok(ListenerAction::Redirect {
            protocol: r.protocol.clone().unwrap_or_else(|| "#{protocol}".into()),
            port: r.port.clone().unwrap_or_else(|| "#{port}".into()),
            host: r.host.clone().unwrap_or_else(|| "#{host}".into()),
            path: r.path.clone().unwrap_or_else(|| "/#{path}".into()),
            query: r.query.clone().unwrap_or_else(|| "#{query}".into()),
            status_code: match r.status_code {
                RedirectStatusCode::Http301 => "HTTP_301",
                RedirectStatusCode::Http302 => "HTTP_302",
            }
            .into(),
        }),
        _ => Err(invalid(
            field,
            "exactly one of forward, fixedResponse or redirect must be set",
        )),
    }
}

/// An adopted network must exist as the spec names it: the VPC, and each subnet inside that VPC.
/// (Checked after observing, before any mutation.)
pub fn check_adopted(desired: &DesiredStack, observed: &super::observed::ObservedStack) -> Result<(), InvalidSpec> {
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
pub fn check_external_load_balancer(
    desired: &DesiredStack,
    observed: &super::observed::ObservedStack,
) -> Result<(), InvalidSpec> {
    const FIELD: &str = "metadata.annotations[webstack.io/external-id]";
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

/// TargetGroup names that the stack's listener default actions forward to.
pub fn referenced_target_groups(spec: &WebStackSpec) -> BTreeSet<String> {
    spec.load_balancer
        .iter()
        .flat_map(|lb| &lb.listeners)
        .filter_map(|l| l.default_action.as_ref()?.forward.as_ref())
        .flat_map(|f| f.target_groups.iter().map(|t| t.name.clone()))
        .collect()
}

fn content_type(c: ContentType) -> &'static str {
    match c {
        ContentType::TextPlain => "text/plain",
        ContentType::TextCss => "text/css",
        ContentType::TextHtml => "text/html",
        ContentType::ApplicationJavascript => "application/javascript",
        ContentType::ApplicationJson => "application/json",
    }
}

#[cfg(test)]
#[path = "desired_tests.rs"]
pub(crate) mod tests;
