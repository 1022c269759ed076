//! Batched image embeddings: the pooled feature of a backbone in inference mode, on any device.

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;

use crate::{AnyBackbone, Backbone, BackboneError, Preprocess};

/// Pooled backbone features of images, a batch at a time, on one device.
///
/// ```no_run
/// use animescore_backbones::{BackboneConfig, Embedder};
/// use burn::tensor::Device;
///
/// let device = Device::flex();
/// let backbone = BackboneConfig::from_spec("resnet50")?.init(&device);
/// let embedder = Embedder::new(backbone, &device).with_batch_size(16);
/// embedder.embed_files(&["a.png", "b.jpg"], |path, features| {
///     match features {
///         Ok(f) => println!("{}: {} values", path.display(), f.len()),
///         Err(e) => eprintln!("skipped {e}"),
///     }
///     Ok::<_, animescore_backbones::BackboneError>(())
/// })?;
/// # Ok::<(), animescore_backbones::BackboneError>(())
/// ```
#[derive(Debug)]
pub struct Embedder {
    backbone: AnyBackbone,
    preprocess: Preprocess,
    device: Device,
    batch_size: usize,
}

impl Embedder {
    /// Embeds with `backbone` in inference mode (batch norm on running statistics, no
    /// stochastic depth, no autodiff), preprocessing images as its input spec says, 8 images
    /// per forward pass.
    pub fn new(backbone: AnyBackbone, device: &Device) -> Self {
        let preprocess = Preprocess::from_spec(backbone.input_spec());
        Self { backbone: backbone.valid(), preprocess, device: device.clone(), batch_size: 8 }
    }

    /// Another preprocessing (e.g. another input size).
    pub fn with_preprocess(mut self, preprocess: Preprocess) -> Self {
        self.preprocess = preprocess;
        self
    }

    /// Images per forward pass (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// How images are decoded, resized and normalised.
    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    /// Features of preprocessed images (`3 · size · size` values each, as
    /// [`Preprocess::load_chw`] gives them), one vector per image, in order.
    pub fn embed_chw(&self, chws: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, BackboneError> {
        if chws.is_empty() {
            return Ok(Vec::new());
        }
        let pooled = self.backbone.pooled(self.preprocess.stack(chws, &self.device));
        let dim = pooled.dims()[1];
        let values = pooled
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| BackboneError::ReadBack(format!("{e:?}")))?;
        Ok(values.chunks(dim).map(<[f32]>::to_vec).collect())
    }

    /// Embeds image files, `batch_size` per forward pass, in order. `visit` gets each path
    /// with its feature vector, or why the image could not be read (the others go on). Stops
    /// at the first error `visit` returns or the first failed forward pass.
    pub fn embed_files<P, E>(
        &self,
        paths: &[P],
        mut visit: impl FnMut(&Path, Result<Vec<f32>, BackboneError>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        P: AsRef<Path>,
        E: From<BackboneError>,
    {
        for chunk in paths.chunks(self.batch_size) {
            let mut readable = Vec::with_capacity(chunk.len());
            let mut chws = Vec::with_capacity(chunk.len());
            for path in chunk.iter().map(AsRef::as_ref) {
                match self.preprocess.load_chw(path) {
                    Ok(chw) => {
                        readable.push(path);
                        chws.push(chw);
                    }
                    Err(e) => visit(path, Err(e))?,
                }
            }
            for (path, features) in readable.into_iter().zip(self.embed_chw(chws)?) {
                visit(path, Ok(features))?;
            }
            tracing::debug!(images = chunk.len(), "embedded");
        }
        Ok(())
    }
}
