//! The Jupyter kernel arrives with its own issue.
