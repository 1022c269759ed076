//! torchvision's ImageNet weights by name: `resnet50:imagenet`, `efficientnet-b1:imagenet-v1`.
//!
//! A name is `BACKBONE:TAG`. `imagenet` is torchvision's `DEFAULT` weights enum member for that
//! network (its recommended weights); `imagenet-v1` / `imagenet-v2` pick `IMAGENET1K_V1` /
//! `IMAGENET1K_V2` explicitly. The table below pins each file by its SHA-256, which is checked
//! before a file is used (see [`crate::weights_source`]).
//!
//! Where the digests come from: torchvision's file names carry the first 8 hex digits of the
//! file's SHA-256 (`resnet50-0676ba61.pth`), which is all torch.hub itself checks. The full
//! digests here were taken from public records of the downloaded files (projects that pin them,
//! and torch.hub's own `invalid hash value (expected …, got <full digest>)` reports quoted in
//! pytorch/vision issue #7744 for the re-uploaded EfficientNets); each agrees with its file
//! name's prefix. For two files no full digest could be found; they are checked by that prefix
//! only, exactly as torch.hub does, and say so in [`Checksum::Sha256Prefix`].

use crate::config::BACKBONE_NAMES;
use crate::error::BackboneError;

/// How a weights file is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum<'a> {
    /// The file's whole SHA-256, lowercase hex.
    Sha256(&'a str),
    /// Only the first hex digits of the SHA-256 are known (the ones in torchvision's file
    /// name); the file is accepted when its digest starts with them, as torch.hub's
    /// `check_hash` does. Weaker than a full digest: it catches truncated and corrupted
    /// downloads, not a deliberately forged file.
    Sha256Prefix(&'a str),
}

impl Checksum<'_> {
    /// Whether a file whose SHA-256 is `hex` (lowercase) passes.
    pub fn matches(&self, hex: &str) -> bool {
        match self {
            Self::Sha256(full) => hex.eq_ignore_ascii_case(full),
            Self::Sha256Prefix(prefix) => {
                !prefix.is_empty()
                    && hex.len() >= prefix.len()
                    && hex[..prefix.len()].eq_ignore_ascii_case(prefix)
            }
        }
    }

    /// The expected value, for messages (`<prefix>…` when only a prefix is known).
    pub fn expected(&self) -> String {
        match self {
            Self::Sha256(full) => full.to_string(),
            Self::Sha256Prefix(prefix) => format!("{prefix}… (prefix only)"),
        }
    }
}

/// One of torchvision's weight files for a backbone preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PretrainedWeights {
    /// Our backbone name ([`crate::BackboneConfig::from_name`]).
    pub backbone: &'static str,
    /// torchvision's `IMAGENET1K_V{version}`.
    pub version: u8,
    /// Whether torchvision's `DEFAULT` points at this one (our tag `imagenet`).
    pub default: bool,
    /// torchvision's file name on `download.pytorch.org/models/`; also the name in the cache.
    pub file: &'static str,
    /// Most bytes the file may have: torchvision's published size (its `_file_size`, MiB)
    /// plus 5 % and 2 MiB. A download or a cached file beyond it is refused unread (a mirror
    /// that claims 100 GB, or a planted sparse file, must not fill the disk or be hashed for
    /// minutes).
    pub max_bytes: u64,
    /// What the file must hash to.
    pub checksum: Checksum<'static>,
}

impl PretrainedWeights {
    /// The explicit tag, `imagenet-v1` or `imagenet-v2`.
    pub fn tag(&self) -> String {
        format!("imagenet-v{}", self.version)
    }

    /// The explicit name, e.g. `resnet50:imagenet-v2`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.backbone, self.tag())
    }
}

/// An entry whose file is `mib_thousandths` / 1000 MiB as torchvision publishes it.
const fn entry(
    backbone: &'static str,
    version: u8,
    default: bool,
    file: &'static str,
    mib_thousandths: u64,
    checksum: Checksum<'static>,
) -> PretrainedWeights {
    let max_bytes = (mib_thousandths * 105 / 100_000 + 2) << 20;
    PretrainedWeights { backbone, version, default, file, max_bytes, checksum }
}

use Checksum::{Sha256, Sha256Prefix};

/// Every torchvision ImageNet weights file our presets load (torchvision 0.16+ URLs).
pub const PRETRAINED: &[PretrainedWeights] = &[
    entry(
        "resnet18",
        1,
        true,
        "resnet18-f37072fd.pth",
        44_661,
        Sha256("f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"),
    ),
    entry(
        "resnet34",
        1,
        true,
        "resnet34-b627a593.pth",
        83_275,
        Sha256("b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f"),
    ),
    entry(
        "resnet50",
        1,
        false,
        "resnet50-0676ba61.pth",
        97_781,
        Sha256("0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a"),
    ),
    entry(
        "resnet50",
        2,
        true,
        "resnet50-11ad3fa6.pth",
        97_790,
        Sha256("11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca"),
    ),
    entry(
        "resnet101",
        1,
        false,
        "resnet101-63fe2227.pth",
        170_511,
        Sha256("63fe2227b86e8f1f2063f43a75c84d195911b6a0eace650907dd3dc62dd49a0a"),
    ),
    entry(
        "resnet101",
        2,
        true,
        "resnet101-cd907fc2.pth",
        170_530,
        Sha256("cd907fc2a0de2292b2ba2b27d2216bc672d84632d1cf20058d01c0c03b5e020e"),
    ),
    entry(
        "resnet152",
        1,
        false,
        "resnet152-394f9c45.pth",
        230_434,
        Sha256("394f9c45966e3651a89bbb78a48410a6755854ce4a5ab64927cf1c7247f85e58"),
    ),
    // No public record of this file's full SHA-256 was found: prefix check, as torch.hub.
    entry("resnet152", 2, true, "resnet152-f82ba261.pth", 230_474, Sha256Prefix("f82ba261")),
    entry(
        "efficientnet-b0",
        1,
        true,
        "efficientnet_b0_rwightman-7f5810bc.pth",
        20_451,
        Sha256("7f5810bc96def8f7552d5b7e68d53c4786f81167d28291b21c0d90e1fca14934"),
    ),
    // No public record of this file's full SHA-256 was found: prefix check, as torch.hub.
    entry(
        "efficientnet-b1",
        1,
        false,
        "efficientnet_b1_rwightman-bac287d4.pth",
        30_134,
        Sha256Prefix("bac287d4"),
    ),
    entry(
        "efficientnet-b1",
        2,
        true,
        "efficientnet_b1-c27df63c.pth",
        30_136,
        Sha256("c27df63ce6eb17ef8bcea58922fd3a254cba910c720f41ee89d64d99fb7a4ddf"),
    ),
    entry(
        "efficientnet-b2",
        1,
        true,
        "efficientnet_b2_rwightman-c35c1473.pth",
        35_174,
        Sha256("c35c147384e385a5bab5a8eabdabbe5a3df0487ee4a554108626ae474a5bf755"),
    ),
    entry(
        "efficientnet-b3",
        1,
        true,
        "efficientnet_b3_rwightman-b3899882.pth",
        47_184,
        Sha256("b3899882250c22946d0229d266049fcd133c169233530b36b9ffa7983988362f"),
    ),
    entry(
        "efficientnet-b4",
        1,
        true,
        "efficientnet_b4_rwightman-23ab8bcd.pth",
        74_489,
        Sha256("23ab8bcd5bdbef61a7a43b91adcad81f622fd7f36fb4935a569828d77888c44e"),
    ),
    entry(
        "efficientnet-b5",
        1,
        true,
        "efficientnet_b5_lukemelas-1a07897c.pth",
        116_864,
        Sha256("1a07897c0d357db7981640f6be44a63420f11deb932344a69768b62ebe272946"),
    ),
    entry(
        "efficientnet-b6",
        1,
        true,
        "efficientnet_b6_lukemelas-24a108a5.pth",
        165_362,
        Sha256("24a108a596a00ad522bdfb9a2d98a9bd31819dfd7e37dd96bad6bb5bc00d6015"),
    ),
    entry(
        "efficientnet-b7",
        1,
        true,
        "efficientnet_b7_lukemelas-c5b4e57e.pth",
        254_675,
        Sha256("c5b4e57e0da1a10bb4f8a5b410dd3b7b6e7461f9b757209be29409707c3d87dd"),
    ),
];

/// Reads a `--weights` argument as a pretrained name. `Ok(None)`: not a name (a path, or a
/// file name in the weights folder). A `BACKBONE:…` whose backbone is ours but whose tag is
/// not in the table is an error listing the tags that exist.
pub fn parse_pretrained_name(
    spec: &str,
) -> Result<Option<&'static PretrainedWeights>, BackboneError> {
    let Some((backbone, tag)) = spec.split_once(':') else { return Ok(None) };
    if !BACKBONE_NAMES.contains(&backbone) {
        return Ok(None);
    }
    let candidates: Vec<&'static PretrainedWeights> =
        PRETRAINED.iter().filter(|w| w.backbone == backbone).collect();
    let found = candidates.iter().find(|w| match tag {
        "imagenet" => w.default,
        _ => w.tag() == tag,
    });
    match found {
        Some(w) => Ok(Some(w)),
        None => Err(BackboneError::UnknownPretrained {
            spec: spec.to_string(),
            known: known_tags(backbone, &candidates),
        }),
    }
}

/// `imagenet (= imagenet-v2), imagenet-v1, imagenet-v2`, or what a backbone without pretrained
/// weights has instead.
fn known_tags(backbone: &str, candidates: &[&PretrainedWeights]) -> String {
    let Some(default) = candidates.iter().find(|w| w.default) else {
        let with_weights: Vec<&str> = BACKBONE_NAMES
            .iter()
            .copied()
            .filter(|b| PRETRAINED.iter().any(|w| w.backbone == *b))
            .collect();
        return format!(
            "`{backbone}` has no pretrained weights; backbones that do: {}",
            with_weights.join(", ")
        );
    };
    let mut tags = vec![format!("imagenet (= {})", default.tag())];
    tags.extend(candidates.iter().map(|w| w.tag()));
    tags.join(", ")
}
