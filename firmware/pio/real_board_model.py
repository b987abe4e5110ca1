"""Pre-script of the real-board environments (nano33ble, esp32s3eye): builds the compiled
model folder named by the PEEKLESS_MODEL_DIR environment variable. UNTESTED here (these
environments need PlatformIO's registry)."""

import os

Import("env")  # noqa: F821 - provided by PlatformIO

model_dir = os.environ.get("PEEKLESS_MODEL_DIR", "")
if not os.path.isfile(os.path.join(model_dir, "peekless_model.c")):
    raise SystemExit("set PEEKLESS_MODEL_DIR to a compiled model folder (peekless compile)")
env.BuildSources(os.path.join("$BUILD_DIR", "model_obj"), model_dir)  # noqa: F821
