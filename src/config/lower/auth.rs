//! `authorization`, `accounts`, users and permissions.
