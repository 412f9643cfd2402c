"""Widget previews must update within 100 ms at 512 px: time every widget callback the notebooks use.

    .venv/bin/python bench/widgets.py [--size 512] [--repeat 15]

Each row is the median of `repeat` calls. "update" rows time a whole `widgets.Preview.update` (callback +
JPEG encode + setting the widget's value): what a slider move costs in the kernel, before the browser
draws it. The baseline, measured in the same run, is a plain PNG encode of the same photo with Pillow;
the ratio column is time / baseline. Exits with status 1 if an update misses the target.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

import numpy as np
import torch
from PIL import Image

from csrnet_lite import before_after, modulation_plots, pictures, widgets
from csrnet_lite.checkpoint import load_official
from csrnet_lite.data import sample_pair
from csrnet_lite.model import CSRNet

TARGET_MS = 100.0


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (allocations, lazy imports)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="long edge of the photo in pixels")
    parser.add_argument("--repeat", type=int, default=15, help="calls per measurement")
    args = parser.parse_args(argv)

    pair = sample_pair(0, args.size)
    photo, target, name = pair.input, pair.target, pair.id
    before, after = pictures.as_array(photo), pictures.as_array(target)
    try:
        model, model_name = load_official(), "authors' weights"
    except FileNotFoundError:
        torch.manual_seed(0)
        model, model_name = CSRNet().eval(), "untrained"
    with torch.no_grad():
        mods = model.modulations(photo)

    def png():
        Image.fromarray(pictures.to_uint8(before)).save(io.BytesIO(), format="PNG")

    callbacks = {  # name -> (render(**values), values): what each notebook's sliders call
        "split_view (notebooks 3, 4, 5)": (lambda position: before_after.split_view(before, after, position, line=True),
                                    {"position": 0.3}),
        "preview_brightness": (lambda factor: before_after.preview_brightness(photo, factor), {"factor": 1.3}),
        "preview_operators + histogram (notebook 1)": (
            lambda b, c, s: before_after.preview_operators(photo, b, c, s, histogram=True), {"b": 1.2, "c": 1.1, "s": 0.8}),
        f"preview_modulations, {model_name} (notebooks 2, 6)": (
            lambda t: modulation_plots.preview_modulations(model, photo, mods.lerp(mods, t)), {"t": 1.0}),
    }

    rows = [("baseline: PNG encode (Pillow)", median_ms(png, args.repeat), None)]
    rows.append(("JPEG encode (widgets.encode)", median_ms(lambda: widgets.encode(before), args.repeat), None))
    failed = False
    for label, (render, values) in callbacks.items():
        rows.append((f"callback: {label}", median_ms(lambda: render(**values), args.repeat), None))
        sliders = {k: widgets.slider(v, -10, 10, 0.01) for k, v in values.items()}
        preview = widgets.Preview(render, sliders)
        step = iter(np.tile([0.01, -0.01], 1000))

        def move():
            s = next(iter(sliders.values()))
            s.value = round(s.value + next(step), 4)  # a slider move: observe -> update

        update = median_ms(move, args.repeat)
        failed |= update > TARGET_MS
        rows.append((f"update:   {label}", update, update <= TARGET_MS))
        preview.widget.close()

    h, w = photo.shape[2:]
    print(f"Widget callbacks on {name} ({w}x{h}), median of {args.repeat}, torch threads "
          f"{torch.get_num_threads()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          f"(a load above the CPU count slows every row); target {TARGET_MS:.0f} ms per update\n")
    base = rows[0][1]
    print(f"{'measurement':68s} {'ms':>8s} {'x baseline':>11s}  target")
    for label, ms, ok in rows:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{label:68s} {ms:8.1f} {ms / base:11.2f}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
