#!/bin/sh
# Regenerates the Go code of the gateway's gRPC API (connectors/grpc/pb) from connectors/grpc/proto/messages.proto.
# Needs Debian's python3-grpc-tools (its protoc) and Go; the two protoc plugins are built at pinned versions into a
# temporary folder. Not part of make test: the generated code is committed.
set -e
cd "$(dirname "$0")/.."
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
GOBIN="$tools" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
GOBIN="$tools" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
/usr/bin/python3 -m grpc_tools.protoc \
	--plugin=protoc-gen-go="$tools/protoc-gen-go" --plugin=protoc-gen-go-grpc="$tools/protoc-gen-go-grpc" \
	-I connectors/grpc/proto \
	--go_out=connectors/grpc/pb --go_opt=paths=source_relative \
	--go-grpc_out=connectors/grpc/pb --go-grpc_opt=paths=source_relative \
	messages.proto
echo "generated connectors/grpc/pb/messages.pb.go and messages_grpc.pb.go"
