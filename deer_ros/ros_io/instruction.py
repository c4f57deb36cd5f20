"""The instruction input's limits, without rclpy: length cap, short text for logs, duplicates.

A very long instruction costs seconds in its first inference (the prompt runs through every
layer) and, logged or shown whole, floods logs and /diagnostics. deer_node rejects one longer
than `instruction.max_chars` (it stops acting, as on an empty instruction, and says why) and only
ever prints `shorten(text)`.

deer_node subscribes twice (transient-local, for a latched instruction published before it
started, and volatile, for plain publishers a transient-local subscription cannot match); a
transient-local publisher reaches both, so `SeenMessages` drops the second copy.
"""
from collections import deque
from typing import Any, Deque, Hashable, Mapping, Optional

SHOWN_CHARS = 120   # characters of an instruction shown in logs and diagnostics


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    """The text cut to `limit` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f'{text[:limit]}... (+{len(text) - limit} characters)'


def instruction_reason(text: str, max_chars: int) -> str:
    """Why an instruction is rejected ('' when it is accepted)."""
    if len(text) > max_chars:
        return (f'instruction rejected: {len(text)} characters > instruction.max_chars '
                f'{max_chars}; not acting until a shorter one arrives')
    return ''


class SeenMessages:
    """Remembers the last few message identities; seen() is True for a repeat."""

    def __init__(self, size: int = 16) -> None:
        self._keys: Deque[Hashable] = deque(maxlen=size)

    def seen(self, key: Hashable) -> bool:
        """True when key was seen recently; else remember it."""
        if key in self._keys:
            return True
        self._keys.append(key)
        return False


def message_key(info: Mapping[str, Any]) -> Optional[Hashable]:
    """Identity of one published message from rclpy's MessageInfo (None: cannot tell)."""
    gid = info.get('publisher_gid') or {}
    data = gid.get('data') if isinstance(gid, Mapping) else gid
    sequence, source = info.get('publication_sequence_number'), info.get('source_timestamp')
    if not data or not (sequence or source):
        return None
    return bytes(data), sequence, source
