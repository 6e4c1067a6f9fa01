"""Draws a landscape on a running paint page with headless Chromium and saves a screenshot.

  python -m spade_jax.paint.screenshot --url http://127.0.0.1:8000/ --out docs/paint_landscape.png

Uses Playwright (the Python package) with the system's Chromium (`--chromium /usr/bin/chromium`;
Playwright's own browser download is never needed). `draw_landscape(page)` is what the browser tests
drive too: sky, clouds, a mountain ridge with snow, a lake, a sand shore, grass and trees, drawn with
the brush, fill and rectangle tools and the class keys (the browser tests drive the line tool).
"""

from __future__ import annotations

import argparse
import tempfile

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
KEYS = "1234567890"
SKY, CLOUD, MOUNTAIN, SNOW, HILL, WATER, SAND, GRASS, TREE, ROCK = range(10)


def launch(playwright, chromium: str = "/usr/bin/chromium", viewport=(1400, 760)):
  """A persistent context with a fresh user-data dir (nothing of the user's profile)."""
  return playwright.chromium.launch_persistent_context(
      tempfile.mkdtemp(prefix="paint_chromium_"), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
      viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=False)


class Canvas:
  """Model-pixel coordinates → mouse actions on the page's drawing canvas."""

  def __init__(self, page):
    self.page = page
    box = page.locator("#draw").bounding_box()
    self.h, self.w = page.evaluate("[window.paint.h, window.paint.w]")
    self.box = box

  def xy(self, x: float, y: float) -> tuple[float, float]:
    return (self.box["x"] + (x + 0.5) * self.box["width"] / self.w,
            self.box["y"] + (y + 0.5) * self.box["height"] / self.h)

  def drag(self, points, steps: int = 6):
    m = self.page.mouse
    m.move(*self.xy(*points[0]))
    m.down()
    for p in points[1:]:
      m.move(*self.xy(*p), steps=steps)
    m.up()

  def click(self, x, y, alt: bool = False):
    if alt:
      self.page.keyboard.down("Alt")
    self.page.mouse.click(*self.xy(x, y))
    if alt:
      self.page.keyboard.up("Alt")


def wait_idle(page, timeout: float = 60000):
  """Until no request of the page is in flight (a stroke's render starts on pointer-up)."""
  page.wait_for_function("window.paint.pending === 0", timeout=timeout)


def choose(page, cls: int, tool: str, size: int | None = None):
  page.keyboard.press(KEYS[cls])
  page.keyboard.press({"brush": "b", "line": "l", "rect": "r", "fill": "f", "eraser": "e"}[tool])
  if size is not None:
    page.evaluate(f"document.getElementById('size').value = {size}; "
                  "document.getElementById('size').dispatchEvent(new Event('input'))")


def draw_landscape(page):
  """The landscape of the screenshot (fractions of the model's size, any resolution)."""
  c = Canvas(page)
  w, h = c.w, c.h
  X = lambda f: f * (w - 1)  # noqa: E731
  Y = lambda f: f * (h - 1)  # noqa: E731
  page.click("#clear")
  choose(page, MOUNTAIN, "brush", max(1, w // 32))  # the ridge, edge to edge, then filled below
  c.drag([(X(0), Y(.52)), (X(.22), Y(.28)), (X(.38), Y(.44)), (X(.62), Y(.2)), (X(.84), Y(.40)), (X(1), Y(.34))])
  choose(page, MOUNTAIN, "fill")
  c.click(X(.5), Y(.6))
  choose(page, SNOW, "brush", max(1, w // 20))
  c.drag([(X(.58), Y(.25)), (X(.62), Y(.22)), (X(.66), Y(.26))])
  c.drag([(X(.19), Y(.32)), (X(.22), Y(.3)), (X(.25), Y(.33))])
  choose(page, CLOUD, "brush", max(2, w // 10))
  c.drag([(X(.1), Y(.1)), (X(.3), Y(.12))])
  c.drag([(X(.7), Y(.06)), (X(.85), Y(.08))])
  choose(page, WATER, "rect")
  c.drag([(X(0), Y(.58)), (X(1), Y(.74))])
  choose(page, SAND, "rect")
  c.drag([(X(0), Y(.74)), (X(1), Y(.78))])
  choose(page, GRASS, "rect")
  c.drag([(X(0), Y(.78)), (X(1), Y(1))])
  choose(page, TREE, "brush", max(2, w // 10))
  for x in (.08, .2, .8, .92):
    c.drag([(X(x), Y(.8)), (X(x), Y(.9))], steps=3)
  choose(page, ROCK, "brush", max(2, w // 14))
  c.drag([(X(.5), Y(.88)), (X(.56), Y(.9))])


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--url", required=True)
  ap.add_argument("--out", required=True)
  ap.add_argument("--chromium", default="/usr/bin/chromium")
  ap.add_argument("--variations", action="store_true", help="also show the variations grid")
  a = ap.parse_args(argv)
  from playwright.sync_api import sync_playwright
  with sync_playwright() as p:
    ctx = launch(p, a.chromium, viewport=(1400, 1000 if a.variations else 760))
    page = ctx.new_page()
    page.goto(a.url)
    page.wait_for_function("window.paint && window.paint.ready", timeout=120000)
    draw_landscape(page)
    wait_idle(page)
    if a.variations:
      page.click("#variations-button")
      page.wait_for_selector("#variations figure", timeout=120000)
    page.screenshot(path=a.out)
    ctx.close()
  print(f"wrote {a.out}")


if __name__ == "__main__":
  main()
