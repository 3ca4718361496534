//! vmon-analyze
