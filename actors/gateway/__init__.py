"""The gRPC gateway (issue 4 part 2): see docs/gateway.md."""
