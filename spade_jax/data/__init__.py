"""Data: datasets on disk → validated tfds ArrayRecord builders → grain pipeline → numpy batches.

Entry points: `pipeline.make_iterator(config, split)` (training and evaluation input),
`python -m spade_jax.data.inspect` (validation tool), `python -m spade_jax.data.prepare`
(build the records ahead of time), `labels.to_semantics` (network input, inside jit).
Importing this package is cheap: no JAX, no TensorFlow.
"""
