//! The ContainerService kind's logic. So far: its task definition, rendered from the spec and
//! compared canonically with the running one (the controller is the next issue's work).

pub mod controller;
pub mod scaling;
pub mod service;
pub mod taskdef;
