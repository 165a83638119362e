//! The StaticSite kind: a private S3 bucket served by a CloudFront distribution through Origin
//! Access Control, with routes to the stack's load balancer. Load (the stack's load balancer) →
//! validate ([`validate`]) → observe (distribution, bucket policy, public access block; on a deep
//! observe also tags, ownership controls, encryption and the OAC) → plan ([`plan`], pure) → apply.
//! Ready once the distribution is Deployed. Deletion disables the distribution, waits until it is
//! deployed, deletes it, the OAC, every object version, then the bucket.

pub mod plan;
pub mod validate;

use kube::ResourceExt;
use kube::runtime::Controller;

use self::plan::{Step, wanted};
use self::validate::{LoadBalancer, names};
use crate::api::{DeletionPolicy, RouteOrigin, StaticSite, StaticSiteStatus, WebStack};
use crate::aws::{AwsError, Clients, RetryClass, cloudfront, s3};
use crate::model::ownership::OWNERSHIP_KEYS;
use crate::model::site::{DesiredSite, ObservedOac, ObservedSite, bucket_policy};
use crate::model::{Health, Owner, TagMap};
use crate::reconcile::caches::Caches;
use crate::reconcile::refs::{self, Child};
use crate::reconcile::spec::user_tags;
use crate::reconcile::status::is_ready;
use crate::reconcile::{Blocked, Context, Done, Reconciler};

/// What a site's reconcile loads.
pub struct Deps {
    clients: Clients,
    region: String,
    /// What its routes to the load balancer reach (`None`: no route goes there).
    load_balancer: Option<LoadBalancer>,
    stack_tags: TagMap,
    /// Distribution and OAC ids recorded in status.
    recorded: (Option<String>, Option<String>),
    /// Not settled at this generation: read everything, not only the steady-state three.
    deep: bool,
}

pub struct StaticSiteReconciler;

/// A bucket this account may not read exists under the name: someone else's.
fn taken(bucket: &str) -> Blocked {
    Blocked::stalled(
        "OwnershipConflict",
        format!(
            "bucket {bucket} exists and belongs to someone else (bucket names are global): set spec.bucketName to another name"
        ),
    )
}

impl Reconciler for StaticSiteReconciler {
    type K = StaticSite;
    type Deps = Deps;
    type Desired = DesiredSite;
    type Observed = ObservedSite;
    type Step = Step;
    const KIND: &'static str = "StaticSite";

    async fn load(ctx: &Context, site: &StaticSite, deleting: bool) -> Result<Deps, Blocked> {
        let ns = site.namespace().unwrap_or_default();
        if !deleting && let Some(policy) = ctx.policy_for(&ns)? {
            crate::reconcile::policy::check_site(&policy, &site.spec.settings, "spec")?;
        }
        let stack_name = site.stack();
        let stack = match stack_name {
            Some(name) => refs::get::<WebStack>(&ctx.source, &ns, name).await?,
            None => None,
        };
        let needs_lb = site
            .spec
            .settings
            .routes
            .iter()
            .any(|r| r.origin == RouteOrigin::LoadBalancer);
        let load_balancer = (needs_lb && !deleting).then(|| validate::load_balancer(stack.as_deref(), stack_name));
        let region = ctx
            .region(&ns, stack.as_ref().and_then(|ws| ws.spec.region.as_deref()))
            .await?;
        let status = site.status.clone().unwrap_or_default();
        let settled = status.observed_generation == site.metadata.generation && is_ready(&status.conditions);
        // Whether a drift event named the site; asked every time, so any reconcile clears the mark.
        let event_named = ctx
            .events
            .take_deep(Self::KIND, &site.namespace().unwrap_or_default(), &site.name_any());
        Ok(Deps {
            region: region.clients.region(),
            clients: region.clients,
            load_balancer,
            stack_tags: stack.map(|ws| ws.spec.tags.clone()).unwrap_or_default(),
            deep: deleting || !settled || status.distribution_id.is_none() || event_named,
            recorded: (status.distribution_id, status.origin_access_control_id),
        })
    }

    fn validate(site: &StaticSite, owner: &Owner, deps: &Deps) -> Result<DesiredSite, Blocked> {
        let tags = owner.tags(
            &user_tags(&deps.stack_tags, &site.spec.tags),
            "static-site",
            &owner.aws_name("wss", 200),
        );
        let settings = &site.spec.settings;
        match validate::validate(settings, owner, &deps.region, deps.load_balancer.as_ref(), tags)? {
            Ok(mut desired) => {
                desired.deep = deps.deep;
                Ok(desired)
            }
            Err(waiting) => Err(Blocked::waiting(waiting)),
        }
    }

    async fn observe(
        site: &StaticSite,
        owner: &Owner,
        deps: &Deps,
        desired: Option<&DesiredSite>,
    ) -> Result<ObservedSite, Blocked> {
        let (c, deleting) = (&deps.clients, desired.is_none());
        let names = names(&site.spec.settings, owner);
        let bucket = match s3::observe(&c.s3, &names.bucket, deps.deep).await {
            Ok(b) => b,
            Err(e) if e.class == RetryClass::AccessDenied && deleting => None,
            Err(e) if e.class == RetryClass::AccessDenied => return Err(taken(&names.bucket)),
            Err(e) => return Err(e.into()),
        };
        let mut o = ObservedSite {
            bucket,
            ..ObservedSite::default()
        };
        if let Some(tags) = o.bucket.as_ref().and_then(|b| b.tags.as_ref())
            && !owner.owns(tags)
        {
            if !deleting {
                owner.check("bucket", &names.bucket, tags)?;
            }
            o.bucket = None;
        }
        o.oac = match (&deps.recorded.1, deps.deep) {
            (Some(id), false) => Some(ObservedOac {
                id: id.clone(),
                name: names.oac.clone(),
            }),
            _ => cloudfront::find_oac(&c.cloudfront, &names.oac).await?,
        };
        let mut distribution = match &deps.recorded.0 {
            Some(id) => cloudfront::find(&c.cloudfront, id).await?,
            None => None,
        };
        if distribution.is_none()
            && let Some(id) = cloudfront::find_by_comment(&c.cloudfront, &names.comment).await?
        {
            distribution = cloudfront::find(&c.cloudfront, &id).await?;
        }
        if let Some(d) = distribution.as_mut()
            && deps.deep
        {
            let tags = cloudfront::tags(&c.cloudfront, &d.arn).await?;
            if !owner.owns(&tags) {
                if !deleting {
                    owner.check("distribution", &d.id, &tags)?;
                }
                distribution = None;
            } else {
                d.tags = Some(tags);
            }
        }
        o.distribution = distribution;
        Ok(o)
    }

    fn plan(desired: &DesiredSite, observed: &ObservedSite) -> Result<Vec<Step>, Blocked> {
        Ok(plan::plan(desired, observed))
    }

    fn plan_cleanup(_: &StaticSite, observed: &ObservedSite, policy: DeletionPolicy) -> Vec<Step> {
        plan::plan_cleanup(observed, policy)
    }

    async fn apply(
        deps: &Deps,
        owner: &Owner,
        desired: Option<&DesiredSite>,
        o: &ObservedSite,
        steps: &[Step],
        done: Done<'_, Step>,
    ) -> Result<(), Blocked> {
        let c = &deps.clients;
        let bucket = o.bucket.as_ref().map(|b| b.name.clone());
        let mut oac = o.oac.clone();
        let mut distribution = o.distribution.clone();
        for step in steps {
            let need = || desired.ok_or_else(|| Blocked::waiting(format!("cannot {step} while deleting")));
            let bucket_name = || desired.map(|d| d.bucket.clone()).or(bucket.clone()).unwrap_or_default();
            match step {
                Step::CreateBucket => {
                    let d = need()?;
                    match s3::create(&c.s3, &d.bucket, &d.region, &d.tags).await {
                        Err(e) if e.code == "BucketAlreadyExists" => return Err(taken(&d.bucket)),
                        Err(e) if e.code == "BucketAlreadyOwnedByYou" => {
                            // In this account: ours only if tagged so (the next observe checks).
                            return Err(Blocked::waiting(format!(
                                "bucket {} already exists: checking its owner",
                                d.bucket
                            )));
                        }
                        other => other?,
                    }
                }
                Step::TagBucket => {
                    let d = need()?;
                    let mut tags = o.bucket.as_ref().and_then(|b| b.tags.clone()).unwrap_or_default();
                    tags.extend(d.tags.clone());
                    s3::put_tags(&c.s3, &d.bucket, &tags).await?
                }
                Step::BlockPublicAccess => s3::block_public_access(&c.s3, &bucket_name()).await?,
                Step::EnforceOwnership => s3::enforce_ownership(&c.s3, &bucket_name()).await?,
                Step::Encrypt => s3::encrypt(&c.s3, &bucket_name()).await?,
                Step::CreateOac => {
                    let d = need()?;
                    let what = format!("webstack {}/{}: reads bucket {}", owner.namespace, owner.name, d.bucket);
                    oac = Some(match cloudfront::create_oac(&c.cloudfront, &d.oac_name, &what).await {
                        Err(e) if e.code == "OriginAccessControlAlreadyExists" => {
                            cloudfront::find_oac(&c.cloudfront, &d.oac_name).await?.ok_or(e)?
                        }
                        other => other?,
                    });
                }
                Step::CreateDistribution => {
                    let d = need()?;
                    let config = wanted(
                        d,
                        &ObservedSite {
                            oac: oac.clone(),
                            ..ObservedSite::default()
                        },
                    );
                    distribution =
                        Some(cloudfront::create(&c.cloudfront, &config, &d.caller_reference, &d.tags).await?);
                }
                Step::UpdateDistribution { .. } => {
                    let d = need()?;
                    let config = wanted(
                        d,
                        &ObservedSite {
                            oac: oac.clone(),
                            ..ObservedSite::default()
                        },
                    );
                    let current = distribution
                        .as_ref()
                        .ok_or_else(|| Blocked::waiting("the distribution is not known yet"))?;
                    cloudfront::update(&c.cloudfront, current, &config, &d.caller_reference).await?
                }
                Step::TagDistribution { arn } => cloudfront::tag(&c.cloudfront, arn, &need()?.tags).await?,
                Step::PutBucketPolicy => {
                    let d = need()?;
                    let dist = distribution
                        .as_ref()
                        .ok_or_else(|| Blocked::waiting("the distribution is not known yet"))?;
                    s3::put_policy(&c.s3, &d.bucket, &bucket_policy(&d.bucket, &dist.arn)).await?
                }
                Step::DisableDistribution { id } => cloudfront::disable(&c.cloudfront, id).await?,
                Step::AwaitDeployed { id } => {
                    return Err(Blocked::waiting(format!(
                        "distribution {id} is disabled and deploying; it is deleted once Deployed"
                    )));
                }
                Step::DeleteDistribution { id, etag } => cloudfront::delete(&c.cloudfront, id, etag).await?,
                Step::DeleteOac { id } => match cloudfront::delete_oac(&c.cloudfront, id).await {
                    // Still attached to a distribution AWS has not finished deleting.
                    Err(e) if e.code == "OriginAccessControlInUse" => {
                        return Err(Blocked::Aws(AwsError {
                            class: RetryClass::Transient,
                            ..e
                        }));
                    }
                    other => other?,
                },
                Step::EmptyBucket => {
                    let pass = s3::empty(&c.s3, &bucket_name(), s3::EmptyPass::default()).await?;
                    if !pass.done {
                        // The next reconcile goes on (a poll): other objects get their turn.
                        return Err(Blocked::waiting(format!(
                            "emptying bucket {}: {} object versions deleted in this pass, more remain",
                            bucket_name(),
                            pass.removed
                        )));
                    }
                }
                Step::DeleteBucket => s3::delete(&c.s3, &bucket_name()).await?,
                Step::UntagBucket => s3::untag(&c.s3, &bucket_name(), &OWNERSHIP_KEYS).await?,
                Step::UntagDistribution { arn } => cloudfront::untag(&c.cloudfront, arn, &OWNERSHIP_KEYS).await?,
            }
            done(step);
        }
        Ok(())
    }

    fn status(d: &DesiredSite, o: &ObservedSite, _: &[Step]) -> (StaticSiteStatus, Health) {
        let dist = o.distribution.as_ref();
        let status = StaticSiteStatus {
            bucket: o.bucket.as_ref().map(|_| d.bucket.clone()),
            distribution_id: dist.map(|x| x.id.clone()),
            domain_name: dist.map(|x| x.domain_name.clone()),
            origin_access_control_id: o.oac.as_ref().map(|x| x.id.clone()),
            deployment_status: dist.map(|x| x.status.clone()),
            ..StaticSiteStatus::default()
        };
        let health = match dist {
            None => Health::progressing("Provisioning", "creating the distribution"),
            Some(x) if x.status == "Deployed" => Health::ready(format!("serving https://{}", x.domain_name)),
            Some(x) => Health::progressing(
                "Provisioning",
                format!(
                    "distribution {} is {} (CloudFront takes minutes to deploy)",
                    x.id, x.status
                ),
            ),
        };
        (status, health)
    }

    fn watches(c: Controller<StaticSite>, caches: &Caches) -> Controller<StaticSite> {
        // The stack's load balancer appears or changes (a route's origin follows it).
        refs::on(c, caches, |ws: &WebStack, s: &StaticSite| {
            s.stack() == Some(&ws.name_any())
        })
    }
}
