"""The error family of the library. Only the web layer maps these to HTTP statuses."""

from __future__ import annotations


class TileServerError(Exception):
    """Base of every error a request can cause. `param` names the query parameter at fault."""

    kind = "error"

    def __init__(self, message: str, param: str = "FIF") -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidParameter(TileServerError):
    kind = "value_error"


class NotFound(TileServerError):
    """What the request names does not exist (or is not one this user may know of)."""

    kind = "not_found"


class ImageNotFound(NotFound):
    """No such image."""


class FolderNotFound(NotFound):
    """No such folder (the image browser, the extra folder)."""


class TileNotFound(NotFound):
    """The image exists, not this tile, level or HiPS cell."""


class Forbidden(TileServerError):
    kind = "forbidden"


class TooLarge(TileServerError):
    kind = "too_large"


class UnsupportedImage(TileServerError):
    kind = "unsupported"


class Overloaded(TileServerError):
    kind = "overloaded"


class StoreUnavailable(Overloaded):
    """Cluster mode: the pyramid store (or the build cluster) does not answer; like overload, it passes."""

    kind = "unavailable"


class SourceChanged(Overloaded):
    """The image file was rewritten while it was being read: try again, its new version gets a new cache key."""

    kind = "changed"


class CacheFull(TileServerError):
    kind = "insufficient_storage"


class SettingError(Exception):
    """A bad setting value; raised at start-up, shown as one line, exit status 2."""


class NotImplementedFeature(TileServerError):
    """A well-formed request for something a standard names but this server does not offer (IIIF's 501)."""

    kind = "not_implemented"
