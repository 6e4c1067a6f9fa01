"""Run the released official SPADE checkpoints: `opt.txt` + `latest_net_G.pth` (+ `_net_E.pth`).

    model, variables = load_official(
        "checkpoints/ade20k_pretrained/latest_net_G.pth", "checkpoints/ade20k_pretrained/opt.txt")
    fake, _, _ = model.generate(variables, model.semantics(batch), train=False)

`.pth` files are read without torch (`torch_files`); an `.npz` export of the state dict works too.
Only the networks present are loaded: G always, E when the options say `use_vae` (from
`<prefix>_net_E.pth` beside G unless given), D when `netD` is given (for fine-tuning).
"""

from __future__ import annotations

import os
from typing import Optional

import jax

from spade_jax.models.spade.model import SPADEModel
from spade_jax.models.spade.official.convert import load_state_dict_file, state_dict_to_variables
from spade_jax.models.spade.official.options import config_from_options


def _sibling(path: str, net: str) -> str:
  head, tail = os.path.split(path)
  return os.path.join(head, tail.replace("_net_G.", f"_net_{net}."))


def load_official(net_G: str, options, *, net_E: Optional[str] = None, net_D: Optional[str] = None,
                  config_overrides: Optional[dict] = None) -> tuple[SPADEModel, dict]:
  """→ (SPADEModel built from the official options, Flax variables {"G", ["E"], ["D"]})."""
  config = config_from_options(options)
  for key, value in (config_overrides or {}).items():
    group, _, field = key.rpartition(".")
    (config[group] if group else config)[field] = value
  model = SPADEModel(config)
  template = jax.eval_shape(lambda: model.init(jax.random.key(0)))
  if config.model.use_vae:
    net_E = net_E or _sibling(net_G, "E")
    if not os.path.isfile(net_E):
      raise FileNotFoundError(f"the options say use_vae=True, so the encoder checkpoint is needed: {net_E} "
                              "not found (pass net_E=...)")
  variables = {"G": state_dict_to_variables(load_state_dict_file(net_G), template["G"], net="G")}
  if config.model.use_vae:
    variables["E"] = state_dict_to_variables(load_state_dict_file(net_E), template["E"], net="E")
  if net_D:
    variables["D"] = state_dict_to_variables(load_state_dict_file(net_D), template["D"], net="D")
  return model, variables
