"""handlers.py: the functions the page's events call: translate (direction -> loaded model -> request ->
batched translator -> views), and redrawing the heatmap and confidences for another n-best entry or with
subwords unmerged.

Library and request errors become `gr.Error` toasts with the message escaped (`user_errors`, shared with
`compare`); anything unexpected is logged and shown as one sentence.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr

from .panel import language_name
from .pool import DemoModels, ModelLoadError
from .requests import check_text, parse_request
from .views import confidence_spans, heatmap_html, nbest_rows, notice_markdown, result_json

logger = logging.getLogger("seq2seq_hub.demo")


def user_error(message: str) -> gr.Error:
    # Toasts render HTML: escape, so nothing in a message is ever taken as markup.
    return gr.Error(html.escape(message, quote=False), print_exception=False)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn what goes wrong inside into one `gr.Error` toast: request and library errors and models that
    fail to load with their own message, anything unexpected logged and told in one sentence."""
    try:
        yield
    except (ValueError, TypeError, ModelLoadError) as err:  # InputError, and the library's own argument checks
        raise user_error(str(err)) from None
    except Exception:
        logger.exception("translation failed")
        raise user_error("The translation failed because of an internal error (it has been logged).") from None


def translate_handler(models: Any, max_batch_size: int = 16) -> Callable[..., tuple]:
    """The `translate` event of a page serving `models` (a `DemoModels`, or one loaded `Translator`):
    keyword arguments named as the API's parameters (see `layout.decoding_controls`, then `src_lang` and
    `tgt_lang`) in; the seven outputs of `layout.build_demo` out.

    Requests of a direction that arrive together are decoded together (up to `max_batch_size` at once, see
    `BatchingTranslator`); each caller renders its own views."""
    models = DemoModels.of(models, max_batch_size=max_batch_size)

    def translate(src_lang: Any = None, tgt_lang: Any = None, **raw: Any) -> tuple:
        with user_errors():
            src, tgt = models.direction(src_lang, tgt_lang)
            source_language = language_name(src)
            check_text(raw.get("text"), source_language)  # before loading a model for it
            served = models.served(src, tgt)
            translator, cfg = served.translator, served.translator.config
            request = parse_request(
                **raw,
                defaults=translator.generation_options,
                max_target_length=cfg.max_target_length,
                source_language=source_language,
            )
            hyp = served.batcher.translate(request.text, request.options, request.prefix)
        return (
            hyp.text,
            notice_markdown(request.notices, hyp, cfg.max_source_length),
            heatmap_html(hyp, request.merge),
            nbest_rows(hyp),
            confidence_spans(hyp),
            result_json(hyp),
            (hyp, 0),  # the state: the result and the n-best row shown
        )

    translate.models = models  # type: ignore[attr-defined]  # for tests and monitoring
    translate.batcher = models.served().batcher  # type: ignore[attr-defined]  # the default direction's
    return translate


def show(state, merge, row=None):
    """Heatmap and confidences of n-best entry `row` (default: the one shown now); state is (hypothesis, row)."""
    if not state:
        return gr.skip(), gr.skip(), state
    hyp, index = state
    hyps = hyp.nbest or [hyp]
    index = index if row is None else min(max(row, 0), len(hyps) - 1)
    return heatmap_html(hyps[index], bool(merge), rank=index + 1), confidence_spans(hyps[index]), (hyp, index)


def select_row(state, merge, evt: gr.SelectData):
    """A click on the n-best table: show that hypothesis."""
    return show(state, merge, row=evt.index[0] if isinstance(evt.index, (list, tuple)) else None)
