"""app.py: the entry point of the seq2seq-hub demo (and of its Hugging Face Space).

The demo itself is the package `seq2seq_hub.demo`; this shell only sets the environment it needs.

    python app.py [--model FOLDER_OR_HUB_ID] [--host 127.0.0.1] [--port 7860]
"""

import os
import sys

# No usage analytics and no Hub telemetry: both libraries read these when they are imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# gradio rebuilds its monitoring summary (a pandas table of up to 10,000 past events) after every event by
# default, which a busy Space pays on every request (BENCHMARKS.md, "Load"); every 50 events is enough.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "50")

from seq2seq_hub.demo.server import main  # noqa: E402  (after the environment is set)

if __name__ == "__main__":
    sys.exit(main())
