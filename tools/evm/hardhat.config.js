// Hardhat Network as a plain JSON-RPC development node for the ledger's tests: no contracts
// are compiled here (the anchor contract is compiled by the vyper Python package).
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      mining: { auto: true, interval: 0 },
    },
  },
};
