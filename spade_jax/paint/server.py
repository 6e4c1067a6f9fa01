"""The paint server: the standard library's `ThreadingHTTPServer`, the page from `static/`, and a
JSON API (every error is `{"error": "one line"}` with status 400; the server keeps running).

  GET  /                  the page (HTML/JS/CSS from this package; nothing from another host)
  GET  /api/model         family, classes (id, name, colour), image_size [h, w], inputs, controls, step
  POST /api/generate      body: single-channel id PNG (Content-Type image/png) → the result PNG;
                          query: seed, style=TOKEN, per-class / slider controls (see controls.py);
                          headers X-Seed, X-Render-Ms (model call), X-Server-Ms (request → PNG)
  POST /api/variations    body: id PNG → JSON {"seeds": [...], "images": [base64 PNG, ...], "ms"}
  POST /api/style         body: a photo → JSON {"token", "size"}; GET /api/style/TOKEN.png: the photo
                          at the model's size
  POST /api/labels        body: id PNG or colour PNG → JSON {"size", "format", "ids" (base64 uint8)};
                          `?format=png`: an id PNG instead
  GET  /api/example       a random val label map (JSON as /api/labels, + "index", "count"); ?index=N
  POST /api/export        body: id PNG → zip (labels.png, labels_colour.png, result.png, style.png,
                          params.json with the eval.py command that reproduces it)

A render request that is still waiting when a newer one of the same kind arrives is answered 409
(`{"error": ..., "superseded": true}`): only the latest runs.
"""

from __future__ import annotations

import base64
import http.server
import json
import mimetypes
import os
import sys
import time
import traceback
import urllib.parse
from typing import Optional

import numpy as np

from spade_jax.paint import codec
from spade_jax.paint import export as export_lib
from spade_jax.paint.worker import Superseded, Worker

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
MAX_BODY = 64 << 20


class HTTPError(Exception):
  def __init__(self, status: int, message: str, **extra):
    super().__init__(message)
    self.status, self.extra = status, extra


class PaintServer(http.server.ThreadingHTTPServer):
  daemon_threads = True
  allow_reuse_address = False  # a port in use is an error, not silently shared

  def __init__(self, address, engine, *, meta: dict, examples=None, worker: Optional[Worker] = None,
               log_requests: bool = False):
    super().__init__(address, Handler)
    self.engine, self.meta, self.examples = engine, meta, examples
    self.worker = worker or Worker()
    self.log_requests = log_requests

  @property
  def url(self) -> str:
    host, port = self.server_address[:2]
    return f"http://{host}:{port}/"

  def model_json(self) -> dict:
    e = self.engine
    return {"family": e.family.name, "source": self.meta["source"], "step": self.meta["step"],
            "image_size": list(e.hw), "classes": [c.to_json() for c in e.classes],
            "inputs": [{"name": i.name, "kind": i.kind, "required": i.required, "doc": i.doc}
                       for i in e.spec.values()],
            "multimodal": bool(e.family.multimodal), "controls": e.controls,
            "variations": e.num_variations, "eraser": _eraser_id(e),
            "examples": self.examples is not None}

  def close(self):
    self.shutdown()
    self.server_close()
    self.worker.stop()


def _eraser_id(engine) -> int:
  """What the eraser paints: the don't-care id when the model has one, else class 0."""
  return engine.export_dontcare if engine.export_dontcare is not None else 0


def _ids_json(ids: np.ndarray, **extra) -> dict:
  return {"size": list(ids.shape), "ids": base64.b64encode(np.asarray(ids, np.uint8).tobytes()).decode(),
          "classes_present": sorted(int(v) for v in np.unique(ids)), **extra}


class Handler(http.server.BaseHTTPRequestHandler):
  server: PaintServer
  protocol_version = "HTTP/1.1"

  # ----- plumbing -----
  def log_message(self, fmt, *args):
    if self.server.log_requests:
      sys.stderr.write(f"paint: {self.address_string()} {fmt % args}\n")

  def _send(self, status: int, body: bytes, ctype: str, headers: Optional[dict] = None):
    self.send_response(status)
    self.send_header("Content-Type", ctype)
    self.send_header("Content-Length", str(len(body)))
    self.send_header("Cache-Control", "no-store")
    for k, v in (headers or {}).items():
      self.send_header(k, v)
    self.end_headers()
    if self.command != "HEAD":
      self.wfile.write(body)

  def _json(self, obj, status: int = 200, headers: Optional[dict] = None):
    self._send(status, json.dumps(obj).encode(), "application/json", headers)

  def _body(self) -> bytes:
    n = int(self.headers.get("Content-Length") or 0)
    if n > MAX_BODY:
      raise HTTPError(413, f"upload of {n} bytes is over the {MAX_BODY >> 20} MiB limit")
    return self.rfile.read(n) if n else b""

  def _query(self) -> tuple[str, dict]:
    url = urllib.parse.urlsplit(self.path)
    q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    return url.path, {k: v[-1] for k, v in q.items()}

  def _dispatch(self, routes: dict):
    t0 = time.perf_counter()
    path, query = self._query()
    try:
      fn = routes.get(path)
      if fn is None:
        if path.startswith("/api/style/") and self.command == "GET":
          return self._style_png(path)
        if self.command == "GET" and not path.startswith("/api/"):
          return self._static(path)
        raise HTTPError(404, f"{self.command} {path}: no such endpoint")
      body = self._body() if self.command == "POST" else b""
      fn(query, body, t0)
    except HTTPError as e:
      self._json({"error": str(e), **e.extra}, e.status)
    except Superseded as e:
      self._json({"error": str(e), "superseded": True}, 409)
    except (ValueError, FileNotFoundError) as e:
      self._json({"error": str(e)}, 400)
    except (BrokenPipeError, ConnectionResetError):
      pass
    except Exception as e:  # noqa: BLE001 - a bug: say so, keep serving
      traceback.print_exc()
      self._json({"error": f"internal error: {type(e).__name__}: {e}"}, 500)

  def do_GET(self):
    self._dispatch({"/api/model": self._model, "/api/example": self._example, "/": self._index,
                    "/index.html": self._index})

  def do_HEAD(self):
    self.do_GET()

  def do_POST(self):
    self._dispatch({"/api/generate": self._generate, "/api/variations": self._variations,
                    "/api/style": self._style, "/api/labels": self._labels, "/api/export": self._export})

  # ----- static -----
  def _index(self, query, body, t0):
    self._static("/index.html")

  def _static(self, path: str):
    name = path.lstrip("/")
    if name.startswith("static/"):
      name = name[len("static/"):]
    full = os.path.normpath(os.path.join(STATIC, name))
    if not full.startswith(STATIC + os.sep) or not os.path.isfile(full):
      raise HTTPError(404, f"{path}: not found")
    with open(full, "rb") as f:
      data = f.read()
    ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype.endswith("javascript"):
      ctype += "; charset=utf-8"
    self._send(200, data, ctype)

  # ----- API -----
  def _model(self, query, body, t0):
    self._json(self.server.model_json())

  def _prepare(self, query: dict, body: bytes) -> tuple[np.ndarray, dict]:
    e = self.server.engine
    ids = e.read_ids(body, "label PNG")
    return ids, e.prepare(ids, query, "label PNG")

  def _generate(self, query, body, t0):
    ids, job = self._prepare(query, body)
    res = self.server.worker.submit(lambda: self.server.engine.run_render(job), lane="render").result()
    png = codec.png(res["image"])
    headers = {"X-Render-Ms": f"{res['ms']:.1f}", "X-Server-Ms": f"{(time.perf_counter() - t0) * 1e3:.1f}",
               "X-Params": json.dumps(res["params"])}
    if res["seed"] is not None:
      headers["X-Seed"] = str(res["seed"])
    self._send(200, png, "image/png", headers)

  def _variations(self, query, body, t0):
    e = self.server.engine
    if not e.num_variations:
      raise ValueError(f"variations need a multimodal model; this {e.family.name} model is deterministic")
    ids, job = self._prepare(query, body)
    res = self.server.worker.submit(lambda: e.run_variations(job), lane="variations").result()
    self._json({"seeds": res["seeds"], "ms": round(res["ms"], 1),
                "images": [base64.b64encode(codec.png(im)).decode() for im in res["images"]],
                "server_ms": round((time.perf_counter() - t0) * 1e3, 1)})

  def _style(self, query, body, t0):
    e = self.server.engine
    token = e.add_style(body, "style photo")
    self._json({"token": token, "size": list(e.hw)})

  def _style_png(self, path: str):
    token = path[len("/api/style/"):]
    token = token[:-4] if token.endswith(".png") else token
    try:
      photo = self.server.engine.style_photo(token, "style")
    except ValueError as err:
      raise HTTPError(404, str(err)) from None
    self._send(200, codec.png(photo), "image/png")

  def _labels(self, query, body, t0):
    e = self.server.engine
    fmt = query.pop("format", "json")
    if query:
      raise ValueError(f"unknown parameter {sorted(query)[0]!r} (POST /api/labels takes: format=json|png)")
    ids, kind = e.read_labels(body, "upload")
    if fmt == "png":
      return self._send(200, codec.id_png(ids, e.export_dontcare), "image/png")
    if fmt != "json":
      raise ValueError(f"format: {fmt!r} is not json or png")
    self._json(_ids_json(ids, format=kind))

  def _example(self, query, body, t0):
    ex = self.server.examples
    if ex is None:
      raise ValueError("random example: this server has no examples (start it with --examples DIR)")
    index = query.get("index")
    try:
      index = None if index in (None, "") else int(index)
    except ValueError:
      raise ValueError(f"index: expected an integer, got {index!r}") from None
    i, count, ids = ex.get(index)
    self.server.engine.check_ids(ids, f"example {i}")
    self._json(_ids_json(ids, format="ids", index=i, count=count))

  def _export(self, query, body, t0):
    e = self.server.engine
    ids, job = self._prepare(query, body)
    res = self.server.worker.submit(lambda: e.run_render(job)).result()
    data = export_lib.export_zip(e, self.server.meta, ids, res)
    self._send(200, data, "application/zip", {"Content-Disposition": 'attachment; filename="paint_export.zip"'})
