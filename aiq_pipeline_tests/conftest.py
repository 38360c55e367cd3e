"""Suite-wide settings: short retry pauses so fault-injection tests stay fast (behaviour is unchanged)."""

import os

os.environ.setdefault("AIQ_PIPELINE_TRANSIENT_RETRY_DELAY", "0.2")
