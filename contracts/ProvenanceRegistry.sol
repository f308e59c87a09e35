// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Proofmark's transparency-log anchor (SPEC §5, docs/transparency-log.md, "Anchoring").
/// @notice The log's submitter registers signed checkpoints (tree size and RFC 9162 root); each root once.
/// Anyone can check an RFC 9162 inclusion proof against a registered root on chain.
contract ProvenanceRegistry {
    struct Anchor {
        uint64 treeSize;
        uint64 timestamp;
        uint64 blockNumber;
        bytes32 logKeyId;
    }

    /// The only address that registers checkpoints: the log's submitter (the deployer).
    address public immutable submitter;

    /// Registered checkpoints by root.
    mapping(bytes32 => Anchor) private anchors;

    /// The newest registered tree size.
    uint64 public latestTreeSize;

    event CheckpointRegistered(
        bytes32 indexed root, uint64 treeSize, bytes32 indexed logKeyId, uint64 timestamp, uint64 blockNumber
    );

    error NotSubmitter();
    error EmptyTree();

    constructor() {
        submitter = msg.sender;
    }

    /// @notice Registers a checkpoint. Idempotent per root: registering a root again changes nothing and
    /// returns false (so a resubmitted transaction is harmless).
    /// @param logKeyId SHA-256 of the log's verifier key text (C2SP vkey).
    /// @param timestamp The checkpoint's signing time (POSIX seconds).
    function registerCheckpoint(bytes32 root, uint64 treeSize, bytes32 logKeyId, uint64 timestamp)
        external
        returns (bool registered)
    {
        if (msg.sender != submitter) revert NotSubmitter();
        if (treeSize == 0) revert EmptyTree();
        if (anchors[root].blockNumber != 0) return false;
        anchors[root] = Anchor(treeSize, timestamp, uint64(block.number), logKeyId);
        if (treeSize > latestTreeSize) latestTreeSize = treeSize;
        emit CheckpointRegistered(root, treeSize, logKeyId, timestamp, uint64(block.number));
        return true;
    }

    /// @notice The anchor of a root: (treeSize, timestamp, blockNumber, logKeyId); all zero if never registered.
    function anchorOf(bytes32 root)
        external
        view
        returns (uint64 treeSize, uint64 timestamp, uint64 blockNumber, bytes32 logKeyId)
    {
        Anchor storage a = anchors[root];
        return (a.treeSize, a.timestamp, a.blockNumber, a.logKeyId);
    }

    /// @notice RFC 9162 leaf hash: SHA-256(0x00 || data).
    function leafHash(bytes calldata data) public pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x00), data));
    }

    /// @notice RFC 9162 §2.1.3.2: does `proof` lead from `leaf` at `leafIndex` in a tree of `treeSize` to `root`?
    function verifyInclusion(bytes32 leaf, uint64 leafIndex, uint64 treeSize, bytes32[] calldata proof, bytes32 root)
        public
        pure
        returns (bool)
    {
        if (leafIndex >= treeSize) return false;
        uint64 fn = leafIndex;
        uint64 sn = treeSize - 1;
        bytes32 r = leaf;
        for (uint256 i = 0; i < proof.length; i++) {
            if (sn == 0) return false;
            if (fn & 1 == 1 || fn == sn) {
                r = sha256(abi.encodePacked(bytes1(0x01), proof[i], r));
                if (fn & 1 == 0) {
                    while (fn & 1 == 0 && fn != 0) {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                r = sha256(abi.encodePacked(bytes1(0x01), r, proof[i]));
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && r == root;
    }

    /// @notice Inclusion against a registered root, at the tree size it was registered with.
    function verifyAnchoredInclusion(bytes32 leaf, uint64 leafIndex, bytes32[] calldata proof, bytes32 root)
        external
        view
        returns (bool)
    {
        Anchor storage a = anchors[root];
        if (a.blockNumber == 0) return false;
        return verifyInclusion(leaf, leafIndex, a.treeSize, proof, root);
    }
}
