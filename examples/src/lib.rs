//! Shared code of the example services. Built out by the examples issue.
