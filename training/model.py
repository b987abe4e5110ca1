"""Person-detector architectures, in a registry: ``build_model(arch=...)``.

Two are registered:

- ``doorbell_mobilenet`` (the default): a small MobileNetV1-style network whose stride-2
  steps come one block earlier than MobileNetV1's, so no block runs at 48x48; on 2 CPU
  cores that halves training time per image, and on the synthetic doorbell set it is as
  accurate for the same training time. This is what ``peekless demo`` trains.
- ``mobilenet_v1``: the real MobileNetV1 (13 depthwise-separable blocks) as the MLPerf Tiny
  Visual Wake Words reference builds it (``../shared/models/mlperf_vww_96.h5``): convs with
  bias and L2 1e-4 on the conv kernels, BatchNormalization (momentum 0.99), ReLU, a 3x3
  average pool over the final 3x3 map, flatten and a dense layer. One difference: it
  outputs logits, not softmax, like every model here (the pipeline compares logits).

Only layer types that the int8 TFLite model turns into CONV_2D, DEPTHWISE_CONV_2D,
AVERAGE_POOL_2D, RESHAPE and FULLY_CONNECTED are used: BatchNormalization folds into the
convolutions and ReLU / ReLU6 fuse into them as their activation. Augmentation is never
part of a model (training/recipes.py does it in the input pipeline). Models output logits;
train them with ``from_logits=True``.

Add an architecture with ``@register_architecture("name")`` on a builder taking
``(input_shape, num_classes, width, seed)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Keras loads slowly; the builders import it when they run
    import keras

MODEL_FAMILY = "mobilenet_v1_like"  # the Keras name of the default architecture
DEFAULT_ARCH = "doorbell_mobilenet"

# Keras layer classes any registered architecture may use (tests check this list).
ALLOWED_LAYERS = (
    "InputLayer",
    "Conv2D",
    "DepthwiseConv2D",
    "BatchNormalization",
    "ReLU",
    "AveragePooling2D",
    "Flatten",
    "Dense",
)

STEM_FILTERS = 32
# doorbell_mobilenet: (pointwise filters, depthwise stride) per block at width 1.0. The
# channels are those of MobileNetV1's first seven blocks; the strides move MobileNetV1's
# stride-2 steps one block earlier (64 s2, 128, 128 s2, 256, 256 s2, 512, 512).
BLOCKS = ((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 1))
BN_MOMENTUM = 0.9

# mobilenet_v1: MobileNetV1's 13 blocks (Howard et al. 2017, table 1), as in MLPerf's VWW.
MOBILENET_V1_BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip
MOBILENET_V1_BN_MOMENTUM = 0.99
MOBILENET_V1_L2 = 1e-4

Builder = Callable[..., "keras.Model"]
ARCHITECTURES: dict[str, Builder] = {}


def register_architecture(name: str) -> Callable[[Builder], Builder]:
    """Decorator: make ``builder(input_shape, num_classes, width, seed)`` available as
    ``build_model(arch=name)`` and ``peekless train --arch name``."""

    def wrap(builder: Builder) -> Builder:
        if name in ARCHITECTURES:
            raise ValueError(f"architecture {name!r} is already registered")
        ARCHITECTURES[name] = builder
        return builder

    return wrap


def _filters(base: int, width: float) -> int:
    return max(4, round(base * width))


def _seeded(seed: int):
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))
    return lambda: next(seeds)


def build_model(
    input_shape: tuple[int, int, int] = (96, 96, 1),
    num_classes: int = 2,
    width: float = 0.25,
    seed: int = 0,
    arch: str = DEFAULT_ARCH,
) -> keras.Model:
    """Build a registered architecture (``ARCHITECTURES``) producing ``num_classes`` logits.

    width: channel multiplier (0.25 in MLPerf Tiny VWW).
    seed: seeds every kernel initialiser, so the same arguments build the same weights.
    """
    if width <= 0:
        raise ValueError(f"width must be > 0, not {width}")
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}") from None
    return builder(input_shape=tuple(input_shape), num_classes=num_classes, width=width, seed=seed)


@register_architecture("doorbell_mobilenet")
def build_doorbell_mobilenet(
    input_shape: tuple[int, int, int], num_classes: int, width: float, seed: int
) -> keras.Model:
    """MobileNetV1-like network: 3x3/2 conv stem, seven depthwise-separable blocks
    (four stride-2 steps in all, so 96x96 ends at 6x6), average pooling over the whole
    remaining map, flatten and a dense layer producing ``num_classes`` logits.

    width 0.25 gives a stem of 8 channels and blocks of 16, 32, 32, 64, 64, 128, 128.
    """
    import keras
    from keras import layers

    next_seed = _seeded(seed)

    def init() -> keras.initializers.Initializer:
        return keras.initializers.HeNormal(seed=next_seed())

    def bn(name: str) -> layers.Layer:
        return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = layers.Conv2D(
        _filters(STEM_FILTERS, width),
        3,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer=init(),
        name="stem_conv",
    )(inputs)
    x = bn("stem_bn")(x)
    x = layers.ReLU(max_value=6.0, name="stem_relu")(x)
    for i, (filters, stride) in enumerate(BLOCKS, start=1):
        x = layers.DepthwiseConv2D(
            3,
            strides=stride,
            padding="same",
            use_bias=False,
            depthwise_initializer=init(),
            name=f"block{i}_dw",
        )(x)
        x = bn(f"block{i}_dw_bn")(x)
        x = layers.ReLU(max_value=6.0, name=f"block{i}_dw_relu")(x)
        x = layers.Conv2D(
            _filters(filters, width),
            1,
            padding="same",
            use_bias=False,
            kernel_initializer=init(),
            name=f"block{i}_pw",
        )(x)
        x = bn(f"block{i}_pw_bn")(x)
        x = layers.ReLU(max_value=6.0, name=f"block{i}_pw_relu")(x)
    x = layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]), name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    logits = layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.GlorotUniform(seed=next_seed()),
        name="logits",
    )(x)
    return keras.Model(inputs, logits, name=MODEL_FAMILY)


@register_architecture("mobilenet_v1")
def build_mobilenet_v1(
    input_shape: tuple[int, int, int], num_classes: int, width: float, seed: int
) -> keras.Model:
    """MobileNetV1 as MLPerf Tiny's VWW reference: 3x3/2 conv stem and 13 depthwise-
    separable blocks (five stride-2 steps: 96x96 ends at 3x3), each conv with bias and L2
    1e-4 on pointwise/stem kernels (none on depthwise kernels), BatchNormalization with
    momentum 0.99, ReLU; a 3x3 average pool, flatten, dense to ``num_classes`` logits.
    Initialisers as the reference: He normal for convs, Glorot uniform for depthwise and
    dense kernels. Width 0.25 at 96x96x3 has 221,794 parameters, as the reference.
    """
    import keras
    from keras import layers

    next_seed = _seeded(seed)
    l2 = keras.regularizers.L2(MOBILENET_V1_L2)

    def bn_relu(x, name: str):
        x = layers.BatchNormalization(momentum=MOBILENET_V1_BN_MOMENTUM, name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = layers.Conv2D(
        _filters(STEM_FILTERS, width),
        3,
        strides=2,
        padding="same",
        kernel_initializer=keras.initializers.HeNormal(seed=next_seed()),
        kernel_regularizer=l2,
        name="stem_conv",
    )(inputs)
    x = bn_relu(x, "stem")
    for i, (filters, stride) in enumerate(MOBILENET_V1_BLOCKS, start=1):
        x = layers.DepthwiseConv2D(
            3,
            strides=stride,
            padding="same",
            depthwise_initializer=keras.initializers.GlorotUniform(seed=next_seed()),
            name=f"block{i}_dw",
        )(x)
        x = bn_relu(x, f"block{i}_dw")
        x = layers.Conv2D(
            _filters(filters, width),
            1,
            padding="same",
            kernel_initializer=keras.initializers.HeNormal(seed=next_seed()),
            kernel_regularizer=l2,
            name=f"block{i}_pw",
        )(x)
        x = bn_relu(x, f"block{i}_pw")
    x = layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]), name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    logits = layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.GlorotUniform(seed=next_seed()),
        name="logits",
    )(x)
    return keras.Model(inputs, logits, name="mobilenet_v1")
