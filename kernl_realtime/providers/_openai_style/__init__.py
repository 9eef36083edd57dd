"""What OpenAI-style providers (OpenAI, xAI) share: the event tables, item and session
encoding (:class:`DialectCodec`) and the model with REST client secrets (:class:`DialectModel`)."""

from ._codec import DialectCodec
from ._model import DialectModel

__all__ = ["DialectCodec", "DialectModel"]
