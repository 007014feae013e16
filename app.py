"""app.py: the entry point of the seq2seq-hub demo (and of its Hugging Face Space).

The demo itself is the package `seq2seq_hub.demo`; this shell only sets the environment it needs.

    python app.py [--model FOLDER_OR_HUB_ID] [--host 127.0.0.1] [--port 7860]
"""

import os
import sys

# No usage analytics and no Hub telemetry: both libraries read these when they are imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# OpenMP threads sleep when idle instead of spinning: a server's decoding thread shares the cores with the
# web server's threads (measured with benchmarks/load.py: 15.4 vs 11.4 requests/s from 16 clients, single
# requests as fast). Read when torch loads OpenMP, so set before the import below.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from seq2seq_hub.demo.server import main  # noqa: E402  (after the environment is set)

if __name__ == "__main__":
    sys.exit(main())
