"""The paint app: draw a label map in the browser, get a photo (locally; nothing leaves the machine).

  python paint.py --config configs/spade/synthetic.py --workdir runs/synthetic [--step N] [--port P]
  python paint.py --official-checkpoint latest_net_G.pth --official-options opt.txt [--family spade]

See `spade_jax/paint/` and the README's "Paint" section.
"""

from spade_jax.paint.cli import run

if __name__ == "__main__":
  run()
