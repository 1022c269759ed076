//! Checks on output arguments shared by the commands: an output never destroys an input.

use std::path::Path;

/// Fails when writing `output` would overwrite one of `inputs` (by file identity: a link, a
/// hard link or another spelling of an input counts). A non-regular output (`/dev/null`, a
/// FIFO) and `-` (standard output) are never an input.
pub fn refuse_clobbering(output: &Path, inputs: &[&Path]) -> anyhow::Result<()> {
    if animescore_fs::is_stdout(output) {
        return Ok(());
    }
    if let Some(input) = animescore_fs::clobbered_input(output, inputs.iter().copied()) {
        anyhow::bail!(
            "refusing to write {}: it is the input {} (choose another output)",
            output.display(),
            input.display()
        );
    }
    Ok(())
}
