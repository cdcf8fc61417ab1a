# pragma version ~=0.4.0
"""
@title ersgrid ledger anchor
@notice Stores the roots of ersgrid ledger blocks and settlements, once each, and logs them.
        kind 0: block (key = block height, root = block header hash), heights in order;
        kind 1: settlement (key = period start in unix seconds, root = statements root).
        It counts what it holds, so that a verifier sees roots beyond a ledger's tip, and
        publishes the digest of the ledger's signer keys given at deployment.
"""

event Anchored:
    kind: indexed(uint8)
    key: indexed(uint256)
    root: bytes32

MAX_BATCH: constant(uint256) = 256

owner: public(address)
signers: public(bytes32)
roots: public(HashMap[uint8, HashMap[uint256, bytes32]])
blocks: public(uint256)
settlements: public(uint256)
last_period: public(uint256)
count: public(uint256)


@deploy
def __init__(signers: bytes32):
    assert signers != empty(bytes32), "no signer digest"
    self.owner = msg.sender
    self.signers = signers


@external
def anchor(kinds: DynArray[uint8, MAX_BATCH], keys: DynArray[uint256, MAX_BATCH], values: DynArray[bytes32, MAX_BATCH]):
    """
    @notice Anchor a batch of roots; each (kind, key) can be anchored only once, block
            heights only in order (0, 1, 2, ...).
    """
    assert msg.sender == self.owner, "only the owner anchors"
    assert len(kinds) == len(keys), "kinds and keys differ in length"
    assert len(keys) == len(values), "keys and values differ in length"
    for i: uint256 in range(MAX_BATCH):
        if i >= len(keys):
            break
        assert values[i] != empty(bytes32), "empty root"
        assert self.roots[kinds[i]][keys[i]] == empty(bytes32), "already anchored"
        if kinds[i] == 0:
            assert keys[i] == self.blocks, "block heights are anchored in order"
            self.blocks += 1
        else:
            assert kinds[i] == 1, "unknown kind"
            self.settlements += 1
            if keys[i] > self.last_period:
                self.last_period = keys[i]
        self.roots[kinds[i]][keys[i]] = values[i]
        log Anchored(kind=kinds[i], key=keys[i], root=values[i])
    self.count += len(keys)
