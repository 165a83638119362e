//! A table of invalid manifests, one or more per validation rule of the schema, each refused by the
//! real API server with a message that names the offending field. Cases are sent as a dry-run
//! create, as `kubectl create` / client-side `kubectl apply` do. (Server-side apply reports duplicate
//! list-map keys earlier, as HTTP 500 "duplicate entries for key [name=...]", also naming the field.)

use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::{Error, ResourceExt};

use crate::harness::kube::{client, install_crds, namespace};
use crate::harness::manifest::api_for;

const STACK: &str = r#"
apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: bad}
spec:
  network: {cidr: 10.0.0.0/16}
  loadBalancer:
    listeners:
      - {name: http, port: 80}
"#;

/// (what is wrong, manifest, substrings the refusal must contain: the field path, then the message)
const CASES: &[(&str, &str, &[&str])] = &[
    (
        "listener action with two kinds",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           loadBalancer: {listeners: [{name: http, port: 80, defaultAction: {fixedResponse: {statusCode: 404},
           redirect: {statusCode: HTTP_301}}}]}}}"#,
        &[
            "spec.loadBalancer.listeners[0].defaultAction",
            "exactly one of forward, fixedResponse or redirect",
        ],
    ),
    (
        "rule action with no kind",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ListenerRule, metadata: {name: bad}, spec: {stackRef: {name: s},
           listener: http, conditions: {pathPatterns: ["/a"]}, action: {}}}"#,
        &["spec.action", "exactly one of forward, fixedResponse or redirect"],
    ),
    (
        "HTTPS listener without certificateArn",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           loadBalancer: {listeners: [{name: https, port: 443, protocol: HTTPS}]}}}"#,
        &[
            "spec.loadBalancer.listeners[0].certificateArn",
            "an HTTPS listener needs certificateArn",
        ],
    ),
    (
        "HTTPS listener with certificateArn: null (as API.md writes it)",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           loadBalancer: {listeners: [{name: https, port: 443, protocol: HTTPS, certificateArn: null}]}}}"#,
        &[
            "spec.loadBalancer.listeners[0].certificateArn",
            "an HTTPS listener needs certificateArn",
        ],
    ),
    (
        "listener protocol not in the enum",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           loadBalancer: {listeners: [{name: ftp, port: 21, protocol: FTP}]}}}"#,
        &["spec.loadBalancer.listeners[0].protocol", "Unsupported value: \"FTP\""],
    ),
    (
        "listener names not unique",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           loadBalancer: {listeners: [{name: http, port: 80}, {name: http, port: 8080}]}}}"#,
        &["spec.loadBalancer.listeners[1]", "Duplicate value"],
    ),
    (
        "a listener port used twice",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           loadBalancer: {listeners: [{name: a, port: 80}, {name: b, port: 80}]}}}"#,
        &["spec.loadBalancer.listeners", "each listener needs its own port"],
    ),
    (
        "listener port out of range",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           loadBalancer: {listeners: [{name: http, port: 70000}]}}}"#,
        &["spec.loadBalancer.listeners[0].port", "65535"],
    ),
    (
        "listener without a port",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           loadBalancer: {listeners: [{name: http}]}}}"#,
        &["spec.loadBalancer.listeners[0].port", "Required value"],
    ),
    (
        "network with neither vpcId nor cidr",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {availabilityZones: 3}}}"#,
        &["spec.network", "set either vpcId"],
    ),
    (
        "vpcId without subnet ids",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {vpcId: vpc-0abc}}}"#,
        &["spec.network", "vpcId requires publicSubnetIds and privateSubnetIds"],
    ),
    (
        "vpcId and cidr together",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {vpcId: vpc-0abc,
           publicSubnetIds: [subnet-a1], privateSubnetIds: [subnet-c1], cidr: 10.0.0.0/16}}}"#,
        &["spec.network", "vpcId and cidr are mutually exclusive"],
    ),
    (
        "cidr that is not a CIDR",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/33}}}"#,
        &["spec.network.cidr", "cidr must be an IPv4 network address"],
    ),
    (
        "cidr with host bits set",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.1/16}}}"#,
        &["spec.network.cidr", "cidr must be an IPv4 network address"],
    ),
    (
        "more availability zones than allowed",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16, availabilityZones: 7}}}"#,
        &["spec.network.availabilityZones", "less than or equal to 6"],
    ),
    (
        "subnet id malformed",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {vpcId: vpc-0abc,
           publicSubnetIds: [public-a], privateSubnetIds: [subnet-c1]}}}"#,
        &["spec.network.publicSubnetIds[0]", "should match"],
    ),
    (
        "allowedCidrs entry that is not a CIDR",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           loadBalancer: {allowedCidrs: [everyone], listeners: []}}}"#,
        &["spec.loadBalancer.allowedCidrs", "allowedCidrs entries must be CIDRs"],
    ),
    (
        "fixed response with a 3XX status",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ListenerRule, metadata: {name: bad}, spec: {stackRef: {name: s},
           listener: http, conditions: {pathPatterns: ["/a"]}, action: {fixedResponse: {statusCode: 302}}}}"#,
        &[
            "spec.action.fixedResponse.statusCode",
            "statusCode must be 2XX, 4XX or 5XX",
        ],
    ),
    (
        "redirect without a status code",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ListenerRule, metadata: {name: bad}, spec: {stackRef: {name: s},
           listener: http, conditions: {pathPatterns: ["/a"]}, action: {redirect: {protocol: HTTPS}}}}"#,
        &["spec.action.redirect.statusCode", "Required value"],
    ),
    (
        "rule with empty conditions",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ListenerRule, metadata: {name: bad}, spec: {stackRef: {name: s},
           listener: http, conditions: {}, action: {fixedResponse: {statusCode: 200}}}}"#,
        &["spec.conditions", "conditions needs at least one of"],
    ),
    (
        "rule without conditions",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ListenerRule, metadata: {name: bad}, spec: {stackRef: {name: s},
           listener: http, action: {fixedResponse: {statusCode: 200}}}}"#,
        &["spec.conditions", "Required value"],
    ),
    (
        "rule priority 0",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ListenerRule, metadata: {name: bad}, spec: {stackRef: {name: s},
           listener: http, priority: 0, conditions: {pathPatterns: ["/a"]}, action: {fixedResponse: {statusCode: 200}}}}"#,
        &["spec.priority", "greater than or equal to 1"],
    ),
    (
        "rule priority 50001",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ListenerRule, metadata: {name: bad}, spec: {stackRef: {name: s},
           listener: http, priority: 50001, conditions: {pathPatterns: ["/a"]}, action: {fixedResponse: {statusCode: 200}}}}"#,
        &["spec.priority", "less than or equal to 50000"],
    ),
    (
        "rule without stackRef",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ListenerRule, metadata: {name: bad}, spec: {
           listener: http, conditions: {pathPatterns: ["/a"]}, action: {fixedResponse: {statusCode: 200}}}}"#,
        &["spec.stackRef", "Required value"],
    ),
    (
        "sourceIps entry that is not a CIDR",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ListenerRule, metadata: {name: bad}, spec: {stackRef: {name: s},
           listener: http, conditions: {sourceIps: ["office"]}, action: {fixedResponse: {statusCode: 200}}}}"#,
        &["spec.conditions.sourceIps", "sourceIps entries must be CIDRs"],
    ),
    (
        "target group without a port",
        r#"{apiVersion: webstack.io/v1alpha1, kind: TargetGroup, metadata: {name: bad}, spec: {stackRef: {name: s}}}"#,
        &["spec.port", "Required value"],
    ),
    (
        "target group type not in the enum",
        r#"{apiVersion: webstack.io/v1alpha1, kind: TargetGroup, metadata: {name: bad}, spec: {stackRef: {name: s},
           port: 80, targetType: lambda}}"#,
        &["spec.targetType", "Unsupported value: \"lambda\""],
    ),
    (
        "health check timeout not below the interval",
        r#"{apiVersion: webstack.io/v1alpha1, kind: TargetGroup, metadata: {name: bad}, spec: {stackRef: {name: s},
           port: 80, healthCheck: {timeoutSeconds: 30, intervalSeconds: 30}}}"#,
        &[
            "spec.healthCheck.timeoutSeconds",
            "timeoutSeconds must be less than intervalSeconds",
        ],
    ),
    (
        "slow start between 1 and 29 seconds",
        r#"{apiVersion: webstack.io/v1alpha1, kind: TargetGroup, metadata: {name: bad}, spec: {stackRef: {name: s},
           port: 80, slowStartSeconds: 10}}"#,
        &["spec.slowStartSeconds", "slowStartSeconds must be 0 or 30..900"],
    ),
    (
        "FARGATE with bridge networking",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           launchType: FARGATE, networkMode: bridge, cpu: "256", memory: "512", containers: [{name: a, image: nginx}]}}"#,
        &["spec.networkMode", "launchType FARGATE requires networkMode awsvpc"],
    ),
    (
        "FARGATE without task cpu and memory",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           containers: [{name: a, image: nginx}]}}"#,
        &["spec", "launchType FARGATE requires task-level cpu and memory"],
    ),
    (
        "container names not unique",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: a, image: nginx}, {name: a, image: redis}]}}"#,
        &["spec.containers[1]", "Duplicate value"],
    ),
    (
        "no containers",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: []}}"#,
        &["spec.containers", "should have at least 1 items"],
    ),
    (
        "container without an image or a registry",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: a}]}}"#,
        &["spec.containers[0]", "set exactly one of image"],
    ),
    (
        "container with both an image and a registry",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: a, image: nginx:1, registry: posts, tag: "1"}]}}"#,
        &["spec.containers[0]", "set exactly one of image"],
    ),
    (
        "a registry image without a tag",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: a, registry: posts}]}}"#,
        &["spec.containers[0].tag", "tag goes with registry"],
    ),
    (
        "an image tag Docker refuses",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: a, registry: posts, tag: "-v1:x"}]}}"#,
        &["spec.containers[0].tag", "should match"],
    ),
    (
        "a registry name ECR refuses (upper case, a trailing separator)",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           registries: [posts, Users-]}}"#,
        &["spec.registries[1]", "should match"],
    ),
    (
        "an inline container naming a registry ECR refuses",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           registries: [posts], services: [{name: web, container: {cpu: "256", memory: "512",
           containers: [{name: w, registry: "posts//x", tag: "1"}]}}]}}"#,
        &["spec.services[0].container.containers[0].registry", "should match"],
    ),
    (
        "a registry listed twice",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           registries: [posts, posts]}}"#,
        &["spec.registries", "each registry name once"],
    ),
    (
        "registriesForceDelete with deletionPolicy Retain",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           deletionPolicy: Retain, registries: [posts], registriesForceDelete: true}}"#,
        &[
            "spec.registriesForceDelete",
            "set deletionPolicy: Delete or drop registriesForceDelete",
        ],
    ),
    (
        "load balancer attachment without a target group",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: a, image: nginx}], loadBalancer: {containerName: a}}}"#,
        &["spec.loadBalancer", "loadBalancer.targetGroupRef is required"],
    ),
    (
        "autoscaling min above max",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: a, image: nginx}],
           autoscaling: {minCapacity: 5, maxCapacity: 2, targetCpuPercent: 60}}}"#,
        &[
            "spec.autoscaling.minCapacity",
            "minCapacity must not exceed maxCapacity",
        ],
    ),
    (
        "autoscaling without a target",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: a, image: nginx}], autoscaling: {minCapacity: 1, maxCapacity: 2}}}"#,
        &[
            "spec.autoscaling",
            "autoscaling needs targetCpuPercent or targetMemoryPercent",
        ],
    ),
    (
        "log retention CloudWatch does not offer",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: a, image: nginx}], logs: {retentionDays: 10}}}"#,
        &["spec.logs.retentionDays", "retentionDays must be one of"],
    ),
    (
        "inline service container: FARGATE with host networking",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           services: [{name: web, container: {networkMode: host, cpu: "256", memory: "512", containers: [{name: a, image: nginx}]}}]}}"#,
        &[
            "spec.services[0].container.networkMode",
            "launchType FARGATE requires networkMode awsvpc",
        ],
    ),
    (
        "site aliases without a certificate",
        r#"{apiVersion: webstack.io/v1alpha1, kind: StaticSite, metadata: {name: bad}, spec: {aliases: [www.example.com]}}"#,
        &["spec.certificateArn", "aliases need certificateArn"],
    ),
    (
        "site route to the load balancer without a stack",
        r#"{apiVersion: webstack.io/v1alpha1, kind: StaticSite, metadata: {name: bad}, spec: {routes: [{pathPattern: /api/*}]}}"#,
        &["spec.stackRef", "routes with origin loadBalancer need stackRef"],
    ),
    (
        "site route with a method set CloudFront does not offer",
        r#"{apiVersion: webstack.io/v1alpha1, kind: StaticSite, metadata: {name: bad}, spec: {stackRef: {name: s},
           routes: [{pathPattern: /api/*, allowedMethods: [GET, POST]}]}}"#,
        &["spec.routes[0].allowedMethods", "allowedMethods must be"],
    ),
    (
        "site certificate outside us-east-1 (CloudFront reads ACM certificates from us-east-1 only)",
        r#"{apiVersion: webstack.io/v1alpha1, kind: StaticSite, metadata: {name: bad}, spec: {aliases: [www.example.com],
           certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d"}}"#,
        &["spec.certificateArn", "should match"],
    ),
    (
        "site web ACL that is not a WAFv2 global ARN",
        r#"{apiVersion: webstack.io/v1alpha1, kind: StaticSite, metadata: {name: bad}, spec: {webAclId: "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}}"#,
        &["spec.webAclId", "should match"],
    ),
    (
        "container secret with both valueFrom and fromStack",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: app, image: app:1, secrets: [{name: DB,
           valueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db", fromStack: {database: url}}]}]}}"#,
        &[
            "spec.containers[0].secrets[0]",
            "set exactly one of valueFrom or fromStack",
        ],
    ),
    (
        "container secret with neither valueFrom nor fromStack",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: app, image: app:1, secrets: [{name: DB}]}]}}"#,
        &[
            "spec.containers[0].secrets[0]",
            "set exactly one of valueFrom or fromStack",
        ],
    ),
    (
        "fromStack naming both the database and the cache",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: app, image: app:1, secrets: [{name: DB,
           fromStack: {database: url, cache: url}}]}]}}"#,
        &[
            "spec.containers[0].secrets[0].fromStack",
            "set exactly one of database or cache",
        ],
    ),
    (
        "NAT gateways asked of an adopted VPC",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {vpcId: vpc-0abc,
           publicSubnetIds: [subnet-1a], privateSubnetIds: [subnet-2b], natGateways: perZone}}}"#,
        &[
            "spec.network",
            "natGateways and vpcEndpoints apply to a VPC the stack creates",
        ],
    ),
    (
        "an unknown NAT gateway mode",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16,
           natGateways: many}}}"#,
        &["spec.network.natGateways", "Unsupported value"],
    ),
    (
        "a VPC endpoint listed twice",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16,
           vpcEndpoints: [s3, logs, s3]}}}"#,
        &["spec.network.vpcEndpoints", "each VPC endpoint once"],
    ),
    (
        "flow log retention CloudWatch Logs does not offer",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16,
           flowLogs: {enabled: true, retentionDays: 10}}}}"#,
        &[
            "spec.network.flowLogs.retentionDays",
            "retentionDays must be one of CloudWatch Logs' values",
        ],
    ),
    (
        "flow log traffic type not in the enum",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16,
           flowLogs: {enabled: true, trafficType: SOME}}}}"#,
        &["spec.network.flowLogs.trafficType", "Unsupported value"],
    ),
    (
        "fromStack naming a key the database secret does not have",
        r#"{apiVersion: webstack.io/v1alpha1, kind: ContainerService, metadata: {name: bad}, spec: {stackRef: {name: s},
           cpu: "256", memory: "512", containers: [{name: app, image: app:1, secrets: [{name: DB,
           fromStack: {database: token}}]}]}}"#,
        &["spec.containers[0].secrets[0].fromStack.database", "Unsupported value"],
    ),
    (
        "an alarm threshold over 100%",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           alarms: {serviceCpuPercent: 150}}}"#,
        &["spec.alarms.serviceCpuPercent", "should be less than or equal to 100"],
    ),
    (
        "an alarm threshold of zero",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           alarms: {loadBalancer5xxPercent: 0}}}"#,
        &[
            "spec.alarms.loadBalancer5xxPercent",
            "should be greater than or equal to 1",
        ],
    ),
    (
        "a response time threshold below a millisecond",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           alarms: {targetResponseTimeSeconds: 0.0001}}}"#,
        &[
            "spec.alarms.targetResponseTimeSeconds",
            "should be greater than or equal to 0.001",
        ],
    ),
    (
        "emails with the user's own topic",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           alarms: {snsTopicArn: "arn:aws:sns:us-east-1:123456789012:ops", email: [ops@example.com]}}}"#,
        &[
            "spec.alarms.email",
            "with snsTopicArn the topic and its subscriptions are yours",
        ],
    ),
    (
        "a DNS record to the load balancer of a stack without one",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           dns: {hostedZoneId: Z123, records: [{name: api.example.com, target: loadBalancer}]}}}"#,
        &["spec.dns.records", "needs the stack's loadBalancer"],
    ),
    (
        "a DNS record name that is not a lowercase domain name",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           loadBalancer: {listeners: [{name: http, port: 80}]},
           dns: {hostedZoneId: Z123, records: [{name: "*.Example.com", target: loadBalancer}]}}}"#,
        &["spec.dns.records[0].name", "should match"],
    ),
    (
        "a DNS record with an unknown target",
        r#"{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: bad}, spec: {network: {cidr: 10.0.0.0/16},
           dns: {hostedZoneId: Z123, records: [{name: www.example.com, target: bucket}]}}}"#,
        &["spec.dns.records[0].target", "Unsupported value"],
    ),
];

#[tokio::test]
async fn invalid_manifests_are_refused_naming_the_field() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "invalid").await;

    // The base manifest is valid, so each refusal below is the rule under test.
    let base: DynamicObject = serde_yaml::from_str(STACK).expect("base manifest");
    api_for(&client, &ns, &base)
        .patch(
            "bad",
            &PatchParams::apply("webstack-invalid-test").dry_run(),
            &Patch::Apply(&base),
        )
        .await
        .expect("the base manifest is valid");

    let mut failures = Vec::new();
    for (what, manifest, expected) in CASES {
        let obj: DynamicObject = serde_yaml::from_str(manifest).unwrap_or_else(|e| panic!("{what}: bad YAML: {e}"));
        let api = api_for(&client, &ns, &obj);
        let params = PostParams {
            dry_run: true,
            field_manager: Some("webstack-invalid-test".into()),
        };
        match api.create(&params, &obj).await {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(Error::Api(resp)) => {
                let missing: Vec<_> = expected.iter().filter(|s| !resp.message.contains(*s)).collect();
                if resp.code != 422 || !missing.is_empty() {
                    failures.push(format!(
                        "{what}: HTTP {} {:?}, missing {missing:?}",
                        resp.code, resp.message
                    ));
                }
            }
            Err(other) => failures.push(format!("{what}: unexpected error {other}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// Changes the stack's resources cannot follow in place are refused on update (CEL transition
/// rules), naming the field; the same fields may be set freely on create.
#[tokio::test]
async fn immutable_network_fields_are_refused_on_update() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "immutable").await;
    let created: DynamicObject = serde_yaml::from_str(
        "{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: live},
          spec: {region: us-east-1, network: {cidr: 10.0.0.0/16}}}",
    )
    .unwrap();
    let api = api_for(&client, &ns, &created);
    api.create(&PostParams::default(), &created).await.expect("create");
    let cases = [
        (
            "region moved",
            serde_json::json!({"spec": {"region": "eu-west-1"}}),
            "spec.region",
            "region cannot change",
        ),
        (
            "cidr changed",
            serde_json::json!({"spec": {"network": {"cidr": "10.1.0.0/16"}}}),
            "spec.network",
            "cannot change on a live stack",
        ),
        (
            "switched to an adopted VPC",
            serde_json::json!({"spec": {"network": {"cidr": null, "vpcId": "vpc-0abc", "publicSubnetIds": ["subnet-a1"], "privateSubnetIds": ["subnet-b1"]}}}),
            "spec.network",
            "cannot change on a live stack",
        ),
    ];
    for (what, patch, field, message) in cases {
        match api.patch("live", &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => panic!("{what}: accepted"),
            Err(Error::Api(resp)) => {
                assert_eq!(resp.code, 422, "{what}: {}", resp.message);
                assert!(
                    resp.message.contains(field) && resp.message.contains(message),
                    "{what}: {}",
                    resp.message
                );
            }
            Err(other) => panic!("{what}: {other}"),
        }
    }
    // Other fields still change freely.
    let ok = serde_json::json!({"spec": {"network": {"availabilityZones": 3}, "tags": {"team": "movies"}}});
    api.patch("live", &PatchParams::default(), &Patch::Merge(&ok))
        .await
        .expect("a mutable change");
}

/// Fields that decide where a resource lives cannot move: the stack a child belongs to, the
/// listener a rule is on, the stack's cluster name. Each change is refused on update (CEL
/// transition rules) with a message saying to delete and re-create, so nothing is ever left
/// serving traffic at the old place.
#[tokio::test]
async fn placement_fields_are_refused_on_update() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "placement").await;
    let objects = crate::harness::manifest::parse(
        "apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: live}
spec: {network: {cidr: 10.0.0.0/16}, cluster: {name: live}}
---
apiVersion: webstack.io/v1alpha1
kind: TargetGroup
metadata: {name: web}
spec: {stackRef: {name: live}, port: 80}
---
apiVersion: webstack.io/v1alpha1
kind: ListenerRule
metadata: {name: web}
spec: {stackRef: {name: live}, listener: http, conditions: {pathPatterns: [/*]}, action: {forward: {targetGroups: [{name: web}]}}}
---
apiVersion: webstack.io/v1alpha1
kind: ContainerService
metadata: {name: web}
spec: {stackRef: {name: live}, cpu: '256', memory: '512', containers: [{name: web, image: web:1}]}
",
    );
    for obj in &objects {
        api_for(&client, &ns, obj)
            .create(&PostParams::default(), obj)
            .await
            .expect("create");
    }
    let moved = serde_json::json!({"spec": {"stackRef": {"name": "elsewhere"}}});
    let cases = [
        (
            &objects[0],
            serde_json::json!({"spec": {"cluster": {"name": "other"}}}),
            "spec.cluster.name",
        ),
        (
            &objects[0],
            serde_json::json!({"spec": {"cluster": null}}),
            "spec.cluster.name",
        ),
        (&objects[1], moved.clone(), "spec.stackRef"),
        (&objects[2], moved.clone(), "spec.stackRef"),
        (
            &objects[2],
            serde_json::json!({"spec": {"listener": "https"}}),
            "spec.listener",
        ),
        (&objects[3], moved, "spec.stackRef"),
    ];
    for (obj, patch, field) in cases {
        let what = format!("{} {patch}", crate::harness::manifest::id(obj));
        let api = api_for(&client, &ns, obj);
        match api
            .patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => panic!("{what}: accepted"),
            Err(Error::Api(resp)) => {
                assert_eq!(resp.code, 422, "{what}: {}", resp.message);
                assert!(
                    resp.message.contains(field) && resp.message.contains("delete and re-create"),
                    "{what}: {}",
                    resp.message
                );
            }
            Err(other) => panic!("{what}: {other}"),
        }
    }
}

/// Database changes RDS cannot make in place are refused on update (CEL transition rules), naming
/// the field and saying why; growing storage and the other fields change freely. A database
/// added to a live stack may be set as wanted.
#[tokio::test]
async fn database_changes_rds_cannot_make_are_refused_on_update() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "immutable-db").await;
    let created: DynamicObject = serde_yaml::from_str(
        "{apiVersion: webstack.io/v1alpha1, kind: WebStack, metadata: {name: live},
          spec: {network: {cidr: 10.0.0.0/16}, database: {engine: postgres, allocatedStorageGiB: 50}}}",
    )
    .unwrap();
    let api = api_for(&client, &ns, &created);
    api.create(&PostParams::default(), &created).await.expect("create");
    let cases = [
        (
            "storage shrunk",
            serde_json::json!({"spec": {"database": {"allocatedStorageGiB": 40}}}),
            "spec.database.allocatedStorageGiB",
            "cannot shrink",
        ),
        (
            "engine changed",
            serde_json::json!({"spec": {"database": {"engine": "mysql"}}}),
            "spec.database.engine",
            "engine cannot change",
        ),
        (
            "master username changed",
            serde_json::json!({"spec": {"database": {"masterUsername": "root"}}}),
            "spec.database.masterUsername",
            "cannot change on a live database",
        ),
        (
            "database name changed",
            serde_json::json!({"spec": {"database": {"databaseName": "other"}}}),
            "spec.database.databaseName",
            "cannot change on a live database",
        ),
    ];
    for (what, patch, field, message) in cases {
        match api.patch("live", &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => panic!("{what}: accepted"),
            Err(Error::Api(resp)) => {
                assert_eq!(resp.code, 422, "{what}: {}", resp.message);
                assert!(
                    resp.message.contains(field) && resp.message.contains(message),
                    "{what}: {}",
                    resp.message
                );
            }
            Err(other) => panic!("{what}: {other}"),
        }
    }
    let ok = serde_json::json!({"spec": {"database": {"allocatedStorageGiB": 100, "instanceClass": "db.r6g.large",
                                                      "multiAz": true, "deletionProtection": true}}});
    api.patch("live", &PatchParams::default(), &Patch::Merge(&ok))
        .await
        .expect("in-place changes");
}

/// Fields that would move a resource and leave the old one behind cannot change on a live object
/// (CEL transition rules): a connection Secret's name, a bucket's name (inline or not), a
/// StaticSite's stack once set. Adding a stack to a bucket-only site is allowed.
#[tokio::test]
async fn fields_that_would_leave_resources_behind_are_immutable() {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, "immutable-names").await;
    let objects = crate::harness::manifest::parse(
        "apiVersion: webstack.io/v1alpha1
kind: WebStack
metadata: {name: live}
spec:
  network: {cidr: 10.0.0.0/16}
  database: {connectionSecretName: live-db}
  cache: {}
  staticSite: {bucketName: live-site-bucket}
---
apiVersion: webstack.io/v1alpha1
kind: StaticSite
metadata: {name: site}
spec: {stackRef: {name: live}, bucketName: site-bucket-1}
---
apiVersion: webstack.io/v1alpha1
kind: StaticSite
metadata: {name: bucket-only}
spec: {}
",
    );
    for obj in &objects {
        api_for(&client, &ns, obj)
            .create(&PostParams::default(), obj)
            .await
            .expect("create");
    }
    let cases = [
        (
            &objects[0],
            serde_json::json!({"spec": {"database": {"connectionSecretName": "other"}}}),
            "spec.database.connectionSecretName",
        ),
        (
            &objects[0],
            serde_json::json!({"spec": {"database": {"connectionSecretName": null}}}),
            "spec.database.connectionSecretName",
        ),
        (
            &objects[0],
            serde_json::json!({"spec": {"cache": {"connectionSecretName": "other"}}}),
            "spec.cache.connectionSecretName",
        ),
        (
            &objects[0],
            serde_json::json!({"spec": {"staticSite": {"bucketName": "another-bucket"}}}),
            "spec.staticSite.bucketName",
        ),
        (
            &objects[1],
            serde_json::json!({"spec": {"bucketName": "site-bucket-2"}}),
            "spec.bucketName",
        ),
        (
            &objects[1],
            serde_json::json!({"spec": {"stackRef": {"name": "elsewhere"}}}),
            "spec.stackRef",
        ),
        (
            &objects[1],
            serde_json::json!({"spec": {"stackRef": null}}),
            "spec.stackRef",
        ),
        (
            &objects[2],
            serde_json::json!({"spec": {"bucketName": "now-named"}}),
            "spec.bucketName",
        ),
    ];
    for (obj, patch, field) in cases {
        let what = format!("{} {patch}", crate::harness::manifest::id(obj));
        let api = api_for(&client, &ns, obj);
        match api
            .patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => panic!("{what}: accepted"),
            Err(Error::Api(resp)) => {
                assert_eq!(resp.code, 422, "{what}: {}", resp.message);
                assert!(
                    resp.message.contains(field) && resp.message.contains("cannot change"),
                    "{what}: {}",
                    resp.message
                );
            }
            Err(other) => panic!("{what}: {other}"),
        }
    }
    // A stack added to a bucket-only site, and other fields, change freely.
    let ok = serde_json::json!({"spec": {"stackRef": {"name": "live"}, "spaFallback": true}});
    api_for(&client, &ns, &objects[2])
        .patch("bucket-only", &PatchParams::default(), &Patch::Merge(&ok))
        .await
        .expect("a stack added to a bucket-only site");
}
