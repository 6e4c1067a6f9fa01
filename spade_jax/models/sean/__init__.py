"""The `sean` family: SEAN (Zhu et al., CVPR 2020; ZPdesu/SEAN), per-region style codes.

  model.py      SEANModel: semantics → G (Zencoder + ACE blocks) → D as pure functions over variables
  step.py       the official training iteration (G step, D step) over a `GANState`
  styles.py     per-region codes on the host: mixing with the documented fallback rule, mean codes, files
  official.py   opt.txt / .pth of the official code → config and variables (strict)
  family.py     the family interface (`spade_jax.models.base.Family`) and the region-style API
"""

from spade_jax.models.sean.family import SEANFamily  # noqa: F401  (registers "sean")
from spade_jax.models.sean.model import SEANModel  # noqa: F401
