//! nsqadmin: the web UI over the lookupd and nsqd HTTP APIs. Built out by the admin issue.
