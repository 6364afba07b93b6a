//! pfctl library: everything the binary does, in modules named after their concern.
