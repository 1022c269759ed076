//! From a dataset's index to labelled splits: records read with the tags a command needs,
//! divided by artwork, the score fitted on the training split only, and the tag vocabulary.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use animescore_dataset::{
    DEFAULT_DB_RELATIVE, Database, IllustRecord, ORIGINAL, Split, SplitConfig, TagCounter,
    TagFilter, TagVocabulary,
};
use animescore_run::{TagConfig, TagSource};
use animescore_scoring::{Counts, ScoreMethod, Scorer};

use crate::error::{PipelineError, Result};

/// The index file of a dataset folder.
pub fn index_path(dataset: &Path) -> PathBuf {
    dataset.join(DEFAULT_DB_RELATIVE)
}

/// The records of a dataset's index with the tags `tags` lets through (sorted by file name),
/// or [`PipelineError::MissingIndex`] with the command that builds it.
///
/// Read the tags a command needs and no more: tag lists are most of an index's size, and
/// [`TagFilter::None`] or [`TagFilter::Within`] a vocabulary keeps memory bounded by the row
/// count whatever the metadata files list.
pub fn load_records(dataset: &Path, tags: TagFilter<'_>) -> Result<Vec<IllustRecord>> {
    Ok(open_index(dataset)?.records_with(tags)?)
}

/// The records of a dataset with the tags that labels under `vocab` need.
pub fn load_labelled_records(
    dataset: &Path,
    vocab: &TagVocabulary,
    source: TagSource,
) -> Result<Vec<IllustRecord>> {
    labelled_records(&open_index(dataset)?, vocab, source)
}

/// The records of an index with the tags that labels under `vocab` need: none when the
/// vocabulary is characters (they come from `tag_character`), else only the vocabulary's own
/// tags, each once.
pub fn labelled_records(
    index: &Database,
    vocab: &TagVocabulary,
    source: TagSource,
) -> Result<Vec<IllustRecord>> {
    let vocab_tags: HashSet<String> = vocab.tags.iter().cloned().collect();
    let filter = match source {
        TagSource::TopK => TagFilter::Within(&vocab_tags),
        TagSource::Characters | TagSource::Auto => TagFilter::None,
    };
    Ok(index.records_with(filter)?)
}

/// A dataset's index, opened read-only, or [`PipelineError::MissingIndex`].
fn open_index(dataset: &Path) -> Result<Database> {
    let path = index_path(dataset);
    if !path.is_file() {
        return Err(PipelineError::MissingIndex { path, dataset: dataset.to_path_buf() });
    }
    Ok(Database::open_read_only(&path)?)
}

/// Records whose `sanity_level` is none of Pixiv's (2, 4, 6) and whose `illust_ai_type` is none
/// of 0, 1, 2: they are still used (a level above 6 counts as 6, an unknown AI type as "not
/// AI" unless the tags say otherwise), so the user is told how many there are.
pub fn unusual_values(records: &[IllustRecord]) -> (usize, usize) {
    let sanity = records
        .iter()
        .filter(|r| r.sanity_level.is_some_and(|l| !animescore_dataset::SANITY_LEVELS.contains(&l)))
        .count();
    let ai =
        records.iter().filter(|r| r.illust_ai_type.is_some_and(|t| !(0..=2).contains(&t))).count();
    (sanity, ai)
}

/// Tells the user (tracing) about the records [`unusual_values`] counts.
pub fn warn_unusual_values(index: &Path, records: &[IllustRecord]) {
    let (sanity, ai) = unusual_values(records);
    if sanity > 0 {
        tracing::warn!(
            "{}: {sanity} records have a sanity_level other than 2, 4 or 6 (above 6 counts as 6)",
            index.display()
        );
    }
    if ai > 0 {
        tracing::warn!(
            "{}: {ai} records have an illust_ai_type other than 0, 1 or 2 (read as not AI unless tagged)",
            index.display()
        );
    }
}

/// Records divided by split (records without an artwork id cannot be split and are dropped).
#[derive(Debug, Clone, Default)]
pub struct SplitRecords {
    /// Training records.
    pub train: Vec<IllustRecord>,
    /// Validation records.
    pub validation: Vec<IllustRecord>,
    /// Test records.
    pub test: Vec<IllustRecord>,
}

impl SplitRecords {
    /// Splits by artwork id.
    pub fn new(records: Vec<IllustRecord>, config: &SplitConfig) -> Self {
        let mut out = Self::default();
        for r in records {
            match r.artwork_id().map(|id| config.assign(id)) {
                Some(Split::Train) => out.train.push(r),
                Some(Split::Validation) => out.validation.push(r),
                Some(Split::Test) => out.test.push(r),
                None => tracing::warn!("{}: no artwork id, left out", r.filename),
            }
        }
        out
    }

    /// The records of one split.
    pub fn get(&self, split: Split) -> &[IllustRecord] {
        match split {
            Split::Train => &self.train,
            Split::Validation => &self.validation,
            Split::Test => &self.test,
        }
    }
}

/// Fits the score on the training records only.
pub fn fit_scorer(train: &[IllustRecord], method: ScoreMethod) -> Result<Scorer> {
    let counts: Vec<Counts> = train.iter().filter_map(IllustRecord::counts).collect();
    Ok(Scorer::fit(method, &counts)?)
}

/// The tag names of a record as the vocabulary sees them.
/// (`auto` here reads characters; runs resolve it first with [`resolve_tag_source`].)
pub fn tag_names(r: &IllustRecord, source: TagSource) -> Vec<&str> {
    match source {
        TagSource::TopK => r.tags.iter().map(String::as_str).collect(),
        TagSource::Characters | TagSource::Auto => character_names(r).collect(),
    }
}

fn character_names(r: &IllustRecord) -> impl Iterator<Item = &str> {
    r.tag_character.split(',').filter(|c| !c.is_empty() && *c != ORIGINAL)
}

/// `auto` → characters when any training record has a character (the index was ingested
/// with an alias table that matched), otherwise the top-K Pixiv tags; other choices stay.
pub fn resolve_tag_source(train: &[IllustRecord], source: TagSource) -> TagSource {
    match source {
        TagSource::Auto if train.iter().any(|r| character_names(r).next().is_some()) => {
            tracing::info!("tags: characters (the index has character names)");
            TagSource::Characters
        }
        TagSource::Auto => {
            tracing::info!(
                "tags: top-k Pixiv tags (no character names in the index; ingest with \
                 --character-aliases to use characters)"
            );
            TagSource::TopK
        }
        chosen => chosen,
    }
}

/// Fits the tag vocabulary on the training records (`auto` resolved first). Top-K tags are
/// counted while the index streams past (`train` may be loaded without tags): memory is
/// bounded by the number of distinct tags.
pub fn fit_vocab(
    dataset: &Path,
    train: &[IllustRecord],
    config: &TagConfig,
) -> Result<TagVocabulary> {
    match resolve_tag_source(train, config.source) {
        TagSource::TopK => {
            // Only training rows are counted; the others' tag lists are not even decoded.
            let wanted: HashSet<&str> = train.iter().map(|r| r.filename.as_str()).collect();
            let mut counter = TagCounter::default();
            open_index(dataset)?
                .for_each_tag_list(|name| wanted.contains(name), |tags| counter.add(tags))?;
            Ok(counter.vocabulary(config.k, config.min_count))
        }
        TagSource::Characters | TagSource::Auto => {
            Ok(TagVocabulary::characters(train, config.k, config.min_count))
        }
    }
}
