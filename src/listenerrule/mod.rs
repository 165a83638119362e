//! The ListenerRule controller: a rule on a named listener of a stack's load balancer.

pub mod controller;
pub mod model;
