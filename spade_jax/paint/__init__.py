"""The paint app: draw a label map in the browser, get a photo — locally, offline, for any family.

`python paint.py --config CONFIG --workdir DIR` (see `spade_jax/paint/cli.py`). The pieces:
`classes` (class names and colours of a model), `codec` (PNG ↔ class ids, colour PNGs, with one-line
errors), `controls` (the page's per-family controls, derived from the family's `input_spec()`),
`engine` (the compiled calls the page can make), `worker` (the one thread that owns the model; only
the latest pending request of a kind runs), `examples` (random val label maps), `server` (the
standard-library HTTP server and its JSON API) and `static/` (the page: HTML/JS/CSS, no CDN).
"""
