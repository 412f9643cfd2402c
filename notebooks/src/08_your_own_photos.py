# %% [markdown]
# # 8. Retouch your own photos
#
# Everything so far ran on the project's sample pairs. Here you bring your own photos: upload a JPEG,
# PNG or TIFF (or type the path of a large file), and CSRNet retouches it at full resolution. You
# compare before and after with a split slider, turn the retouch up or down, look at the tone curves
# the network chose for *this* photo, and download the retouched file and a `.cube` 3D LUT that
# photo editors (Lightroom, Resolve, Photoshop, ffmpeg) can apply.
#
# **You will learn to**
# - retouch a photo of any size with the model of notebook 5, the authors' weights, or the CSRNet by
#   hand of notebook 2, and say which one ran;
# - see why a baked LUT makes a 12-megapixel photo a matter of seconds, and check that it matches the
#   network;
# - read the tone curves of one photo's retouch;
# - recognise the messages for files that are not photos, and where the results go.
#
# **Time:** about 15 minutes; the notebook itself runs in well under a minute on a laptop CPU.

# %%
# Set-up: installs csrnet-lite where it is missing (Colab, Binder), then says what runs.
import importlib.util
import subprocess
import sys

REPOSITORY = "https://github.com/csrnet-lite/csrnet-lite"
if importlib.util.find_spec("csrnet_lite") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+" + REPOSITORY], check=True)
    importlib.invalidate_caches()
from csrnet_lite import book

book.about()

# %%
from pathlib import Path

import torch
from IPython.display import HTML, Markdown, display
from PIL import Image

from csrnet_lite import book
from csrnet_lite.apps import photo_panel, your_photos
from csrnet_lite.lut import apply_lut
from csrnet_lite.metrics import psnr
from csrnet_lite.tools.retouch import PHOTO_SUFFIXES
from csrnet_lite.settings import DATA_SAMPLES

book.setup()
torch.set_num_threads(1)  # the widgets stay responsive while other work runs (settings.one_thread)
folder = Path("your_photos")  # beside this notebook, so that JupyterLab serves the download links
sample = DATA_SAMPLES / "input" / "canyon_de_chelly.png"  # shown until you upload a photo of your own

# %% [markdown]
# ## Which CSRNet retouches your photo
#
# Your own model first: the one notebook 5 trained, if you ran it. Else the authors' released weights
# (if you downloaded them, see the README), else the CSRNet whose weights we set by hand in notebook 2,
# with a one-line condition network that brightens dark photos and darkens bright ones.
#
# Know what each was trained on. Notebook 5's model saw a few dozen pairs of `data_samples/` (photos
# with recorded degradations: exposure, white balance, contrast, saturation); the authors' weights saw
# 4,500 real FiveK photos retouched by expert C, with inputs rendered their own way. Neither has been
# measured on your photo: notebook 5 shows how far such numbers carry to unseen photos, so judge the
# result by eye with the split slider. To use the authors' weights even when notebook 5's model
# exists, pass `checkpoint=None` below.

# %%
retoucher = your_photos.pick_retoucher(book.run_dir("05_training") / "fast.pt")
book.say("Retouching with **{kind}**.", kind=retoucher.kind)
display(Markdown(f"It is {retoucher.origin}."))

# %% [markdown]
# ## Upload a photo
#
# Click **Upload a photo** and choose a JPEG, PNG or TIFF, or type the path of a photo on this machine
# and click **Retouch this file** (better for large files: an upload travels through the notebook's
# connection to the kernel).
# The photo is retouched at once, at full resolution; the progress bar follows the large ones. Until
# you upload one, the panel shows a sample photo.
#
# A path pasted with quotes around it (as file managers copy it) is fine; a relative path is read
# from this notebook's folder, and the status line says so. The status line also names what was
# converted besides the retouch: a greyscale or CMYK photo becomes RGB, and transparency is dropped
# (the command line `python -m csrnet_lite retouch` keeps it).

# %%
book.need("retoucher", cell="Which CSRNet retouches your photo")
panel = photo_panel.PhotoPanel(retoucher, folder, photo=sample)
display(panel.inputs)

# %% [markdown]
# Drag **before | after** to move the dividing line; **strength** blends the photo with its retouch
# (0: unchanged, 1: what the network chose). The slider never runs the network: the preview is
# computed once per photo, and every strength is a blend of the two pictures. That is exact because
# strength is applied in the lookup table, and a table blended with the identity gives the blended
# colours (`csrnet_lite.lut`).

# %%
book.need("panel", cell="Upload a photo")
panel.preview

# %% [markdown]
# **The tone curves of this photo.** With the modulations the condition network chose for this photo,
# the base network is a fixed colour map (notebook 3). Feeding it a grey ramp shows what happens to
# shadows, mid-tones and highlights; feeding each channel alone (the others at 0.5) shows colour casts
# being corrected. Curves above the dashed identity line brighten that part of the range.

# %%
book.need("panel", cell="Upload a photo")
panel.curves

# %% [markdown]
# ## Download the results
#
# The retouched photo keeps the format, the bit depth (8 or 16), the ICC colour profile and the EXIF
# data of yours, exactly like `python -m csrnet_lite retouch`. The `.cube` file is this photo's
# retouch as a 3D LUT: apply it to similar photos in any editor. Both are written at the strength
# shown; after moving the slider, click **Write at this strength**.

# %%
book.need("panel", cell="Upload a photo")
display(panel.write_button, panel.downloads)
result = panel.result
h, w = result.size
book.say("Wrote **{photo}** ({w} x {h} pixels) and **{cube}** in **{write_seconds:.1f} s**.",
         photo=result.photo.name, cube=result.cube.name, w=w, h=h, write_seconds=result.seconds)

# %% [markdown]
# ## Large photos: a lookup table instead of the network
#
# Running the network on every pixel of a 12-megapixel photo costs thousands of multiply-adds per
# pixel (counted below) and, as `bench/fullres.py` measures, about 12 GB of activations. But once the condition network has chosen the modulations, the base
# network is a colour map, RGB in, RGB out, the same for every pixel. So the panel evaluates it once
# on a 65 x 65 x 65 lattice of colours (274,625 colours) and looks every pixel up in that table, with
# trilinear interpolation between lattice points (`csrnet_lite.lut`, notebook 6 draws such tables).
#
# First the check that the table *is* the network, on the preview of the photo above:

# %%
book.need("result", cell="Download the results")
book.need("retoucher", cell="Which CSRNet retouches your photo")
before = torch.from_numpy(result.before).permute(2, 0, 1)[None]  # (h, w, 3) -> (1, 3, h, w)
with torch.no_grad():
    direct = retoucher.model.base(before, result.mods)  # the network on every pixel
table = apply_lut(before, result.lut)  # the baked table on every pixel
lut_psnr = float(psnr(table.clamp(0, 1), direct.clamp(0, 1)))
net = retoucher.model
macs = sum(c.in_channels * c.out_channels for c in (net.conv1, net.conv2, net.conv3))  # per pixel
book.say("The base network costs **{macs:,}** multiply-adds per pixel; the table and the network agree to "
         "**{lut_psnr:.1f} dB** PSNR (above 40 dB the difference is invisible).", macs=macs, lut_psnr=lut_psnr)

# %% [markdown]
# Now a photo as large as a camera's: the sample upscaled to 12 megapixels (1.3 in smoke mode) and saved
# as a JPEG, then retouched as an upload would be, with the progress bar.

# %%
book.need("retoucher", cell="Which CSRNet retouches your photo")
large = folder / "uploads" / "large_example.jpg"
large.parent.mkdir(parents=True, exist_ok=True)
long_edge = book.pick(full=4240, smoke=1400)
with Image.open(sample) as im:
    im.convert("RGB").resize((long_edge, round(long_edge * im.height / im.width)), Image.LANCZOS).save(large, quality=92)
bar = photo_panel.ProgressBar()
display(bar)
large_result = your_photos.retouch_photo_file(retoucher, large, folder, progress=bar)
megapixels = large_result.size[0] * large_result.size[1] / 1e6
book.say("A **{megapixels:.1f}-megapixel** photo retouched and written in **{large_seconds:.1f} s** (decoding, "
         "condition network, table, applying it, encoding the JPEG and the `.cube`).", megapixels=megapixels,
         large_seconds=large_result.seconds)
display(HTML(your_photos.links_html(large_result)))

# %% [markdown]
# ## When a file is not a photo
#
# The panel checks every file with the functions the command line uses, before any work, so the
# messages are the same as `python -m csrnet_lite retouch` prints, and nothing is written for a bad
# file. Four files that go wrong:

# %%
book.need("panel", cell="Upload a photo")
book.need("large", cell="Large photos: a lookup table instead of the network")
bad = folder / "bad_examples"
bad.mkdir(parents=True, exist_ok=True)
(bad / "notes.jpg").write_text("this is text, not a JPEG")
(bad / "cut_off.jpg").write_bytes(large.read_bytes()[:5000])  # a download that stopped early
Image.new("RGB", (8, 8)).save(bad / "drawing.gif")
cases = {"notes.jpg": bad / "notes.jpg", "cut_off.jpg": bad / "cut_off.jpg", "drawing.gif": bad / "drawing.gif",
         "a typo in the path": bad / "no_such_photo.jpg"}
messages = {}
for name, path in cases.items():
    assert not panel.open(path)  # refused
    messages[name] = panel.status.value
display(Markdown("| file | what the panel says |\n|---|---|\n" +
                 "\n".join(f"| {name} | {text} |" for name, text in messages.items())))
book.say("**{bad_files}** bad files, **{bad_files}** clear messages.", bad_files=len(messages))
panel.open(sample)  # back to the sample photo
panel.status

# %% [markdown]
# ## Summary
#
# - The panel retouches any JPEG, PNG or TIFF with the best CSRNet available and says which one ran.
# - The condition network looks at a small view of the photo once; the base network, with those
#   modulations fixed, is a colour map that a 65³ lookup table holds to within interpolation, so a
#   12-megapixel photo takes seconds and little memory.
# - Strength blends with the identity inside the table, so every strength is exact and instant.
# - The outputs keep format, bit depth, colour profile and EXIF; the `.cube` carries the retouch to
#   other software; bad files get the command line's messages and write nothing.
#
# ## Exercises
#
# Write your answer in the answer cell, then run the collapsed check cell below it: it says whether
# your answer is right.

# %% [markdown] tags=["full"]
# In this edition a collapsed solution follows each check: open it (click the `...`) after trying.

# %% [markdown]
# **Exercise 1.** How many network evaluations does the lookup table save on the 12-megapixel photo
# (one per pixel, minus one per lattice colour)? Answer with a whole number.

# %% tags=["answer"]
answer_1 = None  # a number

# %% tags=["check"]
# Check of Exercise 1: run this cell
book.need("answer_1", cell="answer_1 = ...")
book.need("large_result", cell="Large photos: a lookup table instead of the network")
book.check(answer_1, large_result.size[0] * large_result.size[1] - large_result.lut.shape[0] ** 3, tol=0.5,
           name="Exercise 1", hint="pixels: large_result.size (height, width); lattice colours: 65 ** 3")

# %% tags=["solution"]
# Solution to Exercise 1. Every pixel would need one run of the base network; the table needs 65^3.
# wrong: large_result.size[0] * large_result.size[1]    # forgot the table's own evaluations
# wrong: 65 ** 3                                         # the table alone
height, width = large_result.size
solution_1 = height * width - 65 ** 3

# %% [markdown]
# **Exercise 2.** Without the panel: compute the preview of the current photo at strength 0.3 (no
# split, the whole picture retouched), as a numpy array (h, w, 3) in [0, 1]. Use `panel.result.before`
# and `panel.result.after` (the retouch at strength 1, not clamped).

# %% tags=["answer"]
answer_2 = None  # an array (h, w, 3)

# %% tags=["check"]
# Check of Exercise 2: run this cell
book.need("answer_2", cell="answer_2 = ...")
book.need("panel", cell="Upload a photo")
book.check(answer_2, your_photos.render(panel.result, split=0.0, strength=0.3), tol=1e-5, name="Exercise 2",
           hint="blend: before + strength * (after - before), then clip to [0, 1]")

# %% tags=["solution"]
# Solution to Exercise 2. Strength blends the photo with its retouch; the picture is clipped to [0, 1].
# wrong: (0.3 * panel.result.after).clip(0, 1)          # forgot the photo itself
# wrong: (panel.result.after + 0.3 * (panel.result.before - panel.result.after)).clip(0, 1)  # strength 0.7
solution_2 = (panel.result.before + 0.3 * (panel.result.after - panel.result.before)).clip(0, 1)

# %% [markdown]
# **Exercise 3.** What does the current photo's retouch do to mid grey? Find the output colour for the
# input (0.5, 0.5, 0.5) at full strength, as three numbers. (0.5 lies on the 65-point lattice: index 32.)

# %% tags=["answer"]
answer_3 = None  # three numbers (R, G, B)

# %% tags=["check"]
# Check of Exercise 3: run this cell
book.need("answer_3", cell="answer_3 = ...")
book.need("retoucher", cell="Which CSRNet retouches your photo")
book.need("panel", cell="Upload a photo")
with torch.no_grad():
    grey_out = retoucher.model.base(torch.full((1, 3, 1, 1), 0.5), panel.result.mods)[0, :, 0, 0]
book.check(answer_3, grey_out, tol=1e-4, name="Exercise 3", hint="panel.result.lut is indexed [b, g, r]")

# %% tags=["solution"]
# Solution to Exercise 3. Lattice point 32 of 0..64 is 0.5 on every axis, and the table holds the network there.
# wrong: panel.result.lut[16, 16, 16]                   # index 16 is grey 0.25
# wrong: [0.5, 0.5, 0.5]                                # the input itself
solution_3 = panel.result.lut[32, 32, 32]

# %% [markdown]
# ## Checks
#
# The statements of this notebook, as assertions (the test suite runs them):

# %%
for r in (result, large_result):
    with Image.open(r.photo) as im:
        assert im.size == (r.size[1], r.size[0])  # full resolution
    assert r.cube.read_text().count("\n") >= 65 ** 3
assert lut_psnr > 40
assert len(messages) == 4 and all(m.startswith("<span") and "error:" in m for m in messages.values())
assert not [p for p in folder.glob("*_retouched*") if p.name.startswith(("notes", "cut_off", "drawing", "no_such"))]
assert retoucher.kind in ("notebook 5", "authors", "by hand")
assert set(PHOTO_SUFFIXES) == {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
book.say("This notebook ran in {seconds:.0f} s.", seconds=book.elapsed())
