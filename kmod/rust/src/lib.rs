//! vmon-kabi
