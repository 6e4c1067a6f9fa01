"""Evaluation and synthesis; the same program as `spade-eval` (`spade_jax/commands/evaluate.py`).

  python eval.py --config configs/spade/synthetic.py --workdir runs/synthetic [--step N]       # metrics
  python eval.py --mode synthesize --labels DIR_OR_PNG --out DIR [--style IMG] [--num-samples K] \\
      (--config ... --workdir ... | --official-checkpoint latest_net_G.pth --official-options opt.txt)
"""

from spade_jax.commands.evaluate import main

if __name__ == "__main__":
  main()
