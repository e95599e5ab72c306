//! The received build context. Interim until `berth_buildcontext::receive` lands: the tar is
//! applied with the archive crate's safe extraction (every entry kept inside the directory)
//! and the Dockerfile read from it.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub(crate) struct Received {
    pub dir: tempfile::TempDir,
    pub dockerfile: Vec<u8>,
    pub secrets: std::collections::HashMap<String, Vec<u8>>,
}

impl Received {
    pub fn root(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

pub(crate) fn receive(tar: impl Read, dockerfile: &str, scratch: &Path) -> Result<Received> {
    std::fs::create_dir_all(scratch).map_err(Error::io("creating the build scratch directory"))?;
    let dir = tempfile::Builder::new()
        .prefix("context-")
        .tempdir_in(scratch)
        .map_err(Error::io("creating the context directory"))?;
    let mut opts = berth_archive::ApplyOptions::new(berth_archive::WhiteoutMode::Keep);
    opts.allow_devices = false;
    berth_archive::apply_layer(tar, dir.path(), &opts)
        .map_err(|e| Error::InvalidArgument(format!("reading the build context: {e}")))?;
    let missing =
        || Error::InvalidArgument(format!("Cannot locate specified Dockerfile: {dockerfile}"));
    // Resolved inside the context: a symlinked Dockerfile cannot name a host file.
    let mut f = pathrs::Root::open(dir.path())
        .and_then(|r| r.resolve(dockerfile))
        .and_then(|h| h.reopen(pathrs::flags::OpenFlags::O_RDONLY))
        .map_err(|_| missing())?;
    let mut bytes = Vec::new();
    f.by_ref()
        .take(16 << 20)
        .read_to_end(&mut bytes)
        .map_err(|_| missing())?;
    Ok(Received {
        dir,
        dockerfile: bytes,
        secrets: Default::default(),
    })
}
