//! The WebStack controller: the shared infrastructure of one application. Shaped as load →
//! validate ([`desired`]) → observe → plan ([`plan`]) → apply.

pub mod apply;
pub mod controller;
pub mod desired;
pub mod observe;
pub mod observed;
pub mod plan;
pub mod status;
