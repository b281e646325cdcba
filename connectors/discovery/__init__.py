"""The Google API discovery documents, shared by the Google connector and the emulator.

Where it sits: ``connectors``, beside :mod:`connectors.ports`; neither :mod:`connectors.google` (which builds its
clients from these documents) nor :mod:`connectors.google_emulator` (which checks each method's scopes against
them) imports the other (import-linter contract). The documents are the ones bundled with
google-api-python-client, read without network access.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from googleapiclient.discovery_cache import get_static_doc

_docs: dict[tuple[str, str], dict[str, Any]] = {}
_docs_lock = threading.Lock()


def discovery_doc(api: str, version: str) -> dict[str, Any]:
    """The bundled discovery document, parsed once per process (it is large). Do not mutate."""
    key = (api, version)
    with _docs_lock:
        doc = _docs.get(key)
        if doc is None:
            text = get_static_doc(api, version)
            if text is None:
                raise ValueError(f"no bundled discovery document for {api} {version}")
            doc = json.loads(text)
            _docs[key] = doc
        return doc
