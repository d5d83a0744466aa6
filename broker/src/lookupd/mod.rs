//! nsqlookupd: the discovery service (TCP protocol V1, HTTP API). Built out by the lookupd issue.
