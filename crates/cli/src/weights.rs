//! `--weights`: a pretrained name (`resnet50:imagenet`) is fetched here, before the work starts,
//! with a download bar; the libraries then find the verified file in the weights folder.

use std::path::{Path, PathBuf};

use animescore_backbones::{WeightsSource, parse_pretrained_name};
use anyhow::{Result, bail};

use crate::progress::DownloadBar;

/// The file `spec` stands for (downloading a pretrained name if needed). A name must be for
/// `backbone`.
pub fn resolve(spec: &Path, backbone: &str) -> Result<PathBuf> {
    if let Some(name) = spec.to_str()
        && let Some(weights) = parse_pretrained_name(name)?
        && weights.backbone != backbone
    {
        bail!(
            "--weights {name} are for backbone {}, but the backbone is {backbone} (add --backbone {})",
            weights.backbone,
            weights.backbone
        );
    }
    Ok(WeightsSource::from_env().resolve(spec, &DownloadBar::new())?)
}
