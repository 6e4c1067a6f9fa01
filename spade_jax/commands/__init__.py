"""The command-line programs: `spade-train` (= `python train.py`), `spade-eval` (= `python eval.py`),
`spade-paint` (= `python paint.py`), `spade-inspect` (= `python -m spade_jax.data.inspect`). Each is
one module with a `main()`; the repository's top-level scripts are thin callers of the same code."""
