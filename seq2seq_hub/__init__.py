"""seq2seq-hub: attention-based recurrent sequence-to-sequence translation, shared on the Hub."""

from .config import Seq2SeqConfig
from .decoding import DecodingOptions
from .hypothesis import Hypothesis
from .modeling.model import Seq2SeqModel, Seq2SeqOutput
from .search import RawHypothesis
from .tokenizer import Seq2SeqTokenizer
from .translator import Translator
from .zoo import list_models, load_direction

__version__ = "0.1.0"

__all__ = [
    "DecodingOptions",
    "Hypothesis",
    "RawHypothesis",
    "Seq2SeqConfig",
    "Seq2SeqModel",
    "Seq2SeqOutput",
    "Seq2SeqTokenizer",
    "Translator",
    "__version__",
    "list_models",
    "load_direction",
]
