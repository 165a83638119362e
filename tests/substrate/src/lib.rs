//! Nothing to link: this crate exists for its build script (`build.rs`), which starts preparing the
//! test substrate in the background while cargo builds the tests or the demo.
