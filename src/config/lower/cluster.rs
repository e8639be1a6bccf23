//! `cluster` and `websocket` blocks.
