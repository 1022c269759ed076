//! The pretrained-weights table and its names: `resnet50:imagenet` is torchvision's DEFAULT,
//! explicit versions, clear errors, paths left alone, and a table that agrees with itself.

use animescore_backbones::{
    BACKBONE_NAMES, BackboneError, Checksum, PRETRAINED, parse_pretrained_name,
};

fn file_of(spec: &str) -> &'static str {
    match parse_pretrained_name(spec) {
        Ok(Some(w)) => w.file,
        other => panic!("{spec}: {other:?}"),
    }
}

#[test]
fn imagenet_is_torchvisions_default_and_versions_are_explicit() {
    assert_eq!(file_of("resnet18:imagenet"), "resnet18-f37072fd.pth");
    assert_eq!(file_of("resnet50:imagenet"), "resnet50-11ad3fa6.pth");
    assert_eq!(file_of("resnet50:imagenet-v2"), "resnet50-11ad3fa6.pth");
    assert_eq!(file_of("resnet50:imagenet-v1"), "resnet50-0676ba61.pth");
    assert_eq!(file_of("resnet152:imagenet-v1"), "resnet152-394f9c45.pth");
    assert_eq!(file_of("efficientnet-b0:imagenet"), "efficientnet_b0_rwightman-7f5810bc.pth");
    assert_eq!(file_of("efficientnet-b1:imagenet"), "efficientnet_b1-c27df63c.pth");
    assert_eq!(file_of("efficientnet-b1:imagenet-v1"), "efficientnet_b1_rwightman-bac287d4.pth");
    assert_eq!(file_of("efficientnet-b7:imagenet"), "efficientnet_b7_lukemelas-c5b4e57e.pth");
}

#[test]
fn unknown_tags_and_backbones_without_weights_are_clear_errors() {
    match parse_pretrained_name("resnet18:imagenet-v2") {
        Err(BackboneError::UnknownPretrained { known, .. }) => {
            assert_eq!(known, "imagenet (= imagenet-v1), imagenet-v1")
        }
        other => panic!("{other:?}"),
    }
    match parse_pretrained_name("resnet50:imagenet21k") {
        Err(e @ BackboneError::UnknownPretrained { .. }) => {
            let text = e.to_string();
            assert!(text.contains("imagenet (= imagenet-v2), imagenet-v1, imagenet-v2"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    match parse_pretrained_name("tiny:imagenet") {
        Err(e @ BackboneError::UnknownPretrained { .. }) => {
            let text = e.to_string();
            assert!(text.contains("`tiny` has no pretrained weights"), "{text}");
            assert!(text.contains("efficientnet-b7"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn paths_and_other_specs_are_not_names() {
    for spec in [
        "resnet50-0676ba61.pth",
        "/models/resnet50.pth",
        "./resnet50:imagenet",
        "C:\\weights\\resnet50.pth",
        "custom:net.json",
        "vgg16:imagenet",
    ] {
        assert!(matches!(parse_pretrained_name(spec), Ok(None)), "{spec}");
    }
}

#[test]
fn every_preset_with_weights_has_one_default_and_the_table_is_consistent() {
    for backbone in BACKBONE_NAMES.iter().filter(|b| **b != "tiny") {
        let defaults = PRETRAINED.iter().filter(|w| w.backbone == *backbone && w.default).count();
        assert_eq!(defaults, 1, "{backbone}");
    }
    for w in PRETRAINED {
        assert!(BACKBONE_NAMES.contains(&w.backbone), "{}", w.backbone);
        // torchvision's names end in `-<first 8 hex digits of the SHA-256>.pth`.
        let prefix = match w.checksum {
            Checksum::Sha256(full) => {
                assert_eq!(full.len(), 64, "{}", w.file);
                assert!(full.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
                &full[..8]
            }
            Checksum::Sha256Prefix(prefix) => prefix,
        };
        assert!(w.file.ends_with(&format!("-{prefix}.pth")), "{} vs {prefix}", w.file);
    }
    // Every file once, and every explicit name resolves to its own entry.
    for w in PRETRAINED {
        assert_eq!(PRETRAINED.iter().filter(|o| o.file == w.file).count(), 1, "{}", w.file);
        assert_eq!(parse_pretrained_name(&w.name()).ok().flatten(), Some(w));
    }
}

#[test]
fn checksums_compare_whole_digests_or_prefixes() {
    let hex = "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a";
    assert!(Checksum::Sha256(hex).matches(hex));
    assert!(!Checksum::Sha256(hex).matches(&hex.replace('a', "b")));
    assert!(Checksum::Sha256Prefix("0676ba61").matches(hex));
    assert!(!Checksum::Sha256Prefix("0676ba62").matches(hex));
    assert!(!Checksum::Sha256Prefix("").matches(hex));
}
