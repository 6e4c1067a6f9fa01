"""A generic GAN training state (one pytree) and its optimiser groups.

`GANState` holds every network's variables (`{net: {"params", "batch_stats"}}`: BN running statistics
and spectral-norm vectors), one optax state per optimiser group (`{group: state}`, a group being the
networks one optimiser updates, e.g. `{"G": ("G", "E"), "D": ("D",)}`), the step, the RNG key and,
when the family keeps one, the EMA copy of some networks' params (`{net: params}`).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import flax
import jax
import jax.numpy as jnp
import optax

from spade_jax.nn import fast_prng


@flax.struct.dataclass
class GANState:
  """Everything a GAN training run carries, as one pytree."""

  step: jax.Array
  variables: dict  # {net: {"params": ..., "batch_stats": ...}}
  opt_state: dict  # {group: optax state}
  rng: jax.Array  # raw uint32 key; the step folds the step number into it
  ema: Any = None  # {net: params} or None


def group_params(variables: dict, nets: Sequence[str]) -> dict:
  """`{net: params}` of the group's networks that exist."""
  return {k: variables[k]["params"] for k in nets if k in variables}


def with_variables(variables: dict, params: Optional[dict] = None, stats: Optional[dict] = None) -> dict:
  """Copy of `variables` with some networks' params / batch_stats replaced."""
  out = {k: dict(v) for k, v in variables.items()}
  for k, p in (params or {}).items():
    out[k]["params"] = p
  for k, s in (stats or {}).items():
    out[k]["batch_stats"] = s
  return out


def linear_decay(lr: float, total_steps: int, decay_steps: int, hold_steps: Optional[int] = None) -> optax.Schedule:
  """Constant `lr`, then linear decay to 0 over `decay_steps` (0 = constant). The decay starts after
  `hold_steps` (default: `total_steps - decay_steps`, i.e. it ends with the run)."""
  decay = int(decay_steps or 0)
  if decay <= 0:
    return optax.constant_schedule(lr)
  hold = max(int(total_steps) - decay, 0) if hold_steps is None else int(hold_steps)
  return optax.join_schedules([optax.constant_schedule(lr), optax.linear_schedule(lr, 0.0, decay)], [hold])


def create(variables: dict, optimizers: Mapping[str, tuple[optax.GradientTransformation, Sequence[str]]],
           rng: jax.Array, ema_nets: Sequence[str] = ()) -> GANState:
  """A fresh state: optimiser states for each group `{group: (tx, nets)}`, an EMA copy of `ema_nets`."""
  opt_state = {g: tx.init(group_params(variables, nets)) for g, (tx, nets) in optimizers.items()}
  ema = None
  if ema_nets:
    ema = jax.tree.map(jnp.copy, group_params(variables, ema_nets))  # own buffers (the state is donated)
  return GANState(step=jnp.zeros((), jnp.int32), variables=variables, opt_state=opt_state, rng=rng, ema=ema)


def init_with_fast_prng(init_fn, rng: jax.Array) -> tuple[dict, jax.Array]:
  """(variables from `init_fn(key)`, the state's own key). `rng` is a raw uint32[2] (threefry) key.
  The initial weights are drawn with `fast_prng` (same distributions, a generator that compiles in
  seconds instead of minutes on CPU); the state's key, used by the training steps, stays threefry."""
  init_rng, state_rng = jax.random.split(rng)
  return init_fn(fast_prng.init_key(init_rng)), state_rng


def apply_gradients(state: GANState, group: str, tx: optax.GradientTransformation, nets: Sequence[str],
                    grads: dict, stats: Optional[dict] = None) -> GANState:
  """Adam (or any optax) update of one group's params; `stats` replaces batch_stats afterwards."""
  params = group_params(state.variables, nets)
  updates, new_opt = tx.update(grads, state.opt_state[group], params)
  params = optax.apply_updates(params, updates)
  return state.replace(variables=with_variables(state.variables, params=params, stats=stats),
                       opt_state={**state.opt_state, group: new_opt})


def pmean(tree, axis_name: Optional[str]):
  return tree if axis_name is None else jax.lax.pmean(tree, axis_name)
