"""A small MobileNetV1-style person detector.

Only layer types that the int8 TFLite model turns into CONV_2D, DEPTHWISE_CONV_2D,
AVERAGE_POOL_2D, RESHAPE and FULLY_CONNECTED are used: BatchNormalization folds into the
convolutions and ReLU6 fuses into them as their activation. The model outputs logits
(no softmax); train it with ``from_logits=True``.
"""

from __future__ import annotations

import keras
from keras import layers

MODEL_FAMILY = "mobilenet_v1_like"

# Keras layer classes build_model may use (tests check this list).
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
# (pointwise filters, depthwise stride) per depthwise-separable block at width 1.0. The
# channels are those of MobileNetV1's first seven blocks; the strides move MobileNetV1's
# stride-2 steps one block earlier (64 s2, 128, 128 s2, 256, 256 s2, 512, 512), so no
# block runs at 48x48. On 2 CPU cores that halves training time per image at the same
# width; on the synthetic doorbell set it was as accurate for the same training time.
BLOCKS = ((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 1))
BN_MOMENTUM = 0.9


def _filters(base: int, width: float) -> int:
    return max(4, round(base * width))


def build_model(
    input_shape: tuple[int, int, int] = (96, 96, 1),
    num_classes: int = 2,
    width: float = 0.25,
    seed: int = 0,
) -> keras.Model:
    """MobileNetV1-like network: 3x3/2 conv stem, seven depthwise-separable blocks
    (four stride-2 steps in all, so 96x96 ends at 6x6), average pooling over the whole
    remaining map, flatten and a dense layer producing ``num_classes`` logits.

    width: channel multiplier; 0.25 gives a stem of 8 channels and blocks of 16, 32, 32,
        64, 64, 128, 128 channels.
    seed: seeds every kernel initialiser, so the same arguments build the same weights.
    """
    if width <= 0:
        raise ValueError(f"width must be > 0, not {width}")
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))

    def init() -> keras.initializers.Initializer:
        return keras.initializers.HeNormal(seed=next(seeds))

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
        kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
        name="logits",
    )(x)
    return keras.Model(inputs, logits, name=MODEL_FAMILY)
