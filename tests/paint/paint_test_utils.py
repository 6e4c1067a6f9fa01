"""Helpers of the paint tests: the tiny VAE SPADE (random variables) behind a server on port 0, and
plain HTTP calls to it."""

import http.client
import io
import json
import threading
import urllib.parse

import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image

from model_utils import load_config, random_variables
from spade_jax import models
from spade_jax.configs import common
from spade_jax.models.base import Family, Input
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


class ControlFamily(Family):
  """A stand-in for the families to come: a label map of 3 classes + a per-class int ('clusters'),
  class checkboxes ('regions'), a slider ('start') and (with `photo`) a required style photo. Its
  image shows the values: pixel = (cluster, region flag, start) of its class (as uint8)."""
  name = "controls_demo"
  multimodal = False
  photo = False

  def input_spec(self):
    spec = (Input("label", "label", True), Input("clusters", "int", False), Input("regions", "int", False),
            Input("start", "int", False))
    return spec + ((Input("photo", "image", True, "any photo"),) if self.photo else ())

  def paint_controls(self):
    return {"clusters": {"max": 3, "label": "cluster"}, "regions": {"type": "checkbox", "default": 1},
            "start": {"type": "slider", "min": 0, "max": 4, "default": 2, "label": "start scale"}}

  def generate(self, variables, inputs, rng=None):
    lab = inputs["label"]
    b, h, w = lab.shape
    flat = lab.reshape(b, -1)
    cl = jnp.take_along_axis(inputs.get("clusters", jnp.zeros((b, 3), jnp.int32)), flat, 1)
    rg = jnp.take_along_axis(inputs.get("regions", jnp.ones((b, 3), jnp.int32)), flat, 1)
    st = jnp.broadcast_to(inputs.get("start", jnp.full((b,), 2))[:, None], cl.shape)
    out = jnp.stack([cl, rg, st], -1).reshape(b, h, w, 3).astype(jnp.float32)
    out = (out + 0.5) / 127.5 - 1.0  # the uint8 result is the values
    return out + 0 * inputs["photo"][:, :1, :1] if self.photo else out


def control_engine(photo: bool, size: int = 8):
  c = ml_collections.ConfigDict({"data": {"label_nc": 3, "crop_size": size, "aspect_ratio": 1.0,
                                          "contain_dontcare_label": False, "name": "mine"}})
  cls = type("ControlFamilyPhoto" if photo else "ControlFamilyPlain", (ControlFamily,), {"photo": photo})
  return Engine(cls(c), {})
