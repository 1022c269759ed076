//! What a network will cost, from its configuration alone, before anything is built: its
//! parameter count and how many values one image's forward pass produces, so that a hostile
//! or mistaken configuration (`widths = [100000000]`, `head_hidden = 4000000000`) is refused
//! with a number instead of exhausting memory.
//!
//! Counts are `f64` so that absurd values saturate to large numbers (or infinity) instead of
//! overflowing. Parameter counts are exact (a test compares them with built networks);
//! activation counts are an estimate (every layer output, as training keeps them for the
//! backward pass).

/// Parameters and activations of a network (or a part of one), per image.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NetworkSize {
    /// Trainable parameters.
    pub parameters: f64,
    /// Values the forward pass of one image produces, every layer output together (what
    /// training keeps for the backward pass).
    pub activations: f64,
    /// The largest single layer output of one image (what inference holds at a time, give or
    /// take a few).
    pub peak: f64,
}

impl NetworkSize {
    /// Adds a layer with `parameters` whose output holds `outputs` values, kept `kept` times
    /// for the backward pass (e.g. convolution, batch norm and activation outputs).
    pub fn layer(&mut self, parameters: f64, outputs: f64, kept: f64) {
        self.parameters += parameters;
        self.activations += outputs * kept;
        self.peak = self.peak.max(outputs);
    }

    /// This part followed by `other`.
    pub fn then(self, other: NetworkSize) -> NetworkSize {
        NetworkSize {
            parameters: self.parameters + other.parameters,
            activations: self.activations + other.activations,
            peak: self.peak.max(other.peak),
        }
    }

    /// A conv + batch norm (+ activation) piece, `k × k`, `groups` groups, on an `h × h` input:
    /// returns the output side.
    pub(crate) fn conv_bn(
        &mut self,
        cin: f64,
        cout: f64,
        k: f64,
        stride: f64,
        groups: f64,
        h: f64,
    ) -> f64 {
        let out = (h / stride).ceil();
        // The batch norm holds γ, β and its running mean and variance: four per channel.
        self.layer(k * k * (cin / groups) * cout + 4.0 * cout, cout * out * out, 3.0);
        out
    }

    /// A linear layer with bias applied to `tokens` rows.
    pub fn linear(&mut self, d_in: f64, d_out: f64, tokens: f64) {
        self.layer(d_in * d_out + d_out, d_out * tokens, 1.0);
    }
}
