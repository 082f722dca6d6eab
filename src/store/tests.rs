//! The contract's rules, which every backend must obey.
