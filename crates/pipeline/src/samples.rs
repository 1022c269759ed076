//! Samples: an image file with the labels a fitted scorer and vocabulary give its record.

use std::path::{Path, PathBuf};

use animescore_dataset::{IllustRecord, TagIndex, TagVocabulary};
use animescore_heads::Label;
use animescore_run::TagSource;
use animescore_scoring::Scorer;

use crate::records::tag_names;

// The dataset crate owns the sanity level ↔ class mapping; the heads only know the count.
const _: () = assert!(animescore_heads::SANITY_CLASSES == animescore_dataset::SANITY_LEVELS.len());

/// One image and its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Record key (image name without extension).
    pub filename: String,
    /// Image file.
    pub image: PathBuf,
    /// Labels; `label.tags` indexes the vocabulary.
    pub label: Label,
}

/// The labels of a record under a fitted scorer and vocabulary (`vocab` from
/// [`TagVocabulary::index`], built once for all records).
pub fn label(r: &IllustRecord, scorer: &Scorer, vocab: &TagIndex<'_>, source: TagSource) -> Label {
    let score = r.counts().and_then(|c| scorer.score(&c).ok()).map(|s| s.clamp(1.0, 100.0) as f32);
    let sanity_class = r.sanity_level.and_then(animescore_dataset::sanity_class);
    let tags = vocab.positions(tag_names(r, source));
    Label { score, ai: Some(r.ai_flag), sanity_class, tags: Some(tags) }
}

/// Samples of the records whose image file exists; returns them and how many were left out.
pub fn samples(
    records: &[IllustRecord],
    root: &Path,
    scorer: &Scorer,
    vocab: &TagVocabulary,
    source: TagSource,
) -> (Vec<Sample>, usize) {
    let mut out = Vec::with_capacity(records.len());
    let mut missing = 0;
    let vocab = vocab.index();
    for r in records {
        match r.resolve_image(root).filter(|p| p.is_file()) {
            Some(image) => out.push(Sample {
                filename: r.filename.clone(),
                image,
                label: label(r, scorer, &vocab, source),
            }),
            None => missing += 1,
        }
    }
    (out, missing)
}
