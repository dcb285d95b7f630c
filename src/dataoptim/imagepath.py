"""Where a record's image is: the one rule every entry point applies to image paths (DESIGN §10).

Validate/BYOD, ``select --image-folder``, both trainers, the evaluator and
``boxes convert --image-folder`` all turn a record's ``image`` into a file
through :class:`ImageFolder` (or :func:`resolve_image`), so they accept and
refuse the same paths:

1. the path *string* must be relative, ``/``-separated, without ``..``, ``.``
   or empty parts and without control characters
   (:func:`dataoptim.records.check_image_path`): a :class:`~dataoptim.errors.RecordError`;
2. followed through symbolic links, the file must stay inside the image folder:
   by default a path that resolves outside it is an
   :class:`~dataoptim.errors.UnsafeInputError` naming the record and field. An
   organiser whose folder links out on purpose (``images/coco -> /data/coco``)
   says so with ``allow_symlinks_out=True`` (``--allow-symlinks-out`` on the
   command line), and links are then followed wherever they lead.

The image folder itself may be a link: the rule compares against its real path.
Whether the file exists, and what is in it, each entry point checks afterwards
with its own error (a missing image is a different fault from an unsafe one).
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

from dataoptim.errors import MissingFileError, UnsafeInputError

#: What the messages tell a user whose folder links out on purpose.
ALLOW_HINT = "links out of the image folder are refused unless allowed (allow_symlinks_out=True / --allow-symlinks-out)"
#: Help of ``--allow-symlinks-out``, on every command that takes an image folder.
CLI_HELP = (
    "Follow symbolic links that lead out of the image folder (an organiser's images/coco -> /data/coco); "
    "by default an image that resolves outside the folder is refused."
)


class ImageFolder:
    """An image folder and the rule for the paths of records inside it.

    Resolving many paths is cheap: the real path of each sub-folder is computed
    once and cached, and each file costs one ``lstat`` (to see whether it is
    itself a link). Picklable (data-loader workers receive it).

    Args:
        folder: the image folder (LLaVA's ``--image_folder``).
        allow_symlinks_out: follow links that lead outside the folder instead of refusing them.

    Raises:
        MissingFileError: ``folder`` is not a folder.
    """

    def __init__(self, folder: str | os.PathLike, *, allow_symlinks_out: bool = False):
        self.root = Path(folder).expanduser()
        if not self.root.is_dir():
            raise MissingFileError("image folder not found", file=self.root)
        self.allow_symlinks_out = bool(allow_symlinks_out)
        self._real_root = os.path.realpath(self.root)
        self._real_dirs: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"ImageFolder({str(self.root)!r}, allow_symlinks_out={self.allow_symlinks_out})"

    def realpath(self, image: str) -> str:
        """The real path of ``image`` (a path already checked by :func:`~dataoptim.records.check_image_path`)."""
        folder, name = posixpath.split(image)
        real_dir = self._real_dirs.get(folder)
        if real_dir is None:
            real_dir = os.path.realpath(os.path.join(self.root, folder)) if folder else self._real_root
            self._real_dirs[folder] = real_dir
        full = os.path.join(real_dir, name)
        return os.path.realpath(full) if os.path.islink(full) else full

    def is_inside(self, real: str) -> bool:
        """Whether a real path lies inside the image folder's real path."""
        return real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep)

    def resolve(self, image: Any, *, field: str = "image", **where: Any) -> Path:
        """The file of a record's ``image`` under the folder, after the two checks of the module.

        Args:
            image: the record's ``image`` value.
            field: the field named in errors.
            **where: location for errors: ``file``, ``record``, ``id``.

        Returns:
            ``folder / image`` (not resolved: messages and readers keep the record's path).
            The file may not exist: callers check that with their own error.

        Raises:
            RecordError: the path string is absolute, has ``..``, backslashes, control characters...
            UnsafeInputError: followed through links, it leads outside the folder (unless allowed).
        """
        from dataoptim.records import check_image_path, short_repr

        check_image_path(image, field=field, **where)
        if not self.allow_symlinks_out:
            real = self.realpath(image)
            if not self.is_inside(real):
                raise UnsafeInputError(
                    f"image {short_repr(image)} leads outside the image folder (to {short_repr(real, 200)}); {ALLOW_HINT}",
                    field=field, **where,
                )
        return self.root / image


def resolve_image(image_folder: str | os.PathLike | ImageFolder, relative_path: Any, *, allow_symlinks_out: bool = False, **where: Any) -> Path:
    """One image path through the rule of the module: ``ImageFolder(image_folder).resolve(relative_path, **where)``.

    ``image_folder`` may be an :class:`ImageFolder` already (its own ``allow_symlinks_out`` then applies).
    """
    folder = image_folder if isinstance(image_folder, ImageFolder) else ImageFolder(image_folder, allow_symlinks_out=allow_symlinks_out)
    return folder.resolve(relative_path, **where)
