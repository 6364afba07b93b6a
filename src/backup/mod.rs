//! Backups: what a restore needs, in one verified archive (see DESIGN.md and issue 6).
//!
//! - [`manifest`]: the archive's table of contents and the naming of archives.
//! - [`age`]: the `backup.age` healthcheck.
//! - [`archive`]: writing and reading archives (tar, zstd or gzip, optionally age), with verification.
//! - [`catalogue`]: the small record kept beside each archive, and listing a destination.
//! - [`config`]: the profile's `[backup]` section.
//! - [`prune`]: which backups a retention policy keeps.
//! - [`store`]: destinations (a local directory, SFTP).

pub mod age;
pub mod archive;
pub mod catalogue;
pub mod config;
pub mod manifest;
pub mod prune;
pub mod store;
