//! Checks on output arguments shared by the commands: an output never destroys an input.

use std::path::Path;

use animescore_fs::OutputGuard;

/// Fails when writing `output` would overwrite one of `inputs` (by file identity: a link, a
/// hard link or another spelling of an input counts). A non-regular output (`/dev/null`, a
/// FIFO) and `-` (standard output) are never an input.
pub fn refuse_clobbering(output: &Path, inputs: &[&Path]) -> anyhow::Result<()> {
    let guard = OutputGuard::new(output);
    for input in inputs {
        guard.check(input, "the input")?;
    }
    Ok(())
}
