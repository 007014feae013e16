"""The demo serving a model zoo, in a real headless Chromium: the language pickers (targets follow the
source, swap only where the reverse exists), a translation in another direction, the compare view and the
BLEU-by-length plot; and on a phone-sized screen (390 x 844, touch): an n-best table whose words and
numbers stay on one line, and a heatmap of a long sentence that scrolls in its own box with readable
labels, read out on a tap.

The zoo is tiny untrained models in a temporary SEQ2SEQ_MODELS_DIR (tests/demozoo.py); one test serves the
shipped models in `models/` as a visitor meets them: every direction in the pickers, French -> English and
back, and the German -> English comparison models side by side.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gzip  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from demozoo import COMPARISON, make_zoo, serve_zoo  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated)"),
]
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "multi30k"
SENTENCE = "Ein Mann fährt mit dem Fahrrad durch die Stadt."
LONG = (  # about 60 source subwords for the tiny BPE
    "Ein älterer Mann mit einem blauen Hut und einer grünen Jacke steht neben einem kleinen Mädchen, "
    "das auf einem roten Fahrrad vor einem großen Gebäude in der Stadt fährt."
)
WAIT = 30_000  # ms


def _first_line(lang: str) -> str:
    with gzip.open(DATA / f"test_2016_flickr.{lang}.gz", "rt", encoding="utf-8") as f:
        return next(f).strip()


@pytest.fixture(scope="module")
def server(tmp_path_factory, make_translator):
    pytest.importorskip("playwright")
    with serve_zoo(make_zoo(tmp_path_factory.mktemp("zoo"), make_translator)) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright")
    from browser import launch
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        try:
            yield chromium
        finally:
            chromium.close()


def _pick(page, picker: str, option: "str | re.Pattern") -> None:
    """Choose `option` (its whole label, or a pattern) in the dropdown with elem_id `picker`."""
    _settled(page)
    page.locator(f"#{picker} input").click()
    page.locator(f"#{picker}").get_by_role("option", name=option, exact=True).click()


def _options(page, picker: str) -> list[str]:
    from playwright.sync_api import expect

    _settled(page)  # a picker being updated is covered by its loading overlay
    page.locator(f"#{picker} input").click()
    options = page.locator(f"#{picker}").get_by_role("option")
    expect(options.first).to_be_visible()
    names = options.all_inner_texts()
    page.keyboard.press("Escape")
    expect(options).to_have_count(0)
    page.locator(f"#{picker} input").blur()  # a later click focuses it again and opens the list
    return [name.strip().splitlines()[-1] for name in names]  # without the chosen option's check mark


def _settled(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator(".wrap.pending, .wrap.generating")).to_have_count(0, timeout=WAIT)


def test_browser_language_pickers_another_direction_and_the_compare_view(server, browser, tmp_path):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server.url, wait_until="domcontentloaded")
    source = page.locator("#source textarea")
    expect(source).to_be_visible(timeout=WAIT)
    expect(page.locator("#examples")).to_contain_text(_first_line("de")[:30])
    assert _options(page, "tgt-lang") == ["English"]

    _pick(page, "src-lang", "English")  # the targets follow: only English -> German exists
    expect(page.locator("#source")).to_contain_text("English", timeout=WAIT)
    expect(page.locator("#examples")).to_contain_text(_first_line("en")[:30], timeout=WAIT)
    assert _options(page, "tgt-lang") == ["German"]
    expect(page.locator("#tgt-lang input")).to_have_value("German")
    source.fill("A man rides a bike through the city.")
    page.locator("#translate-button").click()
    expect(page.locator("#translation textarea")).not_to_have_value("", timeout=WAIT)
    expect(page.locator("#translation")).to_contain_text("German")
    _settled(page)
    assert "multi30k-en-de" in server.models.pool.loaded  # loaded on its first request

    page.locator("#swap-languages").click()  # English -> German becomes German -> English
    expect(page.locator("#src-lang input")).to_have_value("German", timeout=WAIT)
    expect(page.locator("#tgt-lang input")).to_have_value("English")
    _pick(page, "src-lang", "French")  # there is no English -> French model: no swap
    expect(page.locator("#swap-languages")).to_be_disabled(timeout=WAIT)
    _settled(page)
    _pick(page, "src-lang", "Czech")  # its model cannot load: one message, and the page goes on
    expect(page.get_by_text("could not be loaded").first).to_be_visible(timeout=WAIT)
    _settled(page)
    _pick(page, "src-lang", "German")
    expect(page.locator("#swap-languages")).to_be_enabled(timeout=WAIT)
    expect(page.locator("#source")).to_contain_text("German", timeout=WAIT)
    _settled(page)

    page.get_by_role("tab", name="Compare").click()
    page.locator("#compare-source textarea").fill(SENTENCE)
    _pick(page, "compare-spec-3", f"Model {COMPARISON} (its own decoding, no attention)")
    page.locator("#compare-button").click()
    for number in (1, 2, 3):
        expect(page.locator(f"#compare-translation-{number} textarea")).not_to_have_value("", timeout=WAIT)
    expect(page.locator("#compare-label-1")).to_contain_text("Greedy search · multi30k-de-en")
    expect(page.locator("#compare-label-3")).to_contain_text(COMPARISON)
    expect(page.locator("#compare-heatmap-1 table")).to_be_visible()
    expect(page.locator("#compare-heatmap-3")).to_contain_text("this model has no attention")
    _settled(page)
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)

    page.get_by_role("tab", name="About the models").click()
    plot = page.locator("#bleu-by-length")
    expect(plot).to_contain_text("<b>13a</b>", timeout=WAIT)  # the caption, markup shown as text
    expect(plot.locator("canvas, svg").first).to_be_visible(timeout=WAIT)
    assert plot.locator("b").count() == 0
    expect(page.locator("#model-list")).to_contain_text("no attention")
    assert (tmp_path / "compare.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def shipped(browser):
    """The demo serving the shipped models (`models/`), as `python app.py` does."""
    with serve_zoo(ROOT / "models") as served:
        yield served


def _translate(page, text: str) -> str:
    from playwright.sync_api import expect

    page.locator("#source textarea").fill(text)
    page.locator("#translate-button").click()
    translation = page.locator("#translation textarea")
    expect(translation).not_to_have_value("", timeout=WAIT)
    _settled(page)
    return translation.input_value()


def test_browser_with_the_shipped_models_every_direction_and_the_comparison_models(shipped, browser):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(shipped.url, wait_until="domcontentloaded")
        expect(page.locator("#source textarea")).to_be_visible(timeout=WAIT)
        assert sorted(_options(page, "src-lang")) == ["Czech", "English", "French", "German"]
        _pick(page, "src-lang", "English")
        assert sorted(_options(page, "tgt-lang")) == ["Czech", "French", "German"]

        _pick(page, "src-lang", "French")  # French -> English, then swapped to English -> French
        expect(page.locator("#tgt-lang input")).to_have_value("English", timeout=WAIT)
        expect(page.locator("#examples")).to_contain_text(_first_line("fr")[:30], timeout=WAIT)
        _settled(page)
        english = _translate(page, _first_line("fr"))  # Un homme avec un chapeau orange regardant quelque chose.
        assert "man" in english.lower() and "orange hat" in english.lower(), english
        expect(page.locator("#heatmap table")).to_be_visible()
        page.locator("#swap-languages").click()
        expect(page.locator("#src-lang input")).to_have_value("English", timeout=WAIT)
        expect(page.locator("#tgt-lang input")).to_have_value("French")
        _settled(page)
        french = _translate(page, _first_line("en"))  # A man in an orange hat starring at something.
        assert "homme" in french.lower() and "orange" in french.lower(), french
        assert {"multi30k-fr-en", "multi30k-en-fr"} <= set(shipped.models.pool.loaded)

        _pick(page, "src-lang", "German")  # the compare view follows the pickers: German -> English
        expect(page.locator("#tgt-lang input")).to_have_value("English", timeout=WAIT)
        _settled(page)
        page.get_by_role("tab", name="Compare").click()
        page.locator("#compare-source textarea").fill(_first_line("de"))
        _pick(page, "compare-spec-2", re.compile(r"^Model multi30k-de-en-luong \("))
        _pick(page, "compare-spec-3", re.compile(r"^Model multi30k-de-en-no-attention \("))
        page.locator("#compare-button").click()
        for number in (1, 2, 3):
            expect(page.locator(f"#compare-translation-{number} textarea")).not_to_have_value("", timeout=WAIT)
        _settled(page)
        expect(page.locator("#compare-label-2")).to_contain_text("multi30k-de-en-luong")
        expect(page.locator("#compare-heatmap-2 table")).to_be_visible()
        expect(page.locator("#compare-heatmap-3")).to_contain_text("this model has no attention")
        flagship = page.locator("#compare-translation-1 textarea").input_value()
        assert "man" in flagship.lower() and "orange" in flagship.lower(), flagship
    finally:
        page.close()


# The lines each visible text of the element's table cells (gradio's grid cells) takes: (text, lines) per
# text node (a word broken one letter per line takes as many lines as it has letters).
LINES_PER_TEXT = """
(root) => [...root.querySelectorAll("[role=gridcell], [role=columnheader], th, td")]
    .filter((cell) => cell.offsetHeight > 0).flatMap((cell) => {
  const texts = [], walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter((r) => r.width > 0);
    if (rects.length) texts.push([node.textContent.trim(), new Set(rects.map((r) => Math.round(r.top))).size]);
  }
  return texts;
})
"""

# Whether some box inside the element scrolls sideways (its content is wider than it, overflow-x auto or scroll).
SCROLLS_SIDEWAYS = """
(root) => [...root.querySelectorAll("*")].some((box) =>
  box.scrollWidth > box.clientWidth + 1 && ["auto", "scroll"].includes(getComputedStyle(box).overflowX))
"""


def test_browser_on_a_phone_keeps_the_table_on_one_line_and_scrolls_the_heatmap(server, browser, tmp_path):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        source = page.locator("#source textarea")
        expect(source).to_be_visible(timeout=WAIT)
        source.fill(LONG)
        page.locator("#translate-button").click()
        expect(page.locator("#heatmap table")).to_be_visible(timeout=WAIT)
        expect(page.locator("#nbest")).to_contain_text("log-prob", timeout=WAIT)
        _settled(page)

        lines = page.locator("#nbest").evaluate(LINES_PER_TEXT)
        assert {"score", "log-prob", "tokens"} <= {text for text, _ in lines}
        assert all(count == 1 for _, count in lines), [cell for cell in lines if cell[1] != 1]
        assert page.locator("#nbest").evaluate(SCROLLS_SIDEWAYS)  # what does not fit scrolls instead

        box = page.locator("#heatmap .attn-scroll")
        width, scroll_width = box.evaluate("(e) => [e.clientWidth, e.scrollWidth]")
        assert width <= 390 and scroll_width > width  # wider than the screen: it scrolls in its own box
        assert box.evaluate("(e) => { e.scrollLeft = 150; return e.scrollLeft; }") > 0
        cell = page.locator("#heatmap td").nth(10)
        assert cell.bounding_box()["width"] >= 14  # cells keep their size instead of squeezing
        label_size = page.locator("#heatmap thead th span").first.evaluate("(e) => getComputedStyle(e).fontSize")
        assert float(label_size.removesuffix("px")) >= 11
        cell.scroll_into_view_if_needed()
        cell.tap()  # a finger: the cell's source word, target word and weight are read out
        expect(page.locator("#heatmap .attn-readout")).to_have_text(cell.get_attribute("title"))
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    finally:
        context.close()
