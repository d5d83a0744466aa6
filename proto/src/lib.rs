//! Protobuf types and gRPC services of the example domain. Built out by the examples issue.
