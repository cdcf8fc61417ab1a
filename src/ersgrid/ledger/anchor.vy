# pragma version ~=0.4.0
"""
@title ersgrid ledger anchor
@notice Stores the roots of ersgrid ledger blocks and settlements, once each, and logs them.
        kind 0: block (key = block height, root = block header hash);
        kind 1: settlement (key = period start in unix seconds, root = statements root).
"""

event Anchored:
    kind: indexed(uint8)
    key: indexed(uint256)
    root: bytes32

MAX_BATCH: constant(uint256) = 256

owner: public(address)
roots: public(HashMap[uint8, HashMap[uint256, bytes32]])
count: public(uint256)


@deploy
def __init__():
    self.owner = msg.sender


@external
def anchor(kinds: DynArray[uint8, MAX_BATCH], keys: DynArray[uint256, MAX_BATCH], values: DynArray[bytes32, MAX_BATCH]):
    """
    @notice Anchor a batch of roots; each (kind, key) can be anchored only once.
    """
    assert msg.sender == self.owner, "only the owner anchors"
    assert len(kinds) == len(keys), "kinds and keys differ in length"
    assert len(keys) == len(values), "keys and values differ in length"
    for i: uint256 in range(MAX_BATCH):
        if i >= len(keys):
            break
        assert values[i] != empty(bytes32), "empty root"
        assert self.roots[kinds[i]][keys[i]] == empty(bytes32), "already anchored"
        self.roots[kinds[i]][keys[i]] = values[i]
        log Anchored(kind=kinds[i], key=keys[i], root=values[i])
    self.count += len(keys)
