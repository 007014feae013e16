"""`python -m seq2seq_hub.cli`: the `seq2seq-hub` command."""

import sys

from . import main

sys.exit(main())
