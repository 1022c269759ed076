//! Attention rollout (Abnar & Zuidema, 2020) over the `attention` variant's blocks.
//!
//! Each block's attention, averaged over heads, is mixed half-and-half with the identity
//! (the residual connection) and row-normalised; the product over blocks says how much each
//! input token flows into each output token. The score head reads the *mean* output token,
//! so a token's importance is its column mean of the rolled-out matrix; the patch tokens'
//! importances, in raster order, form the heat map over the feature grid.

use burn::prelude::*;

use crate::error::{ExplainError, Result};
use crate::heatmap::HeatMap;

/// Rollout of one image: `blocks` are `[T, T]` head-averaged attention matrices (row =
/// query), first block first. Returns the importance of each of the `T` input tokens.
pub fn rollout_importance(blocks: &[Vec<f32>], tokens: usize) -> Result<Vec<f32>> {
    let t = tokens;
    if let Some(b) = blocks.iter().find(|b| b.len() != t * t) {
        return Err(ExplainError::Shape(format!("{} attention values for {t} tokens", b.len())));
    }
    let identity = |i: usize, j: usize| if i == j { 1.0 } else { 0.0 };
    let mut rolled: Vec<f32> = (0..t * t).map(|k| identity(k / t, k % t)).collect();
    for block in blocks {
        let mut mixed: Vec<f32> =
            (0..t * t).map(|k| 0.5 * block[k] + 0.5 * identity(k / t, k % t)).collect();
        for row in mixed.chunks_mut(t) {
            let sum: f32 = row.iter().sum();
            if sum > 0.0 {
                row.iter_mut().for_each(|v| *v /= sum);
            }
        }
        // This block acts after the ones rolled out so far: rolled ← mixed · rolled.
        let mut next = vec![0.0f32; t * t];
        for i in 0..t {
            for k in 0..t {
                let a = mixed[i * t + k];
                if a != 0.0 {
                    for j in 0..t {
                        next[i * t + j] += a * rolled[k * t + j];
                    }
                }
            }
        }
        rolled = next;
    }
    Ok((0..t).map(|j| (0..t).map(|i| rolled[i * t + j]).sum::<f32>() / t as f32).collect())
}

/// Heat maps over the `grid` (`(w, h)` of the feature map) from every block's attention
/// weights `[B, heads, T, T]`, where the first `w · h` tokens are the patches.
pub fn attention_rollout(attention: &[Tensor<4>], grid: (usize, usize)) -> Result<Vec<HeatMap>> {
    let Some(first) = attention.first() else {
        return Err(ExplainError::Shape("no attention blocks".into()));
    };
    let [batch, _, tokens, _] = first.dims();
    let patches = grid.0 * grid.1;
    if patches > tokens {
        return Err(ExplainError::Shape(format!("{patches} patches but {tokens} tokens")));
    }
    let per_block: Vec<Vec<f32>> =
        attention.iter().map(|a| read(a.clone().mean_dim(1))).collect::<Result<_>>()?;
    (0..batch)
        .map(|b| {
            let blocks: Vec<Vec<f32>> = per_block
                .iter()
                .map(|v| v[b * tokens * tokens..(b + 1) * tokens * tokens].to_vec())
                .collect();
            let importance = rollout_importance(&blocks, tokens)?;
            HeatMap::new(grid.0, grid.1, importance[..patches].to_vec())
        })
        .collect()
}

/// Reads a tensor back as `f32`s.
pub(crate) fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    Ok(animescore_pipeline::read_f32(t)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_attention_gives_uniform_importance() {
        let t = 4;
        let block = vec![0.25f32; t * t];
        let imp = rollout_importance(&[block.clone(), block], t).unwrap();
        assert!(imp.iter().all(|v| (v - 0.25).abs() < 1e-6), "{imp:?}");
    }

    #[test]
    fn a_token_everyone_attends_to_dominates() {
        let t = 4;
        // Every query attends only to token 2.
        let block: Vec<f32> = (0..t * t).map(|k| if k % t == 2 { 1.0 } else { 0.0 }).collect();
        let imp = rollout_importance(&[block.clone(), block], t).unwrap();
        let best = imp.iter().cloned().fold(0.0, f32::max);
        assert_eq!(imp[2], best);
        assert!(imp[2] > 2.0 * imp[0], "{imp:?}");
        assert!((imp.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(rollout_importance(&[vec![0.0; 3]], t).is_err());
    }
}
