//! Learning-rate schedule: linear warm-up, then cosine decay to a floor.
//!
//! A pure function of the global step rather than a stateful burn scheduler, so a resumed
//! run continues exactly where it stopped from nothing but the step counter.
//!
//! In PyTorch's terms (the parity harness checks it step by step): for `W` warm-up steps,
//! `SequentialLR([LinearLR(start_factor=1/W, end_factor=1, total_iters=W−1),
//! CosineAnnealingLR(T_max=total−W, eta_min=min)], milestones=[W])`. The warm-up reaches the
//! peak at its last step, the cosine starts from the peak, and `min` is reached one step after
//! the last (PyTorch's `eta_min` convention), not at it.

/// Warm-up + cosine schedule over `total_steps` optimiser steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    /// Peak learning rate (end of the warm-up).
    pub peak: f64,
    /// Floor of the cosine, reached one step after the last one (PyTorch's `eta_min`).
    pub min: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: usize,
    /// All steps of the run.
    pub total_steps: usize,
}

impl LrSchedule {
    /// A schedule with `warmup_fraction` of `total_steps` spent warming up.
    pub fn new(peak: f64, min: f64, warmup_fraction: f64, total_steps: usize) -> Self {
        let warmup_steps = (warmup_fraction * total_steps as f64).round() as usize;
        Self { peak, min, warmup_steps, total_steps: total_steps.max(1) }
    }

    /// The learning rate of step `step` (0-based).
    pub fn at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let t = ((step - self.warmup_steps) as f64 / decay_steps as f64).min(1.0);
        self.min + 0.5 * (self.peak - self.min) * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = LrSchedule::new(1.0, 0.0, 0.1, 100);
        assert_eq!(s.warmup_steps, 10);
        assert!((s.at(0) - 0.1).abs() < 1e-12);
        assert!((s.at(9) - 1.0).abs() < 1e-12);
        assert!((s.at(10) - 1.0).abs() < 1e-12);
        // Halfway through the decay the cosine is at its midpoint.
        assert!((s.at(55) - 0.5).abs() < 1e-12);
        assert!(s.at(99) < 0.001);
        assert!((s.at(500) - 0.0).abs() < 1e-12);
        let floor = LrSchedule::new(3e-4, 1e-6, 0.0, 10);
        assert!((floor.at(0) - 3e-4).abs() < 1e-12);
        assert!((floor.at(10) - 1e-6).abs() < 1e-12);
    }
}
