// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title SequencerAccountability
/// @notice Holds a sequencer primary's bond and pays it to anyone who proves
/// that the primary signed two conflicting statements about its log (SPEC
/// §10): two entries at one seq, two checkpoints of one size with different
/// roots, or a checkpoint whose tree holds, at an entry's leaf, a hash other
/// than that signed entry's. It also records the latest checkpoint anchored.
/// @dev Signatures are EIP-712 in the log's own domain (its chain id and
/// verifying contract, not this contract's address), as the node signs them.
contract SequencerAccountability {
    struct Entry {
        uint64 seq;
        bytes32 prevHash;
        uint8 kind;
        address sender;
        string lineage;
        uint64 nonce;
        string externalId;
        bytes32 dataHash;
        uint64 timestamp;
    }

    struct Checkpoint {
        uint64 size;
        bytes32 root;
        uint64 timestamp;
    }

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant ENTRY_TYPEHASH = keccak256(
        "Entry(uint64 seq,bytes32 prevHash,uint8 kind,address sender,string lineage,uint64 nonce,string externalId,bytes32 dataHash,uint64 timestamp)"
    );
    bytes32 private constant CHECKPOINT_TYPEHASH = keccak256("Checkpoint(uint64 size,bytes32 root,uint64 timestamp)");
    /// secp256k1's order divided by two: a larger s is the malleable twin.
    uint256 private constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    address private immutable _primary;
    bytes32 private immutable _domainSeparator;
    uint64 private immutable _unbondingSeconds;

    uint256 private _bond;
    bytes32 private _anchorRoot;
    // One storage slot: an anchor writes two slots, a slash or a request one.
    uint64 private _anchorSize;
    uint64 private _anchorTimestamp;
    uint64 private _withdrawalAt; // 0: no withdrawal requested
    bool private _slashed;

    event Slashed(address indexed by, uint64 position, uint256 amount);
    event Anchored(uint64 size, bytes32 root, uint64 timestamp);

    constructor(address primary, uint256 logChainId, address logVerifyingContract, uint64 unbondingSeconds) {
        require(primary != address(0), "primary is the zero address");
        _primary = primary;
        _unbondingSeconds = unbondingSeconds;
        _domainSeparator = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("Sequencer"), keccak256("1"), logChainId, logVerifyingContract)
        );
    }

    /// @notice Adds the value sent to the primary's bond.
    function bond() external payable {
        require(!_slashed, "slashed");
        require(msg.value > 0, "no value");
        _bond += msg.value;
    }

    function bonded() external view returns (uint256) {
        return _bond;
    }

    function slashed() external view returns (bool) {
        return _slashed;
    }

    /// @notice Starts the unbonding period; the bond stays slashable until withdrawn.
    function requestWithdrawal() external {
        require(msg.sender == _primary, "not the primary");
        require(!_slashed, "slashed");
        _withdrawalAt = uint64(block.timestamp) + _unbondingSeconds;
    }

    /// @notice Pays the bond to the primary once the unbonding period is over.
    function withdraw() external {
        require(msg.sender == _primary, "not the primary");
        require(!_slashed, "slashed");
        require(_withdrawalAt != 0, "no withdrawal requested");
        require(block.timestamp >= _withdrawalAt, "unbonding");
        uint256 amount = _bond;
        _bond = 0;
        _withdrawalAt = 0;
        (bool ok,) = _primary.call{value: amount}("");
        require(ok, "transfer failed");
    }

    /// @notice The entry's EIP-712 hash: the node's `hash`.
    function entryHash(Entry calldata e) public view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                ENTRY_TYPEHASH,
                e.seq,
                e.prevHash,
                e.kind,
                e.sender,
                keccak256(bytes(e.lineage)),
                e.nonce,
                keccak256(bytes(e.externalId)),
                e.dataHash,
                e.timestamp
            )
        );
        return _typedHash(structHash);
    }

    /// @notice The checkpoint's EIP-712 hash, as the node signs it.
    function checkpointHash(Checkpoint calldata c) public view returns (bytes32) {
        return _typedHash(keccak256(abi.encode(CHECKPOINT_TYPEHASH, c.size, c.root, c.timestamp)));
    }

    /// @notice Two entries signed by the primary at one seq with different hashes.
    function slashEquivocation(Entry calldata a, bytes calldata sigA, Entry calldata b, bytes calldata sigB)
        external
    {
        require(a.seq == b.seq, "different seq");
        bytes32 ha = entryHash(a);
        bytes32 hb = entryHash(b);
        require(ha != hb, "same entry");
        _requirePrimary(ha, sigA);
        _requirePrimary(hb, sigB);
        _slash(a.seq);
    }

    /// @notice Two checkpoints signed by the primary of one size with different roots.
    function slashCheckpointEquivocation(
        Checkpoint calldata a,
        bytes calldata sigA,
        Checkpoint calldata b,
        bytes calldata sigB
    ) external {
        require(a.size == b.size, "different size");
        require(a.root != b.root, "same root");
        _requirePrimary(checkpointHash(a), sigA);
        _requirePrimary(checkpointHash(b), sigB);
        _slash(a.size);
    }

    /// @notice A signed checkpoint whose tree holds leafEntryHash at leaf
    /// e.seq - 1, proved by the RFC 6962 path `proof`, where the primary
    /// signed the entry e with another hash.
    function slashInclusion(
        Checkpoint calldata c,
        bytes calldata sigC,
        Entry calldata e,
        bytes calldata sigE,
        bytes32 leafEntryHash,
        bytes32[] calldata proof
    ) external {
        require(e.seq >= 1 && e.seq <= c.size, "entry outside the checkpoint");
        bytes32 he = entryHash(e);
        require(leafEntryHash != he, "the tree holds the entry");
        _requirePrimary(checkpointHash(c), sigC);
        _requirePrimary(he, sigE);
        require(_included(e.seq - 1, c.size, leafEntryHash, proof, c.root), "bad inclusion proof");
        _slash(e.seq);
    }

    /// @notice Records a checkpoint signed by the primary, larger than the last one.
    function anchor(Checkpoint calldata c, bytes calldata sig) external {
        require(c.size > _anchorSize, "not larger than the last anchor");
        _requirePrimary(checkpointHash(c), sig);
        _anchorSize = c.size;
        _anchorRoot = c.root;
        _anchorTimestamp = c.timestamp;
        emit Anchored(c.size, c.root, c.timestamp);
    }

    function latestAnchor() external view returns (uint64 size, bytes32 root, uint64 timestamp) {
        return (_anchorSize, _anchorRoot, _anchorTimestamp);
    }

    function _typedHash(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", _domainSeparator, structHash));
    }

    /// @dev sig is r ‖ s ‖ v with v in {27, 28} and s in the lower half of the order.
    function _requirePrimary(bytes32 digest, bytes calldata sig) private view {
        require(sig.length == 65, "signature is not 65 bytes");
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        require(v == 27 || v == 28, "v is not 27 or 28");
        require(uint256(s) <= HALF_ORDER, "high s");
        address signer = ecrecover(digest, v, r, s);
        require(signer != address(0) && signer == _primary, "not signed by the primary");
    }

    /// @dev RFC 9162 §2.1.3.2: the audit path of leaf `index` in the tree of
    /// `size` leaves; the leaf is SHA-256(0x00 ‖ entry hash).
    function _included(uint64 index, uint64 size, bytes32 leaf, bytes32[] calldata proof, bytes32 root)
        private
        pure
        returns (bool)
    {
        if (index >= size) {
            return false;
        }
        uint256 fn = index;
        uint256 sn = size - 1;
        bytes32 r = sha256(abi.encodePacked(bytes1(0x00), leaf));
        for (uint256 i = 0; i < proof.length; i++) {
            if (sn == 0) {
                return false;
            }
            if (fn & 1 == 1 || fn == sn) {
                r = sha256(abi.encodePacked(bytes1(0x01), proof[i], r));
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                r = sha256(abi.encodePacked(bytes1(0x01), r, proof[i]));
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && r == root;
    }

    function _slash(uint64 position) private {
        require(!_slashed, "already slashed");
        _slashed = true;
        uint256 amount = _bond;
        _bond = 0;
        emit Slashed(msg.sender, position, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "transfer failed");
    }
}
