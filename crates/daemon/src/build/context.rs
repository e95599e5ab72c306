//! The build context, received (a tar in the request body) or fetched (`remote=`) by
//! `berth_buildcontext`, on the daemon's disk under `<data-root>/build/tmp`.

use std::io::Read;
use std::path::Path;

use berth_buildcontext::ReceivedContext;
use berth_types::Kinded;

use crate::error::{Error, Result};

fn map(e: berth_buildcontext::Error) -> Error {
    match e.kind() {
        berth_types::ErrorKind::InvalidArgument | berth_types::ErrorKind::NotFound => {
            Error::InvalidArgument(e.to_string())
        }
        berth_types::ErrorKind::NotImplemented => Error::NotImplemented(e.to_string()),
        _ => Error::Internal(e.to_string()),
    }
}

pub(crate) fn receive(tar: impl Read, dockerfile: &str, scratch: &Path) -> Result<ReceivedContext> {
    berth_buildcontext::receive(tar, dockerfile, scratch).map_err(map)
}

pub(crate) fn fetch_remote(url: &str, dockerfile: &str, scratch: &Path) -> Result<ReceivedContext> {
    berth_buildcontext::fetch_remote(url, dockerfile, scratch).map_err(map)
}
