//! NSQ transport: a complete NSQ client (producer, consumer, lookupd discovery) that
//! plugs into the framework as a `Broker` and a `Server`. Built out by the client issue.
