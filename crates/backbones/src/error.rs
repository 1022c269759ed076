//! Errors of the backbones crate.

/// Everything that can go wrong building a backbone or loading its weights.
#[derive(Debug, thiserror::Error)]
pub enum BackboneError {
    /// A stage name that the backbone does not have.
    #[error("unknown stage `{stage}`; this backbone has: {available}")]
    UnknownStage {
        /// The name asked for.
        stage: String,
        /// The names that exist, comma-separated.
        available: String,
    },
    /// A backbone name that [`crate::BackboneConfig::from_name`] does not know.
    #[error("unknown backbone `{name}`; known: {known}")]
    UnknownBackbone {
        /// The name asked for.
        name: String,
        /// The names that exist, comma-separated.
        known: String,
    },
    /// A configuration that does not describe a buildable network.
    #[error("invalid backbone config: {0}")]
    InvalidConfig(String),
    /// A config or weights file that could not be read or parsed.
    #[error("cannot read `{path}`: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A weights file that does not match the network one-to-one.
    #[error(
        "weights `{path}` do not match the network: {} missing {:?}, {} unexpected {:?}, {} mismatched {:?}",
        missing.len(), preview(missing), unexpected.len(), preview(unexpected), mismatched.len(), preview(mismatched)
    )]
    Weights {
        /// The file.
        path: std::path::PathBuf,
        /// torchvision keys the network needs that the file lacks.
        missing: Vec<String>,
        /// Keys of the file (classifier and BN counters excluded) that the network has no use for.
        unexpected: Vec<String>,
        /// Keys present in both with different shapes (or non-float data).
        mismatched: Vec<String>,
    },
    /// A `BACKBONE:TAG` weights name whose tag is not in [`crate::pretrained::PRETRAINED`].
    #[error("unknown pretrained weights `{spec}`; known: {known}")]
    UnknownPretrained {
        /// The name asked for.
        spec: String,
        /// The tags that exist for that backbone.
        known: String,
    },
    /// A pretrained weights file that is not in the weights folder and may not be downloaded.
    #[error(
        "pretrained weights `{file}` are not in the weights folder (looked for {path:?}): {reason}"
    )]
    NotCached {
        /// torchvision's file name.
        file: String,
        /// Where it was looked for.
        path: std::path::PathBuf,
        /// Why it was not downloaded, and what to do.
        reason: String,
    },
    /// A download that failed (nothing is left in the weights folder).
    #[error("downloading {url} failed: {reason}")]
    Download {
        /// The address.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A weights file whose SHA-256 is not the one in the table.
    #[error("{origin} has SHA-256 {actual}, expected {expected}; the file was deleted, not used")]
    Checksum {
        /// The address or cached file checked.
        origin: String,
        /// The expected digest (or prefix).
        expected: String,
        /// The digest of what was received or found.
        actual: String,
    },
    /// Features computed on a device could not be read back into host memory.
    #[error("reading features back from the device: {0}")]
    ReadBack(String),
}

/// The first few entries of a long list, for error messages.
fn preview(list: &[String]) -> Vec<&str> {
    list.iter().take(12).map(String::as_str).collect()
}
