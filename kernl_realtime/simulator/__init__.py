"""An embedded offline server speaking the OpenAI Realtime GA, xAI Grok voice, Gemini Live and
ElevenLabs Agents protocols.

Run real client programs, the quickstart and tests without API keys::

    from kernl_realtime.simulator import ElevenLabsAgent, ElevenLabsOptions, Simulator

    with Simulator(speed=0) as sim:
        sim.base_url             # "http://127.0.0.1:<port>/v1"      (OpenAI dialect)
        sim.xai_base_url         # "http://127.0.0.1:<port>/xai/v1"  (xAI dialect)
        sim.google_base_url      # "http://127.0.0.1:<port>"         (Gemini Live)
        sim.elevenlabs_base_url  # "http://127.0.0.1:<port>"         (ElevenLabs agents)

From a shell: ``python -m kernl_realtime simulate --port 8765``.

Needs the ``websockets`` package: the ``simulator`` extra (``pip install -e '.[simulator]'``
from a checkout; see the README's Install section).
"""

from __future__ import annotations

from ._elevenlabs import ElevenLabsAgent, ElevenLabsOptions
from ._server import Simulator

__all__ = ["Simulator", "ElevenLabsAgent", "ElevenLabsOptions"]
