"""The owner's photo -> a small square WebP, inlined into the page as a data: URI.

Inlined, the first view stays one request; resized to twice the shown size
(sharp on high-density screens) and compressed, it costs a few kilobytes of
the 14 KB the first view may take. Pillow is imported here only: the
handler never loads it.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from generator.errors import BuildError

__all__ = ["PHOTO_PIXELS", "photo_data_uri"]

PHOTO_PIXELS = 144  # the page shows it at 72 CSS pixels
_QUALITY = 60  # a face at this size stays clear; 75 costs a third more bytes


def photo_data_uri(path: Path) -> str:
    """The photo at ``path`` cropped to a centred square, as a WebP data: URI."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            # Phones store portraits sideways with an EXIF turn: apply it before cropping.
            upright = ImageOps.exif_transpose(image)
            square = ImageOps.fit(
                upright.convert("RGB"), (PHOTO_PIXELS, PHOTO_PIXELS), Image.Resampling.LANCZOS
            )
    except FileNotFoundError:
        raise BuildError(f"owner.photo: the image {path} does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise BuildError(
            f"owner.photo: {path} is not an image callslot can read (JPEG, PNG or WebP): {exc}"
        ) from None
    buffer = io.BytesIO()
    # No EXIF, no ICC profile, no date: the same photo gives the same bytes in every build.
    square.save(buffer, "WEBP", quality=_QUALITY, method=6)
    return "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
