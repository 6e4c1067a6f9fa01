"""The `spade` family: SPADE / GauGAN (Park et al., CVPR 2019; NVlabs/SPADE).

  model.py      SPADEModel: semantics → (E) → G → D as pure functions over variables
  generator.py  SPADEGenerator; encoder.py: the VAE style encoder; factory.py: G/D/E from a config
  step.py       the official training iteration (G step, D step) over a `GANState`
  family.py     the family interface (`spade_jax.models.base.Family`)
  official/     opt.txt / .pth of the released models → config and variables
"""

from spade_jax.models.spade.family import SPADEFamily  # noqa: F401  (registers "spade")
from spade_jax.models.spade.model import SPADEModel  # noqa: F401
