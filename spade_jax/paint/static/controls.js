// Per-family controls, keyed on the `controls` list of GET /api/model (built from the family's
// input_spec on the server: spade_jax/paint/controls.py). A control type is a small object:
//   mount(spec, ui)        build its DOM (ui.panel, ui.legendCell(classId) for per-class cells)
//   query(spec)            its query parameters for /api/generate ({} when unset)
//   missing(spec)          a message while the user still has to set it (optional: required inputs)
// A new family's control is one more entry here (and one type name in controls.py).

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
export {el};

const TYPES = {};

TYPES.seed = {
  mount(spec, ui) {
    this.input = el("input", {type: "number", id: "seed", min: 0, max: spec.max, value: 0, step: 1,
                              title: "seed of the random style code (z)"});
    this.input.addEventListener("change", () => ui.render());
    const resample = el("button", {id: "resample", title: "new random seed (S)", onclick: () => this.resample(ui)},
                        "Resample");
    ui.panel.append(el("div", {class: "row"}, el("label", {for: "seed"}, "Seed "), this.input, resample));
    ui.onKey("s", () => this.resample(ui));
  },
  resample(ui) {
    this.input.value = crypto.getRandomValues(new Uint32Array(1))[0] % 2147483648;
    ui.render();
  },
  set(value) { this.input.value = value; },
  query(spec) { return {seed: String(parseInt(this.input.value || "0", 10))}; },
};

TYPES.variations = {
  mount(spec, ui) {
    const button = el("button", {id: "variations-button", title: `${spec.count} samples: seeds after this one (V)`,
                                 onclick: () => ui.variations()}, `Variations (${spec.count})`);
    ui.panel.append(el("div", {class: "row"}, button));
    ui.onKey("v", () => ui.variations());
  },
  query() { return {}; },
};

TYPES.style = {
  mount(spec, ui) {
    this.token = null;
    const file = el("input", {type: "file", id: `style-file-${spec.input}`, accept: "image/*",
                              title: "a photo whose style (time of day, season, ...) the result takes"});
    this.thumb = el("img", {class: "thumb", id: `style-thumb-${spec.input}`, alt: ""});
    this.thumb.hidden = true;
    const clear = el("button", {onclick: () => { this.token = null; this.thumb.hidden = true; file.value = ""; ui.render(); }},
                     spec.required ? "Clear" : "No style (random)");
    file.addEventListener("change", async () => {
      if (!file.files.length) return;
      const res = await ui.api("/api/style", file.files[0]);
      if (!res) return;
      this.token = (await res.json()).token;
      this.thumb.src = `/api/style/${this.token}.png`;
      this.thumb.hidden = false;
      ui.render();
    });
    ui.panel.append(el("div", {class: "row"}, el("label", {for: file.id}, spec.required ? "Style photo (required) " : "Style photo "),
                       file, this.thumb, clear));
  },
  query(spec) { return this.token ? {[spec.param]: this.token} : {}; },
  missing(spec) {
    return spec.required && !this.token ? `${spec.input}: this model needs a style photo: choose one under "Style photo"` : null;
  },
};

function perClass(kind) {
  return {
    mount(spec, ui) {
      this.values = new Map();
      ui.legendHeader(spec.label);
      for (const c of ui.model.classes) {
        const attrs = kind === "checkbox"
          ? {type: "checkbox", title: `${spec.label}: ${c.name}`}
          : {type: "number", min: spec.min, max: spec.max ?? undefined, value: spec.default, step: 1, class: "per-class",
             title: `${spec.label}: ${c.name}`};
        const input = el("input", {...attrs, "data-class": c.id, "data-control": spec.input});
        if (kind === "checkbox") input.checked = spec.default === 1;
        input.addEventListener("click", (e) => e.stopPropagation());
        input.addEventListener("change", () => {
          this.values.set(c.id, kind === "checkbox" ? (input.checked ? 1 : 0) : parseInt(input.value, 10));
          ui.render();
        });
        ui.legendCell(c.id).append(input);
      }
    },
    query(spec) {
      if (!this.values.size) return {};
      return {[spec.param]: [...this.values].map(([k, v]) => `${k}:${v}`).join(",")};
    },
  };
}
TYPES.per_class = perClass("number");
TYPES.checkbox = perClass("checkbox");

TYPES.slider = {
  mount(spec, ui) {
    this.touched = false;
    this.input = el("input", {type: "range", min: spec.min, max: spec.max, value: spec.default, step: 1,
                              id: `slider-${spec.input}`});
    const out = el("output", {}, String(spec.default));
    this.input.addEventListener("input", () => { out.textContent = this.input.value; });
    this.input.addEventListener("change", () => { this.touched = true; ui.render(); });
    ui.panel.append(el("div", {class: "row"}, el("label", {for: this.input.id}, `${spec.label} `), this.input, out));
  },
  query(spec) { return this.touched ? {[spec.param]: this.input.value} : {}; },
};

export function mountControls(model, ui) {
  const mounted = [];
  for (const spec of model.controls) {
    const type = TYPES[spec.type];
    if (!type) { console.warn("paint: no control for", spec); continue; }
    const ctl = Object.create(type);
    ctl.mount(spec, ui);
    mounted.push({spec, ctl});
  }
  return {
    query() {
      const q = {};
      for (const {spec, ctl} of mounted) Object.assign(q, ctl.query(spec));
      return q;
    },
    get(type) { const m = mounted.find((m) => m.spec.type === type); return m && m.ctl; },
    missing() { // what the user must still give before a render can run (first one), or null
      for (const {spec, ctl} of mounted) { const m = ctl.missing && ctl.missing(spec); if (m) return m; }
      return null;
    },
  };
}
