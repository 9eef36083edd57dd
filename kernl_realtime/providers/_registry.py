"""Which providers exist and how to build a model for each: one table, read by tools.

The command line (``talk``, ``inspect``) and the cassette fixture look providers up
here instead of naming them in code, so a provider package that lands later plugs in
by being importable: its module must offer ``realtime(model_id, *, api_key=None,
base_url=None)``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from ..exceptions import ConfigurationError

__all__ = ["ProviderInfo", "PROVIDERS", "provider_info"]


@dataclass(frozen=True)
class ProviderInfo:
    """What tools need to know about one provider.

    Attributes:
        name: Provider id, as in ``RealtimeModel.provider`` (``"openai"``).
        display_name: Human name (``"OpenAI"``).
        module: The provider package; its ``realtime(...)`` builds a model.
        default_model: Model used when none is given ("" lets the provider choose).
        key_envs: Environment variables that may hold the API key, in order.
        simulator_attr: :class:`~kernl_realtime.simulator.Simulator` attribute holding
            this provider's base URL (None: the simulator does not speak it).
        input_rate: Default input audio sample rate (Hz, 16-bit mono PCM).
        output_rate: Default output audio sample rate (Hz, 16-bit mono PCM).
        example_model: A model id for offline use (simulator, replay) when the provider
            has no default (an ElevenLabs agent id).
        keyless: True when a connection needs no key (public ElevenLabs agents): replays
            then connect without one, so nothing calls the provider's REST API.
    """

    name: str
    display_name: str
    module: str
    default_model: str
    key_envs: Tuple[str, ...]
    simulator_attr: Optional[str]
    input_rate: int = 24000
    output_rate: int = 24000
    example_model: str = ""
    keyless: bool = False

    @property
    def available(self) -> bool:
        """True when the provider package is part of this installation."""
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            return False
        return callable(getattr(module, "realtime", None))

    def api_key(self) -> Optional[str]:
        """The API key from the environment, or None (empty variables count as unset)."""
        for name in self.key_envs:
            value = os.environ.get(name)
            if value:
                return value
        return None

    def model(self, model_id: Optional[str] = None, **kwargs: Any) -> Any:
        """Build a model with the provider's ``realtime(...)`` factory.

        Raises:
            ConfigurationError: The provider is not available in this installation.
        """
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            raise ConfigurationError(
                f"provider {self.name!r} is not available in this version of kernl_realtime",
                field="provider",
            ) from None
        chosen = model_id or self.default_model
        return module.realtime(chosen, **kwargs) if chosen else module.realtime(**kwargs)


PROVIDERS: Tuple[ProviderInfo, ...] = (
    ProviderInfo("openai", "OpenAI", "kernl_realtime.providers.openai", "gpt-realtime",
                 ("OPENAI_API_KEY",), "base_url"),
    ProviderInfo("xai", "xAI", "kernl_realtime.providers.xai", "grok-voice-latest",
                 ("XAI_API_KEY",), "xai_base_url"),
    ProviderInfo("google", "Google Gemini Live", "kernl_realtime.providers.google", "",
                 ("GOOGLE_API_KEY", "GEMINI_API_KEY"), "google_base_url", input_rate=16000, output_rate=24000),
    ProviderInfo("elevenlabs", "ElevenLabs", "kernl_realtime.providers.elevenlabs", "",
                 ("ELEVENLABS_API_KEY",), "elevenlabs_base_url", input_rate=16000, output_rate=16000,
                 example_model="agent_simulated", keyless=True),
)


def provider_info(name: str) -> ProviderInfo:
    """The table entry for ``name``.

    Raises:
        ConfigurationError: Unknown provider (the message lists the known ones).
    """
    for info in PROVIDERS:
        if info.name == name:
            return info
    known = ", ".join(info.name for info in PROVIDERS)
    raise ConfigurationError(f"unknown provider {name!r}; known providers: {known}", field="provider")
