# tbgateway — the two entry points are `make demo` and `make test`; the rest is documented in README.md.
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/tbgateway/tbgateway/runtime.Version=$(VERSION)
export CGO_ENABLED := 0

.PHONY: all build cross test test-deps mutants demo bench fuzz vet clean proto

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tbgateway ./cmd/tbgateway
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tbemu ./cmd/tbemu

# cross builds the gateway for the platforms people run it on: bin/tbgateway-<os>-<arch>[.exe].
CROSS := linux/amd64 linux/arm64 linux/arm windows/amd64 darwin/arm64
cross:
	@mkdir -p $(BIN)
	@for p in $(CROSS); do os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "$(BIN)/tbgateway-$$os-$$arch$$ext"; \
		GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tbgateway-$$os-$$arch$$ext ./cmd/tbgateway || exit 1; \
	done

# test installs what the tests need when it is missing, then runs every test with the race detector
# (the race detector needs cgo, so it is switched on for the test run only). CI=true makes a test whose peer
# (mosquitto, pymodbus, socat, node-opcua) or tmpfs is missing fail instead of skipping.
test: export CI := true
test: test-deps
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

test-deps:
	@./scripts/install-test-deps.sh

# mutants applies each scripts/mutants/*.patch (a deliberate break of a guarantee) to a copy of HEAD and runs the
# test named in its header there; it fails when such a test still passes (scripts/mutants/README.md).
mutants: export CI := true
mutants: test-deps
	./scripts/mutants/run.sh

# demo runs the gateway with its embedded default: a built-in ThingsBoard emulator and simulated devices (blesim,
# built beside it, plays a BLE thermometer on a private D-Bus). It runs the built binary: after Ctrl-C, `go run`
# exits with status 1 whatever the program returned.
demo:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tbgateway ./cmd/tbgateway
	$(GO) build -trimpath -o $(BIN)/blesim ./cmd/blesim
	$(BIN)/tbgateway demo

bench:
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	@for p in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$p/*_test.go | cut -d' ' -f2); do \
			echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s -fuzzminimizetime 5s $$p || exit 1; \
		done; \
	done

vet:
	$(GO) vet ./...

# proto regenerates the gRPC API's Go code (connectors/grpc/pb) from connectors/grpc/proto/messages.proto.
proto:
	./scripts/gen-grpc.sh

clean:
	rm -rf $(BIN)
