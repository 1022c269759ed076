//! Metadata known from an index (the AI flag, the sanity class, the tags) for images that a
//! trained run scores or explains: read once by record name, then turned into the model's
//! [`KnownMetadata`] input batch by batch, in place of the model's own metadata predictions.

use std::collections::HashMap;
use std::path::Path;

use animescore_dataset::Database;
use animescore_heads::KnownMetadata;
use animescore_run::TrainedRun;
use burn::prelude::*;

use crate::error::Result;
use crate::records::{labelled_records, tag_names};

/// Metadata of an image known from an index.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownLabels {
    /// AI flag.
    pub ai: bool,
    /// Sanity class.
    pub sanity_class: usize,
    /// Tag indices in the run's vocabulary.
    pub tags: Vec<usize>,
}

/// Known metadata of every record of the index `db`, by record name (the image's file name
/// without extension), encoded with `run`'s vocabulary. Records without a usable sanity level
/// are left out.
pub fn known_from_index(run: &TrainedRun, db: &Path) -> Result<HashMap<String, KnownLabels>> {
    let source = run.config.train.tags.source;
    let index = Database::open_read_only(db)?;
    let records = labelled_records(&index, &run.vocab, source)?;
    let vocab = run.vocab.index();
    Ok(records
        .iter()
        .filter_map(|r| {
            let sanity_class = r.sanity_level.and_then(animescore_dataset::sanity_class)?;
            let tags = vocab.positions(tag_names(r, source));
            Some((r.filename.clone(), KnownLabels { ai: r.ai_flag, sanity_class, tags }))
        })
        .collect())
}

/// The model input for a batch whose images have the known metadata `rows` (in batch order);
/// `tag_vocab` is the model's tag head size (`None`: no tag head, no tags given). Tag indices
/// outside the head are dropped.
pub fn known_metadata(
    rows: &[&KnownLabels],
    tag_vocab: Option<usize>,
    device: &Device,
) -> KnownMetadata {
    let ai: Vec<f32> = rows.iter().map(|k| f32::from(u8::from(k.ai))).collect();
    let sanity: Vec<i64> = rows.iter().map(|k| k.sanity_class as i64).collect();
    let tags = tag_vocab.map(|k| {
        let mut hot = vec![0.0f32; rows.len() * k];
        for (r, row) in rows.iter().enumerate() {
            for &t in row.tags.iter().filter(|&&t| t < k) {
                hot[r * k + t] = 1.0;
            }
        }
        Tensor::<1>::from_floats(hot.as_slice(), device).reshape([rows.len(), k])
    });
    KnownMetadata {
        ai: Some(Tensor::from_floats(ai.as_slice(), device)),
        sanity: Some(Tensor::from_ints(sanity.as_slice(), device)),
        tags,
    }
}
