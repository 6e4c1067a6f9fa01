"""The paint server's API with the tiny VAE SPADE (random variables) on port 0: the model JSON, id PNG →
photo, seeds, styles, colour PNGs, variations, exports that `eval.py --mode synthesize` reproduces,
random examples, the per-family control hooks, bad input (JSON 400, one line, the server keeps
running), the worker's latest-only queue, and `paint.py`'s terminal errors."""

import io
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import zipfile

import ml_collections
import numpy as np
import pytest
from PIL import Image

from paint_test_utils import WATER, control_engine, decode, error_of, png, request, serve, tiny_family
from spade_jax.data.synthetic.layout import CLASS_COLOURS, CLASSES
from spade_jax.evaluate.synthesis_cli import synthesize_files
from spade_jax.models.base import Family, Input
from spade_jax.paint import controls as controls_lib
from spade_jax.paint.engine import Engine
from spade_jax.paint.worker import Superseded, Worker

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H = W = 32


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  family, variables = tiny_family(str(tmp_path_factory.mktemp("paint_data")))
  engine = Engine(family, variables)  # compiled on first use here (pytest-xdist may run this module's
  server = serve(engine, family.config)  # tests in two processes); the warm-up is tested below
  yield {"family": family, "variables": variables, "engine": engine, "server": server}
  server.close()


def _labels():
  lab = np.zeros((H, W), np.uint8)
  lab[20:] = WATER
  lab[12:20, 4:14] = 2
  return lab


def _generate(server, labels, **params):
  return request(server, "POST", "/api/generate", png(labels), {k: str(v) for k, v in params.items()})


def test_warmup_compiles_every_call_the_page_makes(tiny):
  # the VAE SPADE: {label, label + style photo} x {render, variations of 6}
  assert tiny["engine"].combinations("T") == [{}, {"style": "T"}] and tiny["engine"].num_variations == 6
  # every combination of a family with three optional controls, compiled (cheaply: a stand-in family)
  engine = control_engine(photo=False)
  lines = []
  engine.warmup(lines.append)
  assert len(lines) == 8, lines
  assert lines[0].startswith("paint: compiled 1/8: render with label in ")
  assert lines[-1].startswith("paint: compiled 8/8: render with label, clusters, regions, start in ")
  assert engine._styles == {}  # the warm-up's grey photo is gone


def test_model_json(tiny):
  status, headers, body = request(tiny["server"], "GET", "/api/model")
  assert status == 200 and headers["content-type"] == "application/json"
  m = json.loads(body)
  assert m["family"] == "spade" and m["image_size"] == [H, W] and m["multimodal"] is True
  assert [c["name"] for c in m["classes"]] == list(CLASSES)
  assert [tuple(c["color"]) for c in m["classes"]] == [tuple(c) for c in CLASS_COLOURS]
  assert [i["name"] for i in m["inputs"]] == ["label", "instance", "style_image", "z"]
  assert [c["type"] for c in m["controls"]] == ["seed", "variations", "style"]
  assert m["variations"] == 6 and m["eraser"] == 0 and m["step"] is None


def test_generate_returns_the_models_size_and_follows_the_seed(tiny):
  server = tiny["server"]
  status, headers, body = _generate(server, _labels(), seed=3)
  assert status == 200 and headers["content-type"] == "image/png"
  img = decode(body)
  assert img.shape == (H, W, 3) and img.dtype == np.uint8
  assert headers["x-seed"] == "3" and float(headers["x-render-ms"]) > 0 and float(headers["x-server-ms"]) > 0
  assert _generate(server, _labels(), seed=3)[2] == body  # deterministic
  assert not np.array_equal(decode(_generate(server, _labels(), seed=4)[2]), img)  # z follows the seed
  other = _labels()
  other[:6] = 1
  assert not np.array_equal(decode(_generate(server, other, seed=3)[2]), img)  # and the label map


def test_bad_input_is_one_json_line_and_the_server_keeps_running(tiny):
  server = tiny["server"]
  bad = {
      "small": (png(np.zeros((16, 16), np.uint8)), {},
                "label PNG: size 16x16 (HxW) does not match the model's 32x32 (crop_size 32, aspect_ratio 1.0)"),
      "ids": (png(np.full((H, W), 12, np.uint8)), {},
              "label PNG: label id 12 is outside 0..9 (label_nc=10, contain_dontcare_label=False)"),
      "rgb": (png(np.zeros((H, W, 3), np.uint8)), {}, "label PNG: RGB image where class ids are expected"),
      "text": (b"hello, not a PNG", {}, "label PNG: not a readable image (cannot identify image file"),
      "empty": (b"", {}, "label PNG: empty upload"),
      "seed": (png(_labels()), {"seed": "abc"}, "seed: expected an integer, got 'abc'"),
      "neg_seed": (png(_labels()), {"seed": "-1"}, "seed: -1 is outside 0..2147483647"),
      "param": (png(_labels()), {"clusters": "1"},
                "unknown parameter 'clusters' for this model (it takes: seed, style)"),
      "token": (png(_labels()), {"style": "nope"}, "style: unknown style token 'nope'"),
  }
  for name, (body, params, message) in bad.items():
    r = request(server, "POST", "/api/generate", body, params)
    assert r[0] == 400, name
    err = error_of(r)
    assert err.startswith(message), (name, err)
    assert "\n" not in err and "Traceback" not in err
  r = request(server, "GET", "/api/nothing")
  assert r[0] == 404 and error_of(r) == "GET /api/nothing: no such endpoint"
  assert _generate(server, _labels(), seed=1)[0] == 200  # still serving


def test_labels_converts_id_and_colour_pngs_exactly(tiny):
  server = tiny["server"]
  lab = _labels()
  colours = np.asarray(CLASS_COLOURS, np.uint8)
  for body, fmt in ((png(lab), "ids"), (png(colours[lab]), "colours")):
    status, _, data = request(server, "POST", "/api/labels", body)
    assert status == 200
    d = json.loads(data)
    assert d["format"] == fmt and d["size"] == [H, W] and d["classes_present"] == [0, 2, WATER]
    np.testing.assert_array_equal(np.frombuffer(__import__("base64").b64decode(d["ids"]), np.uint8).reshape(H, W), lab)
  status, headers, data = request(server, "POST", "/api/labels", png(colours[lab]), {"format": "png"})
  assert status == 200 and headers["content-type"] == "image/png"
  np.testing.assert_array_equal(decode(data), lab)
  rgb = colours[lab].copy()
  rgb[2, 3] = (1, 2, 3)
  rgb[5, 7] = (9, 9, 9)
  assert error_of(request(server, "POST", "/api/labels", png(rgb))).startswith(
      "upload: colour (1, 2, 3) at pixel (x=3, y=2) is not the colour of any class of this model")
  rgba = np.concatenate([colours[lab], np.full((H, W, 1), 255, np.uint8)], -1)
  rgba[4, 1, 3] = 128
  assert error_of(request(server, "POST", "/api/labels", png(rgba))).startswith(
      "upload: transparent pixel (x=1, y=4) (alpha 128)")
  assert error_of(request(server, "POST", "/api/labels", png(np.full((H, W), 11, np.uint8)))) == (
      "upload: label id 11 is outside 0..9 (label_nc=10, contain_dontcare_label=False)")


def test_style_photo_token(tiny):
  server = tiny["server"]
  photo = np.zeros((50, 70, 3), np.uint8)
  photo[..., 0] = 250  # a red photo of another size: resized to the model's
  status, _, data = request(server, "POST", "/api/style", png(photo))
  assert status == 200
  token = json.loads(data)["token"]
  status, _, data = request(server, "GET", f"/api/style/{token}.png")
  assert status == 200 and decode(data).shape == (H, W, 3)
  plain = decode(_generate(server, _labels(), seed=2)[2])
  styled = decode(_generate(server, _labels(), seed=2, style=token)[2])
  assert not np.array_equal(plain, styled)
  assert error_of(request(server, "POST", "/api/style", b"GIF89a broken")).startswith(
      "style photo: not a readable image")
  assert request(server, "GET", "/api/style/unknown.png")[0] == 404


def test_style_photo_for_a_model_without_an_encoder(tiny, tmp_path):
  family, variables = tiny_family(str(tmp_path))
  from spade_jax import models
  config = ml_collections.ConfigDict(family.config.to_dict())
  config.model.use_vae = False
  plain = models.build(config)
  engine = Engine(plain, {})  # nothing is compiled before a render
  assert [c["type"] for c in engine.controls] == []
  server = serve(engine, config)
  try:
    r = request(server, "POST", "/api/style", png(np.zeros((8, 8, 3), np.uint8)))
    assert r[0] == 400 and error_of(r) == (
        "style photo: this model has no style input (it takes: label, instance); a style photo needs a "
        "model with a style encoder")
    r = request(server, "POST", "/api/variations", png(_labels()))
    assert error_of(r) == "variations need a multimodal model; this spade model is deterministic"
    r = request(server, "POST", "/api/generate", png(_labels()), {"seed": "1"})
    assert error_of(r) == "unknown parameter 'seed' for this model (it takes: none)"
  finally:
    server.close()


def test_variations_are_the_renders_of_the_next_seeds(tiny):
  server = tiny["server"]
  status, _, data = request(server, "POST", "/api/variations", png(_labels()), {"seed": "10"})
  assert status == 200
  d = json.loads(data)
  assert d["seeds"] == [11, 12, 13, 14, 15, 16]
  imgs = [decode(__import__("base64").b64decode(s)) for s in d["images"]]
  assert all(i.shape == (H, W, 3) for i in imgs)
  assert not np.array_equal(imgs[0], imgs[1])
  for seed, img in zip(d["seeds"][:2], imgs):
    single = decode(_generate(server, _labels(), seed=seed)[2]).astype(int)
    assert np.abs(single - img).max() <= 2  # a batched call of the same computation


def test_export_is_reproduced_by_eval_synthesize(tiny, tmp_path):
  server = tiny["server"]
  photo = (np.random.default_rng(0).uniform(0, 255, (H, W, 3))).astype(np.uint8)
  token = json.loads(request(server, "POST", "/api/style", png(photo))[2])["token"]
  status, headers, data = request(server, "POST", "/api/export", png(_labels()), {"seed": "7", "style": token})
  assert status == 200 and headers["content-type"] == "application/zip"
  with zipfile.ZipFile(io.BytesIO(data)) as z:
    z.extractall(tmp_path)
    assert sorted(z.namelist()) == ["labels.png", "labels_colour.png", "params.json", "result.png", "style.png"]
  p = json.loads((tmp_path / "params.json").read_text())
  assert p["seed"] == 7 and p["reproducible_with_eval"] is True and p["style"] == "style.png"
  cmd = shlex.split(p["command"])
  assert cmd[:4] == ["python", "eval.py", "--mode", "synthesize"]
  arg = lambda name: cmd[cmd.index(name) + 1]  # noqa: E731
  assert (arg("--labels"), arg("--seed"), arg("--style")) == ("labels.png", "7", "style.png")
  assert "--instance-from-label" in cmd and arg("--config") == "configs/spade/tiny.py"
  np.testing.assert_array_equal(decode((tmp_path / "labels.png").read_bytes()), _labels())
  colours = np.asarray(CLASS_COLOURS, np.uint8)
  np.testing.assert_array_equal(decode((tmp_path / "labels_colour.png").read_bytes()), colours[_labels()])
  # what eval.py --mode synthesize runs for that command, on the same model
  out = tmp_path / arg("--out")
  synthesize_files(tiny["family"], tiny["variables"], str(tmp_path / "labels.png"), str(out),
                   instance_from_label=True, style=str(tmp_path / "style.png"), seed=7, log=lambda s: None)
  np.testing.assert_array_equal(decode((out / "labels.png").read_bytes()),
                                decode((tmp_path / "result.png").read_bytes()))
  direct = decode(_generate(server, _labels(), seed=7, style=token)[2])
  np.testing.assert_array_equal(direct, decode((tmp_path / "result.png").read_bytes()))


def test_random_example_from_the_val_split(tiny):
  server = tiny["server"]
  status, _, data = request(server, "GET", "/api/example", params={"index": "1"})
  assert status == 200, data
  d = json.loads(data)
  assert d["index"] == 1 and d["count"] == 4 and d["size"] == [H, W]
  ids = np.frombuffer(__import__("base64").b64decode(d["ids"]), np.uint8)
  assert ids.size == H * W and ids.max() < 10 and len(d["classes_present"]) >= 2
  assert error_of(request(server, "GET", "/api/example", params={"index": "9"})) == "index: 9 is outside 0..3"


def test_worker_runs_only_the_latest_waiting_request():
  worker = Worker()
  gate, order = threading.Event(), []
  try:
    first = worker.submit(lambda: gate.wait(10) and order.append("first"), lane="render")
    time.sleep(0.05)  # the worker is now busy with `first`
    stale = worker.submit(lambda: order.append("stale"), lane="render")
    other = worker.submit(lambda: order.append("export"))  # no lane: never replaced
    latest = worker.submit(lambda: order.append("latest") or 42, lane="render")
    with pytest.raises(Superseded):
      stale.result(5)
    gate.set()
    assert latest.result(5) == 42 and first.result(5) is None and other.result(5) is None
    assert order == ["first", "export", "latest"] and worker.superseded == 1
  finally:
    gate.set()
    worker.stop()


def test_a_render_overtaken_by_a_newer_one_is_answered_409(tiny):
  server = tiny["server"]
  gate = threading.Event()
  busy = server.worker.submit(lambda: gate.wait(30), lane="busy")  # the model is busy with something
  results = {}

  def post(name, seed):
    results[name] = _generate(server, _labels(), seed=seed)
  try:
    first = threading.Thread(target=post, args=("first", 1))
    first.start()
    deadline = time.time() + 30
    while "render" not in server.worker._pending and time.time() < deadline:  # first is waiting
      time.sleep(0.01)
    second = threading.Thread(target=post, args=("second", 2))
    second.start()
    first.join(30)
    assert results["first"][0] == 409
    assert json.loads(results["first"][2]) == {"error": "superseded by a newer render request", "superseded": True}
  finally:
    gate.set()
  second.join(60)
  assert busy.result(5) is True
  status, headers, _ = results["second"]
  assert status == 200 and headers["x-seed"] == "2"


# ----- the per-family control hooks, with a stand-in family -----
def test_control_hooks_keyed_on_the_input_spec():
  engine = control_engine(photo=True)
  by = {c["input"]: c for c in engine.controls}
  assert [c["type"] for c in engine.controls] == ["per_class", "checkbox", "slider", "style"]
  assert by["clusters"]["max"] == 3 and by["clusters"]["classes"] == 3 and by["start"]["max"] == 4
  assert [c.name for c in engine.classes] == ["class 0", "class 1", "class 2"]
  assert len(engine.combinations("T")) == 8  # three optional inputs: present / absent
  token = engine.add_style(png(np.zeros((8, 8, 3), np.uint8)))
  lab = np.array([[0, 1, 2, 0, 1, 2, 0, 1]] * 8)
  out = engine.render(lab, {"style": token, "clusters": "2:3,0:1", "regions": "0,1,0", "start": "4"})["image"]
  np.testing.assert_array_equal(out[0, :3], [[1, 0, 4], [0, 1, 4], [3, 0, 4]])  # uint8 = the values
  out = engine.render(lab, {"style": token})["image"]
  np.testing.assert_array_equal(out[0, :3], [[0, 1, 2]] * 3)  # the family's defaults when unset
  for query, message in (({}, "photo: this model needs a style photo"),
                         ({"style": token, "clusters": "1,2"}, "clusters: expected 3 comma-separated values"),
                         ({"style": token, "clusters": "0:4"}, "clusters: 4 is outside 0..3"),
                         ({"style": token, "start": "5"}, "start: 5 is outside 0..4"),
                         ({"style": token, "regions": "7:1"}, "regions (class id): 7 is outside 0..2")):
    with pytest.raises(ValueError) as e:
      engine.render(lab, query)
    assert str(e.value).startswith(message), str(e.value)


def test_a_family_the_page_cannot_drive_is_refused():
  class NoLabels(Family):
    name = "photo_only"

    def input_spec(self):
      return (Input("image", "image", True), Input("features", "map", True))

  with pytest.raises(ValueError) as e:
    Engine(NoLabels(ml_collections.ConfigDict({"data": {}})), {})
  assert str(e.value) == "the photo_only family needs inputs the paint app cannot give: features (map)"


# ----- paint.py in the terminal -----
def _paint_py(*args, timeout=300):
  return subprocess.run([sys.executable, "paint.py", *args], cwd=REPO, capture_output=True, text=True,
                        timeout=timeout, env={**os.environ, "JAX_PLATFORMS": "cpu"})


def test_cli_port_in_use_and_missing_checkpoint(tmp_path):
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    r = _paint_py("--config", "configs/spade/tiny.py", "--workdir", str(tmp_path), "--port", str(port))
  assert r.returncode == 2 and "Traceback" not in r.stderr
  assert r.stderr.strip() == (f"error: --port {port}: address 127.0.0.1:{port} is already in use (another paint "
                              "server? choose another --port, or --port 0 for any free one)")
  r = _paint_py("--config", "configs/spade/tiny.py", "--workdir", str(tmp_path), "--port", "0")
  assert r.returncode == 2 and "Traceback" not in r.stderr
  last = r.stderr.strip().splitlines()[-1]  # the restore's own one-line message
  assert last.startswith(f"error: ") and str(tmp_path) in last and "checkpoint" in last, last
  r = _paint_py("--config", "configs/spade/tiny.py", "--workdir", str(tmp_path / "nope"), "--port", "0")
  assert r.returncode == 2 and r.stderr.strip() == f"error: --workdir {tmp_path / 'nope'}: no such directory"
  r = _paint_py("--config", "configs/spade/tiny.py", "--workdir", str(tmp_path), "--port", "0", "--examples",
                str(tmp_path / "none"))
  assert r.returncode == 2 and r.stderr.strip() == f"error: --examples {tmp_path / 'none'}: no such directory or file"


def _official_checkpoint(shared_dir, d):
  """opt.txt + latest_net_G.pth of the `spade_small` parity fixture (64x64, 5 classes, no VAE)."""
  import collections
  from torch_writer import tensor, write_zip
  stem = shared_dir / "parity" / "spade_small"
  if not stem.with_suffix(".npz").exists():
    pytest.skip("parity fixture spade_small not found")
  meta = json.loads(stem.with_suffix(".json").read_text())
  with np.load(stem.with_suffix(".npz")) as f:
    arrays = {k: f[k] for k in f.files if k.startswith("G/")}
  (d / "opt.txt").write_text("".join(f"{k:>30}: {v}\n" for k, v in meta["options"].items()))
  write_zip(d / "latest_net_G.pth", collections.OrderedDict((k[2:], tensor(v)) for k, v in arrays.items()))
  return d / "latest_net_G.pth", d / "opt.txt"


def test_cli_serves_an_official_checkpoint_and_eval_reproduces_its_export(shared_dir, tmp_path):
  import queue
  import train_utils
  ckpt, opts = _official_checkpoint(shared_dir, tmp_path)
  cache = tmp_path / "xla"
  env = train_utils.subprocess_env(num_devices=1, cache_dir=str(tmp_path / "unused"))
  proc = subprocess.Popen([sys.executable, "paint.py", "--official-checkpoint", str(ckpt), "--official-options",
                           str(opts), "--port", "0", "--cache-dir", str(cache)], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  lines = queue.Queue()
  threading.Thread(target=lambda: [lines.put(s) for s in proc.stdout], daemon=True).start()
  out, url = [], None
  try:
    deadline = time.time() + 300
    while url is None and time.time() < deadline and proc.poll() is None:
      try:
        line = lines.get(timeout=1)
      except queue.Empty:
        continue
      out.append(line)
      if "open http://" in line:
        url = line.split("open ")[1].split()[0]
    assert url, "".join(out)
    assert any("paint: compiled 1/1: render with label in" in s for s in out), out
    assert any(os.scandir(cache)), "the persistent compilation cache is empty"
    host, port = url[len("http://"):].rstrip("/").split(":")

    class _S:
      server_address = (host, int(port))
    m = json.loads(request(_S, "GET", "/api/model")[2])
    assert (m["family"], m["image_size"], len(m["classes"]), m["controls"]) == ("spade", [64, 64], 5, [])
    lab = np.zeros((64, 64), np.uint8)
    lab[32:] = 3
    lab[:, 40:] = 1
    status, _, data = request(_S, "POST", "/api/generate", png(lab))
    assert status == 200 and decode(data).shape == (64, 64, 3)
    status, _, data = request(_S, "POST", "/api/export", png(lab))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
      z.extractall(tmp_path / "export")
    p = json.loads((tmp_path / "export" / "params.json").read_text())
    assert p["reproducible_with_eval"] and "--official-checkpoint" in p["command"]
    cmd = shlex.split(p["command"])
    r = subprocess.run([sys.executable, os.path.join(REPO, "eval.py"), *cmd[2:]], cwd=tmp_path / "export",
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    np.testing.assert_array_equal(decode((tmp_path / "export" / p["eval_output"]).read_bytes()),
                                  decode((tmp_path / "export" / "result.png").read_bytes()))
  finally:
    proc.send_signal(__import__("signal").SIGINT)
    try:
      proc.wait(20)
    except subprocess.TimeoutExpired:
      proc.kill()
  assert proc.returncode == 0
