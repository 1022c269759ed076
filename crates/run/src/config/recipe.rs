//! Settings whose good value depends on the backbone: how many epochs, how large the
//! batches, how fast the learning rate, how patient the early stopping.
//!
//! The original's lr 3e-4 / batch 64 / 30 epochs suit a large pretrained backbone being
//! fine-tuned. A small network trained from scratch on a few hundred images gets far too
//! few, too small steps from them: measured on the same 350 training images, 10 epochs of
//! batch 64 at lr 3e-4 reached a validation SRCC of 0.45, 20 epochs of batch 16 at lr 2e-3
//! reached 0.76. Explicit settings (config file or flags) always win over these.

use super::Freeze;

/// The defaults chosen for one kind of run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recipe {
    /// Maximum epochs.
    pub epochs: usize,
    /// Images per batch.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Which kind of run this recipe is for, as the start-of-run summary prints it.
    pub kind: &'static str,
}

/// The recipe for a backbone (preset name or `custom:…`), started from pretrained weights
/// or not, with the given freezing.
pub(super) fn recipe(backbone: &str, pretrained: bool, freeze: &Freeze) -> Recipe {
    match (pretrained, freeze) {
        // Heads on a frozen backbone: few parameters, no pretrained features to protect.
        (true, Freeze::All) => Recipe {
            epochs: 30,
            batch_size: 64,
            lr: 1e-3,
            patience: 5,
            kind: "pretrained backbone, frozen: heads only",
        },
        (true, _) => Recipe {
            epochs: 30,
            batch_size: 64,
            lr: 3e-4,
            patience: 5,
            kind: "pretrained backbone, fine-tuned (the original's settings)",
        },
        (false, _) if backbone == "tiny" => Recipe {
            epochs: 40,
            batch_size: 32,
            lr: 2e-3,
            patience: 8,
            kind: "tiny backbone from scratch",
        },
        (false, _) => Recipe {
            epochs: 40,
            batch_size: 32,
            lr: 1e-3,
            patience: 8,
            kind: "backbone from scratch",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretrained_and_scratch_differ() {
        let fine_tune = recipe("resnet50", true, &Freeze::None);
        assert_eq!((fine_tune.lr, fine_tune.batch_size), (3e-4, 64));
        let tiny = recipe("tiny", false, &Freeze::None);
        assert!(tiny.lr > fine_tune.lr && tiny.batch_size < fine_tune.batch_size);
        assert!(recipe("resnet50", true, &Freeze::All).lr > fine_tune.lr);
    }
}
