//! A disk-backed FIFO with go-diskqueue's on-disk format. Built out by the persistence issue.
