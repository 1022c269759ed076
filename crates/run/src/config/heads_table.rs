//! The `[heads]` table of a training configuration as the user wrote it: only the keys given.
//!
//! Keys left out take the backbone's default heads (small ones for `tiny`, the original's
//! widths otherwise), so `[heads] head_hidden = 0` changes that width and nothing else. (A
//! table read straight into `HeadsConfig` would fill every missing key from the original's
//! defaults: `head_hidden = 0` on `tiny` gave a 14-million-parameter attention fusion.)
//! Nested tables merge key by key, except a table that switches its `mode` or `kind`, which
//! replaces the default one whole.

use animescore_heads::HeadsConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Result, RunError};

/// The `[heads]` keys a configuration gives (see the module documentation).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HeadsTable(toml::Table);

impl HeadsTable {
    /// Every key of `heads`.
    pub fn of(heads: &HeadsConfig) -> Result<Self> {
        match toml::Table::try_from(heads) {
            Ok(table) => Ok(Self(table)),
            Err(e) => Err(RunError::InvalidConfig(format!("[heads]: {e}"))),
        }
    }

    /// `base` with the keys of this table put over it.
    pub fn apply(&self, base: &HeadsConfig) -> Result<HeadsConfig> {
        let mut merged = Self::of(base)?.0;
        merge(&mut merged, &self.0);
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e| RunError::InvalidConfig(format!("[heads]: {e}")))
    }
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) if !switches_kind(b, o) => {
                merge(b, o)
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Whether `over` names another variant of a tagged table (`mode`, `kind`) than `base`.
fn switches_kind(base: &toml::Table, over: &toml::Table) -> bool {
    ["mode", "kind"].iter().any(|tag| over.get(*tag).is_some_and(|v| base.get(*tag) != Some(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use animescore_heads::{Embedding, Variant};

    fn table(text: &str) -> HeadsTable {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn given_keys_go_over_the_base_and_nothing_else_changes() {
        let base = HeadsConfig::tiny(Variant::Attention, Embedding::Both, 5);
        let heads = table("head_hidden = 0\n[attention]\nd_model = 32").apply(&base).unwrap();
        let mut want = base.clone();
        want.head_hidden = 0;
        want.attention.d_model = 32;
        assert_eq!(heads, want);
        // Another loss weighting replaces the default one whole.
        let fixed = table(
            "[loss.weighting]\nmode = \"fixed\"\nscore = 0.5\nai = 1.0\nsanity = 1.0\ntags = 1.0",
        );
        assert_ne!(fixed.apply(&base).unwrap().loss, base.loss);
        let err = table("head_hiden = 3").apply(&base).unwrap_err().to_string();
        assert!(err.contains("head_hiden"), "{err}");
    }
}
