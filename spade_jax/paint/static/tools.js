// Drawing on the label map: a Uint8Array of class ids, h*w, row-major. Integer geometry only — no
// anti-aliasing, every pixel gets exactly one class.

export function stamp(ids, w, h, cx, cy, size, cls) {
  // a disc of diameter `size` (model pixels) centred on the continuous point (cx, cy)
  const r = size / 2;
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(w - 1, Math.ceil(cx + r));
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(h - 1, Math.ceil(cy + r));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      if (dx * dx + dy * dy <= r * r) ids[y * w + x] = cls;
    }
  }
  const px = Math.floor(cx), py = Math.floor(cy); // the pixel under the pointer, always
  if (px >= 0 && px < w && py >= 0 && py < h) ids[py * w + px] = cls;
}

export function line(ids, w, h, ax, ay, bx, by, size, cls) {
  const n = Math.max(1, Math.ceil(Math.hypot(bx - ax, by - ay) * 2));
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    stamp(ids, w, h, ax + (bx - ax) * t, ay + (by - ay) * t, size, cls);
  }
}

export function rect(ids, w, h, ax, ay, bx, by, cls) {
  const x0 = Math.max(0, Math.floor(Math.min(ax, bx))), x1 = Math.min(w - 1, Math.floor(Math.max(ax, bx)));
  const y0 = Math.max(0, Math.floor(Math.min(ay, by))), y1 = Math.min(h - 1, Math.floor(Math.max(ay, by)));
  for (let y = y0; y <= y1; y++) ids.fill(cls, y * w + x0, y * w + x1 + 1);
}

export function fill(ids, w, h, x, y, cls) {
  // 4-connected flood fill of the region under (x, y)
  x = Math.floor(x); y = Math.floor(y);
  if (x < 0 || x >= w || y < 0 || y >= h) return;
  const from = ids[y * w + x];
  if (from === cls) return;
  const stack = [y * w + x];
  ids[y * w + x] = cls;
  while (stack.length) {
    const p = stack.pop();
    const px = p % w, py = (p - px) / w;
    if (px > 0 && ids[p - 1] === from) { ids[p - 1] = cls; stack.push(p - 1); }
    if (px < w - 1 && ids[p + 1] === from) { ids[p + 1] = cls; stack.push(p + 1); }
    if (py > 0 && ids[p - w] === from) { ids[p - w] = cls; stack.push(p - w); }
    if (py < h - 1 && ids[p + w] === from) { ids[p + w] = cls; stack.push(p + w); }
  }
}

export function same(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Undo / redo of whole-map snapshots (a 256×256 map is 64 KiB).
export class History {
  constructor(limit = 200) { this.undo = []; this.redo = []; this.limit = limit; }
  push(snapshot) {
    this.undo.push(snapshot);
    if (this.undo.length > this.limit) this.undo.shift();
    this.redo = [];
  }
  back(current) {
    if (!this.undo.length) return null;
    this.redo.push(current.slice());
    return this.undo.pop();
  }
  forward(current) {
    if (!this.redo.length) return null;
    this.undo.push(current.slice());
    return this.redo.pop();
  }
}
