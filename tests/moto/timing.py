"""How long the emulator's timed states last: one reader of the MOTO_*_SECONDS settings the patch
modules share (data.py, ecs_services.py, egress.py, interfaces.py). Time is compressed, never
skipped: a state takes seconds where AWS takes minutes, and 0 turns it off only where a test asks.
"""

import os


def seconds(env: str, default: float) -> float:
    """The duration set by the environment variable `env` of the moto process, in seconds (at
    least 0), else `default` (unset, or not a number)."""
    try:
        return max(float(os.environ.get(env, str(default)) or 0), 0.0)
    except ValueError:
        return default
