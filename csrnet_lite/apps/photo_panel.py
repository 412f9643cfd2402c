"""Notebook 8's widgets: an upload button and a path box in, a progress bar, the before/after preview,
the tone curves and the download links, each wired to a plain function of `csrnet_lite.apps.your_photos`.

    panel = PhotoPanel(retoucher, folder, photo=sample)   # shows the sample until a photo is uploaded
    display(panel.inputs); panel.preview; panel.curves; display(panel.write_button, panel.downloads)

Introduced in notebook 08 (`08_your_own_photos`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import ipywidgets as w
from IPython.display import HTML

from ..lut import DEFAULT_SIZE
from ..tools.retouch import PHOTO_SUFFIXES
from ..widgets import Preview, slider
from .your_photos import (PhotoRetoucher, Result, curves_picture, error_html, links_html, render,
                          retouch_photo_file, rewrite, save_upload, status_line,
                          typed_path)



class ProgressBar:
    """An ipywidgets progress bar with a label, callable as a `Progress`: bar(fraction, what)."""

    def __init__(self):
        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="300px"))
        self.label = w.Label("")
        self.widget = w.HBox([self.bar, self.label])

    def __call__(self, fraction: float, what: str) -> None:
        self.bar.value = min(max(float(fraction), 0.0), 1.0)
        self.label.value = f"{fraction:.0%} {what}"

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class PhotoPanel:
    """The notebook's widgets: an upload button and a path box in, a progress bar and a status line,
    the before/after preview with split and strength sliders, the tone curves, the download links.

    Each widget calls one of this module's plain functions; `open(path)` and `upload(files)` are what
    the path box and the upload button do, and never raise for a bad file: the status line shows the
    command line's message.
    """

    def __init__(self, retoucher: PhotoRetoucher, folder: str | os.PathLike, photo: str | os.PathLike, *,
                 lut_size: int = DEFAULT_SIZE):
        self.retoucher, self.folder, self.lut_size = retoucher, Path(folder), lut_size
        self.result = retouch_photo_file(retoucher, photo, self.folder, lut_size=lut_size)
        button = w.Layout(width="200px")  # room for the whole label
        self.upload_button = w.FileUpload(accept=",".join(PHOTO_SUFFIXES), multiple=False,
                                          description="Upload a photo", layout=button)
        self.path = w.Text(placeholder="... or the path of a photo on this machine (large files)",
                           layout=w.Layout(width="420px"))
        self.open_button = w.Button(description="Retouch this file", layout=button)
        self.write_button = w.Button(description="Write at this strength", layout=button)
        self.progress = ProgressBar()
        self.status = w.HTML(status_line(retoucher, self.result))
        self.preview = Preview(lambda split, strength: render(self.result, split, strength),
                               {"split": slider(0.5, 0.0, 1.0, 0.01, "before | after"),
                                "strength": slider(1.0, 0.0, 1.0, 0.05, "strength")},
                               title="Before (left) and after (right)")
        self.curves = Preview(lambda: curves_picture(self.retoucher, self.result), {},
                              title="The tone curves the model chose for this photo")
        self.downloads = Downloads(self.result)
        self.upload_button.observe(lambda change: self.upload(change["new"]), names="value")
        self.open_button.on_click(lambda _: self.open_typed(self.path.value))
        self.write_button.on_click(lambda _: self.write(self.preview.sliders["strength"].value))
        self.inputs = w.VBox([self.upload_button, w.HBox([self.path, self.open_button]),
                              self.progress.widget, self.status])

    def upload(self, files: Sequence[Mapping]) -> bool:
        """Save and retouch the FileUpload's files (its `value`); False (and a message) for a bad file."""
        if not files:
            return False
        try:
            paths = save_upload(files, self.folder / "uploads")
        except Exception as e:  # a bad file: the command line's message, never a traceback
            self.status.value = error_html(e)
            return False
        finally:
            self.upload_button.value = ()  # the file is saved: free the bytes the widget holds
        return self.open(paths[-1])

    def open(self, path: str | os.PathLike) -> bool:
        """Retouch the photo at `path` and show it; False (and the message in the status line) on failure."""
        if not str(path):
            self.status.value = error_html(ValueError("type the path of a photo first"))
            return False
        try:
            strength = self.preview.sliders["strength"].value
            result = retouch_photo_file(self.retoucher, path, self.folder, strength=strength,
                                        lut_size=self.lut_size, progress=self.progress)
        except Exception as e:  # a bad file: the command line's message, never a traceback
            self.status.value = error_html(e)
            return False
        self._show(result)
        return True

    def open_typed(self, text: str) -> bool:
        """What the path box does: `open` the path as typed or pasted (quotes removed, `typed_path`),
        and say in the status line from which folder a relative path was read."""
        path, note = typed_path(text)
        opened = self.open(path if text.strip() else "")
        if note:
            self.status.value += f"<br><i>{note}</i>"
        return opened

    def write(self, strength: float) -> bool:
        """Write the current photo's files again at `strength`."""
        try:
            result = rewrite(self.retoucher, self.result, strength, progress=self.progress)
        except Exception as e:  # e.g. the file was removed meanwhile
            self.status.value = error_html(e)
            return False
        self._show(result)
        return True

    def _show(self, result: Result) -> None:
        self.result = result
        self.preview.update()
        self.curves.update()
        self.downloads.show(result)
        self.status.value = status_line(self.retoucher, result)


class Downloads:
    """The download links of the current result: an Output widget (JupyterLab turns its relative
    links into /files/ URLs), with the links as plain HTML where no kernel runs."""

    def __init__(self, result: Result):
        self.output = w.Output()
        self.html = ""
        self.show(result)

    def show(self, result: Result) -> None:
        self.html = links_html(result)
        self.output.outputs = ()  # clear_output() needs a running kernel
        self.output.append_display_data(HTML(self.html))

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.output._repr_mimebundle_(**kwargs) or {}
        bundle["text/html"] = self.html
        bundle["text/plain"] = f"<Downloads {self.html}>"
        return bundle
