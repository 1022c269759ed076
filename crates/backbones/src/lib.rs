//! Image backbones for animescore: ResNet-18…152, EfficientNet-B0…B7 and a configurable ResNet,
//! in torchvision's layout so that torchvision/timm pretrained weights load one-to-one.

mod backbone;
mod config;
mod conv_bn_act;
mod decode;
mod drop_path;
mod efficientnet;
mod embedder;
mod error;
mod preprocess;
mod pretrained;
mod resnet;
mod silu;
mod size;
mod squeeze_excitation;
mod weights;
mod weights_source;

pub use backbone::{Backbone, IMAGENET_MEAN, IMAGENET_STD, InputSpec, global_average_pool};
pub use config::{AnyBackbone, BACKBONE_NAMES, BackboneConfig};
pub use conv_bn_act::{Activation, ConvBnAct, ConvBnActConfig};
pub use decode::{MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, decode_rgb, load_image, load_rgb};
pub use drop_path::{DropPath, DropPathConfig};
pub use efficientnet::{EfficientNet, EfficientNetConfig, MBConvLayer, make_divisible};
pub use embedder::Embedder;
pub use error::BackboneError;
pub use preprocess::{INPUT_SIZE_RANGE, Preprocess, ResizeMode, check_input_size};
pub use pretrained::{Checksum, PRETRAINED, PretrainedWeights, parse_pretrained_name};
pub use resnet::{BlockKind, ResNet, ResNetConfig};
pub use size::NetworkSize;
pub use squeeze_excitation::{SqueezeExcitation, SqueezeExcitationConfig};
pub use weights::{
    TorchvisionNames, is_ignored_key, load_weights, timm_efficientnet_to_torchvision,
    torchvision_state,
};
pub use weights_source::{
    DownloadProgress, NoDownloadProgress, WeightsSource, resolve_weights, weights_dir,
};
