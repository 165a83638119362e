//! The references of a spec checked against the tenancy rules ([`crate::model::tenancy`]) before
//! any AWS call: each field that names a secret or a role outside the stack, with its path.

use crate::api::ContainerServiceSettings;
use crate::model::tenancy::{Violation, check_role, check_secret};

/// A service's secret references and roles, in an object of `namespace` whose stack's own task
/// execution role is `own_role`. `at` is the path of the settings (`spec`, or
/// `spec.services[1].container` inline).
pub fn service(
    spec: &ContainerServiceSettings,
    namespace: &str,
    own_role: Option<&str>,
    at: &str,
) -> Result<(), Violation> {
    for (i, c) in spec.containers.iter().enumerate() {
        for (j, s) in c.secrets.iter().enumerate() {
            if let Some(v) = &s.value_from {
                check_secret(&format!("{at}.containers[{i}].secrets[{j}].valueFrom"), v, namespace)?;
            }
        }
        if let Some(r) = &c.repository_credentials_arn {
            check_secret(&format!("{at}.containers[{i}].repositoryCredentialsArn"), r, namespace)?;
        }
    }
    if let Some(arn) = &spec.execution_role_arn {
        check_role(&format!("{at}.executionRoleArn"), arn, own_role)?;
    }
    if let Some(arn) = &spec.task_role_arn {
        check_role(&format!("{at}.taskRoleArn"), arn, own_role)?;
    }
    Ok(())
}

/// The secret references of a service that the stack's task execution role may be granted: those
/// the rules allow (a refused one stalls its service and is granted nothing).
pub fn grantable_secret(reference: &str, namespace: &str) -> bool {
    check_secret("", reference, namespace).is_ok()
}
