//! One module per command that talks to the cluster.

pub mod deploy;
pub mod history;
pub mod init;
pub mod list;
pub mod promote;
pub mod retire;
pub mod rollback;
pub mod status;
pub mod verify;
