"""Binary SHA-256 Merkle trees with inclusion proofs.

Leaves are hashed by their producers with a ``0x00`` prefix; inner nodes are
``SHA-256(0x01 || left || right)``. On a level with an odd count the last node is carried up
unchanged (no duplication, so no two different leaf lists share a root through padding).
"""

from __future__ import annotations

import hashlib

__all__ = ["EMPTY_ROOT", "merkle_proof", "merkle_root", "root_from_proof"]

NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def _next_level(level: list[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    up = [sha(NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        up.append(level[-1])
    return up


def merkle_root(leaves: list[bytes]) -> bytes:
    """Root of the tree over ``leaves`` (32-byte hashes); ``EMPTY_ROOT`` for none."""
    if not leaves:
        return EMPTY_ROOT
    level = leaves
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def merkle_proof(leaves: list[bytes], index: int) -> list[tuple[bool, bytes]]:
    """Inclusion proof of ``leaves[index]``: sibling hashes from the leaf up.

    Returns
    -------
    list of (is_left, sibling)
        ``is_left`` is True when the sibling sits to the left of the running hash.
    """
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is outside a tree of {len(leaves)} leaves")
    path: list[tuple[bool, bytes]] = []
    level = leaves
    i = index
    while len(level) > 1:
        sibling = i ^ 1
        if sibling < len(level):
            path.append((sibling < i, level[sibling]))
        level = _next_level(level)
        i //= 2
    return path


def root_from_proof(leaf: bytes, path: list[tuple[bool, bytes]]) -> bytes:
    """The root that ``leaf`` and its proof ``path`` lead to."""
    node = leaf
    for is_left, sibling in path:
        pair = sibling + node if is_left else node + sibling
        node = hashlib.sha256(NODE_PREFIX + pair).digest()
    return node
