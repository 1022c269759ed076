//! A trained run loaded for inference: its model with the best weights in inference mode,
//! and what scoring with it needs from the run directory. `predict` and `explain` both start
//! here.

use std::path::Path;

use animescore_dataset::TagVocabulary;
use animescore_heads::ScoringModel;
use burn::module::Module;
use burn::tensor::Device;

use crate::calibration::Placement;
use crate::config::RunConfig;
use crate::device::DeviceSpec;
use crate::error::Result;
use crate::run_dir::RunDir;
use crate::weights_file::{load_checked, load_identified};

/// A run directory's model, ready to score images.
pub struct TrainedRun {
    /// The run directory.
    pub dir: RunDir,
    /// Its configuration.
    pub config: RunConfig,
    /// The model with the best weights, in inference mode.
    pub model: ScoringModel,
    /// The tag vocabulary of the model's tag head.
    pub vocab: TagVocabulary,
    /// How predicted scores become percentiles and tiers.
    pub placement: Placement,
    /// The device the model lives on.
    pub device: Device,
    /// The xxh3-64 of the best weights' bytes (16 hex digits): which model this is, recorded
    /// beside score files so that one model's scores are never mixed with another's.
    pub weights_checksum: String,
}

impl TrainedRun {
    /// Loads a run directory's best weights onto `device`.
    pub fn load(run_dir: &Path, device: DeviceSpec) -> Result<Self> {
        let dir = RunDir::new(run_dir);
        let config = dir.read_config()?;
        let device = device.device()?;
        let (model, weights_checksum) = load_identified(config.model.init(&device)?, &dir.model())?;
        Ok(Self {
            model: model.valid(),
            weights_checksum,
            vocab: dir.read_vocab()?,
            placement: Placement::of_run(&dir)?,
            config,
            device,
            dir,
        })
    }
}

/// Builds the model of a run and loads its best weights (checksum verified), in inference
/// mode.
pub fn load_model(run: &RunDir, config: &RunConfig, device: &Device) -> Result<ScoringModel> {
    let model = config.model.init(device)?;
    Ok(load_checked(model, &run.model())?.valid())
}
