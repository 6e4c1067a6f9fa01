"""Helpers of the paint tests: the tiny VAE SPADE (random variables) behind a server on port 0, and
plain HTTP calls to it."""

import http.client
import io
import json
import threading
import urllib.parse

import numpy as np
from PIL import Image

from model_utils import load_config, random_variables
from spade_jax import models
from spade_jax.configs import common
from spade_jax.paint.engine import Engine
from spade_jax.paint.examples import Examples
from spade_jax.paint.server import PaintServer

WATER = 5  # synthetic landscapes: sky, cloud, mountain, snow, hill, water, ...


def tiny_family(data_dir: str):
  config = common.complete(load_config("spade/tiny"))
  config.data.data_dir = data_dir  # the tiny synthetic dataset (20 images of 32x32) is rendered here
  family = models.build(config)
  return family, random_variables(family.model)


def serve(engine, config, meta=None):
  meta = meta or {"source": "tiny (random weights)", "step": None,
                  "reproduce_args": ["--config", "configs/spade/tiny.py", "--workdir", "WORKDIR"]}
  server = PaintServer(("127.0.0.1", 0), engine, meta=meta, examples=Examples(config))
  threading.Thread(target=server.serve_forever, daemon=True).start()
  return server


def request(server, method: str, path: str, body: bytes = None, params: dict = None,
            ctype: str = "image/png"):
  """→ (status, headers dict, body bytes)."""
  host, port = server.server_address[:2]
  conn = http.client.HTTPConnection(host, port, timeout=120)
  url = path + ("?" + urllib.parse.urlencode(params) if params else "")
  conn.request(method, url, body=body, headers={"Content-Type": ctype} if body is not None else {})
  r = conn.getresponse()
  data = r.read()
  conn.close()
  return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def error_of(status_headers_body) -> str:
  status, headers, body = status_headers_body
  assert headers["content-type"] == "application/json", (status, body[:200])
  return json.loads(body)["error"]


def png(array) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(np.asarray(array, np.uint8)).save(buf, format="PNG")
  return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
  return np.asarray(Image.open(io.BytesIO(data)))
