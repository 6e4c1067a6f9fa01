"""The paint page in a real browser: Playwright driving Debian's Chromium (never a downloaded browser)
against the paint server with the tiny VAE SPADE (random variables) on port 0.

Asserts what a user sees and what the page sends: a stroke with the water class changes exactly those
pixels of the id map (and the PNG the server receives is that map), undo / redo, the tools (line,
rectangle, flood fill, eyedropper), the result image changing and having the model's size, the
random example, the variations grid, a style photo, colour-PNG import, a bad upload's error text,
and that no request goes to another host."""

import base64
import os
import shutil
import urllib.parse

import numpy as np
import pytest

from paint_test_utils import WATER, control_engine, decode, png, serve, tiny_family
from spade_jax.data.synthetic.layout import CLASS_COLOURS
from spade_jax.paint import screenshot
from spade_jax.paint.engine import Engine

H = W = 32


def _chromium():
  for path in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
    if path and os.access(path, os.X_OK):
      return path
  return None


@pytest.fixture(scope="module")
def browser():
  pw = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                           "(pip install -r requirements.txt)")
  path = _chromium()
  if path is None:
    pytest.skip("no Chromium on this machine: apt-get install -y chromium (.ci/run does it)")
  with pw.sync_playwright() as p:
    ctx = screenshot.launch(p, path)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  family, variables = tiny_family(str(tmp_path_factory.mktemp("paint_data")))
  engine = Engine(family, variables)  # compiled on first use (test_paint_api.py tests the warm-up)
  srv = serve(engine, family.config)
  yield srv
  srv.close()


class Page:
  """A fresh page on the server, recording every request it makes and the generate bodies."""

  def __init__(self, ctx, url, hw=(H, W)):
    self.hw = hw
    self.page = ctx.new_page()
    self.requests, self.generated, self.errors = [], [], []
    self.page.on("request", self._on_request)
    self.page.on("pageerror", lambda e: self.errors.append(str(e)))
    self.page.goto(url)
    self.page.wait_for_function("window.paint && window.paint.ready", timeout=60000)
    self.canvas = screenshot.Canvas(self.page)

  def _on_request(self, r):
    self.requests.append(r.url)
    if "/api/generate" in r.url:
      self.generated.append((r.url, r.post_data_buffer))

  def ids(self) -> np.ndarray:
    return np.asarray(self.page.evaluate("window.paint.getIds()"), np.uint8).reshape(self.hw)

  def idle(self):
    screenshot.wait_idle(self.page)

  def result(self) -> np.ndarray:
    src = self.page.evaluate("""async () => {
        const r = await fetch(document.getElementById('result').src);
        const b = new Uint8Array(await r.arrayBuffer());
        let s = ''; for (const x of b) s += String.fromCharCode(x); return btoa(s); }""")
    return decode(base64.b64decode(src))

  def error_text(self) -> str:
    self.page.wait_for_selector("#error:not([hidden])", timeout=30000)
    return self.page.inner_text("#error")


def _only_this_server(p: Page, server):
  origin = server.url.rstrip("/")
  foreign = [u for u in p.requests if not (u.startswith(origin + "/") or u.startswith("blob:" + origin + "/")
                                           or u.startswith("data:"))]
  assert not foreign, f"requests to another host: {foreign}"
  assert not p.errors, p.errors


@pytest.fixture
def page(browser, server):
  p = Page(browser, server.url)
  yield p
  _only_this_server(p, server)
  p.page.close()


def test_water_stroke_changes_exactly_those_pixels_and_undo_restores(page):
  page.idle()
  before, img0 = page.ids(), page.result()
  assert (before == 0).all() and img0.shape == (H, W, 3)  # a sky-only map (the eraser class)
  assert page.page.evaluate("[document.getElementById('result').naturalWidth, "
                            "document.getElementById('result').naturalHeight]") == [W, H]
  page.page.keyboard.press(str(WATER + 1))  # class keys 1..9, 0
  size = page.page.evaluate("window.paint.size")
  y, x0, x1 = 9, 4, 26
  page.canvas.drag([(x0, y), (x1, y)])
  page.idle()
  after = page.ids()
  changed = after != before
  assert (after[changed] == WATER).all()
  assert changed[y, x0:x1 + 1].all()  # the stroke's centre line
  rows, cols = np.nonzero(changed)
  r = size / 2 + 1
  assert rows.min() >= y - r and rows.max() <= y + r and cols.min() >= x0 - r and cols.max() <= x1 + r
  # the server received that id map, as a single-channel PNG
  url, body = page.generated[-1]
  np.testing.assert_array_equal(decode(body), after)
  assert decode(body).ndim == 2
  img1 = page.result()
  assert img1.shape == (H, W, 3) and not np.array_equal(img1, img0)
  page.page.keyboard.press("Control+z")
  page.idle()
  np.testing.assert_array_equal(page.ids(), before)
  np.testing.assert_array_equal(page.result(), img0)  # same map, same seed: the same photo
  page.page.keyboard.press("Control+Shift+z")
  page.idle()
  np.testing.assert_array_equal(page.ids(), after)


def test_line_rect_fill_and_eyedropper(page):
  c, kb = page.canvas, page.page.keyboard
  kb.press("3")  # mountain (id 2)
  kb.press("r")
  c.drag([(2, 2), (10, 6)])
  ids = page.ids()
  expect = np.zeros((H, W), np.uint8)
  expect[2:7, 2:11] = 2
  np.testing.assert_array_equal(ids, expect)
  kb.press("8")  # grass (id 7)
  kb.press("f")
  c.click(20, 20)
  expect[expect == 0] = 7
  np.testing.assert_array_equal(page.ids(), expect)
  kb.press("1")
  kb.press("l")
  page.page.evaluate("document.getElementById('size').value = 1; "
                     "document.getElementById('size').dispatchEvent(new Event('input'))")
  c.drag([(0, 20), (31, 20)])
  expect[20, :] = 0
  np.testing.assert_array_equal(page.ids(), expect)
  c.click(4, 4, alt=True)  # eyedropper on the rectangle
  assert page.page.evaluate("window.paint.cls") == 2
  assert page.page.inner_text("#current-name") == "mountain"
  kb.press("Control+z")
  kb.press("Control+z")
  kb.press("Control+z")
  page.idle()
  assert (page.ids() == 0).all()


def test_random_example_variations_and_seed(page):
  page.idle()
  page.page.click("#example")
  page.page.wait_for_function("new Set(window.paint.getIds()).size > 1", timeout=60000)
  page.idle()
  ids = page.ids()
  assert ids.max() < 10
  page.page.click("#variations-button")
  page.page.wait_for_selector("#variations figure", timeout=60000)
  seeds = page.page.eval_on_selector_all("#variations figure", "fs => fs.map(f => +f.dataset.seed)")
  assert seeds == [1, 2, 3, 4, 5, 6]
  page.page.click("#variations figure:nth-child(3)")
  page.idle()
  assert page.page.input_value("#seed") == "3"
  url, body = page.generated[-1]
  assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["seed"] == ["3"]
  np.testing.assert_array_equal(decode(body), ids)
  assert "seed 3" in page.page.inner_text("#status") and "rendered in" in page.page.inner_text("#status")


def test_style_photo_and_colour_import(page, tmp_path):
  photo = np.zeros((40, 40, 3), np.uint8)
  photo[..., 2] = 240
  page.page.set_input_files("#style-file-style_image", files=[{"name": "blue.png", "mimeType": "image/png",
                                                                "buffer": png(photo)}])
  page.page.wait_for_selector("#style-thumb-style_image:not([hidden])", timeout=30000)
  page.idle()
  url, _ = page.generated[-1]
  assert "style=" in url
  lab = np.zeros((H, W), np.uint8)
  lab[16:] = WATER
  lab[:, :5] = 8
  colours = np.asarray(CLASS_COLOURS, np.uint8)
  page.page.set_input_files("#import", files=[{"name": "labels_colour.png", "mimeType": "image/png",
                                               "buffer": png(colours[lab])}])
  page.page.wait_for_function(f"window.paint.getIds()[{16 * W + 10}] === {WATER}", timeout=30000)
  np.testing.assert_array_equal(page.ids(), lab)


def test_bad_uploads_show_the_error_text(page):
  page.idle()
  page.page.set_input_files("#import", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                               "buffer": b"not an image at all"}])
  assert page.error_text().startswith("upload: not a readable image (cannot identify image file")
  rgb = np.asarray(CLASS_COLOURS, np.uint8)[np.zeros((H, W), np.uint8)]
  rgb[3, 7] = (250, 0, 250)
  page.page.set_input_files("#import", files=[{"name": "aa.png", "mimeType": "image/png", "buffer": png(rgb)}])
  page.page.wait_for_function("document.getElementById('error').textContent.includes('pixel')")
  assert page.page.inner_text("#error").startswith(
      "upload: colour (250, 0, 250) at pixel (x=7, y=3) is not the colour of any class of this model")
  page.page.set_input_files("#import", files=[{"name": "small.png", "mimeType": "image/png",
                                               "buffer": png(np.zeros((8, 8), np.uint8))}])
  page.page.wait_for_function("document.getElementById('error').textContent.includes('8x8')")
  assert page.page.inner_text("#error") == ("upload: size 8x8 (HxW) does not match the model's 32x32 "
                                            "(crop_size 32, aspect_ratio 1.0)")
  assert (page.ids() == 0).all()  # nothing was imported
  page.page.set_input_files("#style-file-style_image", files=[{"name": "x.jpg", "mimeType": "image/jpeg",
                                                                "buffer": b"\xff\xd8 broken"}])
  page.page.wait_for_function("document.getElementById('error').textContent.startsWith('style photo')")
  assert page.page.inner_text("#error").startswith("style photo: not a readable image")


def test_the_landscape_drawing(page):
  screenshot.draw_landscape(page.page)
  page.idle()
  ids = page.ids()
  present = set(np.unique(ids).tolist())
  assert {0, 1, 2, 5, 6, 7, 8} <= present, present
  assert (ids[-1] == 7).sum() > W // 2 and (ids[int(.66 * (H - 1))] == WATER).all()
  url, body = page.generated[-1]
  np.testing.assert_array_equal(decode(body), ids)
  # the export buttons' files: the ids, and the classes' exact colours (the page's own PNG encoder)
  for fn, expect in (("idsPNG", ids), ("colourPNG", np.asarray(CLASS_COLOURS, np.uint8)[ids])):
    b64 = page.page.evaluate(f"""async () => {{
        const b = new Uint8Array(await (await window.paint.{fn}()).arrayBuffer());
        let s = ''; for (const x of b) s += String.fromCharCode(x); return btoa(s); }}""")
    np.testing.assert_array_equal(decode(base64.b64decode(b64)), expect)


def test_per_family_controls_from_the_input_spec(browser):
  """Per-class numbers, class checkboxes and a slider (the pix2pixHD / SEAN / SinGAN hooks) on a
  stand-in family: the page builds them from /api/model and sends what the user sets."""
  engine = control_engine(photo=False, size=16)
  srv = serve(engine, engine.family.config)
  try:
    p = Page(browser, srv.url, hw=(16, 16))
    p.idle()
    assert p.page.locator("input[data-control=clusters]").count() == 3
    assert p.page.locator("input[data-control=regions]:checked").count() == 3  # default 1
    p.page.fill("input[data-control=clusters][data-class='0']", "3")
    p.page.dispatch_event("input[data-control=clusters][data-class='0']", "change")
    p.idle()
    p.page.uncheck("input[data-control=regions][data-class='0']")
    p.idle()
    p.page.evaluate("const s = document.getElementById('slider-start'); s.value = 4; "
                    "s.dispatchEvent(new Event('change'))")
    p.idle()
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.generated[-1][0]).query)
    assert q == {"clusters": ["0:3"], "regions": ["0:0"], "start": ["4"]}
    np.testing.assert_array_equal(p.result()[0, 0], [3, 0, 4])  # class 0 everywhere: its values
    _only_this_server(p, srv)
    p.page.close()
  finally:
    srv.close()


def test_a_required_style_photo_is_asked_for_before_any_render(browser):
  engine = control_engine(photo=True, size=16)  # e.g. SEAN: no render without a style photo
  srv = serve(engine, engine.family.config)
  try:
    p = Page(browser, srv.url, hw=(16, 16))
    assert p.error_text() == 'photo: this model needs a style photo: choose one under "Style photo"'
    assert not p.generated
    p.page.set_input_files("#style-file-photo", files=[{"name": "p.png", "mimeType": "image/png",
                                                         "buffer": png(np.zeros((20, 20, 3), np.uint8))}])
    p.page.wait_for_function("window.paint.renders > 0", timeout=30000)
    assert "style=" in p.generated[-1][0]
    np.testing.assert_array_equal(p.result()[0, 0], [0, 1, 2])
    assert p.page.is_hidden("#error")
    _only_this_server(p, srv)
    p.page.close()
  finally:
    srv.close()
