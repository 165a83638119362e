//! The TargetGroup controller: an ELBv2 target group in its stack's VPC.

pub mod controller;
pub mod model;
